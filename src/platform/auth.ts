import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const TOKEN_ENV = 'ANBOX_OOB_TOKEN';

/** A fresh gateway token: 24 random bytes, base64url (32 characters). */
export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

/** An unguessable secret for one signaling URL: 32 random bytes, base64url. */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** A session id: 16 random bytes as hex, like a UUID without dashes. */
export function generateSessionId(): string {
  return randomBytes(16).toString('hex');
}

/**
 * Compares two secrets in constant time. Both sides are hashed first, so neither the content nor
 * the length of the expected value leaks through timing.
 */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}

export type AuthResult = { ok: true } | { ok: false; reason: string };

/**
 * Checks an `Authorization: Macaroon root=<token>` header, as the SDK sends it. The scheme is
 * compared case-insensitively (HTTP auth schemes are), the token exactly and in constant time.
 */
export function checkAuthorization(header: string | undefined, token: string): AuthResult {
  if (header === undefined || header.trim() === '') {
    return { ok: false, reason: 'missing Authorization header; send "Authorization: Macaroon root=<token>"' };
  }
  const match = /^\s*([A-Za-z][A-Za-z0-9._~+/-]*)\s+(.*)$/.exec(header);
  if (!match || match[1]!.toLowerCase() !== 'macaroon') {
    return { ok: false, reason: 'unsupported Authorization scheme; send "Authorization: Macaroon root=<token>"' };
  }
  const params = /^root=(\S+)\s*$/i.exec(match[2]!);
  if (!params) return { ok: false, reason: 'malformed Authorization header; send "Authorization: Macaroon root=<token>"' };
  if (!secretsEqual(params[1]!, token)) return { ok: false, reason: 'invalid token' };
  return { ok: true };
}
