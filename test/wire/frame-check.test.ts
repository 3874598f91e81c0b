// The decoding rules of docs/protocol.md section 3 ("Decoding rules"), on hand-built bytes: what is
// MALFORMED_FRAME, what is EMPTY_FRAME, wrong wire types, varint lengths, duplicate fields.
import { describe, expect, it } from 'vitest';
import { decodeFrame } from '../../src/wire/envelope.js';
import { WireError } from '../../src/wire/wire-error.js';

const b = (...bytes: (number | number[] | Buffer)[]): Buffer =>
  Buffer.concat(bytes.map((x) => (Buffer.isBuffer(x) ? x : Buffer.from(typeof x === 'number' ? [x] : x))));
/** A length-delimited field: key, length (1 byte), payload. */
const len = (key: number, payload: Buffer): Buffer => b(key, payload.length, payload);
const transaction = (...fields: Buffer[]): Buffer => len(0x0a, b(...fields));

function errorOf(body: Buffer): { code: string; message: string } {
  try {
    decodeFrame(body);
  } catch (error) {
    expect(error).toBeInstanceOf(WireError);
    return { code: (error as WireError).code, message: (error as WireError).message };
  }
  throw new Error('decoded without error');
}

function decodedTransaction(body: Buffer) {
  const frame = decodeFrame(body);
  if (frame.kind !== 'transaction') throw new Error(`decoded a ${frame.kind}`);
  return frame.transaction;
}

describe('EMPTY_FRAME and MALFORMED_FRAME', () => {
  it('EMPTY_FRAME: a well-formed Frame with neither member, including a 0-byte body and unknown fields alone', () => {
    expect(errorOf(Buffer.alloc(0)).code).toBe('EMPTY_FRAME');
    expect(errorOf(b(0x78, 0x05)).code).toBe('EMPTY_FRAME'); // field 15, varint 5
    expect(errorOf(len(0x1a, b(1, 2, 3))).code).toBe('EMPTY_FRAME'); // field 3, bytes
  });

  it('MALFORMED_FRAME: bytes that are not protobuf', () => {
    expect(errorOf(b(0xff)).code).toBe('MALFORMED_FRAME'); // a key that never ends
    expect(errorOf(b(0x0a, 0x05, 0x08)).code).toBe('MALFORMED_FRAME'); // length 5, 1 byte left
    expect(errorOf(b(0x00, 0x00)).code).toBe('MALFORMED_FRAME'); // field number 0
    expect(errorOf(b(0x0e, 0x00)).code).toBe('MALFORMED_FRAME'); // wire type 6
  });

  it('refuses groups (wire types 3 and 4), at the Frame and inside a Transaction', () => {
    expect(errorOf(b(0x7b, 0x7c)).message).toMatch(/wire type 3/);
    expect(errorOf(transaction(b(0x08, 0x01), b(0x4b, 0x4c))).message).toMatch(/wire type 3/);
  });
});

describe('a known field with the wrong wire type', () => {
  it('is MALFORMED_FRAME naming the field, at every level', () => {
    expect(errorOf(b(0x08, 0x01)).message).toMatch(/Frame\.transaction .*wire type 0.*length-delimited/);
    expect(errorOf(transaction(len(0x0a, Buffer.from('x')))).message).toMatch(/Transaction\.id .*wire type 2.*varint/);
    expect(errorOf(transaction(b(0x10, 0x01))).message).toMatch(/Transaction\.service .*must be length-delimited/);
    expect(errorOf(transaction(b(0x3d, 1, 0, 0, 0))).message).toMatch(/Transaction\.reply_mode .*wire type 5/);
    expect(errorOf(transaction(b(0x31, 0, 0, 0, 0, 0, 0, 0, 0))).message).toMatch(/Transaction\.object_offsets/);
  });

  it('accepts repeated uint64 both packed and unpacked, and concatenates them in order', () => {
    const t = decodedTransaction(transaction(b(0x30, 0x04), len(0x32, b(0x08, 0x0c)), b(0x30, 0x10)));
    expect(t.objectOffsets).toEqual([4, 8, 12, 16]);
  });

  it('skips unknown fields of every accepted wire type', () => {
    const t = decodedTransaction(transaction(b(0x08, 0x07), b(0x41, 1, 2, 3, 4, 5, 6, 7, 8), b(0x4d, 1, 2, 3, 4), len(0x52, b(9)), b(0x58, 0x80, 0x01)));
    expect(t.id).toBe(7);
  });
});

describe('varint length: 10 bytes at most, everywhere', () => {
  const ten = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]; // 2^64 - 1
  const eleven = [0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];

  it('accepts a 10-byte value in a 32-bit field and keeps its low 32 bits', () => {
    expect(decodedTransaction(transaction(b(0x08, ten))).id).toBe(0xffffffff);
    expect(decodedTransaction(transaction(b(0x18, [0x85, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]))).code).toBe(5);
  });

  it('refuses an 11-byte varint as a value, an unknown value, a packed element, a key and a length', () => {
    expect(errorOf(transaction(b(0x08, eleven))).message).toMatch(/longer than 10 bytes/);
    expect(errorOf(transaction(b(0x48, eleven))).message).toMatch(/longer than 10 bytes/);
    expect(errorOf(transaction(len(0x32, b(eleven)))).message).toMatch(/longer than 10 bytes/);
    expect(errorOf(b([0x88, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]))).toMatchObject({ code: 'MALFORMED_FRAME' });
    expect(errorOf(b(0x0a, eleven)).message).toMatch(/longer than 10 bytes/);
  });

  it('refuses a length whose low 32 bits would fit but whose value does not', () => {
    // 2^32 + 2: protobufjs alone would read 2.
    expect(errorOf(b(0x0a, [0x82, 0x80, 0x80, 0x80, 0x10], 0x08, 0x01)).message).toMatch(/announces 4294967298 bytes/);
  });
});

describe('duplicate and conflicting fields', () => {
  it('a scalar, string or bytes field given twice: the last one wins', () => {
    const t = decodedTransaction(
      transaction(b(0x08, 0x01), len(0x12, Buffer.from('a')), b(0x18, 0x02), len(0x2a, b(1)), b(0x08, 0x09), len(0x12, Buffer.from('manager')), b(0x18, 0x03), len(0x2a, b(2, 3))),
    );
    expect(t).toMatchObject({ id: 9, service: 'manager', code: 3 });
    expect([...t.data]).toEqual([2, 3]);
  });

  it('a Frame with both transaction and reply, or one of them twice, is MALFORMED_FRAME', () => {
    const reply = len(0x12, b(0x08, 0x01));
    expect(errorOf(b(transaction(b(0x08, 0x01)), reply)).message).toMatch(/exactly one/);
    expect(errorOf(b(reply, transaction(b(0x08, 0x01)))).code).toBe('MALFORMED_FRAME');
    expect(errorOf(b(transaction(b(0x08, 0x01)), transaction(b(0x18, 0x01)))).code).toBe('MALFORMED_FRAME');
  });
});
