// Builds a parcel: a growable little-endian byte buffer plus the list of byte
// offsets of the flat objects in it (what binder_transaction_data.offsets carries).
// Bytes are only ever appended, so views handed out by toBuffer() stay valid.
// Bad arguments are programming errors and throw RangeError.

import { BINDER_TYPE_FD, FD_OBJECT_FLAGS_LIBGBINDER, FD_OBJECT_SIZE } from './constants.js';
import {
  INTERFACE_TOKEN_LAYOUTS,
  type InterfaceTokenLayout,
  type InterfaceTokenOverrides,
} from './interface-token.js';
import { NULL_LENGTH, string16PayloadSize } from './string16.js';

const INITIAL_CAPACITY = 128;
const INT32_MIN = -0x80000000;
const UINT32_MAX = 0xffffffff;

function checkInteger(value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${what} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

export class ParcelWriter {
  private buf: Buffer;
  private view: DataView;
  private size = 0;
  private readonly offsets: number[] = [];

  constructor(initialCapacity = INITIAL_CAPACITY) {
    this.buf = Buffer.alloc(Math.max(initialCapacity, 16));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Bytes written so far. */
  get dataSize(): number {
    return this.size;
  }

  /** Byte offsets of the flat objects written so far, in writing order. */
  get objectOffsets(): readonly number[] {
    return this.offsets;
  }

  /** The parcel data, exact size. A view of the writer's memory, not a copy. */
  toBuffer(): Buffer {
    return this.buf.subarray(0, this.size);
  }

  // int32 v
  writeInt32(value: number): this {
    checkInteger(value, INT32_MIN, 0x7fffffff, 'int32');
    const at = this.reserve(4);
    this.view.setInt32(at, value, true);
    return this;
  }

  // u32 v
  writeUint32(value: number): this {
    checkInteger(value, 0, UINT32_MAX, 'uint32');
    const at = this.reserve(4);
    this.view.setUint32(at, value, true);
    return this;
  }

  // int64 v (no alignment beyond 4, as in libbinder)
  writeInt64(value: bigint): this {
    if (BigInt.asIntN(64, value) !== value) throw new RangeError(`int64 out of range: ${value}`);
    const at = this.reserve(8);
    this.view.setBigInt64(at, value, true);
    return this;
  }

  // int32 N | u16[N] UTF-16LE | u16 0 | zero pad to 4      (null: int32 -1)
  writeString16(value: string | null): this {
    if (value === null) return this.writeInt32(NULL_LENGTH);
    const units = value.length; // JS strings are UTF-16: a surrogate pair is 2 units, as in Java
    const payload = string16PayloadSize(units);
    const at = this.reserve(4 + payload);
    this.view.setInt32(at, units, true);
    const written = this.buf.write(value, at + 4, 'utf16le');
    this.buf.fill(0, at + 4 + written, at + 4 + payload); // terminator and padding
    return this;
  }

  // int32 count | String16 x count      (null: int32 -1) — AIDL String[]
  writeString16Array(values: readonly string[] | null): this {
    if (values === null) return this.writeInt32(NULL_LENGTH);
    this.writeInt32(values.length);
    for (const value of values) this.writeString16(value);
    return this;
  }

  // api28: int32 policy                            | String16 descriptor
  // api29: int32 policy | int32 workSource         | String16 descriptor
  // api30: int32 policy | int32 workSource | u32 header | String16 descriptor
  // Ints default to INTERFACE_TOKEN_LAYOUTS[layout]; overrides may be given signed or unsigned.
  writeInterfaceToken(
    descriptor: string,
    layout: InterfaceTokenLayout = 'api30',
    overrides?: InterfaceTokenOverrides,
  ): this {
    const info = INTERFACE_TOKEN_LAYOUTS[layout];
    this.writeBits32(overrides?.strictModePolicy ?? info.defaultStrictModePolicy, 'strictModePolicy');
    if (info.defaultWorkSource !== null) {
      this.writeBits32(overrides?.workSource ?? info.defaultWorkSource, 'workSource');
    }
    if (info.defaultHeader !== null) {
      this.writeBits32(overrides?.header ?? info.defaultHeader, 'header');
    }
    return this.writeString16(descriptor);
  }

  // Flat fd object, 24 bytes (struct binder_fd_object, 64-bit ABI):
  //   u32 type = BINDER_TYPE_FD | u32 flags | u32 fd | u32 0 | u64 cookie
  // Its offset goes to objectOffsets. The kernel wants objects 4-byte aligned.
  writeFileDescriptor(fd: number, flags: number = FD_OBJECT_FLAGS_LIBGBINDER, cookie: bigint = 0n): this {
    checkInteger(fd, INT32_MIN, UINT32_MAX, 'fd');
    checkInteger(flags, 0, UINT32_MAX, 'fd object flags');
    if (BigInt.asUintN(64, cookie) !== cookie) throw new RangeError(`fd object cookie out of range: ${cookie}`);
    if (this.size % 4 !== 0) throw new RangeError(`fd object at unaligned offset ${this.size}`);
    const at = this.reserve(FD_OBJECT_SIZE);
    this.view.setUint32(at, BINDER_TYPE_FD, true);
    this.view.setUint32(at + 4, flags, true);
    this.view.setUint32(at + 8, fd >>> 0, true);
    this.view.setUint32(at + 12, 0, true);
    this.view.setBigUint64(at + 16, cookie, true);
    this.offsets.push(at);
    return this;
  }

  // Raw bytes as given: no length prefix and no padding (unlike Parcel.writeByteArray).
  // The caller keeps later fields 4-byte aligned if the peer expects that.
  writeBytes(bytes: Uint8Array): this {
    const at = this.reserve(bytes.byteLength);
    this.buf.set(bytes, at);
    return this;
  }

  /** A 32-bit word given either as int32 or uint32 (e.g. policy 0x80000000, workSource -1). */
  private writeBits32(value: number, what: string): void {
    checkInteger(value, INT32_MIN, UINT32_MAX, what);
    const at = this.reserve(4);
    this.view.setUint32(at, value >>> 0, true);
  }

  /**
   * Grows to fit `length` more bytes and returns the offset where they go. It may
   * replace this.buf and this.view, so call it before evaluating either.
   */
  private reserve(length: number): number {
    const at = this.size;
    const needed = at + length;
    if (needed > this.buf.byteLength) {
      const grown = Buffer.alloc(Math.max(needed, this.buf.byteLength * 2));
      this.buf.copy(grown, 0, 0, at);
      this.buf = grown;
      this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
    }
    this.size = needed;
    return at;
  }
}
