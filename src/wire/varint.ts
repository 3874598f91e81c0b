// The one protobuf varint reader (frame-check's walk and envelope-fast's peeks both use it).
// Pure. It either reads a whole varint and moves the cursor past it, or fails and leaves the
// cursor where it was, so a caller that falls back to another decoder, or names the offset in
// an error, still has the varint's start.

/** Longest varint protobuf allows: 64 bits in groups of 7. */
export const MAX_VARINT_BYTES = 10;

/** The varint runs past `end`. */
export const VARINT_TRUNCATED = -1;
/** The varint is longer than the allowed bytes, or its value is above the allowed maximum. */
export const VARINT_TOO_LONG = -2;

/** A read position; readVarint moves `at` past a varint it read whole. */
export interface Cursor {
  at: number;
}

/**
 * The varint at bytes[cursor.at, end): its value (exact up to 2^53; a longer one is only ever
 * compared with byte counts, which it exceeds either way), or VARINT_TRUNCATED / VARINT_TOO_LONG
 * with the cursor untouched. `maxBytes` bounds its length, `maxValue` its value.
 */
export function readVarint(bytes: Uint8Array, cursor: Cursor, end: number, maxBytes: number = MAX_VARINT_BYTES, maxValue: number = Infinity): number {
  const start = cursor.at;
  let value = 0;
  let scale = 1;
  for (let i = 0; i < maxBytes; i++) {
    if (start + i >= end) return VARINT_TRUNCATED;
    const byte = bytes[start + i]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      if (value > maxValue) return VARINT_TOO_LONG;
      cursor.at = start + i + 1;
      return value;
    }
    scale *= 128;
  }
  return VARINT_TOO_LONG;
}

/** A varint of at most 5 bytes whose value fits a uint32 (the fast paths' limit), or a negative code. */
export function readVarint32(bytes: Uint8Array, cursor: Cursor, end: number = bytes.length): number {
  return readVarint(bytes, cursor, end, 5, 0xffffffff);
}
