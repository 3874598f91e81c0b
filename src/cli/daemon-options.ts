import { resolveRuntimePaths, SERVICE_SOCKET_ENV, SOCKET_DIR_ENV, type RuntimePaths } from '../config/paths.js';
import { createLogger, LOG_LEVELS, type Logger } from '../log/logger.js';
import { parseUid, UsageError } from './command.js';

/** parseArgs option spec shared by `proxy` and `serve`. */
export const DAEMON_OPTIONS = {
  'socket-dir': { type: 'string' },
  'service-socket': { type: 'string' },
  'allow-uid': { type: 'string', multiple: true },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const DAEMON_OPTIONS_HELP = `Options:
  --socket-dir DIR        where the platform's webrtc_data_<name> channel sockets are
                          (env ${SOCKET_DIR_ENV}; default $XDG_RUNTIME_DIR/anbox/sockets, else
                          /run/user/<uid>/anbox/sockets when writable, else <tmp>/anbox-oob-<uid>/sockets)
  --service-socket PATH   the daemon's IPC socket, created with mode 0660
                          (env ${SERVICE_SOCKET_ENV}; default data-proxy.sock in the same anbox directory)
  --allow-uid UID         also let this uid transact (repeatable); the daemon's own uid and root always may
  --log-level LEVEL       ${LOG_LEVELS.join(' | ')} (default info)
  --log-format FORMAT     json | pretty (default: pretty on a terminal, else JSON lines)
  -h, --help              show this help`;

export interface DaemonSettings {
  paths: RuntimePaths;
  allowUids: number[];
  log: Logger;
}

export function daemonSettings(values: {
  'socket-dir'?: string;
  'service-socket'?: string;
  'allow-uid'?: string[];
  'log-level'?: string;
  'log-format'?: string;
}): DaemonSettings {
  const format = values['log-format'];
  if (format !== undefined && format !== 'json' && format !== 'pretty') throw new UsageError(`--log-format must be json or pretty, not "${format}"`);
  const level = values['log-level'] ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  return {
    paths: resolveRuntimePaths({ socketDirFlag: values['socket-dir'], servicePathFlag: values['service-socket'] }),
    allowUids: (values['allow-uid'] ?? []).map(parseUid),
    log: createLogger({ level, pretty: format === undefined ? undefined : format === 'pretty' }),
  };
}
