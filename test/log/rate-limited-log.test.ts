import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RateLimitedLog } from '../../src/log/rate-limited-log.js';

function capture(level: string): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

describe('RateLimitedLog', () => {
  it('passes the burst, then counts, and flush() writes one log.suppressed line with the count', () => {
    const { log, lines } = capture('info');
    const limiter = new RateLimitedLog(log, { burst: 3, windowMs: 60_000 });
    const passed = Array.from({ length: 10 }, () => limiter.allow('transaction.malformed', 1000, 'warn')).filter(Boolean).length;
    expect(passed).toBe(3);
    limiter.flush();
    expect(lines.filter((l) => l.event === 'log.suppressed')).toEqual([expect.objectContaining({ suppressed: 7 })]);
  });

  it('neither writes nor counts a line below the logger level: no log.suppressed for lines never printed', () => {
    const { log, lines } = capture('info');
    const limiter = new RateLimitedLog(log, { burst: 3, windowMs: 60_000 });
    const passed = Array.from({ length: 10 }, () => limiter.allow('connection.error', 1000, 'debug')).filter(Boolean).length;
    expect(passed).toBe(0);
    limiter.flush();
    expect(lines).toEqual([]);
  });
});
