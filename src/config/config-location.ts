import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Environment variable naming the config file (after the --config flag). */
export const CONFIG_ENV = 'ANBOX_OOB_CONFIG';
/** The default file's path below the XDG config directory. */
export const CONFIG_RELATIVE_PATH = join('anbox-oob', 'config.json');

export interface ConfigLocation {
  path: string;
  source: 'flag' | 'env' | 'default';
  /** A file named by --config or ANBOX_OOB_CONFIG must exist; the default one is read only if present. */
  required: boolean;
}

/**
 * Which config file to read: --config, else $ANBOX_OOB_CONFIG, else
 * $XDG_CONFIG_HOME/anbox-oob/config.json, else ~/.config/anbox-oob/config.json (XDG Base
 * Directory: a relative XDG_CONFIG_HOME is invalid and ignored).
 */
export function resolveConfigLocation(flag: string | undefined, env: NodeJS.ProcessEnv = process.env, home: () => string = homedir): ConfigLocation {
  if (flag) return { path: resolve(flag), source: 'flag', required: true };
  const fromEnv = env[CONFIG_ENV];
  if (fromEnv) return { path: resolve(fromEnv), source: 'env', required: true };
  return { path: defaultConfigPath(env, home), source: 'default', required: false };
}

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env, home: () => string = homedir): string {
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg && xdg.startsWith('/')) return join(xdg, CONFIG_RELATIVE_PATH);
  return join(env.HOME || home(), '.config', CONFIG_RELATIVE_PATH);
}
