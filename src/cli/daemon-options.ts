import { resolveRuntimePaths, SERVICE_SOCKET_ENV, SOCKET_DIR_ENV, type RuntimePaths } from '../config/paths.js';
import { createLogger, LOG_LEVELS, type Logger } from '../log/logger.js';
import { TOKEN_ENV } from '../platform/auth.js';
import { DEFAULT_LISTEN, type ListenAddress } from '../platform/listen-address.js';
import { BROADCAST_HELP, BROADCAST_OPTIONS, broadcastSettings, type BroadcastSettings } from './broadcast-options.js';
import { parseUid, UsageError } from './command.js';

export const LISTEN_ENV = 'ANBOX_OOB_LISTEN';

/** parseArgs options every daemon takes: where the channel sockets are, logging, help. */
export const COMMON_DAEMON_OPTIONS = {
  'socket-dir': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The data-proxy daemon's own options, its channel broadcasts included. */
export const PROXY_OPTIONS = {
  'service-socket': { type: 'string' },
  'allow-uid': { type: 'string', multiple: true },
  ...BROADCAST_OPTIONS,
} as const;

/** The WebRTC platform's own options. */
export const PLATFORM_OPTIONS = {
  listen: { type: 'string' },
  token: { type: 'string' },
  stun: { type: 'string', multiple: true },
  binary: { type: 'boolean' },
} as const;

/** parseArgs option spec of `proxy`. */
export const DAEMON_OPTIONS = { ...COMMON_DAEMON_OPTIONS, ...PROXY_OPTIONS } as const;
/** parseArgs option spec of `platform`. */
export const PLATFORM_COMMAND_OPTIONS = { ...COMMON_DAEMON_OPTIONS, ...PLATFORM_OPTIONS } as const;
/** parseArgs option spec of `serve`: both. */
export const SERVE_OPTIONS = { ...COMMON_DAEMON_OPTIONS, ...PROXY_OPTIONS, ...PLATFORM_OPTIONS } as const;

const SOCKET_DIR_HELP = `  --socket-dir DIR        where the platform's webrtc_data_<name> channel sockets are
                          (env ${SOCKET_DIR_ENV}; default $XDG_RUNTIME_DIR/anbox/sockets, else
                          /run/user/<uid>/anbox/sockets when writable, else <tmp>/anbox-oob-<uid>/sockets)`;

const PROXY_HELP = `  --service-socket PATH   the daemon's IPC socket, created with mode 0660
                          (env ${SERVICE_SOCKET_ENV}; default data-proxy.sock in the same anbox directory)
  --allow-uid UID         also let this uid transact (repeatable); the daemon's own uid and root always may`;

const PLATFORM_HELP = `  --listen HOST:PORT      where the gateway, the signaling WebSocket and the page listen
                          (env ${LISTEN_ENV}; default ${DEFAULT_LISTEN.host}:${DEFAULT_LISTEN.port}: this machine only;
                          0.0.0.0:PORT for every interface, [::1]:PORT for IPv6, port 0 for any free port)
  --token TOKEN           the gateway token the client sends as "Authorization: Macaroon root=TOKEN"
                          (env ${TOKEN_ENV}; default: a random token generated at start and printed)
  --stun URL              a STUN/TURN server for both the browser and the platform (repeatable):
                          stun:HOST[:PORT] or turn:USER:PASSWORD@HOST[:PORT][?transport=udp|tcp];
                          none needed on one machine or a LAN
  --binary                send socket data to the browser as binary messages only (default: text
                          when the bytes are valid UTF-8, else binary)`;

const LOG_HELP = `  --log-level LEVEL       ${LOG_LEVELS.join(' | ')} (default info)
  --log-format FORMAT     json | pretty (default: pretty on a terminal, else JSON lines)
  -h, --help              show this help`;

export const DAEMON_OPTIONS_HELP = `Options:
${SOCKET_DIR_HELP}
${PROXY_HELP}
${LOG_HELP}

${BROADCAST_HELP}`;

export const PLATFORM_OPTIONS_HELP = `Options:
${SOCKET_DIR_HELP}
${PLATFORM_HELP}
${LOG_HELP}`;

export const SERVE_OPTIONS_HELP = `Options:
${SOCKET_DIR_HELP}
${PLATFORM_HELP}
${PROXY_HELP}
${LOG_HELP}

${BROADCAST_HELP}`;

export interface DaemonSettings {
  paths: RuntimePaths;
  allowUids: number[];
  log: Logger;
  broadcasts: BroadcastSettings;
}

export function daemonSettings(
  values: {
    'socket-dir'?: string;
    'service-socket'?: string;
    'allow-uid'?: string[];
    'log-level'?: string;
    'log-format'?: string;
  } & Parameters<typeof broadcastSettings>[0],
): DaemonSettings {
  const format = values['log-format'];
  if (format !== undefined && format !== 'json' && format !== 'pretty') throw new UsageError(`--log-format must be json or pretty, not "${format}"`);
  const level = values['log-level'] ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  return {
    paths: resolveRuntimePaths({ socketDirFlag: values['socket-dir'], servicePathFlag: values['service-socket'] }),
    allowUids: (values['allow-uid'] ?? []).map(parseUid),
    broadcasts: broadcastSettings(values),
    log: createLogger({ level, pretty: format === undefined ? undefined : format === 'pretty' }),
  };
}

export interface PlatformSettings {
  listen: ListenAddress;
  /** undefined: generate one at start. */
  token: string | undefined;
  tokenSource: 'flag' | 'env' | 'generated';
  stunUrls: string[];
  binary: boolean;
}

/** Flags win over environment variables, which win over the defaults. */
export function platformSettings(
  values: { listen?: string; token?: string; stun?: string[]; binary?: boolean },
  env: NodeJS.ProcessEnv = process.env,
): PlatformSettings {
  const listenText = values.listen ?? (env[LISTEN_ENV] || undefined);
  const listen = listenText === undefined ? { ...DEFAULT_LISTEN } : parseListen(listenText, values.listen !== undefined ? '--listen' : LISTEN_ENV);
  let token: string | undefined;
  let tokenSource: PlatformSettings['tokenSource'] = 'generated';
  if (values.token !== undefined) {
    token = values.token;
    tokenSource = 'flag';
  } else if (env[TOKEN_ENV]) {
    token = env[TOKEN_ENV];
    tokenSource = 'env';
  }
  if (token !== undefined && (token.length === 0 || /\s/.test(token))) {
    throw new UsageError(`the token (${tokenSource === 'flag' ? '--token' : TOKEN_ENV}) must be non-empty and contain no whitespace`);
  }
  return { listen, token, tokenSource, stunUrls: values.stun ?? [], binary: values.binary ?? false };
}

/** `PORT`, `HOST:PORT` or `[IPV6]:PORT`. */
export function parseListen(value: string, what = '--listen'): ListenAddress {
  const text = value.trim();
  let host: string;
  let portText: string;
  const v6 = /^\[([0-9A-Fa-f:.]+)\]:(\d+)$/.exec(text);
  if (v6) {
    host = v6[1]!;
    portText = v6[2]!;
  } else if (/^\d+$/.test(text)) {
    host = DEFAULT_LISTEN.host;
    portText = text;
  } else {
    const at = text.lastIndexOf(':');
    host = at > 0 ? text.slice(0, at) : '';
    portText = at > 0 ? text.slice(at + 1) : '';
    if (host.includes(':') || !/^[A-Za-z0-9.-]+$/.test(host) || !/^\d+$/.test(portText)) {
      throw new UsageError(`${what} takes HOST:PORT (e.g. 127.0.0.1:8777, 0.0.0.0:8777, [::1]:8777), not "${value}"`);
    }
  }
  const port = Number(portText);
  if (!Number.isInteger(port) || port > 65535) throw new UsageError(`${what}: port ${portText} is out of range (0-65535)`);
  return { host, port };
}
