import { readFileSync, statSync } from 'node:fs';
import { resolveConfigLocation, type ConfigLocation } from '../config/config-location.js';
import { mergeOptionSources, parseConfigFile, ConfigFileError, type OptionSource, type OptionSpec, type OptionValues } from './config-file.js';

/** The config file a daemon read, for its start-up lines. */
export interface LoadedConfigFile {
  path: string;
  source: ConfigLocation['source'];
  /** Keys for the other daemon commands, which this one does not take. */
  ignoredKeys: string[];
}

export interface DaemonOptionInput<V> {
  /** Flags, environment and config file merged: what the settings are built from. */
  values: V;
  sources: Record<string, OptionSource>;
  configFile: LoadedConfigFile | undefined;
  /** Problems worth a warning once the logger exists (e.g. a token in a world-readable file). */
  warnings: { event: string; file: string; message: string }[];
}

/**
 * Reads a daemon's config file (--config, ANBOX_OOB_CONFIG or the default location) and merges it
 * with the parsed command line: flags > environment > config file > defaults. `envOf` names the
 * environment variable of each option that has one; `allOptions` is every daemon command's
 * options together, the keys the file may hold.
 */
export function applyConfigFile<V extends object>(
  flags: V,
  options: Readonly<Record<string, OptionSpec>>,
  envOf: Readonly<Record<string, string>>,
  env: NodeJS.ProcessEnv = process.env,
  allOptions: Readonly<Record<string, OptionSpec>> = options,
): DaemonOptionInput<V> {
  const flagValues = flags as OptionValues;
  const location = resolveConfigLocation(typeof flagValues.config === 'string' ? flagValues.config : undefined, env);
  const text = readConfigText(location);
  const warnings: DaemonOptionInput<V>['warnings'] = [];
  let config: OptionValues = {};
  const ignoredKeys: string[] = [];
  if (text !== undefined) {
    // One file serves every daemon command: a key another command knows (`adb` for `platform`)
    // is skipped here; a key no command knows is a mistake.
    for (const [key, value] of Object.entries(parseConfigFile(text, location.path, allOptions))) {
      if (Object.hasOwn(options, key)) config[key] = value;
      else ignoredKeys.push(key);
    }
    if (config.token !== undefined) {
      const mode = statSync(location.path).mode & 0o777;
      if (mode & 0o077) {
        warnings.push({
          event: 'config.insecure_file',
          file: location.path,
          message: `config file ${location.path} holds the gateway token but is readable by others (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 ${location.path}`,
        });
      }
    }
  }
  const merged = mergeOptionSources(flagValues, config, envOf, env);
  return {
    values: merged.values as V,
    sources: merged.sources,
    configFile: text === undefined ? undefined : { path: location.path, source: location.source, ignoredKeys },
    warnings,
  };
}

/** The file's text; undefined when the default file is absent. A named file must be readable. */
function readConfigText(location: ConfigLocation): string | undefined {
  try {
    return readFileSync(location.path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !location.required) return undefined;
    const how = location.source === 'flag' ? '--config' : location.source === 'env' ? 'ANBOX_OOB_CONFIG' : 'the default location';
    throw new ConfigFileError(location.path, undefined, `cannot be read (${code ?? (error as Error).message}; named by ${how})`);
  }
}
