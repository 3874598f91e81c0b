/**
 * What a WebSocket close frame may carry (RFC 6455 §5.5.1, §7.4): `ws` throws on a reason above
 * 123 bytes or a code it may not send, so every close that passes on a peer's code or a long
 * message goes through these.
 */

/** The most bytes of UTF-8 a close frame's reason may take (125-byte control payload − 2 for the code). */
export const MAX_CLOSE_REASON_BYTES = 123;

/** Codes a WebSocket close frame may carry; others become 1011. */
export function sendableCloseCode(code: number): number {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999) ? code : 1011;
}

/** `reason` cut to at most 123 bytes of UTF-8, at a character boundary. */
export function closeReason(reason: string): string {
  const bytes = Buffer.from(reason, 'utf8');
  if (bytes.length <= MAX_CLOSE_REASON_BYTES) return reason;
  let end = MAX_CLOSE_REASON_BYTES;
  // bytes[end] is the first byte left out: while it continues a character, that character goes too.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}
