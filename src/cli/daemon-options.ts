import { ADB_REVERSE_RECHECK_ENV } from '../broadcast/adb/adb-reverse.js';
import { RECEIVERS_DIR_ENV } from '../broadcast/local/receivers-dir.js';
import { CONFIG_ENV } from '../config/config-location.js';
import { resolveRuntimePaths, SERVICE_SOCKET_ENV, SOCKET_DIR_ENV, type RuntimePaths } from '../config/paths.js';
import { createLogger, LOG_LEVELS, type Logger } from '../log/logger.js';
import { readFileSync, statSync } from 'node:fs';
import { TOKEN_ENV } from '../platform/auth.js';
import { requireTurnUrl } from '../platform/ice-servers.js';
import { DEFAULT_GATEWAY_IDLE_TIMEOUT_MS, DEFAULT_GATEWAY_MAX_CONNECTIONS, DESCRIPTOR_RESERVE, MIN_TOKEN_LENGTH } from '../platform/gateway-limits.js';
import { DEFAULT_SERVICE_LIMITS, type ServiceLimits } from '../service/service-limits.js';
import { DEFAULT_LISTEN, type ListenAddress } from '../platform/listen-address.js';
import { CHANNEL_SOCKET_MODES, DEFAULT_CHANNEL_SOCKET_MODE, formatMode } from '../platform/bridge/channel-socket-mode.js';
import { BROADCAST_HELP, BROADCAST_OPTIONS, broadcastSettings, type BroadcastSettings } from './broadcast-options.js';
import { INSTANCE_HELP, INSTANCE_OPTIONS } from './instance-options.js';
import { parseUid, UsageError } from './command.js';
import type { OptionSource } from './config-file.js';
import type { DaemonOptionInput, LoadedConfigFile } from './daemon-config.js';

export const LISTEN_ENV = 'ANBOX_OOB_LISTEN';

