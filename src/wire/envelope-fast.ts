import { FRAME_HEADER_BYTES } from './framing.js';
import type { TransactionMessage } from './envelope.js';

/**
 * The daemon's hot path without protobufjs: the common shape of a transaction frame body read by
 * hand, and an OK reply written straight into one frame buffer. Both agree with envelope.ts byte
 * for byte (test/wire/envelope-fast.test.ts checks them against protobufjs); anything unusual
 * (unknown or repeated fields, object offsets, non-ASCII service names, oversized varints) makes
 * peekTransaction return null, and the caller decodes with protobufjs, which owns every error.
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

const EMPTY = Buffer.alloc(0);
const NO_OFFSETS: number[] = [];

/** A varint of at most 5 bytes whose value fits a uint32, or -1. Moves cursor.at past it. */
function readVarint32(bytes: Buffer, cursor: { at: number }): number {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (cursor.at >= bytes.length) return -1;
    const byte = bytes[cursor.at++]!;
    if (i === 4 && byte > 0x0f) return -1;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if (byte < 0x80) return value;
  }
  return -1;
}

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
