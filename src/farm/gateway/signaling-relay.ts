import type { Msg, NatsConnection, Subscription } from 'nats';
import type { WebSocket } from 'ws';
import type { Logger } from '../../log/logger.js';
import { decodeRelayMessage, encodeFarmMessage, MAX_RELAY_FRAME_BYTES, MAX_RELAY_MESSAGE_BYTES, type RelayMessage } from '../farm-messages.js';
import { relaySubject } from '../subjects.js';
import { closeReason, sendableCloseCode } from '../../platform/websocket-close.js';

/**
 * One browser signaling WebSocket relayed to its instance over NATS (docs/farm.md "Relay"):
 * browser text frames → `relay.<instance>.<relay>.to-instance`, `to-client` → browser, in order
 * (NATS keeps one publisher's order on a subject). The to-client subscription exists before the
 * instance is asked to open the relay (open()), so no early frame is lost: frames that arrive
 * before the WebSocket is accepted wait in a bounded queue.
 */

/** The gateway pings each relay this often; the instance closes one silent for 20 s. */
export const RELAY_PING_INTERVAL_MS = 5000;
/** Frames from the instance held before the browser's WebSocket is accepted. */
export const MAX_EARLY_FRAMES = 64;
/** A browser that does not read: its WebSocket is closed rather than the gateway buffering without end. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

export interface RelayEndpoints {
  instance: string;
  session: string;
  relay: string;
}

export interface RelayOptions extends RelayEndpoints {
  nc: NatsConnection;
  log: Logger;
  /**
   * Asked before a browser frame is published: false when it must not be (NATS is down and the
   * gateway already holds its maximum for the reconnection); then the relay ends with 1013.
   */
  admitFrame(bytes: number): boolean;
  /** A message on to-client that breaks docs/farm.md (any NATS peer can publish there): dropped, the owner logs it. */
  onBadMessage(msg: Msg, error: unknown): void;
  pingIntervalMs?: number;
  /** Called once when the relay is over, whichever side ended it. */
  onEnded(relay: SignalingRelay): void;
}

export class SignalingRelay {
  readonly instance: string;
  readonly session: string;
  readonly relay: string;
  private readonly nc: NatsConnection;
  private readonly log: Logger;
  private readonly onBadMessage: (msg: Msg, error: unknown) => void;
  private readonly admitFrame: (bytes: number) => boolean;
  private readonly subscription: Subscription;
  private readonly toInstance: string;
  private ws: WebSocket | undefined;
  private early: RelayMessage[] = [];
  private pingTimer: NodeJS.Timeout | undefined;
  private ended = false;
  private readonly onEnded: (relay: SignalingRelay) => void;
  private readonly pingIntervalMs: number;

