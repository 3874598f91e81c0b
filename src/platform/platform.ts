import nodeDataChannel from 'node-datachannel';
import type { WebSocket } from 'ws';
import type { Logger } from '../log/logger.js';
import { ensureTrustedDirectory, UnsafeDirectoryError } from '../io/trusted-directory.js';
import { DEFAULT_CHANNEL_SOCKET_MODE } from './bridge/channel-socket-mode.js';
import { generateSecret, generateSessionId, generateToken, secretsEqual } from './auth.js';
import { SIGNALING_SETUP_TIMEOUT_MS } from './gateway-limits.js';
import { GatewayListenError, GatewayServer, type SignalingAdmission, type SignalingTarget } from './gateway-server.js';
import type { GatewaySessionMetadata, GatewayStunServer } from './gateway-responses.js';
import { IceServerError, parseIceServer } from './ice-servers.js';
import { DEFAULT_LISTEN, type ListenAddress } from './listen-address.js';
import { PeerSession, type SignalSink } from './peer-session.js';
import { checkV1Message, encodeV1ControlMessage, refused, type V1SendResult } from '../v1/v1-message.js';
import type { ActivePeerInfo, PlatformEvent, PlatformStats } from './platform-events.js';
import { SignalingConnection, type SignalingHost } from './signaling.js';
import { WebSocketTransport, type SignalingTransport } from './signaling-transport.js';
import { defaultWebDir, StaticFiles } from './static-files.js';

export type { PlatformEvent, PlatformEventOf, PlatformEventType, PlatformStats, ActivePeerInfo } from './platform-events.js';

export { DEFAULT_LISTEN, type ListenAddress } from './listen-address.js';

export interface PlatformOptions {
  /** Where the `webrtc_data_<name>` channel sockets are created (created if missing, mode 0750). */
  socketDir: string;
  /** Default DEFAULT_LISTEN (127.0.0.1:8777). */
  listen?: ListenAddress;
  /** The gateway token; generated (random) when absent. */
  token?: string;
  /** STUN/TURN URLs for both the browser (metadata.stun_servers) and the server's peer connections. */
  stunUrls?: string[];
  /** Send everything to the browser as binary messages. */
  binary?: boolean;
  /** Mode of every channel socket (--channel-socket-mode); default DEFAULT_CHANNEL_SOCKET_MODE (0600). */
  channelSocketMode?: number;
  /** --allow-shared-dir: a socket dir owned or writable by others is used, with a warning. */
  allowSharedDir?: boolean;
  log: Logger;
  /** The page's directory; default `<package root>/src/web`. */
  webDir?: string;
  /** How long a new peer may take to connect; default 5 minutes, as the SDK. */
  connectTimeoutMs?: number;
  /** How long a disconnected peer may take to come back; default 15 s. */
  disconnectedGraceMs?: number;
  /** Gateway connections held at once (HTTP and WebSocket); default DEFAULT_GATEWAY_MAX_CONNECTIONS, lowered to keep descriptors free. */
  maxConnections?: number;
  /** A gateway connection silent this long is closed; default DEFAULT_GATEWAY_IDLE_TIMEOUT_MS. */
  idleTimeoutMs?: number;
  /** CORS: the origins allowed; default (undefined) every origin. */
  allowOrigins?: readonly string[];
  /** A signaling WebSocket must send settings or an offer within this; default SIGNALING_SETUP_TIMEOUT_MS. */
  signalingSetupTimeoutMs?: number;
  /** How often signaling WebSockets are pinged; default SIGNALING_PING_INTERVAL_MS. */
  signalingPingIntervalMs?: number;
}

/** openSession refused: a peer streams (BUSY) or the platform is stopping (STOPPING). */
export class PlatformBusyError extends Error {
  override readonly name = 'PlatformBusyError';
  constructor(
    readonly code: 'BUSY' | 'STOPPING',
    message: string,
  ) {
    super(message);
  }
}

/** A session opened for a client that reached this instance some other way (the farm's gateway). */
export interface OpenedSession {
  id: string;
  /** The one-time signaling secret. */
  secret: string;
  stunServers: GatewayStunServer[];
}

/** Why checkSignalingSecret refused, as the HTTP status the local gateway would answer. */
export type SignalingSecretCheck = { ok: true } | { ok: false; status: 401 | 404; message: string };

/** The platform could not start; the message says what to change. */
export class PlatformStartError extends Error {
  override readonly name = 'PlatformStartError';
}

