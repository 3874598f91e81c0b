import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../log/logger.js';
import { createGatewayHandler, type GatewayHost } from './gateway.js';
import {
  AUTH_SUMMARY_INTERVAL_MS,
  AuthRateLimiter,
  DEFAULT_GATEWAY_IDLE_TIMEOUT_MS,
  DEFAULT_GATEWAY_MAX_CONNECTIONS,
  descriptorLimits,
  effectiveMaxConnections,
  GATEWAY_HEADERS_TIMEOUT_MS,
  GATEWAY_KEEP_ALIVE_TIMEOUT_MS,
  GATEWAY_REQUEST_TIMEOUT_MS,
  GATEWAY_TIMEOUT_CHECK_MS,
  SIGNALING_PING_INTERVAL_MS,
} from './gateway-limits.js';
import { errorResponse, reasonPhrase } from './gateway-responses.js';
import { guard } from './guard.js';
import type { ListenAddress } from './listen-address.js';

/**
 * The HTTP side every gateway shares (`serve`'s Platform and the farm's `gateway`): one HTTP server
 * with the bounds of docs (connection cap kept below the descriptor limit, idle/header/request
 * timeouts), the Stream Gateway routes of gateway.ts with CORS and the auth rate limit, and the
 * signaling WebSocket upgrade, whose admission the owner decides (admitSignaling). Everything a
 * peer without a token can cause (failed token checks, refused upgrades, over-cap connections) is
 * logged as one line per period and then a summary.
 */

/** A signaling frame larger than this closes the WebSocket (1009); SDPs are a few KiB. */
export const MAX_SIGNALING_FRAME_BYTES = 1024 * 1024;

