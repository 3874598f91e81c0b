import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import type { Logger } from '../log/logger.js';

/** How to reach nats-server: `--nats URL` and its companions (src/cli/nats-options.ts). */
export interface NatsSettings {
  /** nats://HOST:PORT or tls://HOST:PORT; USER:PASSWORD@ in the URL is taken as credentials. */
  url: string;
  /** A NATS credentials file (JWT + nkey seed, from `nsc`). */
  credsFile?: string;
  user?: string;
  password?: string;
  /** TLS: the CA that signed the server's certificate, and a client certificate when the server asks for one. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

/** The settings cannot work; the message says what to change. */
export class NatsSettingsError extends Error {
  override readonly name = 'NatsSettingsError';
}

/** One attempt a second, for ever: a farm outlives nats-server restarts. */
const RECONNECT_WAIT_MS = 1000;

const FATAL_NATS_CODES = new Set(['AUTHORIZATION_VIOLATION', 'AUTHENTICATION_EXPIRED', 'PERMISSIONS_VIOLATION']);

/** nats-server refused our credentials or TLS: retrying will not heal it (an unreachable server may). */
export function isFatalNatsConnectError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && FATAL_NATS_CODES.has(code)) return true;
  const message = error instanceof Error ? error.message : String(error);
  return /authoriz|authenticat|certificate|self[- ]signed|tls|ssl/i.test(message);
}

/** The URL without credentials, for logs and errors. */
export function redactNatsUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//');
}

/** Checks and translates the settings into nats.js options (no I/O beyond reading the creds file). */
export function natsConnectionOptions(settings: NatsSettings, name: string): ConnectionOptions {
  let parsed: URL;
  try {
    parsed = new URL(settings.url);
  } catch {
    throw new NatsSettingsError(`--nats ${JSON.stringify(redactNatsUrl(settings.url))} is not a URL; expected nats://HOST:PORT or tls://HOST:PORT`);
  }
  if (parsed.protocol !== 'nats:' && parsed.protocol !== 'tls:') {
    throw new NatsSettingsError(`--nats ${redactNatsUrl(settings.url)}: the scheme must be nats:// or tls://`);
  }
  if (parsed.hostname === '') throw new NatsSettingsError(`--nats ${redactNatsUrl(settings.url)}: no host`);
  const user = settings.user ?? (parsed.username === '' ? undefined : decodeURIComponent(parsed.username));
  const password = settings.password ?? (parsed.password === '' ? undefined : decodeURIComponent(parsed.password));
  const options: ConnectionOptions = {
    servers: `${parsed.hostname.includes(':') ? `[${parsed.hostname}]` : parsed.hostname}:${parsed.port === '' ? 4222 : parsed.port}`,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    // nats-server may start after us (or be restarting): keep trying. Two authentication
    // failures in a row still abort (nats.js's default): wrong credentials will not heal.
    waitOnFirstConnect: true,
  };
  if (settings.credsFile !== undefined) {
    let creds: Uint8Array;
    try {
      creds = readFileSync(settings.credsFile);
    } catch (error) {
      throw new NatsSettingsError(`--nats-creds ${settings.credsFile}: ${error instanceof Error ? error.message : String(error)}`);
    }
    options.authenticator = credsAuthenticator(creds);
  } else if (user !== undefined) {
    options.user = user;
    options.pass = password ?? '';
  }
  if (settings.tls !== undefined || parsed.protocol === 'tls:') {
    options.tls = { ...settings.tls };
    // nats.js sends no TLS server name for an IP address, and Node then checks the certificate
    // against "localhost": check it against the address in --nats instead (an IP SAN).
    const address = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(address) !== 0) {
      Object.assign(options.tls, { checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(address, cert) });
    }
  }
  return options;
}

/**
 * Connects and keeps reconnecting for ever; each disconnection and reconnection is logged, and
 * `onReconnect` lets the caller announce itself again. Resolves once the first connection is up.
 * `extra` overrides nats.js options (an instance's `inboxPrefix`, `waitOnFirstConnect: false` for a
 * caller that retries the first connection itself so that it can give up on close).
 */
export async function connectNats(
  settings: NatsSettings,
  name: string,
  log: Logger,
  onReconnect: () => void,
  extra: Partial<ConnectionOptions> = {},
): Promise<NatsConnection> {
  const options = { ...natsConnectionOptions(settings, name), ...extra };
  const url = redactNatsUrl(settings.url);
  log.info({ event: 'farm.nats_connecting', url }, `connecting to NATS at ${url}`);
  const connection = await connect(options);
  log.info({ event: 'farm.nats_connected', url, server: connection.getServer() }, `connected to NATS at ${url}`);
  void (async () => {
    for await (const status of connection.status()) {
      if (status.type === 'disconnect') log.warn({ event: 'farm.nats_disconnected', url }, `lost NATS at ${url}; reconnecting every ${RECONNECT_WAIT_MS / 1000} s`);
      else if (status.type === 'reconnect') {
        log.info({ event: 'farm.nats_reconnected', url }, `reconnected to NATS at ${url}`);
        try {
          onReconnect();
        } catch (error) {
          log.error({ event: 'farm.nats_reconnect_failed', err: error }, 'announcing again after the NATS reconnection failed');
        }
      } else if (status.type === 'error') log.warn({ event: 'farm.nats_error', url, err: String(status.data) }, `NATS error: ${String(status.data)}`);
    }
  })().catch((error: unknown) => log.error({ event: 'farm.nats_status_failed', err: error }, 'watching the NATS connection failed'));
  return connection;
}
