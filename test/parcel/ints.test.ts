import { describe, it, expect } from 'vitest';
import { ParcelReader, ParcelWriter, Status, parcelErrorStatus } from '../../src/parcel/index.js';
import { expectParcelError, fromHex, toHex } from './helpers.js';

describe('integers', () => {
  it('are little-endian and round-trip at their limits', () => {
    const writer = new ParcelWriter()
      .writeInt32(-1)
      .writeInt32(-0x80000000)
      .writeInt32(0x7fffffff)
      .writeUint32(0xffffffff)
      .writeUint32(0x53595354)
      .writeInt64(-2n)
      .writeInt64(2n ** 63n - 1n)
      .writeInt64(0x0102030405060708n);
    expect(toHex(writer.toBuffer())).toBe(
      'ffffffff' + '00000080' + 'ffffff7f' + 'ffffffff' + '54535953' +
        'feffffffffffffff' + 'ffffffffffffff7f' + '0807060504030201',
    );
    const reader = new ParcelReader(writer.toBuffer());
    expect(reader.readInt32()).toBe(-1);
    expect(reader.readInt32()).toBe(-0x80000000);
    expect(reader.readInt32()).toBe(0x7fffffff);
    expect(reader.readUint32()).toBe(0xffffffff);
    expect(reader.readUint32()).toBe(0x53595354);
    expect(reader.readInt64()).toBe(-2n);
    expect(reader.readInt64()).toBe(2n ** 63n - 1n);
    expect(reader.readInt64()).toBe(0x0102030405060708n);
    expect(reader.remaining).toBe(0);
  });

  it('the writer refuses values that do not fit', () => {
    const writer = new ParcelWriter();
    expect(() => writer.writeInt32(2 ** 31)).toThrow(RangeError);
    expect(() => writer.writeInt32(-(2 ** 31) - 1)).toThrow(RangeError);
    expect(() => writer.writeInt32(1.5)).toThrow(RangeError);
    expect(() => writer.writeInt32(Number.NaN)).toThrow(RangeError);
    expect(() => writer.writeUint32(-1)).toThrow(RangeError);
    expect(() => writer.writeUint32(2 ** 32)).toThrow(RangeError);
    expect(() => writer.writeInt64(2n ** 63n)).toThrow(RangeError);
    expect(() => writer.writeInt64(-(2n ** 63n) - 1n)).toThrow(RangeError);
    expect(writer.dataSize).toBe(0);
  });

  it('short reads are TRUNCATED, name the offset, and do not move the cursor', () => {
    const reader = new ParcelReader(fromHex('01000000' + '020000'));
    expect(reader.readInt32()).toBe(1);
    const error = expectParcelError(reader, () => reader.readInt32(), 'TRUNCATED');
    expect(error.offset).toBe(4);
    expect(error.message).toBe('int32 at offset 4 needs 4 bytes but only 3 remain');
    expect(parcelErrorStatus(error.code)).toBe(Status.NOT_ENOUGH_DATA);
    expectParcelError(reader, () => reader.readUint32(), 'TRUNCATED');
    const wide = new ParcelReader(fromHex('01020304050607'));
    expectParcelError(wide, () => wide.readInt64(), 'TRUNCATED');
  });
});

describe('reader cursor', () => {
  it('position can be set within [0, dataSize] and reads follow it', () => {
    const reader = new ParcelReader(fromHex('01000000' + '02000000'));
    expect(reader.dataSize).toBe(8);
    reader.position = 4;
    expect(reader.remaining).toBe(4);
    expect(reader.readInt32()).toBe(2);
    reader.position = 0;
    expect(reader.readInt32()).toBe(1);
    reader.position = 8;
    expect(reader.remaining).toBe(0);
  });

  it('position refuses values outside the parcel', () => {
    const reader = new ParcelReader(fromHex('01000000'));
    expect(() => {
      reader.position = 5;
    }).toThrow(RangeError);
    expect(() => {
      reader.position = -1;
    }).toThrow(RangeError);
    expect(() => {
      reader.position = 1.5;
    }).toThrow(RangeError);
    expect(reader.position).toBe(0);
  });
});

describe('writer buffer', () => {
  it('writeBytes appends raw bytes without length or padding', () => {
    const writer = new ParcelWriter().writeBytes(Uint8Array.of(1, 2, 3)).writeInt32(-1);
    expect(writer.dataSize).toBe(7);
    expect(toHex(writer.toBuffer())).toBe('010203' + 'ffffffff');
  });

  it('grows past its initial capacity without losing bytes', () => {
    const writer = new ParcelWriter(16);
    for (let i = 0; i < 1000; i++) writer.writeInt32(i);
    writer.writeBytes(new Uint8Array(5000).fill(7));
    const reader = new ParcelReader(writer.toBuffer());
    for (let i = 0; i < 1000; i++) expect(reader.readInt32()).toBe(i);
    expect(reader.remaining).toBe(5000);
    expect(writer.toBuffer().at(-1)).toBe(7);
  });

  it('toBuffer is exact-size and earlier views stay valid after more writes', () => {
    const writer = new ParcelWriter(16).writeInt32(0x11223344);
    const first = writer.toBuffer();
    expect(first.length).toBe(4);
    for (let i = 0; i < 100; i++) writer.writeInt32(-1); // forces growth
    expect(toHex(first)).toBe('44332211');
    expect(writer.toBuffer().length).toBe(404);
    expect(toHex(writer.toBuffer().subarray(0, 4))).toBe('44332211');
  });

  it('methods chain', () => {
    const writer = new ParcelWriter();
    expect(writer.writeInt32(1)).toBe(writer);
    expect(writer.writeUint32(1)).toBe(writer);
    expect(writer.writeInt64(1n)).toBe(writer);
    expect(writer.writeString16('x')).toBe(writer);
    expect(writer.writeString16Array(['x'])).toBe(writer);
    expect(writer.writeInterfaceToken('x')).toBe(writer);
    expect(writer.writeFileDescriptor(1)).toBe(writer);
    expect(writer.writeBytes(new Uint8Array(4))).toBe(writer);
  });
});
