import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeReply, encodeTransaction, ReplyMode, type TransactionMessage } from '../../src/wire/envelope.js';
import { encodeOkReplyFrame, encodeTransactionFrame, peekReply, peekTransaction, rememberServiceName } from '../../src/wire/envelope-fast.js';
import { encodeFrame } from '../../src/wire/framing.js';

/** A small deterministic generator, so that a failure names its case. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const CONNECT = 'org.anbox.webrtc.IDataProxyService';

describe('envelope fast path', () => {
  it('writes OK reply frames byte for byte as protobufjs does', () => {
    const next = random(1);
    const pick = () => [0, 1, 127, 128, 300, 16383, 16384, 2 ** 21, 2 ** 28, 2 ** 32 - 1][Math.floor(next() * 10)]!;
    for (let i = 0; i < 500; i++) {
      const id = pick();
      const data = Buffer.alloc(Math.floor(next() * 300), i & 0xff);
      const objectOffsets = Array.from({ length: Math.floor(next() * 4) }, pick);
      const fdCount = Math.floor(next() * 3);
      const expected = encodeFrame(encodeReply({ id, status: 0, data, objectOffsets, fdCount, message: '', errorCode: '' }));
      expect(encodeOkReplyFrame(id, data, objectOffsets, fdCount).toString('hex'), `case ${i}`).toBe(expected.toString('hex'));
    }
  });

  it('writes the documented connect reply (docs/protocol.md section 8)', () => {
    const data = Buffer.from('852a64667f010000' + '00'.repeat(16), 'hex');
    expect(encodeOkReplyFrame(1, data, [0], 1).toString('hex')).toBe('23000000122108011a18852a64667f010000000000000000000000000000000000002201002801');
  });

  it('reads transactions of the usual shape as protobufjs does', () => {
    rememberServiceName(CONNECT);
    const next = random(2);
    const services = [CONNECT, 'manager', '', 'org.anbox.oob.IEmulatorStatus'];
    for (let i = 0; i < 500; i++) {
      const transaction: TransactionMessage = {
        id: Math.floor(next() * 2 ** 32),
        service: services[i % services.length]!,
        code: [0, 1, 2, 0x5f4e5446, 2 ** 32 - 1][i % 5]!,
        flags: i % 7 === 0 ? 1 : 0,
        data: Buffer.alloc(Math.floor(next() * 200), i & 0xff),
        objectOffsets: [],
        replyMode: [ReplyMode.DESCRIPTOR, ReplyMode.STREAM, 7][i % 3]!,
      };
      const body = Buffer.from(encodeTransaction(transaction));
      const slow = decodeFrame(body);
      expect(slow.kind).toBe('transaction');
      const fast = peekTransaction(body);
      expect(fast, `case ${i}`).not.toBeNull();
      expect({ ...fast!, data: Buffer.from(fast!.data) }).toEqual(slow.kind === 'transaction' ? slow.transaction : undefined);
    }
  });

  it('leaves every unusual frame to the full decoder', () => {
    const connect = Buffer.from(encodeTransaction({ id: 1, service: CONNECT, code: 1, flags: 0, data: Buffer.from([1, 2]), objectOffsets: [], replyMode: 0 }));
    expect(peekTransaction(connect)).not.toBeNull();
    const unusual: [string, Buffer][] = [
      ['object offsets', Buffer.from(encodeTransaction({ id: 1, service: CONNECT, code: 1, flags: 0, data: Buffer.alloc(0), objectOffsets: [0], replyMode: 0 }))],
      ['a reply frame', Buffer.from(encodeReply({ id: 1, status: 0, data: Buffer.alloc(0), objectOffsets: [], fdCount: 0, message: '', errorCode: '' }))],
      ['a repeated field', Buffer.from('0a0408010802', 'hex')],
      ['an unknown field (9)', Buffer.from('0a024801', 'hex')],
      ['field 8', Buffer.from('0a024001', 'hex')],
      ['a non-ASCII service', Buffer.from('0a041202c3a9', 'hex')],
      ['a truncated body', connect.subarray(0, connect.length - 1)],
      ['trailing bytes', Buffer.concat([connect, Buffer.from([0])])],
      ['an over-long varint', Buffer.from('0a0708ffffffffff01', 'hex')],
      ['a reply mode past int32', Buffer.from('0a063880808080' + '08', 'hex')],
      ['an empty body', Buffer.alloc(0)],
    ];
    for (const [what, body] of unusual) expect(peekTransaction(body), what).toBeNull();
  });

  it('writes transaction frames byte for byte as protobufjs does (the client side)', () => {
    const next = random(3);
    const services = [CONNECT, 'manager', '', 'ünïcode-sérvice', 'org.anbox.oob.IEmulatorStatus'];
    for (let i = 0; i < 500; i++) {
      const transaction: TransactionMessage = {
        id: [0, 1, 127, 128, 2 ** 32 - 1][i % 5]!,
        service: services[i % services.length]!,
        code: [0, 1, 0x5f4e5446][i % 3]!,
        flags: i % 4 === 0 ? 1 : 0,
        data: Buffer.alloc(Math.floor(next() * 300), i & 0xff),
        objectOffsets: i % 6 === 0 ? [0, 200] : [],
        replyMode: [ReplyMode.DESCRIPTOR, ReplyMode.STREAM, 9][i % 3]!,
      };
      const expected = encodeFrame(encodeTransaction(transaction));
      expect(encodeTransactionFrame(transaction).toString('hex'), `case ${i}`).toBe(expected.toString('hex'));
    }
  });

  it('reads OK replies as protobufjs does, and leaves refusals and odd shapes to it', () => {
    const next = random(4);
    for (let i = 0; i < 500; i++) {
      const reply = {
        id: [0, 1, 300, 2 ** 32 - 1][i % 4]!,
        status: [0, -1, -2147483646, 7][i % 4]!,
        data: Buffer.alloc(Math.floor(next() * 100), i & 0xff),
        objectOffsets: i % 3 === 0 ? [0, 128, 2 ** 28] : [],
        fdCount: i % 3,
        message: '',
        errorCode: '',
      };
      const body = Buffer.from(encodeReply(reply));
      const slow = decodeFrame(body);
      const fast = peekReply(body);
      expect(fast, `case ${i}`).not.toBeNull();
      expect({ kind: 'reply', reply: { ...fast!, data: Buffer.from(fast!.data) } }).toEqual(slow);
    }
    const refusal = Buffer.from(encodeReply({ id: 1, status: -2, data: Buffer.alloc(0), objectOffsets: [], fdCount: 0, message: 'no such channel', errorCode: 'CHANNEL_NOT_FOUND' }));
    expect(peekReply(refusal)).toBeNull();
    expect(peekReply(Buffer.from('12042001' + '2001', 'hex'))).toBeNull(); // unpacked offset, then a repeat
    expect(peekReply(Buffer.from(encodeTransaction({ id: 1, service: CONNECT, code: 1, flags: 0, data: Buffer.alloc(0), objectOffsets: [], replyMode: 0 })))).toBeNull();
  });
});
