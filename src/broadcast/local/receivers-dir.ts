import { join, resolve } from 'node:path';
import { defaultRuntimeDir, type PathInputs } from '../../config/paths.js';

/** Environment variable naming the receivers directory (after the --receivers-dir flag). */
export const RECEIVERS_DIR_ENV = 'ANBOX_OOB_RECEIVERS_DIR';
/** The default directory's name inside the per-user runtime directory (`<runtime>/receivers`). */
export const RECEIVERS_DIR_NAME = 'receivers';
/** Mode of the directory when the daemon or a receiver creates it: only its owner may bind or send. */
export const RECEIVERS_DIR_MODE = 0o700;

export interface ResolvedReceiversDir {
  /** Absolute path of the directory. */
  dir: string;
  /** Where it came from, for messages and `--help`. */
  source: 'flag' | 'env' | 'default';
}

/**
 * Where local receivers bind their datagram sockets and the daemon sends broadcasts:
 * the flag value, else $ANBOX_OOB_RECEIVERS_DIR, else `<runtime dir>/receivers`, i.e.
 * $XDG_RUNTIME_DIR/anbox/receivers, else /run/user/<uid>/anbox/receivers when writable,
 * else <tmpdir>/anbox-oob-<uid>/receivers (beside the service socket and the socket dir).
 */
export function resolveReceiversDir(flag?: string, inputs: PathInputs = {}): ResolvedReceiversDir {
  const env = inputs.env ?? process.env;
  if (flag) return { dir: resolve(flag), source: 'flag' };
  const fromEnv = env[RECEIVERS_DIR_ENV];
  if (fromEnv) return { dir: resolve(fromEnv), source: 'env' };
  return { dir: resolve(defaultReceiversDir(inputs)), source: 'default' };
}

/** `<runtime dir>/receivers`, ignoring flag and environment override. */
export function defaultReceiversDir(inputs: PathInputs = {}): string {
  return join(defaultRuntimeDir(inputs), RECEIVERS_DIR_NAME);
}
