// The shared varint reader: whole varints move the cursor, failures leave it where it was.
import { describe, expect, it } from 'vitest';
import { MAX_VARINT_BYTES, readVarint, readVarint32, VARINT_TOO_LONG, VARINT_TRUNCATED } from '../../src/wire/varint.js';

describe('readVarint', () => {
  it('reads one-byte, multi-byte and 10-byte varints and moves the cursor past them', () => {
    const bytes = Buffer.from([0x05, 0xac, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    const cursor = { at: 0 };
    expect(readVarint(bytes, cursor, bytes.length)).toBe(5);
    expect(cursor.at).toBe(1);
    expect(readVarint(bytes, cursor, bytes.length)).toBe(300);
    expect(cursor.at).toBe(3);
    expect(readVarint(bytes, cursor, bytes.length)).toBeGreaterThan(2 ** 63 - 1);
    expect(cursor.at).toBe(3 + MAX_VARINT_BYTES);
  });

  it('leaves the cursor alone on a varint cut short by `end`', () => {
    const bytes = Buffer.from([0x00, 0xac, 0x02]);
    const cursor = { at: 1 };
    expect(readVarint(bytes, cursor, 2)).toBe(VARINT_TRUNCATED);
    expect(cursor.at).toBe(1);
  });

  it('leaves the cursor alone on a varint longer than allowed', () => {
    const bytes = Buffer.alloc(12, 0x80);
    const cursor = { at: 0 };
    expect(readVarint(bytes, cursor, bytes.length)).toBe(VARINT_TOO_LONG);
    expect(cursor.at).toBe(0);
  });
});

describe('readVarint32', () => {
  it('takes a value up to 2^32-1 in at most 5 bytes', () => {
    const cursor = { at: 0 };
    expect(readVarint32(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), cursor)).toBe(0xffffffff);
    expect(cursor.at).toBe(5);
  });

  it('refuses 2^32 and a sixth byte, and leaves the cursor alone', () => {
    for (const bytes of [Buffer.from([0x80, 0x80, 0x80, 0x80, 0x10]), Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x00])]) {
      const cursor = { at: 0 };
      expect(readVarint32(bytes, cursor)).toBe(VARINT_TOO_LONG);
      expect(cursor.at).toBe(0);
    }
  });
});
