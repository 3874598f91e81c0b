import type { Logger } from 'pino';

/**
 * Wraps a node-datachannel callback so nothing thrown inside it escapes: an exception thrown out
 * of a native callback aborts the whole process. The failure is logged with `context`.
 */
export function guarded<A extends unknown[]>(log: Logger, context: string, fn: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (error) {
      try {
        log.error({ err: error, where: context }, 'callback failed');
      } catch {
        // Logging itself failed; there is nowhere left to report to.
      }
    }
  };
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
