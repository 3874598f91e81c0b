import { EventEmitter } from 'node:events';
import type { DataChannel } from 'node-datachannel';
import type { Logger } from 'pino';
import { errorMessage, guarded } from './guard.js';
import { splitBinary, splitText } from './utf8.js';

/** Stop handing data to the channel above this many buffered bytes… */
export const HIGH_WATER_MARK = 1024 * 1024;
/** …and resume when the buffered amount has fallen to this. */
export const LOW_WATER_MARK = 256 * 1024;
/** Messages are never larger than this, whatever the remote allows (Chromium's own send limit). */
export const MAX_CHUNK_BYTES = 256 * 1024;
/**
 * What usrsctp may still hold, unacknowledged, once bufferedAmount is 0: its send buffer
 * (libdatachannel sets SO_SNDBUF to 1 MiB) plus one message.
 */
const SCTP_SEND_BUFFER_BYTES = 1024 * 1024 + MAX_CHUNK_BYTES;
/** Assumed drain rate (bytes per ms) until one has been measured: 4 MB/s. */
const DEFAULT_DRAIN_RATE = 4000;
/** Received messages kept while nobody listens for 'message' (beyond: dropped with a warning). */
const PENDING_LIMIT_BYTES = 64 * 1024 * 1024;

export type ChannelState = 'connecting' | 'open' | 'closed';
export type ChannelMessage = string | Buffer;

export interface WebClientChannelEvents {
  /** One data-channel message: a string for a text message, a Buffer for a binary one. */
  message: [data: ChannelMessage];
  open: [];
  close: [];
  /** Emitted by EventEmitter itself before a listener is added. */
  newListener: [event: string | symbol, listener: (...args: never[]) => void];
}

/**
 * One data channel of a WebClient. Sends are queued in order, chunked to the remote's maximum
 * message size, and paced by the channel's buffered amount (HIGH_WATER_MARK / LOW_WATER_MARK).
 * Messages that arrive before the first 'message' listener is attached are kept and delivered to it.
 */
export class WebClientChannel extends EventEmitter<WebClientChannelEvents> {
  readonly name: string;
  #state: ChannelState = 'connecting';
  #dc: DataChannel | undefined;
  readonly #log: Logger;
  #queue: Promise<void> = Promise.resolve();
  #pending: ChannelMessage[] = [];
  #pendingBytes = 0;
  #lowWaiters: (() => void)[] = [];
  #openWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  #closeReason = 'channel closed';
  #messagesSent = 0;
  #bytesSent = 0;
  #messagesReceived = 0;
  #bytesReceived = 0;
  #stateWaiters: (() => void)[] = [];
  /** Measured rate at which the buffered amount falls (bytes per ms, smoothed); 0 until measured. */
  #drainRate = 0;
  #lastSendAt = 0;

