import type { Logger } from '../log/logger.js';

/** What a guarded callback's failure is logged against (session id, channel, what it was doing). */
export interface GuardContext {
  /** What the callback does, e.g. "onMessage" or "sending the offer". */
  what: string;
  session?: string;
  channel?: string;
}

/**
 * Wraps a callback so that nothing throws out of it, and no promise it returns rejects unhandled.
 *
 * node-datachannel calls its callbacks from native code: an exception escaping one aborts the whole
 * process. Every callback handed to node-datachannel (and every ws/http handler on the platform's
 * hot path) goes through this; a failure is logged at error level against its session and channel,
 * and the platform keeps running.
 */
export function guard<A extends unknown[]>(log: Logger, context: GuardContext, fn: (...args: A) => void | Promise<void>): (...args: A) => void {
  return (...args: A): void => {
    try {
      const result = fn(...args);
      if (result instanceof Promise) result.catch((error: unknown) => reportFailure(log, context, error));
    } catch (error) {
      reportFailure(log, context, error);
    }
  };
}

/** Runs fn now, guarded like guard(); returns its result, or `fallback` when it threw. */
export function attempt<T>(log: Logger, context: GuardContext, fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch (error) {
    reportFailure(log, context, error);
    return fallback;
  }
}

function reportFailure(log: Logger, context: GuardContext, error: unknown): void {
  try {
    log.error({ event: 'platform.callback_failed', ...context, err: error }, `${context.what} failed; ignored so the platform keeps running`);
  } catch {
    // A logger that throws (a closed destination) must not take the process down either.
  }
}
