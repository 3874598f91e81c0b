import { describe, it, expect } from 'vitest';
import { ParcelReader, ParcelWriter, Status, parcelErrorStatus } from '../../src/parcel/index.js';
import { GOLDEN, expectParcelError, fromHex, toHex } from './helpers.js';

function encode(value: string | null): string {
  return toHex(new ParcelWriter().writeString16(value).toBuffer());
}

function decode(hex: string): string | null {
  const reader = new ParcelReader(fromHex(hex));
  const value = reader.readString16();
  expect(reader.remaining).toBe(0);
  return value;
}

describe('String16 encoding', () => {
  it.each([
    ['null', null, 'ffffffff'],
    ['empty', '', '00000000' + '00000000'],
    ['one unit (no padding)', 'a', '01000000' + '6100' + '0000'],
    ['two units (2 bytes of padding)', 'ab', '02000000' + '61006200' + '0000' + '0000'],
    ['three units', 'foo', '03000000' + '66006f006f00' + '0000'],
    ['a surrogate pair is two units', '😀', '02000000' + '3dd800de' + '0000' + '0000'],
    ['BMP non-ASCII', 'ü世', '02000000' + 'fc00164e' + '0000' + '0000'],
  ])('%s', (_name, value, hex) => {
    expect(encode(value)).toBe(hex);
    expect(decode(hex)).toBe(value);
  });

  it('keeps lone surrogates, as Java chars do', () => {
    const value = 'x\ud800y\udc00';
    expect(encode(value)).toBe('04000000' + '780000d8790000dc' + '0000' + '0000');
    expect(decode(encode(value))).toBe(value);
  });

  it('round-trips long strings across buffer growth', () => {
    const value = 'Grüße, 世界 😀 '.repeat(300);
    const writer = new ParcelWriter(16).writeInt32(1).writeString16(value).writeString16('tail');
    const reader = new ParcelReader(writer.toBuffer());
    expect(reader.readInt32()).toBe(1);
    expect(reader.readString16()).toBe(value);
    expect(reader.readString16()).toBe('tail');
    expect(reader.remaining).toBe(0);
  });

  it('reads from a plain Uint8Array that is a window into a larger buffer', () => {
    const bytes = fromHex('deadbeef' + '03000000' + '66006f006f00' + '0000' + 'cafe');
    const window = new Uint8Array(bytes.buffer, bytes.byteOffset + 4, 12);
    const reader = new ParcelReader(window);
    expect(reader.readString16()).toBe('foo');
    expect(reader.remaining).toBe(0);
  });
});

describe('String16 errors', () => {
  it('a length below -1 is NEGATIVE_LENGTH', () => {
    for (const length of ['feffffff', '00000080']) {
      const reader = new ParcelReader(fromHex(length + '00000000'));
      const error = expectParcelError(reader, () => reader.readString16(), 'NEGATIVE_LENGTH');
      expect(error.offset).toBe(0);
      expect(parcelErrorStatus(error.code)).toBe(Status.BAD_VALUE);
    }
  });

  it('a non-zero terminator is MISSING_TERMINATOR, reported at the terminator', () => {
    const reader = new ParcelReader(fromHex('03000000' + '66006f006f00' + '2100'));
    const error = expectParcelError(reader, () => reader.readString16(), 'MISSING_TERMINATOR');
    expect(error.offset).toBe(10);
    expect(error.message).toContain('offset 10');
  });

  it('a lying length is LENGTH_TOO_LARGE and says how much is left', () => {
    // The api29 golden request with the descriptor length at offset 8 changed to 1000.
    const bytes = fromHex(GOLDEN.api29);
    bytes.writeInt32LE(1000, 8);
    const reader = new ParcelReader(bytes);
    reader.position = 8;
    const error = expectParcelError(reader, () => reader.readString16(), 'LENGTH_TOO_LARGE');
    expect(error.message).toContain('String16 at offset 8 claims 1000 UTF-16 units but only 92 bytes remain');
    expect(error.offset).toBe(8);
  });

  it('INT32_MAX units does not overflow the size computation', () => {
    const reader = new ParcelReader(fromHex('ffffff7f' + '0000'.repeat(8)));
    expectParcelError(reader, () => reader.readString16(), 'LENGTH_TOO_LARGE');
  });

  it('the padding must be inside the parcel (as libbinder requires)', () => {
    const reader = new ParcelReader(fromHex('02000000' + '61006200' + '0000'));
    expectParcelError(reader, () => reader.readString16(), 'LENGTH_TOO_LARGE');
  });

  it('a length word cut short is TRUNCATED', () => {
    for (const hex of ['', '03', '0300', '030000']) {
      const reader = new ParcelReader(fromHex(hex));
      expectParcelError(reader, () => reader.readString16(), 'TRUNCATED');
    }
  });

  it('a failed read leaves the cursor where it was, mid-parcel', () => {
    const reader = new ParcelReader(fromHex('07000000' + 'feffffff'));
    expect(reader.readInt32()).toBe(7);
    expectParcelError(reader, () => reader.readString16(), 'NEGATIVE_LENGTH');
    expect(reader.position).toBe(4);
    expect(reader.readInt32()).toBe(-2);
  });
});

