import { randomBytes } from 'node:crypto';
import type { Msg, NatsConnection, Subscription } from 'nats';
import type { Logger } from '../../log/logger.js';
import { RateLimitedLog } from '../../log/rate-limited-log.js';
import type { ActivePeerInfo, PlatformEvent } from '../../platform/platform-events.js';
import type { OpenedSession, SignalingSecretCheck } from '../../platform/platform.js';
import type { GatewayStunServer } from '../../platform/gateway-responses.js';
import type { SignalingTransport } from '../../platform/signaling-transport.js';
import {
  decodeJoinRequest,
  decodePlaceRequest,
  decodeSignalOpen,
  encodeFarmMessage,
  FarmMessageError,
  type InstanceStatus,
  type PlaceReply,
  type SessionEnded,
  type SignalReply,
} from '../farm-messages.js';
import { connectNats, isFatalNatsConnectError, redactNatsUrl, type NatsSettings } from '../nats-connection.js';
import { DISCOVER_SUBJECT, HEARTBEAT_SUBJECT, instanceSubject, SESSION_ENDED_SUBJECT } from '../subjects.js';
import { DEFAULT_RESERVATION_MS, InstanceSessions } from './instance-sessions.js';
import { probeForLiveInstance } from './live-instance-probe.js';
import { RelayRegistry } from './relay-registry.js';
import { DEFAULT_RELAY_SILENCE_MS, RelayTransport } from './relay-transport.js';

export const DEFAULT_HEARTBEAT_MS = 1000;
/** Retries of a first connection that found no nats-server back off up to this. */
const MAX_FIRST_CONNECT_RETRY_MS = 15_000;

/** What the agent needs from the platform (src/platform/platform.ts's session API). */
export interface InstancePlatform {
  openSession(request: Record<string, unknown>): OpenedSession;
  reissueSecret(id: string): string | undefined;
  checkSignalingSecret(id: string, secret: string): SignalingSecretCheck;
  attachSignaling(id: string, transport: SignalingTransport): void;
  endSession(id: string, reason: string): Promise<void>;
  readonly activePeer: ActivePeerInfo | null;
  /** The STUN/TURN servers the browser gets (serve's --stun/--turn), for place and join replies alike. */
  browserStunServers(): GatewayStunServer[];
  onEvent(listener: (event: PlatformEvent) => void): () => void;
}

export interface InstanceAgentOptions {
  nats: NatsSettings;
  /** --instance-name: a NATS subject token (INSTANCE_NAME). */
  name: string;
  labels: Record<string, string>;
  /** The device serial (--adb-serial), for placement by device. */
  device: string | null;
  /** This machine, as heartbeats name it. */
  host: string;
  intervalMs: number;
  platform: InstancePlatform;
  log: Logger;
  /** How long a placed session holds the instance without signaling; default 60 s (tests shorten it). */
  reservationMs?: number;
  relaySilenceMs?: number;
}

/** The instance cannot join the farm and never will with these settings; the message says what to fix. */
export class FarmStartError extends Error {
  override readonly name = 'FarmStartError';
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * `serve --nats`: the instance's side of the farm (docs/farm.md). It announces the instance with
 * heartbeats, answers the gateway's place/join/signal requests on its own subjects, runs relayed
 * signaling through the platform like a local WebSocket, and says when a session ends.
 *
 * NATS unreachable at start is no failure: the local service works without it and the agent keeps
 * trying in the background. Wrong credentials or TLS, or a live instance of the same name, are.
 */
export class InstanceAgent {
  readonly boot = randomBytes(16).toString('hex');
  private readonly log: Logger;
  private readonly rateLimited: RateLimitedLog;
  private readonly sessions: InstanceSessions;
  private readonly relays = new RelayRegistry();
  private readonly startedAt = new Date().toISOString();
  private readonly reservationMs: number;
  private nc: NatsConnection | undefined;
  private subscriptions: Subscription[] = [];
  private seq = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private lapseTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private stopEvents: (() => void) | undefined;