  /** Subscribes to to-client at once (before the instance is asked to open the relay). */
  constructor(options: RelayOptions) {
    this.instance = options.instance;
    this.session = options.session;
    this.relay = options.relay;
    this.nc = options.nc;
    this.log = options.log;
    this.onBadMessage = options.onBadMessage;
    this.admitFrame = options.admitFrame;
    this.onEnded = options.onEnded;
    this.pingIntervalMs = options.pingIntervalMs ?? RELAY_PING_INTERVAL_MS;
    this.toInstance = relaySubject(this.instance, this.relay, 'to-instance');
    this.subscription = this.nc.subscribe(relaySubject(this.instance, this.relay, 'to-client'), {
      callback: (error, msg) => {
        if (error) return;
        this.fromInstance(msg);
      },
    });
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** The browser's WebSocket is open: flush what the instance sent meanwhile, relay from now on. */
  attach(ws: WebSocket): void {
    if (this.ended) {
      ws.close(1011, 'relay already ended');
      return;
    }
    this.ws = ws;
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        this.end(1003, 'signaling frames are text', true);
        return;
      }
      const text = (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer)).toString('utf8');
      if (Buffer.byteLength(text) > MAX_RELAY_FRAME_BYTES) {
        this.end(1009, `signaling frame over ${MAX_RELAY_FRAME_BYTES} bytes`, true);
        return;
      }
      // JSON escaping can make the relay message up to 6 times the frame (control characters):
      // past what the instance decodes (or nats-server's max_payload) it would be lost on the way.
      const encoded = encodeFarmMessage({ t: 'frame', data: text });
      if (encoded.length > MAX_RELAY_MESSAGE_BYTES) {
        this.end(1009, `signaling frame over ${MAX_RELAY_MESSAGE_BYTES} bytes once escaped for the relay`, true);
        return;
      }
      if (!this.admitFrame(encoded.length)) {
        this.end(1013, 'NATS is reconnecting and the gateway holds all the signaling it may meanwhile; try again', true);
        return;
      }
      this.publishEncoded(encoded);
    });
    ws.on('close', (code, reason) => {
      if (this.ended) return;
      // 1005/1006 (no code, abnormal) cannot be sent on; the instance only needs to know the client left.
      this.finish({ t: 'close', code: code === 1005 || code === 1006 ? 1001 : sendableCloseCode(code), reason: reason.toString('utf8') || 'the client went away' });
    });
    ws.on('error', (error) => this.log.debug({ event: 'farm.gateway.relay_socket_error', relay: this.relay, err: error }, 'relay WebSocket error'));
    const early = this.early;
    this.early = [];
    for (const message of early) this.toClient(message);
    this.pingTimer = setInterval(() => this.publish({ t: 'ping' }), this.pingIntervalMs);
    this.pingTimer.unref();
  }

  /**
   * Ends the relay from the gateway's side (instance dropped, session ended, gateway stopping,
   * upgrade abandoned): the browser's WebSocket closes with `code` and `reason`; the instance is
   * told unless it is the one that ended it.
   */
  end(code: number, reason: string, tellInstance: boolean): void {
    if (this.ended) return;
    const sendable = sendableCloseCode(code);
    const text = closeReason(reason);
    this.finish(tellInstance ? { t: 'close', code: sendable, reason: text } : undefined);
    this.ws?.close(sendable, text);
  }

  private finish(toInstance: RelayMessage | undefined): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.pingTimer);
    if (toInstance) this.publish(toInstance, true);
    this.subscription.unsubscribe();
    this.early = [];
    this.onEnded(this);
  }

  private publish(message: RelayMessage, evenIfEnded = false): void {
    this.publishEncoded(encodeFarmMessage(message), evenIfEnded);
  }

  private publishEncoded(message: Uint8Array, evenIfEnded = false): void {
    if ((this.ended && !evenIfEnded) || this.nc.isClosed()) return;
    try {
      this.nc.publish(this.toInstance, message);
    } catch (error) {
      this.log.warn({ event: 'farm.gateway.relay_publish_failed', relay: this.relay, instance: this.instance, err: error }, 'relaying to the instance failed');
    }
  }

  private fromInstance(msg: Msg): void {
    let message: RelayMessage;
    try {
      message = decodeRelayMessage(msg.data);
    } catch (error) {
      this.onBadMessage(msg, error);
      return;
    }
    if (!this.ws) {
      if (this.early.length >= MAX_EARLY_FRAMES) {
        this.end(1011, `instance ${this.instance} sent more than ${MAX_EARLY_FRAMES} frames before the WebSocket opened`, true);
        return;
      }
      this.early.push(message);
      return;
    }
    this.toClient(message);
  }

  private toClient(message: RelayMessage): void {
    const ws = this.ws;
    if (!ws || this.ended) return;
    if (message.t === 'frame') {
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        this.end(1008, 'the client does not read its signaling WebSocket', true);
        return;
      }
      ws.send(message.data);
    } else if (message.t === 'close') {
      this.end(message.code, message.reason, false);
    }
    // A ping is gateway → instance only; one from the instance means nothing here.
  }
}
