import { decodeFrame, type ReplyMessage } from '../wire/envelope.js';
import { peekReply } from '../wire/envelope-fast.js';

/** A reply as received. The caller owns `fds` (already real descriptors of this process). */
export interface TransactResult {
  status: number;
  data: Buffer;
  objectOffsets: number[];
  fds: number[];
  message: string;
  errorCode: string;
}

/**
 * The reply in a frame body from the daemon, or null when the body holds a transaction (the
 * caller words that protocol error). The usual OK reply is peeked by hand; anything else goes
 * through protobufjs, which throws WireError on a malformed body. Shared by the event-loop
 * connection and the blocking one so both read replies the same way.
 */
export function readReply(body: Buffer): ReplyMessage | null {
  const peeked = peekReply(body);
  if (peeked !== null) return peeked;
  const frame = decodeFrame(body);
  return frame.kind === 'reply' ? frame.reply : null;
}

/** The caller-facing result of `reply`, with the descriptors that came with it. */
export function toTransactResult(reply: ReplyMessage, fds: number[]): TransactResult {
  return {
    status: reply.status,
    data: Buffer.from(reply.data),
    objectOffsets: reply.objectOffsets,
    fds,
    message: reply.message,
    errorCode: reply.errorCode,
  };
}
