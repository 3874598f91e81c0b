import type { Level as LogLevel } from 'pino';
import type { Logger } from './logger.js';

export interface LogRateLimitOptions {
  /** Lines let through per key per window; the rest are counted and summarised. */
  burst: number;
  windowMs: number;
  /** Keys tracked at once; past this, lines of new keys share one overflow key. */
  maxKeys: number;
}

/** 50 lines per event and peer uid per 10 s, then one `log.suppressed` line per key and window. */
export const LOG_RATE_LIMIT_DEFAULTS: LogRateLimitOptions = { burst: 50, windowMs: 10_000, maxKeys: 1024 };

const OVERFLOW_KEY = '*';

interface KeyState {
  event: string;
  peerUid: number | undefined;
  passed: number;
  suppressed: number;
}

/**
 * Bounds the log lines a peer can cause. Each line is keyed by its event and the peer's uid (a
 * peer opens as many connections, and so pids, as it likes; its uid is what it cannot change).
 * The first `burst` lines of a key in a window are written; the others are counted, and when the
 * window ends one `log.suppressed` line gives the count. Memory is bounded by `maxKeys`.
 */
export class RateLimitedLog {
  private readonly keys = new Map<string, KeyState>();
  private timer: NodeJS.Timeout | undefined;
  private readonly options: LogRateLimitOptions;

  constructor(
    private readonly log: Logger,
    options: Partial<LogRateLimitOptions> = {},
  ) {
    this.options = { ...LOG_RATE_LIMIT_DEFAULTS, ...options };
  }

  /**
   * True when a line of `event` about `peerUid` at `level` may be written now; counts it otherwise.
   * A line below the logger's level is neither written nor counted (no `log.suppressed` for lines
   * that would never have been printed).
   */
  allow(event: string, peerUid?: number, level: LogLevel = 'info'): boolean {
    if (!this.log.isLevelEnabled(level)) return false;
    let key = `${event}:${peerUid ?? ''}`;
    let state = this.keys.get(key);
    if (!state && this.keys.size >= this.options.maxKeys) {
      key = OVERFLOW_KEY;
      state = this.keys.get(key);
    }
    if (!state) {
      state = key === OVERFLOW_KEY ? { event: OVERFLOW_KEY, peerUid: undefined, passed: 0, suppressed: 0 } : { event, peerUid, passed: 0, suppressed: 0 };
      this.keys.set(key, state);
      this.startWindow();
    }
    if (state.passed < this.options.burst) {
      state.passed++;
      return true;
    }
    state.suppressed++;
    return false;
  }

  /** Writes the pending summaries now (daemon shutdown). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.endWindow();
  }

  private startWindow(): void {
    if (this.timer) return;
    // unref'd: a pending summary never keeps a stopping daemon alive (flush() writes it).
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.endWindow();
    }, this.options.windowMs).unref();
  }

  private endWindow(): void {
    const states = [...this.keys.values()];
    this.keys.clear();
    for (const state of states) {
      if (state.suppressed === 0) continue;
      this.log.warn(
        { event: 'log.suppressed', suppressedEvent: state.event, peerUid: state.peerUid, suppressed: state.suppressed, windowMs: this.options.windowMs },
        `${state.suppressed} more "${state.event}" lines suppressed in the last ${this.options.windowMs / 1000} s`,
      );
    }
  }
}