  private constructor(private readonly options: InstanceAgentOptions) {
    this.log = options.log.child({ instance: options.name });
    this.rateLimited = new RateLimitedLog(this.log);
    this.reservationMs = options.reservationMs ?? DEFAULT_RESERVATION_MS;
    this.sessions = new InstanceSessions({ reservationMs: this.reservationMs, now: () => Date.now() });
  }

  /**
   * Connects and joins the farm. Rejects with FarmStartError when NATS refuses the credentials or
   * TLS, or a live instance has this name; resolves at once (retrying in the background) when no
   * nats-server answers.
   */
  static async start(options: InstanceAgentOptions): Promise<InstanceAgent> {
    const agent = new InstanceAgent(options);
    agent.stopEvents = options.platform.onEvent((event) => agent.onPlatformEvent(event));
    const active = options.platform.activePeer;
    if (active) agent.sessions.peerStarted(active.session);
    try {
      const connected = await agent.connectOnce(true);
      if (connected) await agent.joinFarm();
      else agent.scheduleRetry(1000);
    } catch (error) {
      await agent.close();
      throw error;
    }
    return agent;
  }

  /** The heartbeat as it would be sent now. */
  status(): InstanceStatus {
    const { options } = this;
    return {
      v: 1,
      instance: options.name,
      boot: this.boot,
      host: options.host.slice(0, 128) || 'unknown',
      device: options.device,
      labels: { ...options.labels },
      state: this.sessions.state,
      session: this.sessions.session,
      channels: this.options.platform.activePeer?.channels.slice(0, 64) ?? [],
      seq: this.seq,
      intervalMs: options.intervalMs,
      startedAt: this.startedAt,
    };
  }

