import type { Logger } from '../log/logger.js';
import type { BroadcastSink, ChannelBroadcast, DeliveryResult } from './types.js';

export const BROADCASTER_DEFAULTS = {
  /** Broadcasts waiting per sink (not counting the one being delivered); past it the oldest is dropped. */
  queueLimit: 100,
  /** Broadcasts kept with their results for `status`. */
  recentLimit: 50,
  /** How long close() waits for the queues to drain before closing the sinks. */
  drainTimeoutMs: 2_000,
} as const;

export interface BroadcasterOptions {
  logger: Logger;
  sinks?: readonly BroadcastSink[];
  queueLimit?: number;
  recentLimit?: number;
  drainTimeoutMs?: number;
}

export interface RecentBroadcast {
  broadcast: ChannelBroadcast;
  /** One result per sink that has finished with it (delivered, failed or dropped), in completion order. */
  results: DeliveryResult[];
}

export interface SinkStats {
  sink: string;
  delivered: number;
  failed: number;
  /** Broadcasts this sink never got: queue overflow, or still queued at close(). */
  dropped: number;
  /** Waiting in the queue (not counting the one in delivery). */
  pending: number;
  /** A delivery is in progress. */
  busy: boolean;
  last?: DeliveryResult;
}

export interface BroadcasterStats {
  published: number;
  sinks: SinkStats[];
}

interface Entry {
  broadcast: ChannelBroadcast;
  results: DeliveryResult[];
}

interface SinkState {
  sink: BroadcastSink;
  queue: Entry[];
  busy: boolean;
  delivered: number;
  failed: number;
  dropped: number;
  last?: DeliveryResult;
  /** Resolves when the queue is empty and nothing is in delivery. */
  idleWaiters: (() => void)[];
}

/**
 * Fans broadcasts out to sinks. Each sink has its own ordered queue and gets one broadcast at a time,
 * so a slow or failing sink delays only itself. A queue holds at most `queueLimit` (default 100)
 * broadcasts; past that the oldest waiting one is dropped for that sink — logged
 * ('broadcast.dropped', warn), counted in stats() and recorded as a failed result, never silent.
 *
 * Log lines (fields are stable): one per sink and broadcast,
 *   { event: 'broadcast.delivered' | 'broadcast.failed' | 'broadcast.dropped', sink, sequence,
 *     channelEvent: 'created' | 'destroyed', channels: string[], detail, attempts }.
 */
export class Broadcaster {
  readonly #log: Logger;
  readonly #queueLimit: number;
  readonly #recentLimit: number;
  readonly #drainTimeoutMs: number;
  readonly #sinks: SinkState[] = [];
  readonly #recent: Entry[] = [];
  #published = 0;
  #closed = false;

  constructor(options: BroadcasterOptions) {
    this.#log = options.logger;
    this.#queueLimit = Math.max(1, options.queueLimit ?? BROADCASTER_DEFAULTS.queueLimit);
    this.#recentLimit = Math.max(0, options.recentLimit ?? BROADCASTER_DEFAULTS.recentLimit);
    this.#drainTimeoutMs = options.drainTimeoutMs ?? BROADCASTER_DEFAULTS.drainTimeoutMs;
    for (const sink of options.sinks ?? []) this.addSink(sink);
  }

  /** Adds a sink; it gets broadcasts published from now on. Sink names should be unique. */
  addSink(sink: BroadcastSink): void {
    if (this.#closed) throw new Error('the broadcaster is closed');
    if (this.#sinks.some((s) => s.sink.name === sink.name)) throw new Error(`a sink named "${sink.name}" is already registered`);
    this.#sinks.push({ sink, queue: [], busy: false, delivered: 0, failed: 0, dropped: 0, idleWaiters: [] });
  }

  sinkNames(): string[] {
    return this.#sinks.map((s) => s.sink.name);
  }

  /** Queues the broadcast for every sink; returns at once. Ignored after close(). */
  publish(broadcast: ChannelBroadcast): void {
    if (this.#closed) {
      this.#log.debug({ event: 'broadcast.ignored', sequence: broadcast.sequence }, 'broadcast after close ignored');
      return;
    }
    this.#published++;
    const entry: Entry = { broadcast, results: [] };
    if (this.#recentLimit > 0) {
      this.#recent.push(entry);
      while (this.#recent.length > this.#recentLimit) this.#recent.shift();
    }
    for (const state of this.#sinks) {
      state.queue.push(entry);
      while (state.queue.length > this.#queueLimit) {
        const dropped = state.queue.shift();
        if (dropped) this.#drop(state, dropped, `dropped: ${this.#queueLimit} broadcasts were already waiting for this sink`);
      }
      if (!state.busy) void this.#pump(state);
    }
  }

  /** The last `recentLimit` broadcasts, oldest first, with the results so far. Copies. */
  recent(): RecentBroadcast[] {
    return this.#recent.map((entry) => ({
      broadcast: { ...entry.broadcast, names: [...entry.broadcast.names] },
      results: entry.results.map((r) => ({ ...r })),
    }));
  }