  /** @internal Created by connectWebClient; the native channel is attached when it is created. */
  constructor(name: string, log: Logger) {
    super();
    this.name = name;
    this.#log = log.child({ channel: name });
    this.on('newListener', (event: string | symbol) => {
      if (event === 'message' && this.#pending.length > 0) setImmediate(() => this.#flushPending());
    });
  }

  /** @internal Binds the node-datachannel DataChannel (kept referenced here for the channel's lifetime). */
  attach(dc: DataChannel): void {
    if (this.#dc) throw new Error(`channel "${this.name}" is already attached`);
    this.#dc = dc;
    dc.onOpen(guarded(this.#log, 'onOpen', () => this.#onOpen()));
    dc.onClosed(guarded(this.#log, 'onClosed', () => this.markClosed('closed')));
    dc.onError(guarded(this.#log, 'onError', (err: string) => this.#log.warn({ error: err }, 'data channel error')));
    dc.onMessage(guarded(this.#log, 'onMessage', (msg: string | Buffer | ArrayBuffer) => this.#onMessage(msg)));
    dc.onBufferedAmountLow(guarded(this.#log, 'onBufferedAmountLow', () => this.#wakeLow()));
    if (dc.isOpen()) this.#onOpen();
  }

  get state(): ChannelState {
    return this.#state;
  }

  /** Counters since the channel was created. */
  get stats(): { messagesSent: number; bytesSent: number; messagesReceived: number; bytesReceived: number; bufferedAmount: number } {
    let bufferedAmount = 0;
    if (this.#state !== 'closed') bufferedAmount = this.#safeBufferedAmount();
    return {
      messagesSent: this.#messagesSent,
      bytesSent: this.#bytesSent,
      messagesReceived: this.#messagesReceived,
      bytesReceived: this.#bytesReceived,
      bufferedAmount,
    };
  }

  /** The largest message this side sends: the remote's maximum message size, capped at MAX_CHUNK_BYTES. */
  maxMessageSize(): number {
    let remote = MAX_CHUNK_BYTES;
    try {
      remote = this.#dc?.maxMessageSize() ?? MAX_CHUNK_BYTES;
    } catch {
      // Closed channel: keep the cap.
    }
    if (!Number.isFinite(remote) || remote <= 0) remote = MAX_CHUNK_BYTES;
    return Math.max(4, Math.min(remote, MAX_CHUNK_BYTES));
  }

  /** Resolves when the channel is open; rejects when it closes first. */
  whenOpen(): Promise<void> {
    if (this.#state === 'open') return Promise.resolve();
    if (this.#state === 'closed') return Promise.reject(new Error(`channel "${this.name}" is closed: ${this.#closeReason}`));
    return new Promise((resolve, reject) => this.#openWaiters.push({ resolve, reject }));
  }

  /** Resolves when the channel has closed (never rejects). */
  whenClosed(): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    return new Promise((resolve) => this.once('close', () => resolve()));
  }

  /**
   * Queues `data` (a string goes as text messages, a Buffer as binary ones), after everything sent
   * before. Waits for the channel to open. Resolves once the last piece is handed to the channel
   * with the buffered amount under the high-water mark; rejects if the channel closes or the send
   * fails. The returned promise may be ignored: a failure is also logged.
   */
  send(data: string | Buffer | Uint8Array): Promise<void> {
    const payload = typeof data === 'string' || Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const job = this.#queue.then(() => this.#sendNow(payload));
    this.#queue = job.catch(() => undefined);
    job.catch((error: unknown) => this.#log.warn({ error: errorMessage(error) }, 'send failed'));
    return job;
  }

  /** Resolves when every queued send has been handed to SCTP (buffered amount 0) or the channel closed. */
  async flush(): Promise<void> {
    await this.#queue;
    while (this.#state === 'open' && this.#safeBufferedAmount() > 0) {
      await this.#measured(() => this.#waitFor(() => this.#state !== 'open' || this.#safeBufferedAmount() === 0, 10));
    }
  }

  /**
   * How long the data already handed to SCTP may still need to reach the peer. libdatachannel
   * does not say when usrsctp's send buffer has been acknowledged, and closing the peer
   * connection aborts the association (SO_LINGER 0), dropping what is still there; so the client
   * waits this long before it does. Estimated from what was sent recently (at most usrsctp's send
   * buffer) and the measured drain rate, doubled; 0 when nothing was sent in the last 10 s.
   */
  drainEstimateMs(): number {
    if (this.#bytesSent === 0 || Date.now() - this.#lastSendAt > 10_000) return 0;
    const inFlight = Math.min(this.#bytesSent, SCTP_SEND_BUFFER_BYTES);
    const rate = this.#drainRate > 0 ? this.#drainRate : DEFAULT_DRAIN_RATE;
    return Math.min(5000, Math.ceil((2 * inFlight) / rate) + 50);
  }

  /** Closes this channel (an SCTP stream reset, sent after the data already queued on it). */
  close(): void {
    if (this.#state === 'closed') return;
    if (!this.#dc) {
      this.markClosed('closed locally before it was created');
      return;
    }
    try {
      this.#dc.close();
    } catch (error) {
      this.#log.debug({ error: errorMessage(error) }, 'close failed');
      this.markClosed('closed locally');
    }
  }

  /** @internal The session is over: settle waiters and emit 'close' once. */
  markClosed(reason: string): void {
    if (this.#state === 'closed') return;
    const wasOpen = this.#state === 'open';
    this.#state = 'closed';
    this.#closeReason = reason;
    this.#log.debug({ wasOpen, reason }, 'channel closed');
    const error = new Error(`channel "${this.name}" closed before it opened: ${reason}`);
    for (const waiter of this.#openWaiters.splice(0)) waiter.reject(error);
    this.#wakeLow();
    this.#wakeState();
    this.#flushPending();
    this.emit('close');
  }

  #onOpen(): void {
    if (this.#state !== 'connecting') return;
    this.#state = 'open';
    try {
      this.#dc?.setBufferedAmountLowThreshold(LOW_WATER_MARK);
    } catch (error) {
      this.#log.warn({ error: errorMessage(error) }, 'cannot set the buffered-amount threshold');
    }
    this.#log.debug({ maxMessageSize: this.maxMessageSize() }, 'channel open');
    for (const waiter of this.#openWaiters.splice(0)) waiter.resolve();
    this.emit('open');
  }

  #onMessage(msg: string | Buffer | ArrayBuffer): void {
    const data: ChannelMessage = typeof msg === 'string' ? msg : Buffer.isBuffer(msg) ? msg : Buffer.from(msg);
    this.#messagesReceived++;
    this.#bytesReceived += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    if (this.#pending.length > 0 || !this.emit('message', data)) this.#keep(data);
  }

  #keep(data: ChannelMessage): void {
    const size = typeof data === 'string' ? data.length * 2 : data.length;
    if (this.#pendingBytes + size > PENDING_LIMIT_BYTES) {
      this.#log.warn({ size }, 'message dropped: nobody listens for messages on this channel and the backlog is full');
      return;
    }
    this.#pending.push(data);
    this.#pendingBytes += size;
  }

  #flushPending(): void {
    while (this.#pending.length > 0 && this.listenerCount('message') > 0) {
      const data = this.#pending.shift()!;
      this.#pendingBytes -= typeof data === 'string' ? data.length * 2 : data.length;
      this.emit('message', data);
    }
  }

  async #sendNow(data: string | Buffer): Promise<void> {
    await this.whenOpen();
    const max = this.maxMessageSize();
    const pieces: ChannelMessage[] = typeof data === 'string' ? splitText(data, max) : splitBinary(data, max);
    for (const piece of pieces) {
      if (typeof piece === 'string' ? piece.length === 0 : piece.length === 0) continue;
      while (this.#state === 'open' && this.#safeBufferedAmount() > HIGH_WATER_MARK) await this.#measured(() => this.#lowWater());
      if (this.#state !== 'open') throw new Error(`channel "${this.name}" closed while sending: ${this.#closeReason}`);
      const dc = this.#dc;
      if (!dc) throw new Error(`channel "${this.name}" has no native channel`);
      try {
        // false means "queued, not sent at once": not a failure.
        if (typeof piece === 'string') dc.sendMessage(piece);
        else dc.sendMessageBinary(piece);
      } catch (error) {
        throw new Error(`sending ${typeof piece === 'string' ? Buffer.byteLength(piece) : piece.length} bytes on "${this.name}" failed: ${errorMessage(error)}`);
      }
      this.#messagesSent++;
      this.#bytesSent += typeof piece === 'string' ? Buffer.byteLength(piece) : piece.length;
      this.#lastSendAt = Date.now();
    }
  }

  #safeBufferedAmount(): number {
    try {
      return this.#dc?.bufferedAmount() ?? 0;
    } catch {
      return 0;
    }
  }

  /** Runs a wait and, when the buffered amount fell substantially meanwhile, samples the drain rate. */
  async #measured(wait: () => Promise<void>): Promise<void> {
    const before = this.#safeBufferedAmount();
    const started = performance.now();
    await wait();
    const drained = before - this.#safeBufferedAmount();
    const elapsed = performance.now() - started;
    if (drained >= 64 * 1024 && elapsed >= 1) {
      const sample = drained / elapsed;
      this.#drainRate = this.#drainRate > 0 ? 0.7 * this.#drainRate + 0.3 * sample : sample;
    }
  }

  /** Waits for onBufferedAmountLow (or a close); polls as a fallback in case an event is missed. */
  #lowWater(): Promise<void> {
    return this.#waitFor(() => this.#state !== 'open' || this.#safeBufferedAmount() <= LOW_WATER_MARK, 100, this.#lowWaiters);
  }

  #waitFor(done: () => boolean, pollMs: number, waiters: (() => void)[] = this.#stateWaiters): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clearInterval(timer);
        const index = waiters.indexOf(wake);
        if (index >= 0) waiters.splice(index, 1);
        resolve();
      };
      const wake = () => {
        if (done()) finish();
      };
      const timer = setInterval(wake, pollMs);
      waiters.push(wake);
      wake();
    });
  }

  #wakeLow(): void {
    for (const wake of [...this.#lowWaiters]) wake();
    this.#wakeState();
  }

  #wakeState(): void {
    for (const wake of [...this.#stateWaiters]) wake();
  }
}