  /** Ends the farm session (session.ended), closes the relays and the NATS connection. Idempotent. */
  async close(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.heartbeatTimer);
    clearInterval(this.lapseTimer);
    clearTimeout(this.retryTimer);
    this.stopEvents?.();
    const session = this.sessions.session;
    if (session !== null) {
      this.sessions.release(session);
      this.publishEnded(session, `instance ${this.options.name} is stopping`);
    }
    this.relays.closeAll(1001, 'instance stopping');
    this.rateLimited.flush();
    const nc = this.nc;
    this.nc = undefined;
    if (nc && !nc.isClosed()) {
      // drain: what was published (session.ended, relay closes) reaches the server first.
      await Promise.race([nc.drain().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
      if (!nc.isClosed()) await nc.close().catch(() => undefined);
      this.log.info({ event: 'farm.instance.left' }, `instance ${this.options.name} left the farm`);
    }
  }

  // ---- connection --------------------------------------------------------------------------------

  /** One connection attempt; false when no nats-server answered (retry later). */
  private async connectOnce(first: boolean): Promise<boolean> {
    const { options } = this;
    try {
      this.nc = await connectNats(options.nats, `anbox-oob instance ${options.name}`, this.log, () => this.publishHeartbeat(), {
        // Replies to the instance's own requests come here, so nats.conf can confine it to `_INBOX.instance.<name>.>`.
        inboxPrefix: `_INBOX.instance.${options.name}`,
        waitOnFirstConnect: false,
      });
    } catch (error) {
      const url = redactNatsUrl(options.nats.url);
      if (isFatalNatsConnectError(error)) {
        throw new FarmStartError(`NATS at ${url} refused this instance: ${errorText(error)}; check --nats-user/--nats-password-file, --nats-creds or the --nats-tls-* options`);
      }
      if (first) {
        this.log.warn(
          { event: 'farm.instance.nats_unreachable', url, err: errorText(error) },
          `NATS at ${url} is not reachable (${errorText(error)}); the local service runs, and the instance keeps trying to join the farm`,
        );
      } else {
        this.log.debug({ event: 'farm.instance.nats_retry_failed', url, err: errorText(error) }, 'NATS still unreachable');
      }
      return false;
    }
    if (this.stopping) {
      await this.nc.close();
      return false;
    }
    return true;
  }

  private scheduleRetry(delayMs: number): void {
    if (this.stopping) return;
    this.retryTimer = setTimeout(() => {
      void (async () => {
        try {
          if (await this.connectOnce(false)) await this.joinFarm();
          else this.scheduleRetry(Math.min(delayMs * 2, MAX_FIRST_CONNECT_RETRY_MS));
        } catch (error) {
          // Found out late (NATS came up after the start): the local service keeps running, off the farm.
          this.log.error({ event: 'farm.instance.join_failed', err: errorText(error) }, `cannot join the farm: ${errorText(error)}`);
          await this.leaveAfterFailure();
        }
      })();
    }, delayMs);
    this.retryTimer.unref();
  }

  private async leaveAfterFailure(): Promise<void> {
    const nc = this.nc;
    this.nc = undefined;
    if (nc && !nc.isClosed()) await nc.close().catch(() => undefined);
  }

  /** Probes for a namesake, subscribes to the instance's subjects and starts the heartbeats. */
  private async joinFarm(): Promise<void> {
    const nc = this.nc!;
    const { name, intervalMs } = this.options;
    await probeForLiveInstance(nc, name, this.boot, Math.round(intervalMs * 1.5)).catch((error: unknown) => {
      throw new FarmStartError(errorText(error));
    });
    if (this.stopping) return;
    this.subscriptions = [
      nc.subscribe(instanceSubject(name, 'place'), { callback: (error, msg) => error || this.onRequest('place', msg) }),
      nc.subscribe(instanceSubject(name, 'join'), { callback: (error, msg) => error || this.onRequest('join', msg) }),
      nc.subscribe(instanceSubject(name, 'signal'), { callback: (error, msg) => error || this.onRequest('signal', msg) }),
      nc.subscribe(DISCOVER_SUBJECT, { callback: (error) => error || this.publishHeartbeat() }),
    ];
    // Round trip: the subscriptions are in place at nats-server when start() resolves, so a
    // request sent right after (a test, a script) finds a responder instead of "503 no responders".
    await nc.flush().catch(() => undefined);
    if (this.stopping) return;
    this.heartbeatTimer = setInterval(() => this.publishHeartbeat(), intervalMs);
    this.heartbeatTimer.unref();
    this.lapseTimer = setInterval(() => this.checkReservation(), Math.max(50, Math.min(1000, Math.floor(this.reservationMs / 4))));
    this.lapseTimer.unref();
    this.publishHeartbeat();
    this.log.info(
      { event: 'farm.instance.joined', url: redactNatsUrl(this.options.nats.url), boot: this.boot, labels: this.options.labels, device: this.options.device, intervalMs },
      `instance ${name} joined the farm (heartbeat every ${intervalMs} ms)`,
    );
  }

  // ---- requests ----------------------------------------------------------------------------------

  private onRequest(kind: 'place' | 'join' | 'signal', msg: Msg): void {
    if (msg.reply === undefined || msg.reply === '') {
      // A publish, not a request (the gateway always requests): acting on it would reserve the
      // instance, reissue a secret or use one up for nobody, so it is dropped before any effect.
      if (this.rateLimited.allow('farm.instance.bad_request', undefined, 'warn')) {
        this.log.warn({ event: 'farm.instance.bad_request', kind, code: 'NO_REPLY', reason: 'published without a reply subject' }, `${kind} published without a reply subject: dropped`);
      }
      return;
    }
    let reply: PlaceReply | SignalReply;
    try {
      reply = kind === 'place' ? this.place(msg.data) : kind === 'join' ? this.join(msg.data) : this.signal(msg.data);
    } catch (error) {
      if (!(error instanceof FarmMessageError)) {
        this.log.error({ event: 'farm.instance.request_failed', kind, err: error }, `handling a ${kind} request failed`);
      } else if (this.rateLimited.allow('farm.instance.bad_request', undefined, 'warn')) {
        this.log.warn({ event: 'farm.instance.bad_request', kind, code: error.code, reason: error.message }, `malformed ${kind} request: ${error.message}`);
      }
      const message = error instanceof Error ? error.message : String(error);
      reply = kind === 'signal' ? { v: 1, ok: false, status: 400, message } : { v: 1, ok: false, code: 'BAD_REQUEST', message };
    }
    try {
      msg.respond(encodeFarmMessage(reply));
    } catch (error) {
      this.log.debug({ event: 'farm.instance.reply_failed', kind, err: errorText(error) }, 'answering a request failed');
    }
  }

  private place(bytes: Uint8Array): PlaceReply {
    const request = decodePlaceRequest(bytes);
    if (this.stopping) return { v: 1, ok: false, code: 'STOPPING', message: `instance ${this.options.name} is stopping` };
    if (request.request.instance !== undefined && request.request.instance !== this.options.name) {
      return { v: 1, ok: false, code: 'BAD_REQUEST', message: `this is instance "${this.options.name}", not "${request.request.instance}"` };
    }
    const decision = this.sessions.canPlace();
    if (!decision.ok) return { v: 1, ok: false, code: 'BUSY', message: decision.message };
    let opened: OpenedSession;
    try {
      opened = this.options.platform.openSession({ app: request.request.app });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 'BUSY' || code === 'STOPPING') return { v: 1, ok: false, code, message: errorText(error) };
      throw error;
    }
    this.sessions.reserve(opened.id);
    this.log.info({ event: 'farm.instance.session_placed', session: opened.id, gateway: request.gateway, reservationMs: this.reservationMs }, `session ${opened.id} placed here by ${request.gateway}`);
    this.publishHeartbeat();
    return { v: 1, ok: true, session: opened.id, secret: opened.secret, stunServers: opened.stunServers };
  }

