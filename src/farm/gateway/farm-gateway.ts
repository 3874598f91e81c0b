import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Msg, NatsConnection } from 'nats';
import type { Logger } from '../../log/logger.js';
import { RateLimitedLog } from '../../log/rate-limited-log.js';
import { generateToken } from '../../platform/auth.js';
import { GatewayHttpError } from '../../platform/gateway.js';
import type { GatewaySessionMetadata, GatewayStunServer } from '../../platform/gateway-responses.js';
import { GatewayServer, MAX_SIGNALING_FRAME_BYTES, type SignalingAdmission, type SignalingTarget } from '../../platform/gateway-server.js';
import { parseIceServer } from '../../platform/ice-servers.js';
import type { ListenAddress } from '../../platform/listen-address.js';
import { defaultWebDir, StaticFiles } from '../../platform/static-files.js';
import {
  decodeInstanceStatus,
  decodePlacementRequest,
  decodePlaceReply,
  decodeSessionEnded,
  decodeSignalReply,
  encodeFarmMessage,
  FarmMessageError,
  MAX_RELAY_FRAME_BYTES,
  type FarmStunServer,
  type PlaceReply,
  type PlacementRequest,
} from '../farm-messages.js';
import { connectNats, isFatalNatsConnectError, natsConnectionOptions, redactNatsUrl, type NatsSettings } from '../nats-connection.js';
import { DISCOVER_SUBJECT, HEARTBEAT_SUBJECT, instanceSubject, SESSION_ENDED_SUBJECT } from '../subjects.js';
import { InstanceRegistry, MAX_INSTANCES, MISSED_INTERVALS, type InstanceView } from './instance-registry.js';
import { PLACE_TIMEOUT_MS, placeSession } from './placement.js';
import { SessionDirectory } from './session-directory.js';
import { SignalingRelay } from './signaling-relay.js';

/** `anbox-oob gateway`'s default address (serve's is 8777). */
export const DEFAULT_GATEWAY_LISTEN: ListenAddress = { host: '127.0.0.1', port: 8780 };
/** How often silent instances are looked for. */
const EXPIRY_CHECK_MS = 200;
const INSTANCES_PATH = /^\/1\.0\/instances\/?$/;
/** While nats-server is away: new sessions wait; one attempt a second, as nats.js reconnects. */
const NATS_RETRY_MS = 1000;
/** A first connection attempt that hears nothing (a host that drops packets) gives up after this. */
const FIRST_CONNECT_TIMEOUT_MS = 2000;
/**
 * While NATS is down nats.js keeps every publish in memory until it reconnects, without a limit of
 * its own: browser signaling frames relayed meanwhile may add up to this, over all relays; a frame
 * past it ends its relay (1013).
 */
export const MAX_HELD_WHILE_NATS_DOWN = 4 * 1024 * 1024;
const NATS_DOWN_MESSAGE = 'NATS not connected: the gateway cannot reach its instances; retry shortly';

export class FarmGatewayStartError extends Error {
  override readonly name = 'FarmGatewayStartError';
}

export interface FarmGatewayOptions {
  nats: NatsSettings;
  log: Logger;
  listen?: ListenAddress;
  /** The HTTP token; generated when absent. */
  token?: string;
  /** STUN/TURN for browsers; when given they replace the instance's own in metadata.stun_servers. */
  stunUrls?: string[];
  allowOrigins?: readonly string[];
  maxConnections?: number;
  idleTimeoutMs?: number;
  webDir?: string;
  /** This gateway's name in farm messages; default gateway-<host>-<pid>. */
  name?: string;
  /** Relay ping interval (tests); default 5 s. */
  relayPingIntervalMs?: number;
}

/**
 * The farm's Stream Gateway (docs/farm.md): the HTTP side of `serve`'s gateway (shared
 * GatewayServer), sessions placed on instances over NATS, signaling relayed to them.
 */