const SIGNALING_PATH = /^\/1\.0\/sessions\/([^/?#]+)\/signaling\/?$/;

/** What a signaling upgrade asks for: the session named in its path, the secret in its query (null: none given). */
export interface SignalingTarget {
  session: string;
  secret: string | null;
}

/** The owner's answer to a signaling upgrade: refuse it with an HTTP error, or take the WebSocket. */
export type SignalingAdmission =
  | { refuse: { statusCode: number; message: string } }
  | {
      /** The WebSocket is open; the owner owns it from now on. */
      accept(ws: WebSocket): void;
      /** The upgrade could not complete (the client went away, or the server is stopping). */
      abandon?(): void;
    };

/** The Stream Gateway routes' needs that only the owner knows (gateway.ts's host, minus what the server provides). */
export type GatewayRoutes = Omit<GatewayHost, 'log' | 'authLimiter' | 'onAuthFailure' | 'allowOrigins' | 'token'>;

export interface GatewayServerOptions {
  listen: ListenAddress;
  log: Logger;
  token: string;
  /** CORS: the origins allowed; default (undefined) every origin. */
  allowOrigins?: readonly string[];
  /** Connections held at once (HTTP and WebSocket); default DEFAULT_GATEWAY_MAX_CONNECTIONS, lowered to keep descriptors free. */
  maxConnections?: number;
  /** A connection silent this long is closed; default DEFAULT_GATEWAY_IDLE_TIMEOUT_MS. */
  idleTimeoutMs?: number;
  /** How often signaling WebSockets are pinged; default SIGNALING_PING_INTERVAL_MS. */
  signalingPingIntervalMs?: number;
  /** Signaling frames above this close the WebSocket (1009); default MAX_SIGNALING_FRAME_BYTES. */
  maxSignalingFrameBytes?: number;
  /** Whose server this is, for its log lines: `serve`'s platform or the farm gateway. */
  role: 'platform' | 'farm-gateway';
  routes: GatewayRoutes;
  /** Decides a signaling upgrade (the server has refused other paths); may wait (e.g. for an instance's answer). */
  admitSignaling(target: SignalingTarget, req: IncomingMessage): SignalingAdmission | Promise<SignalingAdmission>;
}

/** The server could not listen; the message says what to change. */
export class GatewayListenError extends Error {
  override readonly name = 'GatewayListenError';
}

export interface GatewayServerCounters {
  signalingRefused: number;
  connectionsDropped: number;
  authFailures: number;
}

export class GatewayServer {
  readonly address: ListenAddress;
  /** The connection cap in force (the requested one, lowered to keep descriptors free). */
  readonly maxConnections: number;
  readonly counters: GatewayServerCounters = { signalingRefused: 0, connectionsDropped: 0, authFailures: 0 };

  private readonly log: Logger;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<WebSocket>();
  /** WebSockets that answered the last ping (or are new). */
  private readonly alive = new Set<WebSocket>();
  private readonly authLimiter = new AuthRateLimiter();
  private readonly pingTimer: NodeJS.Timeout;
  private authSummaryTimer: NodeJS.Timeout | undefined;
  private dropped = 0;
  private droppedSummaryTimer: NodeJS.Timeout | undefined;
  private refusedSinceSummary = 0;
  private refusedSummaryTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private serverClosed: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    private readonly options: GatewayServerOptions,
  ) {
    this.log = options.log;
    const bound = server.address() as AddressInfo;
    this.address = { host: options.listen.host, port: bound.port };
    this.maxConnections = server.maxConnections;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxSignalingFrameBytes ?? MAX_SIGNALING_FRAME_BYTES, perMessageDeflate: false });
    this.wss.on('error', (error) => this.log.error({ event: 'signaling.server_error', err: error }, 'signaling server error'));
    const host: GatewayHost = {
      ...options.routes,
      token: options.token,
      log: this.log,
      allowOrigins: options.allowOrigins,
      authLimiter: this.authLimiter,
      onAuthFailure: (remote, reason, path) => this.onAuthFailure(remote, reason, path),
    };
    server.on('request', createGatewayHandler(host));
    server.on('upgrade', guard(this.log, { what: 'signaling upgrade' }, (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head)));
    // Over the cap Node accepts and closes at once (no descriptor held): counted, logged as a summary.
    server.on('drop', () => this.onDrop());
    this.pingTimer = setInterval(guard(this.log, { what: 'pinging signaling WebSockets' }, () => this.pingSignaling()), options.signalingPingIntervalMs ?? SIGNALING_PING_INTERVAL_MS);
    this.pingTimer.unref();
  }

  /** Creates the server with its bounds and listens; rejects with GatewayListenError when it cannot. */
  static async listen(options: GatewayServerOptions): Promise<GatewayServer> {
    const server = createServer({
      requestTimeout: GATEWAY_REQUEST_TIMEOUT_MS,
      headersTimeout: GATEWAY_HEADERS_TIMEOUT_MS,
      connectionsCheckingInterval: GATEWAY_TIMEOUT_CHECK_MS,
    });
    server.keepAliveTimeout = GATEWAY_KEEP_ALIVE_TIMEOUT_MS;
    // A connection that sends nothing (not even a request line) is closed after this; WebSockets
    // are exempt once upgraded (ws clears the timeout) and have their own pings.
    server.setTimeout(options.idleTimeoutMs ?? DEFAULT_GATEWAY_IDLE_TIMEOUT_MS);
    const requested = options.maxConnections ?? DEFAULT_GATEWAY_MAX_CONNECTIONS;
    const limits = descriptorLimits();
    server.maxConnections = effectiveMaxConnections(requested, limits?.soft);
    if (server.maxConnections < requested) {
      const farm = options.role === 'farm-gateway';
      options.log.warn(
        {
          event: farm ? 'farm.gateway.connections_capped' : 'platform.connections_capped',
          requested,
          maxConnections: server.maxConnections,
          descriptorLimit: limits?.soft,
        },
        `gateway connection cap lowered from ${requested} to ${server.maxConnections} to keep descriptors free (soft RLIMIT_NOFILE ${limits?.soft}); raise it with ulimit -n`,
      );
    }
    await listenOn(server, options.listen);
    return new GatewayServer(server, options);
  }

  /** "host:port" to put in URLs when a request's Host header is missing or unusable. */
  fallbackOrigin(): string {
    const { host } = this.address;
    const reachable = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
    return `${reachable.includes(':') ? `[${reachable}]` : reachable}:${this.address.port}`;
  }

  /** WebSockets open now (signaling, relayed or not). */
  get openWebSockets(): number {
    return this.sockets.size;
  }

  /**
   * First half of stopping: no new upgrades, summaries written, the server stops accepting, and
   * every WebSocket is asked to close (1001). The owner then ends its sessions and calls finishClose().
   */
  beginClose(reason: string): void {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.pingTimer);
    clearTimeout(this.authSummaryTimer);
    clearTimeout(this.droppedSummaryTimer);
    clearTimeout(this.refusedSummaryTimer);
    this.logRefusedSummary();
    this.logAuthSummary();
    this.logDropSummary();
    this.serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const ws of this.sockets) ws.close(1001, reason);
  }

  /** Second half: whatever is still open is cut, and the server is closed. */
  async finishClose(): Promise<void> {
    this.beginClose('stopping');
    for (const ws of this.sockets) ws.terminate();
    this.server.closeAllConnections();
    await this.serverClosed;
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', (error) => this.log.debug({ event: 'signaling.upgrade_socket_error', err: error }, 'upgrade socket error'));
    if (this.stopping) return this.refuseUpgrade(socket, 503, 'the gateway is stopping');
    const target = signalingTarget(req.url ?? '/');
    if ('refuse' in target) return this.refuseUpgrade(socket, target.refuse.statusCode, target.refuse.message);
    const admission = await this.options.admitSignaling(target, req);
    if ('refuse' in admission) return this.refuseUpgrade(socket, admission.refuse.statusCode, admission.refuse.message);
    if (this.stopping || socket.destroyed) {
      admission.abandon?.();
      socket.destroy();
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.stopping) {
        ws.terminate();
        admission.abandon?.();
        return;
      }
      this.sockets.add(ws);
      this.alive.add(ws);
      ws.on('pong', () => this.alive.add(ws));
      ws.on('close', () => {
        this.sockets.delete(ws);
        this.alive.delete(ws);
      });
      admission.accept(ws);
    });
  }

  /**
   * Liveness, not activity: a live session's WebSocket may be quiet for hours after setup, but its
   * browser answers pings. One that has not answered the previous ping is gone (a vanished peer, a
   * client that never reads): it is terminated.
   */
  private pingSignaling(): void {
    for (const ws of this.sockets) {
      if (!this.alive.delete(ws)) {
        this.log.info({ event: 'signaling.ping_timeout' }, 'signaling WebSocket did not answer a ping; closed');
        ws.terminate();
        continue;
      }
      ws.ping();
    }
  }

  private onDrop(): void {
    this.counters.connectionsDropped++;
    if (this.dropped++ === 0) {
      this.log.warn(
        { event: 'gateway.connection_dropped', maxConnections: this.maxConnections },
        `gateway at its cap of ${this.maxConnections} connections: new ones are closed at once (a summary follows every ${AUTH_SUMMARY_INTERVAL_MS / 1000} s)`,
      );
      this.droppedSummaryTimer = setTimeout(() => this.logDropSummary(), AUTH_SUMMARY_INTERVAL_MS);
      this.droppedSummaryTimer.unref();
    }
  }

  private logRefusedSummary(): void {
    this.refusedSummaryTimer = undefined;
    const more = this.refusedSinceSummary - 1;
    this.refusedSinceSummary = 0;
    if (more <= 0) return;
    this.log.warn({ event: 'signaling.refused_summary', refused: more, intervalMs: AUTH_SUMMARY_INTERVAL_MS }, `${more} more signaling WebSocket upgrades refused`);
  }

  private logDropSummary(): void {
    this.droppedSummaryTimer = undefined;
    const dropped = this.dropped;
    this.dropped = 0;
    if (dropped <= 1) return; // the first was logged on its own
    this.log.warn(
      { event: 'gateway.connections_dropped', dropped: dropped - 1, maxConnections: this.maxConnections },
      `${dropped - 1} more gateway connections closed at once: the gateway was at its cap of ${this.maxConnections}`,
    );
  }

  /** The first failure of a period gets its own line (its reason helps a user with a wrong token); the rest a summary. */
  private onAuthFailure(remote: string, reason: string, path: string): void {
    this.counters.authFailures++;
    if (this.authSummaryTimer !== undefined) return;
    this.log.warn({ event: 'gateway.unauthorized', path, remote, reason }, `refused: ${reason}`);
    this.authSummaryTimer = setTimeout(() => this.logAuthSummary(), AUTH_SUMMARY_INTERVAL_MS);
    this.authSummaryTimer.unref();
  }

  private logAuthSummary(): void {
    this.authSummaryTimer = undefined;
    const summary = this.authLimiter.takeSummary();
    if (!summary || (summary.failures <= 1 && summary.limited === 0)) return;
    this.log.warn(
      { event: 'gateway.auth_failures', ...summary, intervalMs: AUTH_SUMMARY_INTERVAL_MS },
      `${summary.failures} failed token checks and ${summary.limited} requests refused by the rate limit (429) from ${summary.addresses} addresses`,
    );
  }

  private refuseUpgrade(socket: Duplex, statusCode: number, message: string): void {
    this.counters.signalingRefused++;
    // Anyone can send refused upgrades without a token: one line per period, then a summary.
    if (this.refusedSinceSummary++ === 0) {
      this.log.warn({ event: 'signaling.refused', statusCode, reason: message }, `signaling WebSocket refused: ${message}`);
      this.refusedSummaryTimer = setTimeout(() => this.logRefusedSummary(), AUTH_SUMMARY_INTERVAL_MS);
      this.refusedSummaryTimer.unref();
    }
    const body = JSON.stringify(errorResponse(statusCode, message));
    socket.end(
      `HTTP/1.1 ${statusCode} ${reasonPhrase(statusCode)}\r\n` +
        'Connection: close\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}

/** The session and secret of a signaling URL, or the refusal of any other upgrade. */
function signalingTarget(url: string): SignalingTarget | { refuse: { statusCode: number; message: string } } {
  const match = SIGNALING_PATH.exec(url.split('?')[0] ?? '');
  if (!match) return { refuse: { statusCode: 404, message: 'no WebSocket here; the signaling URL comes from POST /1.0/sessions/' } };
  try {
    return { session: decodeURIComponent(match[1]!), secret: new URL(url, 'http://signaling.invalid').searchParams.get('secret') };
  } catch {
    return { refuse: { statusCode: 400, message: 'malformed signaling URL' } };
  }
}

async function listenOn(server: Server, listen: ListenAddress): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const where = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
    const why =
      code === 'EADDRINUSE'
        ? 'the address is already in use (another anbox-oob platform or gateway?)'
        : code === 'EADDRNOTAVAIL'
          ? 'no local interface has that address'
          : code === 'EACCES'
            ? 'permission denied (ports below 1024 need privileges)'
            : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
              ? 'the host name does not resolve'
              : error instanceof Error
                ? error.message
                : String(error);
    throw new GatewayListenError(`cannot listen on ${where}: ${why}; use --listen HOST:PORT`);
  }
}
