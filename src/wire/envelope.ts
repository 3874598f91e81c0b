import { join } from 'node:path';
import protobuf from 'protobufjs';
import { packageRoot } from '../config/package-root.js';
import { checkFrameBody } from './frame-check.js';
import { WireError } from './wire-error.js';

export const ReplyMode = { DESCRIPTOR: 0, STREAM: 1 } as const;
export type ReplyModeValue = (typeof ReplyMode)[keyof typeof ReplyMode];

export interface TransactionMessage {
  id: number;
  service: string;
  code: number;
  flags: number;
  data: Uint8Array;
  objectOffsets: number[];
  /** ReplyMode value as received; an unknown one is refused by the dispatcher, with this id. */
  replyMode: number;
}

export interface ReplyMessage {
  id: number;
  status: number;
  data: Uint8Array;
  objectOffsets: number[];
  fdCount: number;
  message: string;
  errorCode: string;
}

export type DecodedFrame = { kind: 'transaction'; transaction: TransactionMessage } | { kind: 'reply'; reply: ReplyMessage };

const root = protobuf.loadSync(join(packageRoot(), 'proto', 'anbox_oob.proto'));
const FrameType = root.lookupType('anbox.oob.v1.Frame');

/** Encodes a transaction as a Frame body (the caller adds the frame header). */
export function encodeTransaction(transaction: TransactionMessage): Uint8Array {
  return FrameType.encode({ transaction }).finish();
}

/** Encodes a reply as a Frame body (the caller adds the frame header). */
export function encodeReply(reply: ReplyMessage): Uint8Array {
  return FrameType.encode({ reply }).finish();
}

/** Decodes a Frame body. Peer mistakes become WireError MALFORMED_FRAME / EMPTY_FRAME. */
export function decodeFrame(body: Uint8Array): DecodedFrame {
  checkFrameBody(body);
  let frame: DecodedFrameMessage;
  try {
    frame = FrameType.decode(body) as unknown as DecodedFrameMessage;
  } catch (error) {
    throw new WireError('MALFORMED_FRAME', `frame body is not a valid anbox.oob.v1.Frame: ${(error as Error).message}`);
  }
  if (frame.transaction) return { kind: 'transaction', transaction: toTransaction(frame.transaction) };
  if (frame.reply) return { kind: 'reply', reply: toReply(frame.reply) };
  throw new WireError('EMPTY_FRAME', 'frame carries neither a transaction nor a reply');
}

/**
 * protobufjs's decoded messages: unset scalar fields read their defaults from the prototype;
 * uint64 arrives as a number, or as a Long when long.js is installed (toNumber covers both).
 */
type Uint64 = number | { toNumber(): number };
interface DecodedFrameMessage {
  transaction?: {
    id: number;
    service: string;
    code: number;
    flags: number;
    data: Uint8Array;
    objectOffsets: Uint64[];
    replyMode: number;
  } | null;
  reply?: {
    id: number;
    status: number;
    data: Uint8Array;
    objectOffsets: Uint64[];
    fdCount: number;
    message: string;
    errorCode: string;
  } | null;
}

function toNumber(value: Uint64): number {
  return typeof value === 'number' ? value : value.toNumber();
}

function toTransaction(t: NonNullable<DecodedFrameMessage['transaction']>): TransactionMessage {
  return {
    id: t.id,
    service: t.service,
    code: t.code,
    flags: t.flags,
    data: asBuffer(t.data),
    objectOffsets: t.objectOffsets.map(toNumber),
    replyMode: t.replyMode,
  };
}

function toReply(r: NonNullable<DecodedFrameMessage['reply']>): ReplyMessage {
  return {
    id: r.id,
    status: r.status,
    data: asBuffer(r.data),
    objectOffsets: r.objectOffsets.map(toNumber),
    fdCount: r.fdCount,
    message: r.message,
    errorCode: r.errorCode,
  };
}

/** An unset bytes field decodes to protobufjs's shared empty array, not a Uint8Array. */
function asBuffer(bytes: Uint8Array | readonly number[]): Buffer {
  if (Buffer.isBuffer(bytes)) return bytes;
  if (bytes instanceof Uint8Array) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Buffer.from(bytes);
}