/** parseArgs options every daemon takes: where the channel sockets are, logging, help. */
export const COMMON_DAEMON_OPTIONS = {
  config: { type: 'string' },
  'socket-dir': { type: 'string' },
  'allow-shared-dir': { type: 'boolean' },
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
  turn: { type: 'string', multiple: true },
  binary: { type: 'boolean' },
  'channel-socket-mode': { type: 'string' },
  ...GATEWAY_SECURITY_OPTIONS_SPEC(),
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
/** parseArgs option spec of `serve`: both, and joining a farm (--nats). */
export const SERVE_OPTIONS = { ...COMMON_DAEMON_OPTIONS, ...PROXY_OPTIONS, ...PLATFORM_OPTIONS, ...INSTANCE_OPTIONS } as const;

const SOCKET_DIR_HELP = `  --socket-dir DIR        where the platform's webrtc_data_<name> channel sockets are
                          (env ${SOCKET_DIR_ENV}; default $XDG_RUNTIME_DIR/anbox/sockets, else
                          /run/user/<uid>/anbox/sockets when writable, else <tmp>/anbox-oob-<uid>/sockets)
  --allow-shared-dir      use a socket dir, service socket directory or receivers dir that another
                          uid owns or that group/others may write (logged as a warning); without it
                          such a directory, or one reached through a symlink, stops the start`;

const PROXY_HELP = `  --service-socket PATH   the daemon's IPC socket, created with mode 0660
                          (env ${SERVICE_SOCKET_ENV}; default data-proxy.sock in the same anbox directory)
  --allow-uid UID         also let this uid transact (repeatable); the daemon's own uid and root always may
${SERVICE_LIMITS_HELP}`;

const PLATFORM_HELP = `  --listen HOST:PORT      where the gateway, the signaling WebSocket and the page listen
                          (env ${LISTEN_ENV}; default ${DEFAULT_LISTEN.host}:${DEFAULT_LISTEN.port}: this machine only;
                          0.0.0.0:PORT for every interface, [::1]:PORT for IPv6, port 0 for any free port)
  --token TOKEN           the gateway token the client sends as "Authorization: Macaroon root=TOKEN"
                          (env ${TOKEN_ENV}; default: a random token generated at start and printed);
                          on the command line every uid sees it in ps: prefer --token-file or the env
${GATEWAY_SECURITY_HELP()}
  --stun URL              a STUN/TURN server for both the browser and the platform (repeatable):
                          stun:HOST[:PORT] or turn:USER:PASSWORD@HOST[:PORT][?transport=udp|tcp];
                          none needed on one machine or a LAN
  --turn URL              a TURN server (relay) for both sides (repeatable), for peers that cannot
                          reach this host directly: turn:USER:PASSWORD@HOST[:PORT][?transport=udp|tcp]
                          or turns:…; the same as --stun with a turn URL, but anything else is refused.
                          The browser gets it in metadata.stun_servers (username/password apart)
  --binary                send socket data to the browser as binary messages only (default: text
                          when the bytes are valid UTF-8, else binary)
  --channel-socket-mode M mode of the webrtc_data_<name> sockets: 0600 (default: only this user and
                          root connect directly; other uids go through the data-proxy daemon and its
                          --allow-uid list), 0660 (the socket dir's group connects directly too,
                          past the allow-list), 0666 (every uid that can enter the socket dir)`;

const CONFIG_HELP = `  --config FILE           read options from this JSON file (env ${CONFIG_ENV}; default
                          $XDG_CONFIG_HOME/anbox-oob/config.json, else ~/.config/anbox-oob/config.json,
                          read only if present). Its keys are the long option names:
                          {"listen": "127.0.0.1:9000", "adb": true, "stun": ["stun:HOST:3478"],
                          "turn": ["turn:USER:PASSWORD@HOST:3478"]}.
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

${INSTANCE_HELP}

${envHelp({ platform: true, proxy: true })}`;

export interface DaemonSettings {
  paths: RuntimePaths;
  /** --allow-shared-dir: directories owned or writable by others are used with a warning. */
  allowSharedDir: boolean;
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
    'allow-shared-dir'?: boolean;
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
    allowSharedDir: values['allow-shared-dir'] ?? false,
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
  tokenSource: 'flag' | 'file' | 'env' | 'config' | 'generated';
  stunUrls: string[];
  binary: boolean;
  /** --channel-socket-mode, one of CHANNEL_SOCKET_MODES. */
  channelSocketMode: number;
  /** --token-file, --allow-origin, gateway bounds, and what to warn about once logging works. */
  gateway: GatewaySecuritySettings;
}

/**
 * Flags win over environment variables, which win over the config file (already merged into
 * `values` by applyConfigFile, `origins` telling which), which wins over the defaults.
 */
export function platformSettings(
  values: { listen?: string; token?: string; stun?: string[]; turn?: string[]; binary?: boolean; 'channel-socket-mode'?: string } & GatewaySecurityValues,
  env: NodeJS.ProcessEnv = process.env,
  origins: OptionOrigins = NO_ORIGINS,
): PlatformSettings {
  const gateway = gatewaySecuritySettings(values, origins);
  const { sources } = origins;
  const listenText = values.listen ?? (env[LISTEN_ENV] || undefined);
  const listenSource = values.listen !== undefined ? (sources.listen === 'config' ? 'config' : 'flag') : 'env';
  const listen = listenText === undefined ? { ...DEFAULT_LISTEN } : parseListen(listenText, origin('listen', listenSource, origins));
  let token: string | undefined;
  let tokenSource: PlatformSettings['tokenSource'] = 'generated';
  if (values.token !== undefined && sources.token !== 'config') {
    token = values.token;
    tokenSource = 'flag';
  } else if (gateway.tokenFromFile !== undefined) {
    token = gateway.tokenFromFile;
    tokenSource = 'file';
  } else if (env[TOKEN_ENV]) {
    token = env[TOKEN_ENV];
    tokenSource = 'env';
  } else if (values.token !== undefined) {
    token = values.token;
    tokenSource = 'config';
  }
  if (token !== undefined && (token.length === 0 || /\s/.test(token))) {
    throw new UsageError(`the token (${tokenOrigin(tokenSource, values, origins)}) must be non-empty and contain no whitespace`);
  }
  checkTokenLength(token, tokenOrigin(tokenSource, values, origins));
  if (tokenSource === 'flag') gateway.warnings.push({ event: 'platform.token_on_command_line', message: TOKEN_ON_COMMAND_LINE_WARNING });
  const modeText = values['channel-socket-mode'];
  const channelSocketMode = modeText === undefined ? DEFAULT_CHANNEL_SOCKET_MODE : parseChannelSocketMode(modeText, origin('channel-socket-mode', sources['channel-socket-mode'], origins));
  const turnUrls = (values.turn ?? []).map((url) => checkTurnUrl(url, origin('turn', sources.turn, origins)));
  return { listen, token, tokenSource, stunUrls: [...(values.stun ?? []), ...turnUrls], binary: values.binary ?? false, channelSocketMode, gateway };
}

/** --turn's value: a turn:/turns: URL (see requireTurnUrl), or a usage error naming the option. */
export function checkTurnUrl(url: string, what = '--turn'): string {
  try {
    return requireTurnUrl(url);
  } catch (error) {
    throw new UsageError(`${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** `0600`, `600`, `0o600` (octal, as chmod takes it): one of CHANNEL_SOCKET_MODES. */
export function parseChannelSocketMode(value: string, what = '--channel-socket-mode'): number {
  const digits = /^(?:0o?)?([0-7]{3})$/.exec(value.trim());
  const mode = digits ? parseInt(digits[1]!, 8) : NaN;
  if (!CHANNEL_SOCKET_MODES.includes(mode)) {
    throw new UsageError(`${what} takes ${CHANNEL_SOCKET_MODES.map(formatMode).join(', ')} (octal), not "${value}"`);
  }
  return mode;
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

// ---- Gateway security options (issue 9, items 6 and 7): --token-file, --allow-origin, gateway bounds.


const TOKEN_ON_COMMAND_LINE_WARNING =
  `the gateway token was given with --token: every user of this machine can read it with ps; use --token-file FILE (mode 0600) or ${TOKEN_ENV} instead`;

// Functions rather than constants: PLATFORM_OPTIONS and PLATFORM_HELP above are built at load time.
function GATEWAY_SECURITY_OPTIONS_SPEC() {
  return {
    'token-file': { type: 'string' },
    'allow-origin': { type: 'string', multiple: true },
    'gateway-max-connections': { type: 'string' },
    'gateway-idle-timeout': { type: 'string' },
  } as const;
}

function GATEWAY_SECURITY_HELP(): string {
  return `  --token-file FILE       read the gateway token from FILE (its first line; keep it mode 0600);
                          given tokens (--token, --token-file, ${TOKEN_ENV}) need ${MIN_TOKEN_LENGTH}+ characters
  --allow-origin ORIGIN   let only pages of this origin call the gateway from a browser (CORS;
                          repeatable; e.g. https://app.example.com). Default: every origin ("*"),
                          as the Anbox Streaming SDK's pages are usually served from elsewhere
  --gateway-max-connections N
                          gateway connections held at once, HTTP and WebSocket (default ${DEFAULT_GATEWAY_MAX_CONNECTIONS};
                          lowered to keep ${DESCRIPTOR_RESERVE} descriptors and half the fd limit free); more are closed at once
  --gateway-idle-timeout MS
                          close a gateway connection that sends nothing for MS ms (default ${DEFAULT_GATEWAY_IDLE_TIMEOUT_MS})`;
}

export interface GatewaySecurityValues {
  'token-file'?: string;
  'allow-origin'?: string[];
  'gateway-max-connections'?: string;
  'gateway-idle-timeout'?: string;
}

export interface GatewaySecuritySettings {
  /** The token read from --token-file, if given. */
  tokenFromFile: string | undefined;
  tokenFile: string | undefined;
  /** undefined: every origin. */
  allowOrigins: string[] | undefined;
  maxConnections: number;
  idleTimeoutMs: number;
  /** Logged at start. */
  warnings: { event: string; message: string }[];
}

function gatewaySecuritySettings(values: { token?: string } & GatewaySecurityValues, origins: OptionOrigins): GatewaySecuritySettings {
  const { sources } = origins;
  const warnings: GatewaySecuritySettings['warnings'] = [];
  const file = values['token-file'];
  let tokenFromFile: string | undefined;
  if (file !== undefined) {
    if (values.token !== undefined && sources.token !== 'config') {
      throw new UsageError('give the token once: --token or --token-file, not both');
    }
    tokenFromFile = readTokenFile(file, origin('token-file', sources['token-file'], origins), warnings);
  }
  const allowOrigins = values['allow-origin']?.map((o) => parseAllowOrigin(o, origin('allow-origin', sources['allow-origin'], origins)));
  return {
    tokenFromFile,
    tokenFile: file,
    allowOrigins,
    maxConnections: parsePositiveInteger(values['gateway-max-connections'], DEFAULT_GATEWAY_MAX_CONNECTIONS, origin('gateway-max-connections', sources['gateway-max-connections'], origins)),
    idleTimeoutMs: parsePositiveInteger(values['gateway-idle-timeout'], DEFAULT_GATEWAY_IDLE_TIMEOUT_MS, origin('gateway-idle-timeout', sources['gateway-idle-timeout'], origins)),
    warnings,
  };
}

function tokenOrigin(source: PlatformSettings['tokenSource'], values: GatewaySecurityValues, origins: OptionOrigins): string {
  if (source === 'file') return `--token-file ${values['token-file'] ?? ''}`;
  if (source === 'env') return TOKEN_ENV;
  return origin('token', source === 'config' ? 'config' : undefined, origins);
}

function checkTokenLength(token: string | undefined, what: string): void {
  if (token === undefined || token.length >= MIN_TOKEN_LENGTH) return;
  throw new UsageError(
    `the token (${what}) is ${token.length} characters; at least ${MIN_TOKEN_LENGTH} are needed, as any local user or web page can try tokens. ` +
      'Leave it out to have a random one generated, or make one with: head -c 24 /dev/urandom | base64',
  );
}

/** The first line of the file, without surrounding whitespace. */
export function readTokenFile(path: string, what: string, warnings: GatewaySecuritySettings['warnings']): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) {
      warnings.push({
        event: 'platform.insecure_token_file',
        message: `token file ${path} is readable by others (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 ${path}`,
      });
    }
  } catch (error) {
    throw new UsageError(`${what}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const token = (text.split('\n')[0] ?? '').trim();
  if (token === '') throw new UsageError(`${what}: ${path} is empty; write the token on its first line`);
  return token;
}

function parseAllowOrigin(value: string, what: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${what} takes an origin like https://app.example.com or http://localhost:8080, not "${value}"`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== value.replace(/\/$/, '')) {
    throw new UsageError(`${what} takes an origin (scheme://host[:port], no path), like https://app.example.com, not "${value}"`);
  }
  return url.origin;
}

function parsePositiveInteger(value: string | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  const n = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`${what} takes a positive integer, not "${value}"`);
  return n;
}
