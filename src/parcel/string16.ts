// String16 sizing and decoding, shared by the reader and the interface-token
// detector (which must try a parse at several offsets without moving a cursor).
//
// Layout (Java Parcel.writeString / libbinder writeString16, API 28-35):
//
//   int32   N                 UTF-16 code units, or -1 for null
//   u16[N]  units             UTF-16LE, surrogate pairs count as 2 units
//   u16     0                 terminator
//   u8[]    0...              zero padding to a multiple of 4
//
// Total 4 + align4(2N + 2) bytes; null is the bare int32 -1.

import { ParcelError } from './parcel-error.js';

export const NULL_LENGTH = -1;

/** Rounds up to a multiple of 4 without 32-bit bit tricks (2N + 2 can exceed 2^31). */
export function align4(n: number): number {
  const rest = n % 4;
  return rest === 0 ? n : n + (4 - rest);
}

/** Bytes the payload after the length word takes: units, terminator, padding. */
export function string16PayloadSize(units: number): number {
  return align4(units * 2 + 2);
}

export interface Decoded<T> {
  readonly value: T;
  /** Offset of the first byte after the decoded field (padding included). */
  readonly end: number;
}

/**
 * Decodes the String16 at `offset`. Throws ParcelError and touches nothing on failure.
 *
 * A length that points past the end of the data is LENGTH_TOO_LARGE, not TRUNCATED:
 * a parcel arrives whole (the transport frames it), so its end is authoritative and
 * the length word is the field that is wrong. TRUNCATED is kept for a length word
 * that itself does not fit. Like libbinder's readInplace, the padding must be inside
 * the data too; its bytes are not checked (libbinder does not either).
 */
export function decodeString16(buf: Buffer, view: DataView, offset: number): Decoded<string | null> {
  const available = view.byteLength - offset;
  if (available < 4) {
    throw new ParcelError(
      'TRUNCATED',
      offset,
      `String16 at offset ${offset} needs a 4-byte length but only ${Math.max(available, 0)} bytes remain`,
    );
  }
  const units = view.getInt32(offset, true);
  if (units === NULL_LENGTH) return { value: null, end: offset + 4 };
  if (units < 0) {
    throw new ParcelError(
      'NEGATIVE_LENGTH',
      offset,
      `String16 at offset ${offset} has length ${units}; only -1 (null) may be negative`,
    );
  }
  const payload = string16PayloadSize(units);
  const left = available - 4;
  if (payload > left) {
    throw new ParcelError(
      'LENGTH_TOO_LARGE',
      offset,
      `String16 at offset ${offset} claims ${units} UTF-16 units but only ${left} bytes remain ` +
        `(needs ${payload} with terminator and padding)`,
    );
  }
  const start = offset + 4;
  const terminatorAt = start + units * 2;
  const terminator = view.getUint16(terminatorAt, true);
  if (terminator !== 0) {
    throw new ParcelError(
      'MISSING_TERMINATOR',
      terminatorAt,
      `String16 at offset ${offset} (${units} units) has 0x${terminator.toString(16).padStart(4, '0')} ` +
        `at offset ${terminatorAt} where the 0 terminator belongs`,
    );
  }
  // 'utf16le' keeps lone surrogates as they are, like Java's char[]; TextDecoder would not.
  return { value: buf.toString('utf16le', start, terminatorAt), end: start + payload };
}
