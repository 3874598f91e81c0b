import { describe, expect, it } from 'vitest';
import { AuthRateLimiter, MAX_TRACKED_ADDRESSES } from '../../src/platform/gateway-limits.js';

describe('AuthRateLimiter', () => {
  it('holds at most MAX_TRACKED_ADDRESSES addresses, buckets and summary alike, however many a peer rotates through', () => {
    let now = 0;
    const limiter = new AuthRateLimiter({ burst: 1, perSecond: 1 }, { burst: 1e9, perSecond: 1e9 }, () => now);
    const rotated = MAX_TRACKED_ADDRESSES * 3;
    for (let i = 0; i < rotated; i++) {
      const address = `2001:db8::${i.toString(16)}`;
      if (limiter.admit(address).allowed) limiter.fail(address);
      now += 1;
    }
    const summary = limiter.takeSummary()!;
    expect(summary.failures).toBe(rotated);
    expect(summary.addresses).toBe(MAX_TRACKED_ADDRESSES);
    // The oldest bucket was dropped: its address is admitted again, the newest is still limited.
    expect(limiter.admit('2001:db8::0').allowed).toBe(true);
    expect(limiter.admit(`2001:db8::${(rotated - 1).toString(16)}`).allowed).toBe(false);
    expect(limiter.takeSummary()).toMatchObject({ limited: 1, addresses: 1 });
  });
});
