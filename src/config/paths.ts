import { accessSync, constants as fsConstants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const SOCKET_DIR_ENV = 'ANBOX_OOB_SOCKET_DIR';
export const SERVICE_SOCKET_ENV = 'ANBOX_OOB_SERVICE_SOCKET';
export const SERVICE_SOCKET_NAME = 'data-proxy.sock';

export interface RuntimePaths {
  /** Where the platform's `webrtc_data_<name>` sockets live. */
  socketDir: string;
  /** The daemon's IPC socket. */
  servicePath: string;
  /** Where each value came from, for the start-up message and `--help` ('config': the daemon's config file). */
  socketDirSource: 'flag' | 'env' | 'config' | 'default';
  servicePathSource: 'flag' | 'env' | 'config' | 'default';
}

export interface PathInputs {
  socketDirFlag?: string;
  servicePathFlag?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  /** Injected for tests; by default access(2) W_OK. */
  isWritable?: (dir: string) => boolean;
  tmp?: string;
}

/**
 * The per-user runtime directory all defaults live in:
 * $XDG_RUNTIME_DIR/anbox, else /run/user/<uid>/anbox when /run/user/<uid> is writable,
 * else <tmpdir>/anbox-oob-<uid>. The service socket is `<runtime>/data-proxy.sock`, beside
 * `<runtime>/sockets`, and does not depend on --socket-dir so that clients find it with no flags.
 */
export function defaultRuntimeDir(inputs: PathInputs = {}): string {
  const env = inputs.env ?? process.env;
  const uid = inputs.uid ?? process.getuid?.() ?? 0;
  const isWritable = inputs.isWritable ?? writable;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'anbox');
  const runUser = `/run/user/${uid}`;
  if (isWritable(runUser)) return join(runUser, 'anbox');
  return join(inputs.tmp ?? tmpdir(), `anbox-oob-${uid}`);
}

/** Flags win over environment variables, which win over the defaults. */
export function resolveRuntimePaths(inputs: PathInputs = {}): RuntimePaths {
  const env = inputs.env ?? process.env;
  const runtime = () => defaultRuntimeDir(inputs);
  const [socketDir, socketDirSource] = pick(inputs.socketDirFlag, env[SOCKET_DIR_ENV], () => join(runtime(), 'sockets'));
  const [servicePath, servicePathSource] = pick(inputs.servicePathFlag, env[SERVICE_SOCKET_ENV], () => join(runtime(), SERVICE_SOCKET_NAME));
  return { socketDir: resolve(socketDir), servicePath: resolve(servicePath), socketDirSource, servicePathSource };
}

/** How clients find the service: --service-socket, else ANBOX_OOB_SERVICE_SOCKET, else the default. */
export function resolveServicePath(flag: string | undefined, inputs: PathInputs = {}): string {
  return resolveRuntimePaths({ ...inputs, servicePathFlag: flag }).servicePath;
}

function pick(flag: string | undefined, env: string | undefined, fallback: () => string): [string, 'flag' | 'env' | 'default'] {
  if (flag) return [flag, 'flag'];
  if (env) return [env, 'env'];
  return [fallback(), 'default'];
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, fsConstants.W_OK | fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}
