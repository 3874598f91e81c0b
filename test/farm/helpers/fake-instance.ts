/**
 * A scripted farm instance: a plain NATS client in the test that speaks docs/farm.md's instance
 * side (heartbeats, place/join/signal answers, relay frames) without any WebRTC. What it answers
 * is set by the test (busy, silent, echo), so the gateway can be driven into every case.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Msg, type NatsConnection, type Subscription } from 'nats';
import {
  decodePlaceRequest,
  decodeRelayMessage,
  decodeSignalOpen,
  encodeFarmMessage,
  type InstanceState,
  type InstanceStatus,
  type PlacementRequest,
  type RelayMessage,
} from '../../../src/farm/farm-messages.js';
import { DISCOVER_SUBJECT, HEARTBEAT_SUBJECT, instanceSubject, relaySubject, SESSION_ENDED_SUBJECT } from '../../../src/farm/subjects.js';

export interface FakeInstanceOptions {
  name: string;
  device?: string | null;
  labels?: Record<string, string>;
  intervalMs?: number;
}

export class FakeInstance {
  readonly name: string;
  boot = randomBytes(8).toString('hex');
  state: InstanceState = 'free';
  session: string | null = null;
  secret = '';
  /** Answer place with BUSY whatever the state (as if taken by another gateway meanwhile). */
  answerBusy = false;
  /** Do not answer requests at all. */
  silent = false;
  /** Frames sent to the client when a relay opens, before the answer (so before the browser's WebSocket is accepted). */
  earlyFrames = 0;
  /** Every place request received. */
  readonly placeRequests: PlacementRequest[] = [];
  /** Relay messages received, per relay. */
  readonly received: RelayMessage[] = [];
  relay: string | undefined;
  /** NATS reconnections so far. */
  reconnections = 0;
  private nc!: NatsConnection;
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private relaySub: Subscription | undefined;
  private readonly options: FakeInstanceOptions;

  constructor(options: FakeInstanceOptions) {
    this.name = options.name;
    this.options = options;
  }

  static async start(natsUrl: string, options: FakeInstanceOptions): Promise<FakeInstance> {
    const instance = new FakeInstance(options);
    await instance.connect(natsUrl);
    return instance;
  }

  get intervalMs(): number {
    return this.options.intervalMs ?? 200;
  }

  async connect(natsUrl: string): Promise<void> {
    this.nc = await connect({ servers: natsUrl.replace('nats://', ''), maxReconnectAttempts: -1, reconnectTimeWait: 200, waitOnFirstConnect: true });
    this.nc.subscribe(DISCOVER_SUBJECT, { callback: () => this.heartbeat() });
    this.nc.subscribe(instanceSubject(this.name, 'place'), { callback: (_e, msg) => this.onPlace(msg) });
    this.nc.subscribe(instanceSubject(this.name, 'join'), { callback: (_e, msg) => this.onJoin(msg) });
    this.nc.subscribe(instanceSubject(this.name, 'signal'), { callback: (_e, msg) => this.onSignal(msg) });
    void (async () => {
      for await (const s of this.nc.status()) {
        if (s.type !== 'reconnect') continue;
        this.reconnections++;
        this.heartbeat();
      }
    })();
    this.startHeartbeats();
  }

  startHeartbeats(): void {
    clearInterval(this.timer);
    this.heartbeat();
    this.timer = setInterval(() => this.heartbeat(), this.intervalMs);
  }

  /** The host "dies": no more heartbeats, no answers (the NATS connection stays for cleanup). */
  stopHeartbeats(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.silent = true;
  }

  heartbeat(): void {
    if (this.timer === undefined && this.seq > 0 && this.silent) return;
    const status: InstanceStatus = {
      v: 1,
      instance: this.name,
      boot: this.boot,
      host: `host-of-${this.name}`,
      device: this.options.device ?? null,
      labels: this.options.labels ?? {},
      state: this.state,
      session: this.session,
      channels: this.state === 'streaming' ? ['foo'] : [],
      seq: this.seq++,
      intervalMs: this.intervalMs,
      startedAt: new Date(0).toISOString(),
    };
    if (!this.nc.isClosed()) this.nc.publish(HEARTBEAT_SUBJECT, encodeFarmMessage(status));
  }

  /** Publishes raw bytes on a subject (bad messages). */
  publishRaw(subject: string, data: Uint8Array): void {
    this.nc.publish(subject, data);
  }

  /** Resolves once nats-server has everything published so far. */
  async flush(): Promise<void> {
    await this.nc.flush();
  }

  /** Sends a relay message to the client side of the current relay. */
  toClient(message: RelayMessage): void {
    this.nc.publish(relaySubject(this.name, this.relay!, 'to-client'), encodeFarmMessage(message));
  }

  endSession(reason: string): void {
    if (this.session === null) return;
    this.nc.publish(SESSION_ENDED_SUBJECT, encodeFarmMessage({ v: 1, instance: this.name, session: this.session, reason }));
    this.session = null;
    this.state = 'free';
    this.heartbeat();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.nc.close();
  }

  private onPlace(msg: Msg): void {
    if (this.silent) return;
    const request = decodePlaceRequest(msg.data);
    this.placeRequests.push(request.request);
    if (this.answerBusy || this.state !== 'free') {
      msg.respond(encodeFarmMessage({ v: 1, ok: false, code: 'BUSY', message: `${this.name} is busy` }));
      return;
    }
    this.session = `s-${this.name}-${randomBytes(4).toString('hex')}`;
    this.secret = randomBytes(8).toString('hex');
    this.state = 'reserved';
    msg.respond(encodeFarmMessage({ v: 1, ok: true, session: this.session, secret: this.secret, stunServers: [{ urls: ['stun:stun.example:3478'] }] }));
    this.heartbeat();
  }

  private onJoin(msg: Msg): void {
    if (this.silent) return;
    const request = JSON.parse(new TextDecoder().decode(msg.data)) as { session: string };
    if (request.session !== this.session) {
      msg.respond(encodeFarmMessage({ v: 1, ok: false, code: 'UNKNOWN_SESSION', message: 'no such session' }));
      return;
    }
    this.secret = randomBytes(8).toString('hex');
    msg.respond(encodeFarmMessage({ v: 1, ok: true, session: this.session, secret: this.secret, stunServers: [] }));
  }

  /** Opens the relay: subscribes to to-instance first, sends earlyFrames, then answers; echoes every frame back as "echo:<frame>". */
  private onSignal(msg: Msg): void {
    if (this.silent) return;
    const open = decodeSignalOpen(msg.data);
    if (open.session !== this.session || open.secret !== this.secret) {
      msg.respond(encodeFarmMessage({ v: 1, ok: false, status: 401, message: 'wrong secret' }));
      return;
    }
    this.relaySub?.unsubscribe();
    this.relay = open.relay;
    this.relaySub = this.nc.subscribe(relaySubject(this.name, open.relay, 'to-instance'), {
      callback: (_e, m) => {
        const message = decodeRelayMessage(m.data);
        this.received.push(message);
        if (message.t === 'frame') {
          this.state = 'streaming';
          this.toClient({ t: 'frame', data: `echo:${message.data}` });
        }
      },
    });
    for (let i = 0; i < this.earlyFrames; i++) this.toClient({ t: 'frame', data: `early-${i}` });
    msg.respond(encodeFarmMessage({ v: 1, ok: true }));
  }
}
