import { join } from 'node:path';
import protobuf from 'protobufjs';
import { packageRoot } from '../config/package-root.js';
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

const DECODE_OPTIONS: protobuf.IConversionOptions = { longs: Number, bytes: Buffer, defaults: true, enums: Number };

/** Encodes a transaction as a Frame body (the caller adds the frame header). */
export function encodeTransaction(transaction: TransactionMessage): Uint8Array {
  return FrameType.encode(FrameType.fromObject({ transaction })).finish();
}

/** Encodes a reply as a Frame body (the caller adds the frame header). */
export function encodeReply(reply: ReplyMessage): Uint8Array {
  return FrameType.encode(FrameType.fromObject({ reply })).finish();
}

/** Decodes a Frame body. Peer mistakes become WireError MALFORMED_FRAME / EMPTY_FRAME. */
export function decodeFrame(body: Uint8Array): DecodedFrame {
  let object: { transaction?: Record<string, unknown>; reply?: Record<string, unknown> };
  try {
    object = FrameType.toObject(FrameType.decode(body), DECODE_OPTIONS) as typeof object;
  } catch (error) {
    throw new WireError('MALFORMED_FRAME', `frame body is not a valid anbox.oob.v1.Frame: ${(error as Error).message}`);
  }
  if (object.transaction) return { kind: 'transaction', transaction: toTransaction(object.transaction) };
  if (object.reply) return { kind: 'reply', reply: toReply(object.reply) };
  throw new WireError('EMPTY_FRAME', 'frame carries neither a transaction nor a reply');
}

function toTransaction(t: Record<string, unknown>): TransactionMessage {
  return {
    id: Number(t.id),
    service: String(t.service),
    code: Number(t.code),
    flags: Number(t.flags),
    data: t.data as Uint8Array,
    objectOffsets: (t.objectOffsets as number[]).map(Number),
    replyMode: Number(t.replyMode),
  };
}

function toReply(r: Record<string, unknown>): ReplyMessage {
  return {
    id: Number(r.id),
    status: Number(r.status),
    data: r.data as Uint8Array,
    objectOffsets: (r.objectOffsets as number[]).map(Number),
    fdCount: Number(r.fdCount),
    message: String(r.message),
    errorCode: String(r.errorCode),
  };
}
