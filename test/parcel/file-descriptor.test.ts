import { describe, it, expect } from 'vitest';
import {
  BINDER_TYPE_FD,
  FD_OBJECT_FLAGS_LIBGBINDER,
  ParcelReader,
  ParcelWriter,
  Status,
  parcelErrorStatus,
} from '../../src/parcel/index.js';
import { GOLDEN, expectParcelError, fromHex, toHex } from './helpers.js';

/** BINDER_TYPE_BINDER, B_PACK_CHARS('s', 'b', '*', 0x85). */
const BINDER_TYPE_BINDER = 0x73622a85;

describe('fd objects', () => {
  it('Android 14+ form (flags 0, cookie 1) round-trips', () => {
    const writer = new ParcelWriter().writeFileDescriptor(42, 0, 1n);
    expect(toHex(writer.toBuffer())).toBe('852a6466' + '00000000' + '2a000000' + '00000000' + '0100000000000000');
    const reader = new ParcelReader(writer.toBuffer(), writer.objectOffsets);
    expect(reader.readFileDescriptor()).toEqual({ fd: 42, flags: 0, cookie: 1n });
  });

  it('records each object offset, also after other data', () => {
    const writer = new ParcelWriter().writeInt32(1).writeFileDescriptor(3).writeString16('x').writeFileDescriptor(4);
    expect(writer.objectOffsets).toEqual([4, 36]);
    const reader = new ParcelReader(writer.toBuffer(), writer.objectOffsets);
    expect(reader.readInt32()).toBe(1);
    expect(reader.readFileDescriptor().fd).toBe(3);
    expect(reader.readString16()).toBe('x');
    expect(reader.readFileDescriptor()).toEqual({ fd: 4, flags: FD_OBJECT_FLAGS_LIBGBINDER, cookie: 0n });
    expect(reader.remaining).toBe(0);
  });

  it('an object whose offset is not listed is OBJECT_NOT_LISTED', () => {
    for (const offsets of [[], [4], [1, 8]]) {
      const reader = new ParcelReader(fromHex(GOLDEN.fdReply), offsets);
      const error = expectParcelError(reader, () => reader.readFileDescriptor(), 'OBJECT_NOT_LISTED');
      expect(error.offset).toBe(0);
      expect(parcelErrorStatus(error.code)).toBe(Status.BAD_TYPE);
    }
  });

  it('a listed object of another type is BAD_OBJECT', () => {
    const bytes = fromHex(GOLDEN.fdReply);
    bytes.writeUInt32LE(BINDER_TYPE_BINDER, 0);
    const reader = new ParcelReader(bytes, [0]);
    const error = expectParcelError(reader, () => reader.readFileDescriptor(), 'BAD_OBJECT');
    expect(error.message).toContain('0x73622a85');
    expect(parcelErrorStatus(error.code)).toBe(Status.BAD_TYPE);
  });

  it('the offset list is checked before the type, as libbinder does', () => {
    const bytes = fromHex(GOLDEN.fdReply);
    bytes.writeUInt32LE(BINDER_TYPE_BINDER, 0);
    const reader = new ParcelReader(bytes, []);
    expectParcelError(reader, () => reader.readFileDescriptor(), 'OBJECT_NOT_LISTED');
  });

  it('what ParcelFileDescriptor.writeToParcel sends (int32 hasComm first) is not readable', () => {
    const writer = new ParcelWriter().writeInt32(0).writeFileDescriptor(5);
    const reader = new ParcelReader(writer.toBuffer(), writer.objectOffsets);
    expectParcelError(reader, () => reader.readFileDescriptor(), 'OBJECT_NOT_LISTED');
  });

  it('the fd number is read from the low 32 bits of the handle word', () => {
    const bytes = fromHex(GOLDEN.fdReply);
    bytes.writeUInt32LE(0xdeadbeef, 12);
    expect(new ParcelReader(bytes, [0]).readFileDescriptor().fd).toBe(5);
    expect(BINDER_TYPE_FD).toBe(bytes.readUInt32LE(0));
  });

  it('the writer refuses unaligned objects and out-of-range fields', () => {
    expect(() => new ParcelWriter().writeBytes(new Uint8Array(1)).writeFileDescriptor(5)).toThrow(RangeError);
    expect(() => new ParcelWriter().writeFileDescriptor(5, 0, -1n)).toThrow(RangeError);
    expect(() => new ParcelWriter().writeFileDescriptor(5, 0, 2n ** 64n)).toThrow(RangeError);
    expect(() => new ParcelWriter().writeFileDescriptor(5, -1)).toThrow(RangeError);
    expect(() => new ParcelWriter().writeFileDescriptor(2 ** 32)).toThrow(RangeError);
    const writer = new ParcelWriter();
    expect(() => writer.writeFileDescriptor(1.5)).toThrow(RangeError);
    expect(writer.objectOffsets).toEqual([]);
    expect(writer.dataSize).toBe(0);
  });
});
