import type { ChannelBroadcast, ChannelEvent } from './types.js';

/** Timers the batcher uses; injectable for tests (defaults: the global setTimeout/clearTimeout). */
export interface BatcherTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const BATCH_WINDOW_DEFAULT_MS = 200;

export interface ChangeBatcherOptions {
  /**
   * How long changes are gathered, counted from the first change of a batch (not sliding: a
   * broadcast is never later than this after the change that opened its batch). Default 200 ms —
   * enough for a session's channels, which the platform opens together, to go out as one broadcast.
   * 0: no waiting, but changes reported in the same tick (one directory scan) still go together.
   */
  windowMs?: number;
  onBroadcast: (broadcast: ChannelBroadcast) => void;
  /** Unix time in ms for `timestamp`; default Date.now. */
  now?: () => number;
  timers?: BatcherTimers;
  /** Default 1. */
  firstSequence?: number;
}

const defaultTimers: BatcherTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** One channel's change, as the watcher reports it. */
export interface ChannelChange {
  event: ChannelEvent;
  name: string;
}

/**
 * Turns channel appearances and disappearances into broadcasts: changes within one window become one
 * `created` broadcast and/or one `destroyed` broadcast — more only when one channel changes more than
 * once in the window. Per channel the order is kept: a channel that appears and disappears within a
 * window yields created then destroyed; one that disappears and reappears yields destroyed then
 * created. Names within a broadcast are in the order they changed. Redundant changes (a channel
 * appearing while already present, or disappearing while absent) are ignored.
 */
export class ChangeBatcher {
  readonly #windowMs: number;
  readonly #onBroadcast: (broadcast: ChannelBroadcast) => void;
  readonly #now: () => number;
  readonly #timers: BatcherTimers;
  #nextSequence: number;
  #pending: ChannelChange[] = [];
  #timer: unknown = undefined;
  #closed = false;
  /** Channels as last reported (created and not destroyed since), including pending changes. */
  readonly #present = new Set<string>();

  constructor(options: ChangeBatcherOptions) {
    const windowMs = options.windowMs ?? BATCH_WINDOW_DEFAULT_MS;
    if (!Number.isFinite(windowMs) || windowMs < 0) throw new Error(`batch window must be ≥ 0 ms, not ${windowMs}`);
    this.#windowMs = windowMs;
    this.#onBroadcast = options.onBroadcast;
    this.#now = options.now ?? Date.now;
    this.#timers = options.timers ?? defaultTimers;
    this.#nextSequence = options.firstSequence ?? 1;
  }

  appeared(name: string): void {
    this.change('created', name);
  }

  disappeared(name: string): void {
    this.change('destroyed', name);
  }

  change(event: ChannelEvent, name: string): void {
    if (this.#closed) return;
    if (event === 'created' ? this.#present.has(name) : !this.#present.has(name)) return;
    if (event === 'created') this.#present.add(name);
    else this.#present.delete(name);
    this.#pending.push({ event, name });
    if (this.#timer === undefined) this.#timer = this.#timers.setTimeout(() => this.#flushFromTimer(), this.#windowMs);
  }

  /** The sequence number the next broadcast will get. */
  get nextSequence(): number {
    return this.#nextSequence;
  }

  /** Channels announced as created and not destroyed since (pending changes included). */
  present(): string[] {
    return [...this.#present];
  }

  /** Emits pending changes now. */
  flush(): void {
    if (this.#timer !== undefined) {
      this.#timers.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const changes = this.#pending;
    this.#pending = [];
    for (const group of groupChanges(changes)) {
      this.#onBroadcast({ sequence: this.#nextSequence++, event: group.event, names: group.names, timestamp: this.#now() });
    }
  }

  /** Flushes what is pending (unless `discard`) and ignores later changes. */
  close(options: { discard?: boolean } = {}): void {
    if (options.discard) this.#pending = [];
    this.flush();
    this.#closed = true;
  }

  #flushFromTimer(): void {
    this.#timer = undefined;
    this.flush();
  }
}

/**
 * Groups changes into as few broadcasts as possible without reordering any channel's own changes:
 * each change joins the earliest broadcast of its event that comes after the broadcast holding the
 * same channel's previous change; a new broadcast is appended when there is none.
 */
export function groupChanges(changes: readonly ChannelChange[]): { event: ChannelEvent; names: string[] }[] {
  const groups: { event: ChannelEvent; names: string[] }[] = [];
  const lastGroupOf = new Map<string, number>();
  for (const { event, name } of changes) {
    const earliest = (lastGroupOf.get(name) ?? -1) + 1;
    let index = groups.findIndex((group, i) => i >= earliest && group.event === event);
    if (index === -1) {
      groups.push({ event, names: [] });
      index = groups.length - 1;
    }
    groups[index].names.push(name);
    lastGroupOf.set(name, index);
  }
  return groups;
}
