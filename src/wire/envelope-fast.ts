import { FRAME_HEADER_BYTES } from './framing.js';
import { readVarint32 } from './varint.js';
import type { ReplyMessage, TransactionMessage } from './envelope.js';

/**
 * The connect hot path without protobufjs: the daemon reads the common shape of a transaction frame
 * body by hand and writes an OK reply straight into one frame buffer; the client does the reverse
 * (encodeTransactionFrame, peekReply). Both agree with envelope.ts byte
 * for byte (test/wire/envelope-fast.test.ts checks them against protobufjs); anything unusual
 * (unknown or repeated fields, object offsets, non-ASCII service names, oversized varints, error
 * texts) makes the peek functions return null, and the caller decodes with protobufjs, which owns
 * every error.
 */

// Wire tags (field number << 3 | wire type): Frame.transaction = 1 LEN; Transaction: id 1 VARINT,
// service 2 LEN, code 3 VARINT, flags 4 VARINT, data 5 LEN, object_offsets 6 (LEN packed or
// VARINT), reply_mode 7 VARINT; Frame.reply = 2 LEN; Reply: id 1, status 2, data 3 LEN,
// object_offsets 4 LEN packed, fd_count 5.
const TAG_FRAME_TRANSACTION = 0x0a;
const TAG_FRAME_REPLY = 0x12;
const TAG_REPLY_ID = 0x08;
const TAG_REPLY_DATA = 0x1a;
const TAG_REPLY_OFFSETS = 0x22;
const TAG_REPLY_FD_COUNT = 0x28;

/** Service names seen before, by their bytes, so that a known name costs no new string. */
const knownServices: { bytes: Buffer; name: string }[] = [];

/** Lets peekTransaction hand out `name` itself for these bytes (the registered services). */
export function rememberServiceName(name: string): void {
  if (knownServices.some((known) => known.name === name)) return;
  knownServices.push({ bytes: Buffer.from(name, 'latin1'), name });
}

/**
 * The transaction in a Frame body of the usual shape (each field at most once, service ASCII, no
 * object offsets), or null: then decodeFrame decides. `data` is a view of `body`.
 */
export function peekTransaction(body: Buffer): TransactionMessage | null {
  if (body.length < 2 || body[0] !== TAG_FRAME_TRANSACTION) return null;
  const cursor = { at: 1 };
  const length = readVarint32(body, cursor);
  if (length < 0 || cursor.at + length !== body.length) return null;
  let id = 0;
  let code = 0;
  let flags = 0;
  let replyMode = 0;
  let service = '';
  let data: Buffer = EMPTY;
  let seen = 0;
  while (cursor.at < body.length) {
    const tag = body[cursor.at++]!;
    const field = tag >> 3;
    if (field < 1 || field > 7 || seen & (1 << field)) return null;
    seen |= 1 << field;
    const wireType = tag & 7;
    if (field === 2 || field === 5) {
      if (wireType !== 2) return null;
      const size = readVarint32(body, cursor);
      if (size < 0 || cursor.at + size > body.length) return null;
      const start = cursor.at;
      cursor.at += size;
      if (field === 5) data = body.subarray(start, cursor.at);
      else {
        const name = serviceName(body, start, cursor.at);
        if (name === null) return null;
        service = name;
      }
      continue;
    }
    // object_offsets (6) present at all: the dispatcher's refusal, through the full decoder.
    if (wireType !== 0 || field === 6) return null;
    const value = readVarint32(body, cursor);
    if (value < 0) return null;
    if (field === 1) id = value;
    else if (field === 3) code = value;
    else if (field === 4) flags = value;
    // reply_mode is an enum (int32): protobufjs reads a value past int32 as negative; let it.
    else if (value > 0x7fffffff) return null;
    else replyMode = value;
  }
  return { id, service, code, flags, data, objectOffsets: NO_OFFSETS, replyMode };
}

/**
 * A whole frame (header included) holding an OK reply, as encodeFrame(encodeReply(...)) would
 * make it with status 0 and empty message and error code:
 *   [u32 LE body length] 0x12 len(Reply) [0x08 id]? [0x1a len data]? [0x22 len packed offsets]? [0x28 fd_count]?
 * (protobufjs leaves out proto3 fields that hold their default value; so does this).
 */
export function encodeOkReplyFrame(id: number, data: Uint8Array, objectOffsets: readonly number[], fdCount: number): Buffer {
  let offsetsBytes = 0;
  for (const offset of objectOffsets) offsetsBytes += varintSize(offset);
  const replyBytes =
    (id !== 0 ? 1 + varintSize(id) : 0) +
    (data.length > 0 ? 1 + varintSize(data.length) + data.length : 0) +
    (objectOffsets.length > 0 ? 1 + varintSize(offsetsBytes) + offsetsBytes : 0) +
    (fdCount !== 0 ? 1 + varintSize(fdCount) : 0);
  const bodyBytes = 1 + varintSize(replyBytes) + replyBytes;
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bodyBytes);
  frame.writeUInt32LE(bodyBytes, 0);
  let at = FRAME_HEADER_BYTES;
  frame[at++] = TAG_FRAME_REPLY;
  at = writeVarint(frame, at, replyBytes);
  if (id !== 0) {
    frame[at++] = TAG_REPLY_ID;
    at = writeVarint(frame, at, id);
  }
  if (data.length > 0) {
    frame[at++] = TAG_REPLY_DATA;
    at = writeVarint(frame, at, data.length);
    frame.set(data, at);
    at += data.length;
  }
  if (objectOffsets.length > 0) {
    frame[at++] = TAG_REPLY_OFFSETS;
    at = writeVarint(frame, at, offsetsBytes);
    for (const offset of objectOffsets) at = writeVarint(frame, at, offset);
  }
  if (fdCount !== 0) {
    frame[at++] = TAG_REPLY_FD_COUNT;
    writeVarint(frame, at, fdCount);
  }
  return frame;
}