  private join(bytes: Uint8Array): PlaceReply {
    const request = decodeJoinRequest(bytes);
    if (this.stopping) return { v: 1, ok: false, code: 'STOPPING', message: `instance ${this.options.name} is stopping` };
    const ours = this.sessions.session === request.session;
    if (!ours && this.sessions.state !== 'free') return { v: 1, ok: false, code: 'BUSY', message: `session ${this.sessions.session} is ${this.sessions.state}` };
    const secret = this.options.platform.reissueSecret(request.session);
    if (secret === undefined) return { v: 1, ok: false, code: 'UNKNOWN_SESSION', message: `no session ${request.session} on instance ${this.options.name}` };
    if (ours) this.sessions.renew(request.session);
    else {
      this.sessions.reserve(request.session);
      this.publishHeartbeat();
    }
    this.log.info({ event: 'farm.instance.session_joined', session: request.session, gateway: request.gateway }, `session ${request.session} joined by ${request.gateway}`);
    return { v: 1, ok: true, session: request.session, secret, stunServers: this.options.platform.browserStunServers() };
  }

  private signal(bytes: Uint8Array): SignalReply {
    const open = decodeSignalOpen(bytes);
    if (this.stopping || !this.nc) return { v: 1, ok: false, status: 503, message: `instance ${this.options.name} is stopping` };
    if (this.relays.has(open.relay)) return { v: 1, ok: false, status: 400, message: `relay ${open.relay} is already open` };
    if (this.relays.full) {
      // Checked before the secret, so any NATS peer can cause this line: rate-limited like the others.
      if (this.rateLimited.allow('farm.instance.relays_full', undefined, 'warn')) {
        this.log.warn({ event: 'farm.instance.relays_full', relays: this.relays.size, limit: this.relays.limit }, `refused a relay: ${this.relays.limit} are open`);
      }
      return { v: 1, ok: false, status: 503, message: `instance ${this.options.name} has ${this.relays.limit} relays open; try again later` };
    }
    const check = this.options.platform.checkSignalingSecret(open.session, open.secret);
    if (!check.ok) {
      if (this.rateLimited.allow('farm.instance.signal_refused', undefined, 'warn')) {
        this.log.warn({ event: 'farm.instance.signal_refused', session: open.session, status: check.status, reason: check.message }, `relayed signaling refused: ${check.message}`);
      }
      return { v: 1, ok: false, status: check.status, message: check.message };
    }
    // Subscribed to to-instance here, before the reply: the gateway's first frame cannot be missed.
    const transport = new RelayTransport(this.nc, this.options.name, open.relay, this.log, this.rateLimited, this.options.relaySilenceMs ?? DEFAULT_RELAY_SILENCE_MS);
    this.relays.add(transport);
    this.sessions.signalingOpened(open.session);
    transport.onClose((code) => {
      this.sessions.signalingClosed(open.session);
      this.log.info({ event: 'farm.instance.relay_closed', session: open.session, relay: open.relay, code }, `relay ${open.relay} closed (${code})`);
    });
    this.log.info({ event: 'farm.instance.relay_opened', session: open.session, relay: open.relay, gateway: open.gateway }, `signaling of session ${open.session} relayed by ${open.gateway}`);
    this.options.platform.attachSignaling(open.session, transport);
    return { v: 1, ok: true };
  }

