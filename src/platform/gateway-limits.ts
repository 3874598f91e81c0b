import { readFileSync } from 'node:fs';

/**
 * The bounds of the gateway (HTTP server and signaling WebSockets): what any local uid, page or
 * browser can make the platform hold without a token. Every value here is in the README's
 * "Security model".
 */

/** Connections the gateway holds at once (HTTP and WebSocket); more are accepted and closed at once. */
export const DEFAULT_GATEWAY_MAX_CONNECTIONS = 256;
/** A gateway connection that sends nothing for this long is closed (HTTP keep-alive and half-sent requests). */
export const DEFAULT_GATEWAY_IDLE_TIMEOUT_MS = 30_000;
/** The request headers must arrive within this. */
export const GATEWAY_HEADERS_TIMEOUT_MS = 20_000;
/** A whole request (headers and body) must arrive within this. */
export const GATEWAY_REQUEST_TIMEOUT_MS = 30_000;
/** How often Node checks the two timeouts above. */
export const GATEWAY_TIMEOUT_CHECK_MS = 5_000;
/** An idle keep-alive connection is closed after this. */
export const GATEWAY_KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** A signaling WebSocket must start its session (settings or offer) within this. */
export const SIGNALING_SETUP_TIMEOUT_MS = 30_000;
/** Signaling WebSockets are pinged this often; one that has not answered the previous ping is closed. */
export const SIGNALING_PING_INTERVAL_MS = 30_000;
/**
 * Descriptors kept free for the rest of the process (the data-proxy service socket, channel
 * sockets, node-datachannel, log files): the gateway's cap is at most the soft RLIMIT_NOFILE minus this.
 */
export const DESCRIPTOR_RESERVE = 256;

/** Given tokens shorter than this are refused: every local uid and web page can try tokens. */
export const MIN_TOKEN_LENGTH = 16;

/** Failed token checks one source address may make in a burst, and then per second. */
export const AUTH_FAILURES_PER_ADDRESS = { burst: 10, perSecond: 1 };
/** Failed token checks all addresses together may make in a burst, and then per second. */
export const AUTH_FAILURES_OVERALL = { burst: 50, perSecond: 5 };
/** Source addresses whose failures are remembered; the quietest is forgotten first. */
export const MAX_TRACKED_ADDRESSES = 4096;
/** Failed token checks are logged as one summary line per this interval. */
export const AUTH_SUMMARY_INTERVAL_MS = 10_000;

/** The soft and hard RLIMIT_NOFILE of this process, from /proc/self/limits; undefined where unknown. */
export function descriptorLimits(): { soft: number; hard: number } | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const match = line && /^Max open files\s+(\S+)\s+(\S+)/.exec(line);
    if (!match) return undefined;
    const value = (text: string) => (text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text));
    return { soft: value(match[1]!), hard: value(match[2]!) };
  } catch {
    return undefined;
  }
}

/**
 * The connection cap actually used: the requested one, lowered so that DESCRIPTOR_RESERVE
 * descriptors (and at least half the soft limit) stay free for everything else.
 */
export function effectiveMaxConnections(requested: number, softLimit: number | undefined): number {
  if (softLimit === undefined || !Number.isFinite(softLimit)) return requested;
  const room = Math.min(softLimit - DESCRIPTOR_RESERVE, Math.floor(softLimit / 2));
  return Math.max(1, Math.min(requested, room));
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export type AuthAdmission = { allowed: true } | { allowed: false; retryAfterSeconds: number; scope: 'address' | 'overall' };

/**
 * Token buckets of failed token checks, per source address and overall. A request is checked with
 * admit() before its token is compared; a failed comparison costs one token (fail()). While a
 * bucket is empty, requests get 429 without their token being looked at, so guessing runs at most
 * at the refill rate. Successful requests cost nothing.
 */
export class AuthRateLimiter {
  private readonly addresses = new Map<string, Bucket>();
  private readonly overall: Bucket;
  /** Since the last summary; distinct addresses counted up to MAX_TRACKED_ADDRESSES (a peer rotating source addresses would grow the set with every request). */
  private counts = { failures: 0, limited: 0, addresses: new Set<string>() };

  constructor(
    private readonly perAddress = AUTH_FAILURES_PER_ADDRESS,
    private readonly total = AUTH_FAILURES_OVERALL,
    private readonly now: () => number = Date.now,
  ) {
    this.overall = { tokens: total.burst, updatedAt: now() };
  }

  admit(address: string): AuthAdmission {
    const overall = this.refill(this.overall, this.total);
    const own = this.addresses.get(address);
    if (own && this.refill(own, this.perAddress).tokens < 1) return this.limited(address, own, this.perAddress, 'address');
    if (overall.tokens < 1) return this.limited(address, overall, this.total, 'overall');
    return { allowed: true };
  }

  fail(address: string): void {
    this.counts.failures++;
    this.countAddress(address);
    this.refill(this.overall, this.total).tokens -= 1;
    let own = this.addresses.get(address);
    if (own) {
      this.addresses.delete(address); // re-inserted last: the map's order is least recently failed first
    } else {
      own = { tokens: this.perAddress.burst, updatedAt: this.now() };
      if (this.addresses.size >= MAX_TRACKED_ADDRESSES) this.addresses.delete(this.addresses.keys().next().value!);
    }
    this.refill(own, this.perAddress).tokens -= 1;
    this.addresses.set(address, own);
  }

  /** What happened since the last call: failed checks, requests refused with 429, distinct addresses. */
  takeSummary(): { failures: number; limited: number; addresses: number } | undefined {
    const { failures, limited, addresses } = this.counts;
    this.counts = { failures: 0, limited: 0, addresses: new Set() };
    return failures + limited === 0 ? undefined : { failures, limited, addresses: addresses.size };
  }

  private countAddress(address: string): void {
    if (this.counts.addresses.size < MAX_TRACKED_ADDRESSES) this.counts.addresses.add(address);
  }

  private limited(address: string, bucket: Bucket, rate: { perSecond: number }, scope: 'address' | 'overall'): AuthAdmission {
    this.counts.limited++;
    this.countAddress(address);
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / rate.perSecond)), scope };
  }

  private refill(bucket: Bucket, rate: { burst: number; perSecond: number }): Bucket {
    const now = this.now();
    bucket.tokens = Math.min(rate.burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * rate.perSecond);
    bucket.updatedAt = now;
    return bucket;
  }
}
