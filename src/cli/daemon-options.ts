import { ADB_REVERSE_RECHECK_ENV } from '../broadcast/adb/adb-reverse.js';
import { RECEIVERS_DIR_ENV } from '../broadcast/local/receivers-dir.js';
import { CONFIG_ENV } from '../config/config-location.js';
import { resolveRuntimePaths, SERVICE_SOCKET_ENV, SOCKET_DIR_ENV, type RuntimePaths } from '../config/paths.js';
import { createLogger, LOG_LEVELS, type Logger } from '../log/logger.js';
import { TOKEN_ENV } from '../platform/auth.js';
import { DEFAULT_SERVICE_LIMITS, type ServiceLimits } from '../service/service-limits.js';
import { DEFAULT_LISTEN, type ListenAddress } from '../platform/listen-address.js';
import { BROADCAST_HELP, BROADCAST_OPTIONS, broadcastSettings, type BroadcastSettings } from './broadcast-options.js';
import { parseUid, UsageError } from './command.js';
import type { OptionSource } from './config-file.js';
import type { DaemonOptionInput, LoadedConfigFile } from './daemon-config.js';

export const LISTEN_ENV = 'ANBOX_OOB_LISTEN';

/** parseArgs options every daemon takes: where the channel sockets are, logging, help. */
export const COMMON_DAEMON_OPTIONS = {
  config: { type: 'string' },
  'socket-dir': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

// --- Data-proxy service bounds (issue 9): what any peer, allowed or not, can make the daemon hold.
/** parseArgs options of the service bounds; each has a safe default (DEFAULT_SERVICE_LIMITS). */
export const SERVICE_LIMIT_OPTIONS = {
  'max-connections': { type: 'string' },
  'max-connections-per-uid': { type: 'string' },
  'max-buffered-mib': { type: 'string' },
  'frame-timeout-ms': { type: 'string' },
} as const;

const SERVICE_LIMITS_HELP = `  --max-connections N     service connections open at once, every uid together (default ${DEFAULT_SERVICE_LIMITS.maxConnections});
                          more are refused with TOO_MANY_CONNECTIONS and closed
  --max-connections-per-uid N
                          service connections of one uid (default ${DEFAULT_SERVICE_LIMITS.maxConnectionsPerUid}); allowed uids too: with
                          --adb every app on the device shares the adb server's uid
  --max-buffered-mib N    MiB the service buffers for all connections together (default
                          ${DEFAULT_SERVICE_LIMITS.maxBufferedBytes / 1024 / 1024}); past it, the daemon reads no more until some drain
  --frame-timeout-ms MS   a client holding a partial frame or leaving replies unread this long
                          is hung up on (default ${DEFAULT_SERVICE_LIMITS.frameTimeoutMs})`;

/** The service bounds from their flags (or config keys); a bad value is a usage error. */
export function serviceLimitSettings(values: { [K in keyof typeof SERVICE_LIMIT_OPTIONS]?: string }): ServiceLimits {
  const positive = (name: keyof typeof SERVICE_LIMIT_OPTIONS, fallback: number): number => {
    const text = values[name];
    if (text === undefined) return fallback;
    const value = Number(String(text).trim());
    if (!Number.isSafeInteger(value) || value < 1) throw new UsageError(`--${name} takes a whole number of at least 1, not "${text}"`);
    return value;
  };
  const defaults = DEFAULT_SERVICE_LIMITS;
  return {
    maxConnections: positive('max-connections', defaults.maxConnections),
    maxConnectionsPerUid: positive('max-connections-per-uid', defaults.maxConnectionsPerUid),
    maxBufferedBytes: positive('max-buffered-mib', defaults.maxBufferedBytes / 1024 / 1024) * 1024 * 1024,
    frameTimeoutMs: positive('frame-timeout-ms', defaults.frameTimeoutMs),
  };
}
// --- end of the data-proxy service bounds

/** The data-proxy daemon's own options, its channel broadcasts included. */
export const PROXY_OPTIONS = {
  'service-socket': { type: 'string' },
  'allow-uid': { type: 'string', multiple: true },
  ...SERVICE_LIMIT_OPTIONS,
  ...BROADCAST_OPTIONS,
} as const;

/** The WebRTC platform's own options. */
export const PLATFORM_OPTIONS = {
  listen: { type: 'string' },
  token: { type: 'string' },
  stun: { type: 'string', multiple: true },
  binary: { type: 'boolean' },
} as const;

/**
 * The environment variable of every option that has one. A set variable wins over the config
 * file; a flag wins over both.
 */
export const OPTION_ENV: Readonly<Record<string, string>> = {
  'socket-dir': SOCKET_DIR_ENV,
  'service-socket': SERVICE_SOCKET_ENV,
  listen: LISTEN_ENV,
  token: TOKEN_ENV,
  'adb-serial': 'ANDROID_SERIAL',
  'receivers-dir': RECEIVERS_DIR_ENV,
};

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
  --allow-uid UID         also let this uid transact (repeatable); the daemon's own uid and root always may
${SERVICE_LIMITS_HELP}`;

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

const CONFIG_HELP = `  --config FILE           read options from this JSON file (env ${CONFIG_ENV}; default
                          $XDG_CONFIG_HOME/anbox-oob/config.json, else ~/.config/anbox-oob/config.json,
                          read only if present). Its keys are the long option names:
                          {"listen": "127.0.0.1:9000", "adb": true, "stun": ["stun:HOST:3478"]}.
                          Flags win over environment variables, which win over the file`;

const LOG_HELP = `  --log-level LEVEL       ${LOG_LEVELS.join(' | ')} (default info)
  --log-format FORMAT     json | pretty (default: pretty on a terminal, else JSON lines)
  -h, --help              show this help`;

function envHelp(parts: { platform: boolean; proxy: boolean }): string {
  const rows: [string, string][] = [
    [CONFIG_ENV, 'the config file (--config)'],
    [SOCKET_DIR_ENV, '--socket-dir'],
    ...(parts.proxy ? ([[SERVICE_SOCKET_ENV, '--service-socket']] as [string, string][]) : []),
    ...(parts.platform
      ? ([
          [LISTEN_ENV, '--listen'],
          [TOKEN_ENV, '--token'],
        ] as [string, string][])
      : []),
    ...(parts.proxy
      ? ([
          ['ANDROID_SERIAL', '--adb-serial'],
          [RECEIVERS_DIR_ENV, '--receivers-dir'],
          [ADB_REVERSE_RECHECK_ENV, 'how often adb reverse is re-checked, in ms (no flag)'],
        ] as [string, string][])
      : []),
    ['XDG_RUNTIME_DIR', 'where the default sockets go ($XDG_RUNTIME_DIR/anbox)'],
    ['XDG_CONFIG_HOME', 'where the default config file is ($XDG_CONFIG_HOME/anbox-oob/config.json)'],
  ];
  return `Environment (a flag wins over its variable, a set variable over the config file):
${rows.map(([name, what]) => `  ${name.padEnd(26)}${what}`).join('\n')}`;
}

export const DAEMON_OPTIONS_HELP = `Options:
${CONFIG_HELP}
${SOCKET_DIR_HELP}
${PROXY_HELP}
${LOG_HELP}

${BROADCAST_HELP}

${envHelp({ platform: false, proxy: true })}`;

export const PLATFORM_OPTIONS_HELP = `Options:
${CONFIG_HELP}
${SOCKET_DIR_HELP}
${PLATFORM_HELP}
${LOG_HELP}

${envHelp({ platform: true, proxy: false })}`;

export const SERVE_OPTIONS_HELP = `Options:
${CONFIG_HELP}
${SOCKET_DIR_HELP}
${PLATFORM_HELP}
${PROXY_HELP}
${LOG_HELP}

${BROADCAST_HELP}

${envHelp({ platform: true, proxy: true })}`;

export interface DaemonSettings {
  paths: RuntimePaths;
  allowUids: number[];
  serviceLimits: ServiceLimits;
  log: Logger;
  broadcasts: BroadcastSettings;
  /** The config file read, if any, and what to warn about it once logging works. */
  configFile: LoadedConfigFile | undefined;
  configWarnings: DaemonOptionInput<object>['warnings'];
}

/** Where the options came from, when a config file may have supplied some. */
export type OptionOrigins = Pick<DaemonOptionInput<object>, 'sources' | 'configFile' | 'warnings'>;

const NO_ORIGINS: OptionOrigins = { sources: {}, configFile: undefined, warnings: [] };

/** How a message names where a bad value came from. */
function origin(name: string, source: OptionSource | undefined, origins: OptionOrigins): string {
  if (source === 'config' && origins.configFile) return `"${name}" in config file ${origins.configFile.path}`;
  if (source === 'env') return OPTION_ENV[name] ?? `--${name}`;
  return `--${name}`;
}

export function daemonSettings(
  values: {
    'socket-dir'?: string;
    'service-socket'?: string;
    'allow-uid'?: string[];
    'log-level'?: string;
    'log-format'?: string;
  } & Parameters<typeof serviceLimitSettings>[0] &
    Parameters<typeof broadcastSettings>[0],
  origins: OptionOrigins = NO_ORIGINS,
): DaemonSettings {
  const { sources } = origins;
  const format = values['log-format'];
  if (format !== undefined && format !== 'json' && format !== 'pretty') {
    throw new UsageError(`${origin('log-format', sources['log-format'], origins)} must be json or pretty, not "${format}"`);
  }
  const level = values['log-level'] ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`${origin('log-level', sources['log-level'], origins)} must be one of ${LOG_LEVELS.join(', ')}, not "${level}"`);
  }
  const paths = resolveRuntimePaths({ socketDirFlag: values['socket-dir'], servicePathFlag: values['service-socket'] });
  if (sources['socket-dir'] === 'config') paths.socketDirSource = 'config';
  if (sources['service-socket'] === 'config') paths.servicePathSource = 'config';
  return {
    paths,
    allowUids: (values['allow-uid'] ?? []).map(parseUid),
    serviceLimits: serviceLimitSettings(values),
    broadcasts: broadcastSettings(values),
    log: createLogger({ level, pretty: format === undefined ? undefined : format === 'pretty' }),
    configFile: origins.configFile,
    configWarnings: origins.warnings,
  };
}

export interface PlatformSettings {
  listen: ListenAddress;
  /** undefined: generate one at start. */
  token: string | undefined;
  tokenSource: 'flag' | 'env' | 'config' | 'generated';
  stunUrls: string[];
  binary: boolean;
}

/**
 * Flags win over environment variables, which win over the config file (already merged into
 * `values` by applyConfigFile, `origins` telling which), which wins over the defaults.
 */
export function platformSettings(
  values: { listen?: string; token?: string; stun?: string[]; binary?: boolean },
  env: NodeJS.ProcessEnv = process.env,
  origins: OptionOrigins = NO_ORIGINS,
): PlatformSettings {
  const { sources } = origins;
  const listenText = values.listen ?? (env[LISTEN_ENV] || undefined);
  const listenSource = values.listen !== undefined ? (sources.listen === 'config' ? 'config' : 'flag') : 'env';
  const listen = listenText === undefined ? { ...DEFAULT_LISTEN } : parseListen(listenText, origin('listen', listenSource, origins));
  let token: string | undefined;
  let tokenSource: PlatformSettings['tokenSource'] = 'generated';
  if (values.token !== undefined) {
    token = values.token;
    tokenSource = sources.token === 'config' ? 'config' : 'flag';
  } else if (env[TOKEN_ENV]) {
    token = env[TOKEN_ENV];
    tokenSource = 'env';
  }
  if (token !== undefined && (token.length === 0 || /\s/.test(token))) {
    throw new UsageError(`the token (${origin('token', tokenSource === 'generated' ? undefined : tokenSource, origins)}) must be non-empty and contain no whitespace`);
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