describe('String16 arrays (AIDL String[])', () => {
  it('encodes count then elements, and reads them back', () => {
    const writer = new ParcelWriter().writeString16Array(['a', '', '😀']);
    expect(toHex(writer.toBuffer())).toBe(
      '03000000' + '01000000' + '61000000' + '00000000' + '00000000' + '02000000' + '3dd800de00000000',
    );
    const reader = new ParcelReader(writer.toBuffer());
    expect(reader.readString16Array()).toEqual(['a', '', '😀']);
    expect(reader.remaining).toBe(0);
  });

  it('null and empty arrays', () => {
    expect(toHex(new ParcelWriter().writeString16Array(null).toBuffer())).toBe('ffffffff');
    expect(toHex(new ParcelWriter().writeString16Array([]).toBuffer())).toBe('00000000');
    expect(new ParcelReader(fromHex('ffffffff')).readString16Array()).toBeNull();
    const empty = new ParcelReader(fromHex('00000000'));
    expect(empty.readString16Array()).toEqual([]);
    expect(empty.position).toBe(4);
  });

  it('a count below -1 is NEGATIVE_LENGTH', () => {
    const reader = new ParcelReader(fromHex('fdffffff'));
    expectParcelError(reader, () => reader.readString16Array(), 'NEGATIVE_LENGTH');
  });

  it('a count larger than remaining/4 is refused before any allocation', () => {
    const reader = new ParcelReader(fromHex('ffffff7f' + '00000000'.repeat(3)));
    const error = expectParcelError(reader, () => reader.readString16Array(), 'LENGTH_TOO_LARGE');
    expect(error.message).toContain('2147483647 elements');
    // The bound is the wire's smallest element (4 bytes): with 16 bytes left, 5 elements
    // are refused up front, 4 pass the bound and fail on the elements themselves.
    const twoEmpty = '00000000' + '00000000' + '00000000' + '00000000';
    expect(new ParcelReader(fromHex('02000000' + twoEmpty)).readString16Array()).toEqual(['', '']);
    const over = new ParcelReader(fromHex('05000000' + twoEmpty));
    expectParcelError(over, () => over.readString16Array(), 'LENGTH_TOO_LARGE');
    const atBound = new ParcelReader(fromHex('04000000' + twoEmpty));
    expectParcelError(atBound, () => atBound.readString16Array(), 'TRUNCATED');
  });

  it('a bad element fails the whole array and leaves the cursor alone', () => {
    const bytes = new ParcelWriter().writeInt32(9).writeString16Array(['hello world', 'x']).toBuffer();
    bytes.writeInt32LE(3, 4); // claim a third element that is not there
    const reader = new ParcelReader(bytes);
    expect(reader.readInt32()).toBe(9);
    const error = expectParcelError(reader, () => reader.readString16Array(), 'TRUNCATED');
    expect(error.offset).toBe(bytes.length);
  });

  it('a null element is refused (non-nullable String[] as in native AIDL)', () => {
    const bytes = new ParcelWriter().writeInt32(2).writeString16('a').writeString16(null).toBuffer();
    const reader = new ParcelReader(bytes);
    const error = expectParcelError(reader, () => reader.readString16Array(), 'NEGATIVE_LENGTH');
    expect(error.offset).toBe(12);
    expect(error.message).toContain('element 1');
  });
});
