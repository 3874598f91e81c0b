import type { NatsConnection, Subscription } from 'nats';
import type { Logger } from '../../log/logger.js';
import type { RateLimitedLog } from '../../log/rate-limited-log.js';
import type { SignalingTransport } from '../../platform/signaling-transport.js';
import { decodeRelayMessage, encodeFarmMessage, FarmMessageError, MAX_RELAY_FRAME_BYTES, type RelayMessage } from '../farm-messages.js';
import { relaySubject } from '../subjects.js';
import { closeReason } from '../../platform/websocket-close.js';

/** The gateway pings every 5 s; a relay silent this long is closed (docs/farm.md "Relay"). */
export const DEFAULT_RELAY_SILENCE_MS = 20_000;
/** Malformed relay messages tolerated before the relay is closed (a broken or hostile peer). */
export const MAX_BAD_RELAY_MESSAGES = 10;

/**
 * A session's signaling relayed over NATS (docs/farm.md): frames from the browser arrive on
 * `…relay.<instance>.<relay>.to-instance`, ours go to `…to-client`. The subscription exists once
 * the constructor returns, so the instance answers SignalOpen only after it (no frame is lost).
 * Closes on the gateway's `close`, on its own close() (sending `close`), after `silenceMs`
 * without any message, or when the connection drops the subscription.
 */
export class RelayTransport implements SignalingTransport {
  readonly relay: string;
  private readonly subscription: Subscription;
  private readonly toClient: string;
  private closed = false;
  private silenceTimer: NodeJS.Timeout | undefined;
  private badMessages = 0;
  private readonly messageListeners: ((text: string, binary: boolean) => void)[] = [];
  private readonly closeListeners: ((code: number) => void)[] = [];
  private readonly errorListeners: ((error: Error) => void)[] = [];

  constructor(
    private readonly nc: NatsConnection,
    instance: string,
    relay: string,
    private readonly log: Logger,
    private readonly rateLimited: RateLimitedLog,
    private readonly silenceMs: number = DEFAULT_RELAY_SILENCE_MS,
  ) {
    this.relay = relay;
    this.toClient = relaySubject(instance, relay, 'to-client');
    this.subscription = nc.subscribe(relaySubject(instance, relay, 'to-instance'), {
      callback: (error, msg) => {
        if (error) this.finish(1011, `relay subscription failed: ${error.message}`, false);
        else this.onRelayMessage(msg.data);
      },
    });
    this.armSilenceTimer();
  }

  get open(): boolean {
    return !this.closed;
  }

  send(text: string, onError?: (error: Error) => void): void {
    if (this.closed) return;
    const bytes = Buffer.byteLength(text);
    if (bytes > MAX_RELAY_FRAME_BYTES) {
      // Never sent: nats-server would refuse it and the gateway's decoder would drop it.
      onError?.(new Error(`signaling frame of ${bytes} bytes; a relay carries at most ${MAX_RELAY_FRAME_BYTES}`));
      this.close(1009, 'signaling frame too large for the relay');
      return;
    }
    this.publish({ t: 'frame', data: text }, onError);
  }

  close(code: number, reason: string): void {
    this.finish(code, reason, true);
  }

  onMessage(listener: (text: string, binary: boolean) => void): void {
    this.messageListeners.push(listener);
  }

  onClose(listener: (code: number) => void): void {
    this.closeListeners.push(listener);
  }

  onError(listener: (error: Error) => void): void {
    this.errorListeners.push(listener);
  }

  private onRelayMessage(bytes: Uint8Array): void {
    if (this.closed) return;
    let message: RelayMessage;
    try {
      message = decodeRelayMessage(bytes);
    } catch (error) {
      if (!(error instanceof FarmMessageError)) throw error;
      if (this.rateLimited.allow('farm.instance.relay_bad_message', undefined, 'warn')) {
        this.log.warn({ event: 'farm.instance.relay_bad_message', relay: this.relay, code: error.code, reason: error.message }, `relay ${this.relay}: dropped a malformed message: ${error.message}`);
      }
      if (++this.badMessages >= MAX_BAD_RELAY_MESSAGES) this.finish(1008, `${MAX_BAD_RELAY_MESSAGES} malformed relay messages`, true);
      return;
    }
    this.armSilenceTimer();
    switch (message.t) {
      case 'frame':
        for (const listener of this.messageListeners) listener(message.data, false);
        return;
      case 'close':
        this.finish(message.code, message.reason, false);
        return;
      case 'ping':
        return;
    }
  }

  private armSilenceTimer(): void {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => {
      this.log.info({ event: 'farm.instance.relay_silent', relay: this.relay, silenceMs: this.silenceMs }, `relay ${this.relay}: nothing heard for ${this.silenceMs} ms; closed`);
      this.finish(1001, 'relay silent', true);
    }, this.silenceMs);
    this.silenceTimer.unref();
  }

  private publish(message: RelayMessage, onError?: (error: Error) => void): void {
    try {
      this.nc.publish(this.toClient, encodeFarmMessage(message));
    } catch (error) {
      // A closed connection or an oversized payload: reported, never thrown into the caller.
      const failure = error instanceof Error ? error : new Error(String(error));
      onError?.(failure);
      for (const listener of this.errorListeners) listener(failure);
    }
  }

  /** `tellClient`: send `close` to the gateway (not when the gateway closed, or cannot hear). */
  private finish(code: number, reason: string, tellClient: boolean): void {
    if (this.closed) return;
    if (tellClient) this.publish({ t: 'close', code, reason: closeReason(reason) });
    this.closed = true;
    clearTimeout(this.silenceTimer);
    this.subscription.unsubscribe();
    for (const listener of this.closeListeners) listener(code);
  }
}