  // ---- state -------------------------------------------------------------------------------------

  private onPlatformEvent(event: PlatformEvent): void {
    switch (event.type) {
      case 'peer-started':
        if (this.sessions.peerStarted(event.session)) this.publishHeartbeat();
        return;
      case 'peer-ended': {
        // A join replaces the session's peer with a new one: the session goes on. The platform
        // starts the new peer right after ending the old one, so look once that has happened.
        const session = event.session;
        setImmediate(() => {
          if (this.stopping || this.options.platform.activePeer?.session === session) return;
          if (!this.sessions.peerEnded(session)) return;
          this.publishEnded(session, `peer ended: ${event.reason}`);
          void this.options.platform.endSession(session, event.reason);
          this.publishHeartbeat();
        });
        return;
      }
      case 'channel-open':
      case 'channel-closed':
        this.publishHeartbeat();
        return;
      default:
        return;
    }
  }

  private checkReservation(): void {
    const lapsed = this.sessions.tick();
    if (lapsed === undefined) return;
    const reason = `reservation lapsed: no signaling within ${Math.round(this.reservationMs / 100) / 10} s`;
    this.log.info({ event: 'farm.instance.reservation_lapsed', session: lapsed, reservationMs: this.reservationMs }, `session ${lapsed}: ${reason}`);
    void this.options.platform.endSession(lapsed, reason);
    this.publishEnded(lapsed, reason);
    this.publishHeartbeat();
  }

  private publishHeartbeat(): void {
    const nc = this.nc;
    if (!nc || nc.isClosed() || this.stopping) return;
    this.seq++;
    this.publish(HEARTBEAT_SUBJECT, this.status());
  }

  private publishEnded(session: string, reason: string): void {
    const message: SessionEnded = { v: 1, instance: this.options.name, session, reason: reason.slice(0, 1000) };
    this.log.info({ event: 'farm.instance.session_ended', session, reason }, `session ${session} ended: ${reason}`);
    this.publish(SESSION_ENDED_SUBJECT, message);
  }

  private publish(subject: string, message: object): void {
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    try {
      nc.publish(subject, encodeFarmMessage(message));
    } catch (error) {
      if (this.rateLimited.allow('farm.instance.publish_failed', undefined, 'warn')) {
        this.log.warn({ event: 'farm.instance.publish_failed', subject, err: errorText(error) }, `publishing on ${subject} failed`);
      }
    }
  }
}
