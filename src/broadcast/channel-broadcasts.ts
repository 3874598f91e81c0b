import type { Logger } from '../log/logger.js';
import { BATCH_WINDOW_DEFAULT_MS, ChangeBatcher } from './batcher.js';
import { Broadcaster, type BroadcasterStats, type RecentBroadcast } from './broadcaster.js';
import { SocketDirWatcher } from './socket-dir-watcher.js';
import type { BroadcastSink, ChannelBroadcast } from './types.js';

/** At most this long for the last look at the socket dir when closing. */
export const FINAL_SCAN_MS = 500;

export interface ChannelBroadcastsOptions {
  socketDir: string;
  logger: Logger;
  /** Where broadcasts go (adb, hook, local receivers); more can be added later with addSink(). */
  sinks?: readonly BroadcastSink[];
  /** Batch window, default 200 ms (see ChangeBatcher). */
  batchWindowMs?: number;
  /** Full rescan period of the socket dir, default 1 s (see SocketDirWatcher). */
  rescanIntervalMs?: number;
  /** Pending broadcasts per sink, default 100 (see Broadcaster). */
  queueLimit?: number;
  /** Broadcasts kept for status, default 50. */
  recentLimit?: number;
  /** Called with every broadcast as it is formed (before delivery), e.g. for metrics. */
  onBroadcast?: (broadcast: ChannelBroadcast) => void;
}

/**
 * The whole broadcast path for the daemon: SocketDirWatcher → ChangeBatcher → Broadcaster → sinks.
 * `start()` announces the channels present at start-up (one `created` broadcast) and keeps watching.
 */
export class ChannelBroadcasts {
  readonly watcher: SocketDirWatcher;
  readonly batcher: ChangeBatcher;
  readonly broadcaster: Broadcaster;
  readonly #log: Logger;
  #closed = false;

  private constructor(options: ChannelBroadcastsOptions) {
    this.#log = options.logger.child({ component: 'broadcasts' });
    this.broadcaster = new Broadcaster({ logger: this.#log, sinks: options.sinks, queueLimit: options.queueLimit, recentLimit: options.recentLimit });
    this.batcher = new ChangeBatcher({
      windowMs: options.batchWindowMs ?? BATCH_WINDOW_DEFAULT_MS,
      onBroadcast: (broadcast) => {
        try {
          options.onBroadcast?.(broadcast);
        } catch (error) {
          this.#log.warn({ event: 'broadcast.observer_failed', error: (error as Error).message }, 'an onBroadcast observer threw');
        }
        this.broadcaster.publish(broadcast);
      },
    });
    this.watcher = new SocketDirWatcher({ socketDir: options.socketDir, logger: this.#log, rescanIntervalMs: options.rescanIntervalMs });
    this.watcher.on('appeared', (name) => this.batcher.appeared(name));
    this.watcher.on('disappeared', (name) => this.batcher.disappeared(name));
  }

  static async start(options: ChannelBroadcastsOptions): Promise<ChannelBroadcasts> {
    const broadcasts = new ChannelBroadcasts(options);
    await broadcasts.watcher.start();
    return broadcasts;
  }

  addSink(sink: BroadcastSink): void {
    this.broadcaster.addSink(sink);
  }

  /** Channels that exist now (live listening sockets in the socket dir), sorted. */
  channels(): string[] {
    return this.watcher.channels();
  }

  recent(): RecentBroadcast[] {
    return this.broadcaster.recent();
  }

  stats(): BroadcasterStats {
    return this.broadcaster.stats();
  }

  /**
   * Looks at the socket dir one last time, stops watching, sends what is batched (with the last
   * look's changes), lets the queues drain briefly (BROADCASTER_DEFAULTS.drainTimeoutMs), closes the
   * sinks. The last look matters on `serve`'s shutdown: the platform has just removed its channel
   * sockets, and without it the `destroyed` broadcast would be lost with the watcher's delay, leaving
   * listeners and device apps believing the channels still exist. It is bounded (FINAL_SCAN_MS).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.watcher.rescan().catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, FINAL_SCAN_MS)))]);
    clearTimeout(timer);
    this.watcher.close();
    this.batcher.close();
    await this.broadcaster.close();
  }
}
