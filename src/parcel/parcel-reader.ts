// Reads a parcel. Every read either succeeds and moves the cursor past the field,
// or throws ParcelError and leaves the cursor where it was. The input is never
// copied; strings are decoded straight from it.

import { BINDER_TYPE_FD, FD_OBJECT_SIZE } from './constants.js';
import { detectInterfaceToken } from './interface-token-detect.js';
import type { InterfaceToken } from './interface-token.js';
import { ParcelError } from './parcel-error.js';
import { NULL_LENGTH, decodeString16 } from './string16.js';

export interface FileDescriptorObject {
  /** The descriptor number as written in the object (signed, like libbinder's int). */
  readonly fd: number;
  readonly flags: number;
  readonly cookie: bigint;
}

export class ParcelReader {
  private readonly buf: Buffer;
  private readonly view: DataView;
  private readonly offsets: readonly number[];
  private pos = 0;

  /** `objectOffsets`: byte offsets of the flat objects, as binder_transaction_data lists them. */
  constructor(data: Uint8Array, objectOffsets: readonly number[] = []) {
    this.buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.offsets = objectOffsets;
  }

  get dataSize(): number {
    return this.view.byteLength;
  }

  get objectOffsets(): readonly number[] {
    return this.offsets;
  }

  get position(): number {
    return this.pos;
  }

  /** Like Parcel.setDataPosition; anything outside [0, dataSize] is a programming error. */
  set position(value: number) {
    if (!Number.isInteger(value) || value < 0 || value > this.view.byteLength) {
      throw new RangeError(`position must be an integer in [0, ${this.view.byteLength}], got ${value}`);
    }
    this.pos = value;
  }

  get remaining(): number {
    return this.view.byteLength - this.pos;
  }

  readInt32(): number {
    const value = this.view.getInt32(this.need(4, 'int32'), true);
    this.pos += 4;
    return value;
  }

  readUint32(): number {
    const value = this.view.getUint32(this.need(4, 'uint32'), true);
    this.pos += 4;
    return value;
  }

  readInt64(): bigint {
    const value = this.view.getBigInt64(this.need(8, 'int64'), true);
    this.pos += 8;
    return value;
  }

  /** Java Parcel.readString: null for length -1. Errors: see decodeString16. */
  readString16(): string | null {
    const { value, end } = decodeString16(this.buf, this.view, this.pos);
    this.pos = end;
    return value;
  }

  /**
   * AIDL String[]: int32 count (-1 = null array), then count String16s. Elements
   * must not be null, as for native AIDL's non-nullable String16 vector; a null
   * element is reported as NEGATIVE_LENGTH at the element's offset.
   */
  readString16Array(): string[] | null {
    const start = this.pos;
    const count = this.view.getInt32(this.need(4, 'String16[] count'), true);
    if (count === NULL_LENGTH) {
      this.pos += 4;
      return null;
    }
    if (count < 0) {
      throw new ParcelError(
        'NEGATIVE_LENGTH',
        start,
        `String16[] at offset ${start} has count ${count}; only -1 (null) may be negative`,
      );
    }
    // Each element takes at least 4 bytes: refuse lying counts before allocating.
    const left = this.remaining - 4;
    if (count > left / 4) {
      throw new ParcelError(
        'LENGTH_TOO_LARGE',
        start,
        `String16[] at offset ${start} claims ${count} elements but only ${left} bytes remain ` +
          `(needs at least ${count * 4})`,
      );
    }
    const values: string[] = [];
    let at = start + 4;
    for (let i = 0; i < count; i++) {
      const element = decodeString16(this.buf, this.view, at);
      if (element.value === null) {
        throw new ParcelError(
          'NEGATIVE_LENGTH',
          at,
          `String16[] at offset ${start}: element ${i} at offset ${at} is null (-1); elements must not be null`,
        );
      }
      values.push(element.value);
      at = element.end;
    }
    this.pos = at;
    return values;
  }

  /**
   * Parcel.readFileDescriptor: the flat fd object must start at the cursor, the cursor
   * must be listed in objectOffsets (libbinder refuses unlisted objects), and its type
   * must be BINDER_TYPE_FD. Checked in that order, as libbinder's readObject does.
   *
   *   u32 type | u32 flags | u32 fd | u32 (ignored) | u64 cookie
   */
  readFileDescriptor(): FileDescriptorObject {
    const at = this.need(FD_OBJECT_SIZE, 'fd object');
    if (!this.offsets.includes(at)) {
      throw new ParcelError(
        'OBJECT_NOT_LISTED',
        at,
        `no object is listed at offset ${at} (object offsets: [${this.offsets.join(', ')}])`,
      );
    }
    const type = this.view.getUint32(at, true);
    if (type !== BINDER_TYPE_FD) {
      throw new ParcelError(
        'BAD_OBJECT',
        at,
        `object at offset ${at} has type 0x${type.toString(16).padStart(8, '0')}, ` +
          `expected BINDER_TYPE_FD 0x${BINDER_TYPE_FD.toString(16)}`,
      );
    }
    const flags = this.view.getUint32(at + 4, true);
    const fd = this.view.getInt32(at + 8, true);
    const cookie = this.view.getBigUint64(at + 16, true);
    this.pos = at + FD_OBJECT_SIZE;
    return { fd, flags, cookie };
  }

  /** Reads whichever interface-token layout fits best (see interface-token-detect.ts). */
  readInterfaceToken(): InterfaceToken {
    const { value, end } = detectInterfaceToken(this.buf, this.view, this.pos);
    this.pos = end;
    return value;
  }

  /**
   * Parcel::enforceInterface: reads the token and requires `expected` as its descriptor.
   * Throws WRONG_INTERFACE naming both descriptors, or BAD_INTERFACE_TOKEN.
   */
  enforceInterface(expected: string): InterfaceToken {
    const { value, end } = detectInterfaceToken(this.buf, this.view, this.pos, expected);
    this.pos = end;
    return value;
  }

  /** Returns the cursor if `length` bytes are left there, else throws TRUNCATED. */
  private need(length: number, what: string): number {
    const left = this.remaining;
    if (left < length) {
      throw new ParcelError(
        'TRUNCATED',
        this.pos,
        `${what} at offset ${this.pos} needs ${length} bytes but only ${left} remain`,
      );
    }
    return this.pos;
  }
}
