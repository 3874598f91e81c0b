import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeReply, encodeTransaction, ReplyMode } from '../../src/wire/envelope.js';
import { WireError } from '../../src/wire/wire-error.js';

describe('envelope', () => {
  it('round-trips a transaction', () => {
    const transaction = {
      id: 42,
      service: 'org.anbox.webrtc.IDataProxyService',
      code: 0x5f4e5446,
      flags: 1,
      data: Buffer.from('0102', 'hex'),
      objectOffsets: [],
      replyMode: ReplyMode.STREAM,
    };
    const decoded = decodeFrame(encodeTransaction(transaction));
    expect(decoded).toEqual({ kind: 'transaction', transaction });
  });

  it('decodes an absent bytes field as an empty Buffer', () => {
    const decoded = decodeFrame(Buffer.from('0a020801', 'hex'));
    expect(decoded.kind).toBe('transaction');
    if (decoded.kind === 'transaction') {
      expect(Buffer.isBuffer(decoded.transaction.data)).toBe(true);
      expect(decoded.transaction.data.length).toBe(0);
    }
  });

  it('round-trips a reply with negative status and offsets', () => {
    const reply = { id: 3, status: -2147483646, data: Buffer.alloc(24, 1), objectOffsets: [0, 24], fdCount: 2, message: 'm', errorCode: 'E' };
    expect(decodeFrame(encodeReply(reply))).toEqual({ kind: 'reply', reply });
  });

  it('encodes the documented bytes of the connect reply (docs/protocol.md section 8)', () => {
    const data = Buffer.from('852a64667f010000' + '00'.repeat(16), 'hex');
    const body = encodeReply({ id: 1, status: 0, data, objectOffsets: [0], fdCount: 1, message: '', errorCode: '' });
    expect(Buffer.from(body).toString('hex')).toBe('122108011a18852a64667f010000000000000000000000000000000000002201002801');
  });

  it('reads unpacked repeated offsets and unknown fields, as protobuf allows', () => {
    // Reply{id=1, object_offsets=0 (unpacked, key 0x20), unknown field 15 varint 9, fd_count=1}
    const reply = Buffer.from('0801' + '2000' + '7809' + '2801', 'hex');
    const frame = Buffer.concat([Buffer.from([0x12, reply.length]), reply]);
    const decoded = decodeFrame(frame);
    expect(decoded.kind).toBe('reply');
    if (decoded.kind === 'reply') {
      expect(decoded.reply.objectOffsets).toEqual([0]);
      expect(decoded.reply.fdCount).toBe(1);
    }
  });

  it('passes an unknown reply mode through, so the dispatcher can refuse it with the transaction id', () => {
    const decoded = decodeFrame(Buffer.from('0a0408093805', 'hex'));
    expect(decoded).toMatchObject({ kind: 'transaction', transaction: { id: 9, replyMode: 5 } });
  });

  it.each([
    ['garbage', Buffer.from('ffffffffffff', 'hex'), 'MALFORMED_FRAME'],
    ['truncated length-delimited field', Buffer.from('0a05', 'hex'), 'MALFORMED_FRAME'],
    ['an empty Frame', Buffer.alloc(0), 'EMPTY_FRAME'],
  ])('refuses %s with a WireError', (_name, body, code) => {
    let error: unknown;
    try {
      decodeFrame(body);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WireError);
    expect((error as WireError).code).toBe(code);
  });
});
