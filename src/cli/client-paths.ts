import { readFileSync } from 'node:fs';
import { resolveConfigLocation } from '../config/config-location.js';
import { OPTION_ENV } from './daemon-options.js';

/**
 * The path option a client command shares with the daemons (`service-socket`, `receivers-dir`),
 * found the way the daemon found it: the flag, else the environment variable (left to the
 * caller's resolver), else the daemons' config file (ANBOX_OOB_CONFIG or the default location),
 * else undefined for the default. So `anbox-oob connect foo` reaches a daemon whose service
 * socket came from the config file. A config file that cannot be read or parsed is the daemon's
 * to report: the client then uses the default.
 */
export function sharedPathOption(name: 'service-socket' | 'receivers-dir', flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (flag) return flag;
  const variable = OPTION_ENV[name];
  if (variable !== undefined && env[variable]) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(resolveConfigLocation(undefined, env).path, 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || !Object.hasOwn(parsed, name)) return undefined;
  const value = (parsed as Record<string, unknown>)[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