export class FarmGateway {
  readonly token: string;
  readonly tokenGenerated: boolean;
  readonly name: string;

  private readonly registry = new InstanceRegistry(() => Date.now());
  private readonly sessions = new SessionDirectory();
  private readonly relays = new Set<SignalingRelay>();
  private readonly limited: RateLimitedLog;
  /**
   * Instances joining, restarting and dropping, sessions ending: a line each for a real farm, but a
   * NATS peer can announce new names, boots or sessions as fast as it publishes, so at most MAX_INSTANCES lines of each
   * per window, then a log.suppressed count.
   */
  private readonly membershipLog: RateLimitedLog;
  private readonly log: Logger;
  /** Undefined until the first connection to nats-server succeeds (the gateway listens before). */
  private nc: NatsConnection | undefined;
  private natsUp = false;
  /** Browser frame bytes published since NATS went down (held by nats.js until it is back). */
  private heldWhileDown = 0;
  private natsRetryTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private closing: Promise<void> | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private gateway!: GatewayServer;

  private constructor(
    private readonly options: FarmGatewayOptions,
    private readonly stunServers: GatewayStunServer[] | undefined,
    token: { value: string; generated: boolean },
    name: string,
  ) {
    this.log = options.log;
    this.limited = new RateLimitedLog(options.log);
    this.membershipLog = new RateLimitedLog(options.log, { burst: MAX_INSTANCES });
    this.token = token.value;
    this.tokenGenerated = token.generated;
    this.name = name;
  }

  static async start(options: FarmGatewayOptions): Promise<FarmGateway> {
    const token = options.token === undefined ? { value: generateToken(), generated: true } : { value: options.token, generated: false };
    if (token.value.length === 0 || /\s/.test(token.value)) throw new FarmGatewayStartError('the token must be non-empty and contain no whitespace');
    let stunServers: GatewayStunServer[] | undefined;
    try {
      stunServers = options.stunUrls && options.stunUrls.length > 0 ? options.stunUrls.map((u) => parseIceServer(u).browser) : undefined;
    } catch (error) {
      throw new FarmGatewayStartError(`--stun ${error instanceof Error ? error.message : String(error)}`);
    }
    const name = options.name ?? `gateway-${hostname()}-${process.pid}`.slice(0, 128);
    // Checked before listening: a URL that cannot work is a start error, not a retry loop.
    try {
      natsConnectionOptions(options.nats, name);
    } catch (error) {
      throw new FarmGatewayStartError(error instanceof Error ? error.message : String(error));
    }
    const farm = new FarmGateway(options, stunServers, token, name);
    await farm.listen();
    farm.expiryTimer = setInterval(() => farm.expire(), EXPIRY_CHECK_MS);
    farm.expiryTimer.unref();
    farm.log.info(
      { event: 'farm.gateway.listening', url: farm.url, gateway: name, nats: redactNatsUrl(options.nats.url), maxConnections: farm.gateway.maxConnections },
      `farm gateway listening on ${farm.url}`,
    );
    // The first attempt is awaited (a local nats-server answers at once, so the ready gateway
    // already places sessions); when it fails the gateway serves anyway (503 "NATS not connected")
    // and keeps trying in the background.
    let joined: boolean;
    try {
      joined = await farm.connectOnce(true);
    } catch (error) {
      await farm.close();
      throw error;
    }
    if (!joined) farm.scheduleNatsRetry();
    return farm;
  }

  /** Whether the gateway holds a live NATS connection (GET /1.0/instances says it as `nats`). */
  get natsConnected(): boolean {
    return this.nc !== undefined && this.natsUp && !this.nc.isClosed();
  }

  /** Where it listens (the port chosen when 0 was asked). */
  get address(): ListenAddress {
    return this.gateway.address;
  }

  get url(): string {
    return `http://${this.gateway.fallbackOrigin()}`;
  }

