import { UsageError } from './command.js';

/** One parseArgs option, as the daemons' option tables declare them. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
}

/** What parseArgs returns for such a table: strings, booleans and lists of strings. */
export type OptionValue = string | boolean | string[];
export type OptionValues = Record<string, OptionValue | undefined>;

/** Options that make no sense in a file: asking for help, or naming another config file. */
const NOT_IN_FILE = new Set(['help', 'config']);

/** A config file that cannot be used; a usage error (exit 2) naming the file and the key. */
export class ConfigFileError extends UsageError {
  constructor(
    readonly file: string,
    readonly key: string | undefined,
    detail: string,
  ) {
    super(`config file ${file}${key === undefined ? '' : `: "${key}"`}: ${detail}`);
  }
}

/**
 * Turns the text of a config file into option values, as if they had been given as flags.
 * The file is one JSON object whose keys are exactly the long option names of the command
 * (`{"listen": "127.0.0.1:9000", "adb": true, "stun": ["stun:…"]}`). The options whose value is a
 * number (NUMBER_OPTIONS: `"broadcast-window": 0`) also take a JSON number, a repeatable one a single
 * value or a list; anything else (`"listen": 9000`: a port alone is not an address),
 * and every key the command does not know, is refused so that a typo never goes unnoticed.
 */
export function parseConfigFile(text: string, file: string, options: Readonly<Record<string, OptionSpec>>): OptionValues {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigFileError(file, undefined, `not valid JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigFileError(file, undefined, 'must hold one JSON object whose keys are long option names, e.g. {"listen": "127.0.0.1:8777"}');
  }
  const values: OptionValues = {};
  for (const [key, raw] of Object.entries(parsed as Record<string, unknown>)) {
    const spec = Object.hasOwn(options, key) ? options[key] : undefined;
    if (spec === undefined || NOT_IN_FILE.has(key)) {
      const known = Object.keys(options).filter((name) => !NOT_IN_FILE.has(name));
      throw new ConfigFileError(file, key, `unknown option (keys are long option names without "--": ${known.join(', ')})`);
    }
    const value = convert(file, key, spec, raw);
    // A flag cannot say "false" either: false is the default, as if the key were absent.
    if (value !== false) values[key] = value;
  }
  return values;
}

/** String options whose value is a number, so a JSON number is the same value (uids, milliseconds, an Android user id). */
export const NUMBER_OPTIONS: ReadonlySet<string> = new Set([
  'broadcast-window',
  'allow-uid',
  'user',
  'max-connections',
  'max-connections-per-uid',
  'max-buffered-mib',
  'frame-timeout-ms',
  'gateway-max-connections',
  'gateway-idle-timeout',
  'heartbeat-ms',
]);

function convert(file: string, key: string, spec: OptionSpec, raw: unknown): OptionValue {
  if (typeof raw === 'number' && !NUMBER_OPTIONS.has(key)) {
    const example = key === 'listen' ? ` (e.g. "127.0.0.1:${raw}")` : ` ("${raw}" if that is what you mean)`;
    throw new ConfigFileError(file, key, `must be a string${example}, not number ${raw}`);
  }
  if (spec.type === 'boolean') {
    if (typeof raw !== 'boolean') throw new ConfigFileError(file, key, `must be true or false, not ${describe(raw)}`);
    return raw;
  }
  if (spec.multiple) {
    const list = Array.isArray(raw) ? raw : [raw];
    return list.map((item) => {
      const text = scalarText(item);
      if (text === undefined) throw new ConfigFileError(file, key, `must be a string or a list of strings, not ${describe(raw)}`);
      return text;
    });
  }
  const text = scalarText(raw);
  if (text === undefined) throw new ConfigFileError(file, key, `must be a string, not ${describe(raw)}`);
  return text;
}

function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

/** Where one option's value came from, highest precedence first. */
export type OptionSource = 'flag' | 'env' | 'config';

export interface MergedOptions {
  values: OptionValues;
  /** The source of every option that has a value (defaults are absent). */
  sources: Record<string, OptionSource>;
}

/**
 * Flags win over environment variables, which win over the config file, which wins over the
 * defaults. `envOf` names the environment variable of the options that have one; a set,
 * non-empty variable hides the config file's value, and the code that reads the variable
 * (paths, token, listen address, adb serial) then applies it as it always did.
 */
export function mergeOptionSources(
  flags: OptionValues,
  config: OptionValues,
  envOf: Readonly<Record<string, string>>,
  env: NodeJS.ProcessEnv,
): MergedOptions {
  const values: OptionValues = {};
  const sources: Record<string, OptionSource> = {};
  const keys = new Set([...Object.keys(flags), ...Object.keys(config)]);
  for (const key of keys) {
    const variable = Object.hasOwn(envOf, key) ? envOf[key] : undefined;
    if (flags[key] !== undefined) {
      values[key] = flags[key];
      sources[key] = 'flag';
    } else if (variable !== undefined && env[variable]) {
      sources[key] = 'env';
    } else if (config[key] !== undefined) {
      values[key] = config[key];
      sources[key] = 'config';
    }
  }
  for (const [key, variable] of Object.entries(envOf)) {
    if (sources[key] === undefined && env[variable]) sources[key] = 'env';
  }
  return { values, sources };
}