  stats(): BroadcasterStats {
    return {
      published: this.#published,
      sinks: this.#sinks.map((s) => ({
        sink: s.sink.name,
        delivered: s.delivered,
        failed: s.failed,
        dropped: s.dropped,
        pending: s.queue.length,
        busy: s.busy,
        ...(s.last ? { last: { ...s.last } } : {}),
      })),
    };
  }

  /** Resolves when every queue is empty and no delivery is running. */
  idle(): Promise<void> {
    return Promise.all(
      this.#sinks.map(
        (state) =>
          new Promise<void>((resolve) => {
            if (!state.busy && state.queue.length === 0) resolve();
            else state.idleWaiters.push(resolve);
          }),
      ),
    ).then(() => undefined);
  }

  /**
   * Stops accepting broadcasts, waits up to drainTimeoutMs for the queues to drain, records what is
   * still queued as dropped, then closes every sink (which aborts deliveries in progress).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#drainTimeoutMs)))]);
    clearTimeout(timer);
    for (const state of this.#sinks) {
      for (const entry of state.queue.splice(0)) this.#drop(state, entry, 'dropped: not delivered before shutdown');
    }
    await Promise.all(
      this.#sinks.map(async (state) => {
        try {
          await state.sink.close();
        } catch (error) {
          this.#log.warn({ event: 'broadcast.sink_close_failed', sink: state.sink.name, error: errorMessage(error) }, 'closing a broadcast sink failed');
        }
      }),
    );
  }

  async #pump(state: SinkState): Promise<void> {
    state.busy = true;
    for (let entry = state.queue.shift(); entry !== undefined; entry = state.queue.shift()) {
      const result = await this.#deliver(state.sink, entry.broadcast);
      entry.results.push(result);
      state.last = result;
      if (result.ok) state.delivered++;
      else state.failed++;
      this.#logResult(result.ok ? 'broadcast.delivered' : 'broadcast.failed', entry.broadcast, result);
    }
    state.busy = false;
    for (const resolve of state.idleWaiters.splice(0)) resolve();
  }

  /** deliver() must not throw or reject, but a broken sink must not stop its queue either. */
  async #deliver(sink: BroadcastSink, broadcast: ChannelBroadcast): Promise<DeliveryResult> {
    try {
      const result = await sink.deliver(broadcast);
      return { ...result, sink: sink.name };
    } catch (error) {
      return { sink: sink.name, ok: false, detail: `sink threw: ${errorMessage(error)}`, attempts: 1 };
    }
  }

  #drop(state: SinkState, entry: Entry, detail: string): void {
    const result: DeliveryResult = { sink: state.sink.name, ok: false, detail, attempts: 0 };
    entry.results.push(result);
    state.dropped++;
    state.last = result;
    this.#logResult('broadcast.dropped', entry.broadcast, result);
  }

  #logResult(event: 'broadcast.delivered' | 'broadcast.failed' | 'broadcast.dropped', broadcast: ChannelBroadcast, result: DeliveryResult): void {
    const fields = {
      event,
      sink: result.sink,
      sequence: broadcast.sequence,
      channelEvent: broadcast.event,
      channels: broadcast.names,
      detail: result.detail,
      attempts: result.attempts,
    };
    const message = `${broadcast.event} [${broadcast.names.join(',')}] #${broadcast.sequence} → ${result.sink}: ${result.detail}`;
    if (event === 'broadcast.delivered') this.#log.info(fields, message);
    else this.#log.warn(fields, message);
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