interface SessionRecord {
  readonly id: string;
  readonly createdAt: number;
  /** The secret of the one signaling URL handed out last and not used yet. */
  secret: string | undefined;
  secretIssuedAt: number;
}

/** The gateway remembers this many sessions (for join); older ones are forgotten first. */
const MAX_SESSIONS = 64;
/** A signaling URL must be used within this time. */
const SECRET_TTL_MS = 10 * 60 * 1000;
const HISTORY_LENGTH = 1000;

/**
 * The emulated Anbox WebRTC platform: the Stream Gateway subset and the signaling WebSocket on one
 * HTTP server, node-datachannel as the instance's peer, and each browser data channel bridged to
 * `<socketDir>/webrtc_data_<name>`.
 *
 * One streaming session per emulated instance, as on Anbox: when a session (new, or joined again)
 * starts its peer, the previous peer ends first (its bridges close and their sockets are unlinked),
 * then the new one is created. Starting means the signaling reached the point where the server
 * creates its peer connection (settings with API v2, the client's offer with v1), so a client that
 * only POSTs, or misbehaves on its WebSocket, does not disturb the session streaming now.
 */
export class Platform {
  /** The HTTP base URL, e.g. http://127.0.0.1:8777 (the gateway URL for the SDK). */
  readonly url: string;
  readonly token: string;
  /** Whether the token was generated at start (no token given). */
  readonly tokenGenerated: boolean;
  readonly socketDir: string;
  /** The bound address (port resolved when 0 was asked). */
  readonly address: ListenAddress;
  readonly webDir: string;

  private readonly log: Logger;
  private readonly gateway: GatewayServer;
  private readonly options: PlatformOptions;
  private readonly stunServers: GatewayStunServer[];
  private readonly iceServers: string[];
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly listeners = new Set<(event: PlatformEvent) => void>();
  private readonly events: PlatformEvent[] = [];
  private current: PeerSession | undefined;
  private peerChain: Promise<unknown> = Promise.resolve();
  private nextPeer = 1;
  private stopping = false;
  private closing: Promise<void> | undefined;
  /** The connection cap in force (the requested one, lowered to keep descriptors free). */
  readonly maxConnections: number;
  private readonly counters = {
    sessionsCreated: 0,
    sessionsJoined: 0,
    peersStarted: 0,
    peersEnded: 0,
    channelsOpened: 0,
    channelsClosed: 0,
    channelsRejected: 0,
    signalingConnections: 0,
    signalingErrors: 0,
  };

  private constructor(
    options: PlatformOptions,
    gateway: GatewayServer,
    ice: { stunServers: GatewayStunServer[]; iceServers: string[] },
    token: { value: string; generated: boolean },
    webDir: string,
  ) {
    this.options = options;
    this.log = options.log;
    this.gateway = gateway;
    this.address = gateway.address;
    this.socketDir = options.socketDir;
    this.webDir = webDir;
    this.stunServers = ice.stunServers;
    this.iceServers = ice.iceServers;
    this.token = token.value;
    this.tokenGenerated = token.generated;
    this.url = `http://${gateway.fallbackOrigin()}`;
    this.maxConnections = gateway.maxConnections;
  }