  get pageUrl(): string {
    return `${this.url}/?token=${encodeURIComponent(this.token)}`;
  }

  /** The instances as GET /1.0/instances lists them. */
  instances(): InstanceView[] {
    return this.registry.list();
  }

  get relaysOpen(): number {
    return this.relays.size;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async listen(): Promise<void> {
    const gateway = await GatewayServer.listen({
      listen: this.options.listen ?? DEFAULT_GATEWAY_LISTEN,
      log: this.log,
      token: this.token,
      allowOrigins: this.options.allowOrigins,
      maxConnections: this.options.maxConnections,
      idleTimeoutMs: this.options.idleTimeoutMs,
      maxSignalingFrameBytes: Math.min(MAX_SIGNALING_FRAME_BYTES, MAX_RELAY_FRAME_BYTES),
      role: 'farm-gateway',
      routes: {
        staticFiles: new StaticFiles(this.options.webDir ?? defaultWebDir()),
        createSession: (origin, body) => this.createSession(origin, body),
        joinSession: (id, origin) => this.joinSession(id, origin),
        fallbackOrigin: () => gateway.fallbackOrigin(),
        extraRoutes: [{ path: INSTANCES_PATH, respond: () => this.registry.list(), fields: () => ({ nats: this.natsConnected ? 'connected' : 'disconnected' }) }],
      },
      admitSignaling: (target) => this.admitSignaling(target),
    });
    this.gateway = gateway;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.log.info({ event: 'farm.gateway.stopping' }, 'farm gateway stopping');
    clearInterval(this.expiryTimer);
    clearTimeout(this.natsRetryTimer);
    this.gateway.beginClose('gateway stopping');
    for (const relay of [...this.relays]) relay.end(1001, 'the gateway is stopping', true);
    await this.nc?.flush().catch(() => undefined);
    await this.nc?.close().catch(() => undefined);
    await this.gateway.finishClose();
    this.limited.flush();
    this.membershipLog.flush();
    this.log.info({ event: 'farm.gateway.stopped' }, 'farm gateway stopped');
  }

  // ---- NATS ------------------------------------------------------------------------------------

  /**
   * One attempt at the first NATS connection. True when connected (subscribed, discover sent);
   * false when nats-server is not reachable (logged); throws FarmGatewayStartError when it refuses
   * our credentials or TLS, which retrying will not heal.
   */
  private async connectOnce(first: boolean): Promise<boolean> {
    const url = redactNatsUrl(this.options.nats.url);
    let nc: NatsConnection;
    try {
      nc = await connectNats(this.options.nats, `anbox-oob gateway ${this.name}`, this.log, () => this.onNatsReconnect(), {
        waitOnFirstConnect: false,
        timeout: FIRST_CONNECT_TIMEOUT_MS,
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (isFatalNatsConnectError(error)) {
        throw new FarmGatewayStartError(`NATS at ${url} refused the gateway: ${reason}; check --nats-user/--nats-password-file, --nats-creds or the --nats-tls-* options`);
      }
      if (first) {
        this.log.warn(
          { event: 'farm.gateway.nats_unreachable', url, err: reason },
          `NATS at ${url} is not reachable (${reason}); the gateway answers 503 "NATS not connected" to new sessions and keeps trying every ${NATS_RETRY_MS / 1000} s`,
        );
      } else {
        this.log.debug({ event: 'farm.gateway.nats_retry_failed', url, err: reason }, 'NATS still unreachable');
      }
      return false;
    }
    if (this.stopping) {
      await nc.close().catch(() => undefined);
      return false;
    }
    this.nc = nc;
    this.natsUp = true;
    this.watchNats(nc);
    this.subscribe(nc);
    this.publishDiscover();
    if (!first) this.log.info({ event: 'farm.gateway.nats_joined', url }, `NATS at ${url} is up: the gateway places sessions`);
    return true;
  }

  private scheduleNatsRetry(): void {
    if (this.stopping) return;
    this.natsRetryTimer = setTimeout(() => {
      void this.connectOnce(false).then(
        (joined) => {
          if (!joined) this.scheduleNatsRetry();
        },
        (error: unknown) => {
          // Credentials refused after the start: keep serving (503) rather than die, and say why.
          this.log.error({ event: 'farm.gateway.nats_refused', err: error instanceof Error ? error.message : String(error) }, error instanceof Error ? error.message : String(error));
        },
      );
    }, NATS_RETRY_MS);
    this.natsRetryTimer.unref();
  }

  private watchNats(nc: NatsConnection): void {
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') {
          this.natsUp = false;
          this.registry.pause();
        }
      }
    })().catch(() => undefined);
  }

  private onNatsReconnect(): void {
    this.natsUp = true;
    this.heldWhileDown = 0;
    this.registry.resume();
    this.publishDiscover();
  }

  private admitRelayFrame(bytes: number): boolean {
    if (this.natsUp) return true;
    if (this.heldWhileDown + bytes > MAX_HELD_WHILE_NATS_DOWN) return false;
    this.heldWhileDown += bytes;
    return true;
  }

  private publishDiscover(): void {
    if (this.nc === undefined || this.nc.isClosed()) return;
    this.nc.publish(DISCOVER_SUBJECT, encodeFarmMessage({ v: 1 }));
  }

  private subscribe(nc: NatsConnection): void {
    nc.subscribe(HEARTBEAT_SUBJECT, { callback: (error, msg) => !error && this.onHeartbeat(msg) });
    nc.subscribe(SESSION_ENDED_SUBJECT, { callback: (error, msg) => !error && this.onSessionEnded(msg) });
  }

  /** Any NATS peer can publish on the gateway's subjects: what breaks docs/farm.md is dropped and logged, rate-limited. */
  private badMessage(msg: Msg, error: unknown): void {
    if (!this.limited.allow('farm.gateway.bad_message', undefined, 'warn')) return;
    const reason = error instanceof Error ? error.message : String(error);
    this.log.warn(
      { event: 'farm.gateway.bad_message', subject: msg.subject, code: error instanceof FarmMessageError ? error.code : 'UNKNOWN', bytes: msg.data.length, reason },
      `dropped a bad message on ${msg.subject}: ${reason}`,
    );
  }

  /** The decoded message, or undefined when it is bad (then dropped through badMessage). */
  private decodeOrDrop<T>(msg: Msg, decode: (data: Uint8Array) => T): T | undefined {
    try {
      return decode(msg.data);
    } catch (error) {
      this.badMessage(msg, error);
      return undefined;
    }
  }

  private onHeartbeat(msg: Msg): void {
    const status = this.decodeOrDrop(msg, decodeInstanceStatus);
    if (status === undefined) return;
    const outcome = this.registry.heartbeat(status);
    switch (outcome.kind) {
      case 'full':
        if (this.limited.allow('farm.gateway.instances_full', undefined, 'warn')) {
          this.log.warn({ event: 'farm.gateway.instances_full', instance: status.instance, max: this.registry.size }, `instance ${status.instance} ignored: ${this.registry.size} instances are known already`);
        }
        return;
      case 'stale':
        return;
      case 'added':
        if (this.membershipLog.allow('farm.gateway.instance_added')) {
          this.log.info({ event: 'farm.gateway.instance_added', instance: status.instance, host: status.host, device: status.device, labels: status.labels, state: status.state }, `instance ${status.instance} joined (${status.host})`);
        }
        break;
      case 'restarted':
        if (this.membershipLog.allow('farm.gateway.instance_restarted', undefined, 'warn')) {
          this.log.warn({ event: 'farm.gateway.instance_restarted', instance: status.instance, host: status.host, previousSession: outcome.previousSession }, `instance ${status.instance} restarted`);
        }
        this.endInstanceSessions(status.instance, `instance "${status.instance}" restarted; the session ended`);
        break;
      case 'updated':
        break;
    }
    // The heartbeat names the instance's session: a restarted gateway can still route joins to it.
    if (status.session !== null && this.sessions.instanceOf(status.session) === undefined) this.sessions.remember(status.session, status.instance);
  }

  private onSessionEnded(msg: Msg): void {
    const ended = this.decodeOrDrop(msg, decodeSessionEnded);
    if (ended === undefined) return;
    if (!this.sessions.forgetIfHeldBy(ended.session, ended.instance)) return;
    // Heartbeats naming new sessions and their session.ended can alternate as fast as a peer publishes.
    if (this.membershipLog.allow('farm.gateway.session_ended')) {
      this.log.info({ event: 'farm.gateway.session_ended', instance: ended.instance, session: ended.session, reason: ended.reason }, `session ${ended.session} ended on ${ended.instance}: ${ended.reason}`);
    }
    for (const relay of [...this.relays]) {
      if (relay.session === ended.session && relay.instance === ended.instance) relay.end(1011, `session ended on instance "${ended.instance}": ${ended.reason}`, false);
    }
  }

  private expire(): void {
    for (const { record, silentMs } of this.registry.expire()) {
      const seconds = Math.round(silentMs / 100) / 10;
      if (this.membershipLog.allow('farm.gateway.instance_dropped', undefined, 'warn')) {
        this.log.warn(
          { event: 'farm.gateway.instance_dropped', instance: record.name, host: record.status.host, silentMs, session: record.status.session },
          `instance ${record.name} dropped: no heartbeat for ${seconds} s (${MISSED_INTERVALS} intervals)`,
        );
      }
      this.endInstanceSessions(record.name, `instance "${record.name}" stopped answering (no heartbeat for ${seconds} s); the session ended`);
    }
  }

  private endInstanceSessions(instance: string, reason: string): void {
    this.sessions.forgetInstance(instance);
    for (const relay of [...this.relays]) if (relay.instance === instance) relay.end(1011, reason, false);
  }

  private async request(instance: string, kind: 'place' | 'join' | 'signal', message: object): Promise<Uint8Array> {
    if (this.nc === undefined) throw new Error('NATS not connected');
    const reply = await this.nc.request(instanceSubject(instance, kind), encodeFarmMessage(message), { timeout: PLACE_TIMEOUT_MS });
    return reply.data;
  }

  private requireNats(): void {
    if (!this.natsConnected) throw new GatewayHttpError(503, NATS_DOWN_MESSAGE, { retryAfterSeconds: 1 });
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  private async createSession(origin: string, body: Record<string, unknown>): Promise<GatewaySessionMetadata> {
    if (this.stopping) throw new GatewayHttpError(503, 'the gateway is stopping');
    this.requireNats();
    let request: PlacementRequest;
    try {
      request = decodePlacementRequest(body);
    } catch (error) {
      throw new GatewayHttpError(400, `bad placement fields: ${error instanceof Error ? error.message : String(error)}`);
    }
    const ask = async (instance: string, placement: PlacementRequest): Promise<PlaceReply> =>
      decodePlaceReply(await this.request(instance, 'place', { v: 1, gateway: this.name, request: placement }));
    let placed;
    try {
      placed = await placeSession(this.registry, request, ask);
    } catch (error) {
      if (error instanceof GatewayHttpError && this.limited.allow('farm.gateway.placement_refused', undefined, 'warn')) {
        this.log.warn({ event: 'farm.gateway.placement_refused', status: error.status, reason: error.message, request }, `session not placed: ${error.message}`);
      }
      throw error;
    }
    this.sessions.remember(placed.reply.session, placed.instance);
    this.log.info(
      { event: 'farm.gateway.session_placed', session: placed.reply.session, instance: placed.instance, skipped: placed.skipped, request },
      `session ${placed.reply.session} placed on ${placed.instance}`,
    );
    return this.metadata(origin, placed.reply.session, placed.reply.secret, placed.reply.stunServers);
  }

  private async joinSession(id: string, origin: string): Promise<GatewaySessionMetadata | undefined> {
    if (this.stopping) throw new GatewayHttpError(503, 'the gateway is stopping');
    const instance = this.sessions.instanceOf(id);
    if (instance === undefined) return undefined;
    this.requireNats();
    let reply: PlaceReply;
    try {
      reply = decodePlaceReply(await this.request(instance, 'join', { v: 1, gateway: this.name, session: id }));
    } catch (error) {
      throw new GatewayHttpError(503, `instance "${instance}" did not answer the join: ${error instanceof Error ? error.message : String(error)}`, { retryAfterSeconds: 1 });
    }
    if (!reply.ok) {
      if (reply.code === 'UNKNOWN_SESSION') {
        this.sessions.forget(id);
        return undefined;
      }
      throw new GatewayHttpError(503, `instance "${instance}" refused the join: ${reply.message}`, { retryAfterSeconds: 5 });
    }
    this.log.info({ event: 'farm.gateway.session_joined', session: id, instance }, `session ${id} joined on ${instance}`);
    return this.metadata(origin, reply.session, reply.secret, reply.stunServers);
  }

  private metadata(origin: string, session: string, secret: string, instanceStun: FarmStunServer[]): GatewaySessionMetadata {
    const stun = this.stunServers ?? instanceStun;
    return {
      id: session,
      url: `ws://${origin}/1.0/sessions/${encodeURIComponent(session)}/signaling?secret=${encodeURIComponent(secret)}`,
      stun_servers: stun.map((s) => ({ ...s, urls: [...s.urls] })),
    };
  }

  private async admitSignaling({ session, secret }: SignalingTarget): Promise<SignalingAdmission> {
    const refuse = (statusCode: number, message: string): SignalingAdmission => ({ refuse: { statusCode, message } });
    if (this.stopping) return refuse(503, 'the gateway is stopping');
    const instance = this.sessions.instanceOf(session);
    if (instance === undefined) return refuse(404, 'unknown session');
    if (secret === null || secret === '' || secret.length > 128) return refuse(401, 'missing signaling secret; ask the gateway for a new session or join');
    const nc = this.nc;
    if (nc === undefined || !this.natsConnected) return refuse(503, NATS_DOWN_MESSAGE);
    const relay = new SignalingRelay({
      nc,
      log: this.log,
      onBadMessage: (msg, error) => this.badMessage(msg, error),
      admitFrame: (bytes) => this.admitRelayFrame(bytes),
      instance,
      session,
      relay: randomBytes(16).toString('hex'),
      pingIntervalMs: this.options.relayPingIntervalMs,
      onEnded: (r) => {
        this.relays.delete(r);
        this.log.info({ event: 'farm.gateway.relay_closed', instance: r.instance, session: r.session, relay: r.relay }, `signaling relay to ${r.instance} closed`);
      },
    });
    this.relays.add(relay);
    let answer;
    try {
      answer = decodeSignalReply(await this.request(instance, 'signal', { v: 1, gateway: this.name, session, secret, relay: relay.relay }));
    } catch (error) {
      relay.end(1011, 'no answer', true);
      return refuse(503, `instance "${instance}" did not answer: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!answer.ok) {
      relay.end(1011, answer.message, false);
      return refuse(answer.status, answer.message);
    }
    if (relay.isEnded) return refuse(503, `the session on instance "${instance}" ended meanwhile`);
    this.log.info({ event: 'farm.gateway.relay_opened', instance, session, relay: relay.relay }, `signaling of session ${session} relayed to ${instance}`);
    return {
      accept: (ws) => relay.attach(ws),
      abandon: () => relay.end(1001, 'the client went away', true),
    };
  }
}