/**
 * A whole frame (header included) holding `transaction`, as encodeFrame(encodeTransaction(...))
 * makes it: [u32 LE body length] 0x0a len(Transaction) then fields 1-7 in order, each left out
 * when it holds its default (0, "", empty), object_offsets packed.
 */
export function encodeTransactionFrame(transaction: TransactionMessage): Buffer {
  const { id, service, code, flags, data, objectOffsets, replyMode } = transaction;
  const serviceBytes = Buffer.byteLength(service, 'utf8');
  let offsetsBytes = 0;
  for (const offset of objectOffsets) offsetsBytes += varintSize(offset);
  const inner =
    (id !== 0 ? 1 + varintSize(id) : 0) +
    (serviceBytes > 0 ? 1 + varintSize(serviceBytes) + serviceBytes : 0) +
    (code !== 0 ? 1 + varintSize(code) : 0) +
    (flags !== 0 ? 1 + varintSize(flags) : 0) +
    (data.length > 0 ? 1 + varintSize(data.length) + data.length : 0) +
    (objectOffsets.length > 0 ? 1 + varintSize(offsetsBytes) + offsetsBytes : 0) +
    (replyMode !== 0 ? 1 + varintSize(replyMode) : 0);
  if (replyMode < 0 || !Number.isInteger(replyMode)) throw new RangeError(`reply mode ${replyMode} is not a valid enum value here`);
  const bodyBytes = 1 + varintSize(inner) + inner;
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bodyBytes);
  frame.writeUInt32LE(bodyBytes, 0);
  let at = FRAME_HEADER_BYTES;
  frame[at++] = TAG_FRAME_TRANSACTION;
  at = writeVarint(frame, at, inner);
  if (id !== 0) {
    frame[at++] = 0x08;
    at = writeVarint(frame, at, id);
  }
  if (serviceBytes > 0) {
    frame[at++] = 0x12;
    at = writeVarint(frame, at, serviceBytes);
    at += frame.write(service, at, 'utf8');
  }
  if (code !== 0) {
    frame[at++] = 0x18;
    at = writeVarint(frame, at, code);
  }
  if (flags !== 0) {
    frame[at++] = 0x20;
    at = writeVarint(frame, at, flags);
  }
  if (data.length > 0) {
    frame[at++] = 0x2a;
    at = writeVarint(frame, at, data.length);
    frame.set(data, at);
    at += data.length;
  }
  if (objectOffsets.length > 0) {
    frame[at++] = 0x32;
    at = writeVarint(frame, at, offsetsBytes);
    for (const offset of objectOffsets) at = writeVarint(frame, at, offset);
  }
  if (replyMode !== 0) {
    frame[at++] = 0x38;
    writeVarint(frame, at, replyMode);
  }
  return frame;
}

/**
 * The reply in a Frame body of the usual shape (each field at most once, object offsets packed,
 * no message or error code: an OK reply), or null: then decodeFrame decides. `data` is a view.
 */
export function peekReply(body: Buffer): ReplyMessage | null {
  if (body.length < 2 || body[0] !== TAG_FRAME_REPLY) return null;
  const cursor = { at: 1 };
  const length = readVarint32(body, cursor);
  if (length < 0 || cursor.at + length !== body.length) return null;
  let id = 0;
  let status = 0;
  let fdCount = 0;
  let data: Buffer = EMPTY;
  let objectOffsets: number[] = NO_OFFSETS;
  let seen = 0;
  while (cursor.at < body.length) {
    const tag = body[cursor.at++]!;
    const field = tag >> 3;
    // message (6) and error_code (7) come with refusals only: rare, left to protobufjs.
    if (field < 1 || field > 5 || seen & (1 << field)) return null;
    seen |= 1 << field;
    const wireType = tag & 7;
    if (field === 3 || field === 4) {
      if (wireType !== 2) return null;
      const size = readVarint32(body, cursor);
      if (size < 0 || cursor.at + size > body.length) return null;
      const end = cursor.at + size;
      if (field === 3) {
        data = body.subarray(cursor.at, end);
        cursor.at = end;
      } else {
        objectOffsets = [];
        while (cursor.at < end) {
          const offset = readVarint32(body, cursor);
          if (offset < 0 || cursor.at > end) return null;
          objectOffsets.push(offset);
        }
      }
      continue;
    }
    if (wireType !== 0) return null;
    const value = readVarint32(body, cursor);
    if (value < 0) return null;
    if (field === 1) id = value;
    else if (field === 2) status = (value >>> 1) ^ -(value & 1); // sint32: zigzag
    else fdCount = value;
  }
  return { id, status, data, objectOffsets, fdCount, message: '', errorCode: '' };
}

const EMPTY = Buffer.alloc(0);
const NO_OFFSETS: number[] = [];

/** The service name in body[start, end), when it is printable ASCII; else null. */
function serviceName(body: Buffer, start: number, end: number): string | null {
  const size = end - start;
  for (const known of knownServices) {
    if (known.bytes.length === size && body.compare(known.bytes, 0, size, start, end) === 0) return known.name;
  }
  for (let i = start; i < end; i++) if (body[i]! < 0x20 || body[i]! > 0x7e) return null;
  return body.toString('latin1', start, end);
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

function writeVarint(bytes: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    bytes[at++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  bytes[at++] = value;
  return at;
}