  /**
   * Validates the options, prepares the socket directory and listens. Rejects with
   * PlatformStartError when the address is taken or unusable, a STUN URL is malformed, or the
   * socket directory cannot be used.
   */
  static async start(options: PlatformOptions): Promise<Platform> {
    const listen = options.listen ?? DEFAULT_LISTEN;
    const ice = resolveIceServers(options.stunUrls ?? []);
    try {
      for (const warning of ensureTrustedDirectory(options.socketDir, 0o750, { what: 'socket dir', flag: '--socket-dir', allowShared: options.allowSharedDir })) {
        options.log.warn({ event: 'platform.insecure_directory', dir: warning.dir, problem: warning.problem }, warning.message);
      }
    } catch (error) {
      if (error instanceof UnsafeDirectoryError) throw new PlatformStartError(error.message);
      throw new PlatformStartError(`cannot use socket directory ${options.socketDir}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const token = options.token === undefined ? { value: generateToken(), generated: true } : { value: options.token, generated: false };
    if (token.value.length === 0 || /\s/.test(token.value)) throw new PlatformStartError('the token must be non-empty and contain no whitespace');
    const webDir = options.webDir ?? defaultWebDir();
    // The routes and the upgrade reach the platform once it exists (right after listening, before any request is read).
    let platform: Platform | undefined;
    const starting = (): never => {
      throw new PlatformStartError('the platform is starting');
    };
    let gateway: GatewayServer;
    try {
      gateway = await GatewayServer.listen({
        listen,
        log: options.log,
        token: token.value,
        allowOrigins: options.allowOrigins,
        maxConnections: options.maxConnections,
        idleTimeoutMs: options.idleTimeoutMs,
        signalingPingIntervalMs: options.signalingPingIntervalMs,
        role: 'platform',
        routes: {
          staticFiles: new StaticFiles(webDir),
          createSession: (origin, request) => (platform ?? starting()).createSession(origin, request),
          joinSession: (id, origin) => (platform ?? starting()).joinSession(id, origin),
          fallbackOrigin: () => gateway.fallbackOrigin(),
        },
        admitSignaling: (target) => (platform ? platform.admitSignaling(target) : { refuse: { statusCode: 503, message: 'the platform is starting' } }),
      });
    } catch (error) {
      if (error instanceof GatewayListenError) throw new PlatformStartError(error.message);
      throw error;
    }
    platform = new Platform(options, gateway, ice, token, webDir);
    const bound = gateway.address;
    platform.log.info(
      {
        event: 'platform.listening',
        url: platform.url,
        host: listen.host,
        port: bound.port,
        socketDir: options.socketDir,
        webDir: platform.webDir,
        stunServers: ice.iceServers.length,
        maxConnections: gateway.maxConnections,
        allowOrigins: options.allowOrigins ?? '*',
      },
      `platform listening on ${platform.url}`,
    );
    return platform;
  }

  /** The page with the token filled in (the page reads ?token=). */
  get pageUrl(): string {
    return `${this.url}/?token=${encodeURIComponent(this.token)}`;
  }

  get stats(): PlatformStats {
    return {
      ...this.counters,
      ...this.gateway.counters,
      sessionsKnown: this.sessions.size,
      active: this.activePeer,
    };
  }

  /** The last events, oldest first (at most 1000). */
  get history(): readonly PlatformEvent[] {
    return [...this.events];
  }

  /** Calls `listener` for every event from now on; returns the function that stops it. */
  /**
   * Out-of-band data v1: sends `{"type":T,"data":D}` on the connected session's `control` channel,
   * or says why not (no session, limits, SDK types, the client's max-message-size).
   */
  sendV1Message(type: string, data: string): V1SendResult {
    const refusal = checkV1Message(type, data);
    if (refusal) return refusal;
    const peer = this.current;
    if (!peer || peer.ended) return refused('NO_SESSION', 'no client is connected (open the page and connect, or run `anbox-oob client`); v1 messages are sent only while a session is connected (nothing is queued)');
    const result = peer.sendControlText(encodeV1ControlMessage(type, data));
    if (result.sent) {
      this.log.debug({ event: 'sendmessage.sent', session: peer.session, peer: peer.peer, typeBytes: Buffer.byteLength(type), dataBytes: Buffer.byteLength(data) }, 'v1 message sent on control');
    }
    return result;
  }

  onEvent(listener: (event: PlatformEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Ends the streaming session (bridges closed, sockets removed), closes every WebSocket, stops the server. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.log.info({ event: 'platform.stopping' }, 'platform stopping');
    this.gateway.beginClose('platform stopping');
    await this.peerChain;
    await this.current?.end('the platform is stopping');
    this.current = undefined;
    await this.gateway.finishClose();
    this.sessions.clear();
    this.log.info({ event: 'platform.stopped' }, 'platform stopped');
  }

  private createSession(origin: string, request: Record<string, unknown>): GatewaySessionMetadata {
    return this.metadata(this.addSession(request, 'local'), origin);
  }

  private joinSession(id: string, origin: string): GatewaySessionMetadata | undefined {
    const record = this.sessions.get(id);
    return record && this.metadata(this.join(record, 'local'), origin);
  }

  private metadata(record: SessionRecord, origin: string): GatewaySessionMetadata {
    return {
      id: record.id,
      url: `ws://${origin}/1.0/sessions/${record.id}/signaling?secret=${record.secret}`,
      stun_servers: this.browserStunServers(),
    };
  }

  /** A new session with a fresh signaling secret, whichever gateway asked: remembered, counted, logged, announced. */
  private addSession(request: Record<string, unknown>, via: 'local' | 'farm'): SessionRecord & { secret: string } {
    const record = { id: generateSessionId(), createdAt: Date.now(), secret: generateSecret(), secretIssuedAt: Date.now() };
    this.sessions.set(record.id, record);
    this.forgetOldSessions();
    this.counters.sessionsCreated++;
    const app = typeof request.app === 'string' ? request.app.slice(0, 200) : undefined;
    if (via === 'farm') this.log.info({ event: 'gateway.session_created', session: record.id, app, via }, `session ${record.id} created through the farm`);
    else this.log.info({ event: 'gateway.session_created', session: record.id, app }, `session ${record.id} created${app ? ` (app "${app}": any app is this instance)` : ''}`);
    this.emit({ type: 'session-created', session: record.id });
    return record;
  }

  /** Join: a fresh signaling secret (the previous unused one stops working), counted, logged, announced. */
  private join(record: SessionRecord, via: 'local' | 'farm'): SessionRecord & { secret: string } {
    const secret = generateSecret();
    record.secret = secret;
    record.secretIssuedAt = Date.now();
    this.counters.sessionsJoined++;
    if (via === 'farm') this.log.info({ event: 'gateway.session_joined', session: record.id, via }, `session ${record.id} joined through the farm`);
    else this.log.info({ event: 'gateway.session_joined', session: record.id }, `session ${record.id} joined`);
    this.emit({ type: 'session-joined', session: record.id });
    return { ...record, secret };
  }

  private forgetOldSessions(): void {
    if (this.sessions.size <= MAX_SESSIONS) return;
    for (const id of this.sessions.keys()) {
      if (this.sessions.size <= MAX_SESSIONS) break;
      if (this.current?.session === id) continue;
      this.sessions.delete(id);
    }
  }

  /** The gateway's signaling upgrade: the session's one-use secret (as the farm's), then a SignalingConnection. */
  private admitSignaling({ session: id, secret }: SignalingTarget): SignalingAdmission {
    if (this.stopping) return { refuse: { statusCode: 503, message: 'the platform is stopping' } };
    const check = this.checkSignalingSecret(id, secret ?? '');
    if (!check.ok) return { refuse: { statusCode: check.status, message: check.message } };
    return {
      accept: (ws: WebSocket) => {
        this.counters.signalingConnections++;
        new SignalingConnection(new WebSocketTransport(ws), id, this.signalingHost, this.log, this.options.signalingSetupTimeoutMs ?? SIGNALING_SETUP_TIMEOUT_MS);
      },
    };
  }

  private readonly signalingHost: SignalingHost = {
    startPeer: (session, apiVersion, signal) => this.startPeer(session, apiVersion, signal),
    emit: (event) => this.emit(event),
  };

  /** Serialized: the previous peer ends completely (sockets unlinked) before the next is created. */
  private startPeer(session: string, apiVersion: 1 | 2, signal: SignalSink): Promise<PeerSession | undefined> {
    const run = async (): Promise<PeerSession | undefined> => {
      if (this.stopping || !this.sessions.has(session)) return undefined;
      const previous = this.current;
      if (previous) {
        await previous.end(previous.session === session ? 'replaced: the session was joined again' : `replaced by session ${session}`);
      }
      if (this.stopping || !signal.open) return undefined;
      const peer = new PeerSession({
        session,
        peer: this.nextPeer++,
        apiVersion,
        socketDir: this.socketDir,
        binary: this.options.binary ?? false,
        channelSocketMode: this.options.channelSocketMode ?? DEFAULT_CHANNEL_SOCKET_MODE,
        allowSharedDir: this.options.allowSharedDir ?? false,
        iceServers: this.iceServers,
        log: this.log,
        emit: (event) => this.emit(event),
        signal,
        connectTimeoutMs: this.options.connectTimeoutMs,
        disconnectedGraceMs: this.options.disconnectedGraceMs,
      });
      this.current = peer;
      this.emit({ type: 'peer-started', session, peer: peer.peer, apiVersion });
      this.log.info({ event: 'peer.started', session, peer: peer.peer, apiVersion }, `session ${session} streaming (peer ${peer.peer}, API version ${apiVersion})`);
      return peer;
    };
    const result = this.peerChain.then(run);
    this.peerChain = result.catch(() => undefined);
    return result;
  }

  private emit(event: PlatformEvent): void {
    switch (event.type) {
      case 'peer-started':
        this.counters.peersStarted++;
        break;
      case 'peer-ended':
        this.counters.peersEnded++;
        if (this.current?.peer === event.peer) this.current = undefined;
        break;
      case 'channel-open':
        this.counters.channelsOpened++;
        break;
      case 'channel-closed':
        this.counters.channelsClosed++;
        break;
      case 'channel-rejected':
        this.counters.channelsRejected++;
        break;
      case 'signaling-error':
        this.counters.signalingErrors++;
        break;
      default:
        break;
    }
    this.events.push(event);
    if (this.events.length > HISTORY_LENGTH) this.events.splice(0, this.events.length - HISTORY_LENGTH);
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.log.error({ event: 'platform.listener_failed', err: error }, 'a platform event listener threw; ignored');
      }
    }
  }

  // ---- Sessions owned by someone else (the farm's instance agent, src/farm/instance/) -------------
  // The same sessions, secrets and signaling as the local gateway's, reached without HTTP: the agent
  // carries the requests over NATS and the signaling frames over a relay (a SignalingTransport).

  /** A new session with a fresh signaling secret; refused (PlatformBusyError) while a peer streams or the platform stops. */
  openSession(request: Record<string, unknown>): OpenedSession {
    if (this.stopping) throw new PlatformBusyError('STOPPING', 'the platform is stopping');
    const active = this.activePeer;
    if (active) throw new PlatformBusyError('BUSY', `session ${active.session} is streaming`);
    const record = this.addSession(request, 'farm');
    return { id: record.id, secret: record.secret, stunServers: this.browserStunServers() };
  }

  /** Join: a fresh signaling secret for a known session (the previous unused one stops working); undefined when unknown. */
  reissueSecret(id: string): string | undefined {
    const record = this.sessions.get(id);
    if (!record || this.stopping) return undefined;
    return this.join(record, 'farm').secret;
  }

  /** Whether the session knows this secret; a match uses it up (one signaling connection per secret), as on the local gateway. */
  checkSignalingSecret(id: string, secret: string): SignalingSecretCheck {
    const record = this.sessions.get(id);
    if (!record) return { ok: false, status: 404, message: 'unknown session' };
    if (record.secret === undefined || !secretsEqual(secret, record.secret)) {
      return { ok: false, status: 401, message: 'wrong, used or missing signaling secret; ask the gateway for a new session or join' };
    }
    if (Date.now() - record.secretIssuedAt > SECRET_TTL_MS) {
      record.secret = undefined;
      return { ok: false, status: 401, message: 'signaling URL expired; ask the gateway for a new session or join' };
    }
    record.secret = undefined;
    return { ok: true };
  }

  /** Runs the session's signaling over `transport` (after checkSignalingSecret said yes). */
  attachSignaling(id: string, transport: SignalingTransport): void {
    if (this.stopping || !this.sessions.has(id)) {
      transport.close(1001, this.stopping ? 'platform stopping' : 'session gone');
      return;
    }
    this.counters.signalingConnections++;
    new SignalingConnection(transport, id, this.signalingHost, this.log, this.options.signalingSetupTimeoutMs ?? SIGNALING_SETUP_TIMEOUT_MS);
  }

  /** Ends the session's peer (if it streams) and forgets the session: it can no longer be joined. */
  async endSession(id: string, reason: string): Promise<void> {
    this.sessions.delete(id);
    await this.peerChain;
    if (this.current?.session === id) await this.current.end(reason);
  }

  /** The ICE servers handed to browsers (metadata.stun_servers). */
  browserStunServers(): GatewayStunServer[] {
    return this.stunServers.map((s) => ({ ...s, urls: [...s.urls] }));
  }

  /** The peer streaming now (or still connecting), if any. */
  get activePeer(): ActivePeerInfo | null {
    return this.current && !this.current.ended ? this.current.info : null;
  }
}

function resolveIceServers(urls: string[]): { stunServers: GatewayStunServer[]; iceServers: string[] } {
  const parsed = urls.map((url) => {
    try {
      return parseIceServer(url);
    } catch (error) {
      throw new PlatformStartError(error instanceof IceServerError ? `--stun/--turn ${error.message}` : String(error));
    }
  });
  const iceServers = parsed.map((p) => p.native);
  if (iceServers.length > 0) {
    // libdatachannel has the last word on the syntax: try it once now rather than fail every session.
    try {
      const probe = new nodeDataChannel.PeerConnection('anbox-oob-ice-probe', { iceServers });
      probe.onStateChange(() => undefined); // without a callback a closed connection keeps the process alive
      probe.close();
    } catch (error) {
      throw new PlatformStartError(`--stun/--turn: node-datachannel refuses the ICE servers: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return { stunServers: parsed.map((p) => p.browser), iceServers };
}
