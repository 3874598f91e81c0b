// What the daemon must answer, worked out from the bytes sent alone: the reference framing and
// envelope codecs split and decode them the way docs/protocol.md says the daemon does, and every
// reply that comes back is checked against that and against the protocol's invariants.

import { fstatSync } from 'node:fs';
import { BINDER_TYPE_FD, FD_OBJECT_SIZE, FLAG_ONEWAY } from '../../src/parcel/constants.js';
import { parcelErrorStatus, type ParcelErrorCode } from '../../src/parcel/parcel-error.js';
import { Status } from '../../src/parcel/status.js';
import { SERVICE_ERROR_STATUS } from '../../src/service/service-error.js';
import { decodeFrame, ReplyMode, type ReplyMessage } from '../../src/wire/envelope.js';
import { FrameDecoder } from '../../src/wire/framing.js';
import { WireError } from '../../src/wire/wire-error.js';

/** One reply the daemon owes, in order. */
export interface PredictedReply {
  id: number;
  /** The frame could not be decoded (id 0) or was too large. */
  wireError?: 'FRAME_TOO_LARGE' | 'MALFORMED' | 'UNEXPECTED_FRAME';
  /** A stream-mode transaction: after its reply the connection is a channel or is closed. */
  stream: boolean;
  /** Index of the frame in the bytes sent (for reports). */
  frame: number;
}

export interface Simulation {
  replies: PredictedReply[];
  /** 'open': the daemon keeps the connection; 'closes': it hangs up after the last reply; 'stream': unknown after it. */
  end: 'open' | 'closes' | 'stream';
  /** Bytes left in the daemon's buffer (an incomplete frame) when everything was read. */
  leftover: number;
}

/** Splits and decodes `bytes` as the daemon does, and lists the replies it owes. */
export function simulate(bytes: Buffer): Simulation {
  const decoder = new FrameDecoder();
  decoder.push(bytes);
  const replies: PredictedReply[] = [];
  for (let frame = 0; ; frame++) {
    let body: Buffer | null;
    try {
      body = decoder.next();
    } catch (error) {
      if (!(error instanceof WireError)) throw error;
      replies.push({ id: 0, wireError: 'FRAME_TOO_LARGE', stream: false, frame });
      return { replies, end: 'closes', leftover: decoder.bufferedBytes };
    }
    if (body === null) return { replies, end: 'open', leftover: decoder.bufferedBytes };
    let decoded;
    try {
      decoded = decodeFrame(body);
    } catch (error) {
      if (!(error instanceof WireError)) throw error;
      replies.push({ id: 0, wireError: 'MALFORMED', stream: false, frame });
      continue;
    }
    if (decoded.kind === 'reply') {
      replies.push({ id: 0, wireError: 'UNEXPECTED_FRAME', stream: false, frame });
      continue;
    }
    const t = decoded.transaction;
    // Stream mode, or a mode the daemon does not know (refused, then it hangs up like a refused stream connect).
    const stream = t.replyMode !== ReplyMode.DESCRIPTOR;
    if (stream) {
      // A oneway stream transaction may be refused (no reply, hang-up) or served (no reply, stays open).
      if (!(t.flags & FLAG_ONEWAY)) replies.push({ id: t.id, stream, frame });
      return { replies, end: 'stream', leftover: 0 };
    }
    if (!(t.flags & FLAG_ONEWAY)) replies.push({ id: t.id, stream, frame });
  }
}

// ---------------------------------------------------------------------------------------------

const WIRE_STATUS: Record<string, number> = {
  FRAME_TOO_LARGE: Status.FAILED_TRANSACTION,
  MALFORMED_FRAME: Status.BAD_VALUE,
  EMPTY_FRAME: Status.BAD_VALUE,
  UNEXPECTED_FRAME: Status.INVALID_OPERATION,
};
const PARCEL_CODES: ParcelErrorCode[] = ['TRUNCATED', 'NEGATIVE_LENGTH', 'LENGTH_TOO_LARGE', 'MISSING_TERMINATOR', 'BAD_OBJECT', 'OBJECT_NOT_LISTED', 'BAD_INTERFACE_TOKEN', 'WRONG_INTERFACE'];

/** Every documented error code with the status it comes with (docs/protocol.md section 7). */
export const ERROR_STATUS: ReadonlyMap<string, number> = new Map<string, number>([
  ...Object.entries(SERVICE_ERROR_STATUS),
  ...PARCEL_CODES.map((code) => [code, parcelErrorStatus(code)] as [string, number]),
  ...Object.entries(WIRE_STATUS),
]);
const KNOWN_STATUS = new Set<number>(Object.values(Status));

/**
 * Protocol invariants of one reply and the descriptors that came with it. Returns what is wrong,
 * or undefined. INTERNAL_ERROR is a failure too: it is how the daemon reports its own exceptions.
 */
export function checkReply(reply: ReplyMessage, fds: readonly number[], predicted: PredictedReply): string | undefined {
  if (reply.id !== predicted.id) return `reply id ${reply.id}, expected ${predicted.id} (frame ${predicted.frame})`;
  if (!KNOWN_STATUS.has(reply.status)) return `unknown status ${reply.status}`;
  if (fds.length !== reply.fdCount) return `fd_count ${reply.fdCount} but ${fds.length} descriptors arrived`;
  if (reply.status !== 0) {
    const expectedStatus = ERROR_STATUS.get(reply.errorCode);
    if (expectedStatus === undefined) return `undocumented error code ${JSON.stringify(reply.errorCode)} (status ${reply.status}): ${reply.message}`;
    if (reply.errorCode === 'INTERNAL_ERROR') return `INTERNAL_ERROR: ${reply.message}`;
    if (expectedStatus !== reply.status) return `${reply.errorCode} with status ${reply.status}, documented ${expectedStatus}`;
    if (reply.message.length === 0) return `${reply.errorCode} without a message`;
    if (reply.data.length > 0 || reply.objectOffsets.length > 0 || reply.fdCount > 0) return `error reply ${reply.errorCode} carries data, objects or descriptors`;
    if (predicted.wireError === 'FRAME_TOO_LARGE' && reply.errorCode !== 'FRAME_TOO_LARGE') return `expected FRAME_TOO_LARGE, got ${reply.errorCode}`;
    if (predicted.wireError === 'UNEXPECTED_FRAME' && reply.errorCode !== 'UNEXPECTED_FRAME') return `expected UNEXPECTED_FRAME, got ${reply.errorCode}`;
    if (predicted.wireError === 'MALFORMED' && reply.errorCode !== 'MALFORMED_FRAME' && reply.errorCode !== 'EMPTY_FRAME') return `expected MALFORMED_FRAME or EMPTY_FRAME, got ${reply.errorCode}`;
    return undefined;
  }
  if (predicted.wireError) return `an undecodable frame got status OK`;
  if (reply.errorCode !== '' || reply.message !== '') return `OK reply with error_code ${JSON.stringify(reply.errorCode)}`;
  if (predicted.stream) {
    if (reply.data.length > 0 || reply.fdCount > 0 || reply.objectOffsets.length > 0) return 'stream-mode OK reply is not empty';
    return undefined;
  }
  if (reply.fdCount === 0) return reply.objectOffsets.length === 0 ? undefined : `objects listed without descriptors: [${reply.objectOffsets}]`;
  // The only descriptor reply: connect's bare fd object at offset 0.
  if (reply.fdCount !== 1) return `fd_count ${reply.fdCount}; connect sends exactly one`;
  if (reply.data.length !== FD_OBJECT_SIZE) return `fd reply data is ${reply.data.length} bytes, not one ${FD_OBJECT_SIZE}-byte fd object`;
  if (reply.objectOffsets.length !== 1 || reply.objectOffsets[0] !== 0) return `fd reply object_offsets [${reply.objectOffsets}], expected [0]`;
  const data = Buffer.from(reply.data);
  if (data.readUInt32LE(0) !== BINDER_TYPE_FD) return `fd object type 0x${data.readUInt32LE(0).toString(16)}`;
  if (data.readUInt32LE(8) !== 0) return `fd object index ${data.readUInt32LE(8)}, expected 0`;
  for (const fd of fds) {
    let isSocket: boolean;
    try {
      isSocket = fstatSync(fd).isSocket();
    } catch (error) {
      return `received descriptor ${fd} cannot be inspected: ${(error as Error).message}`;
    }
    if (!isSocket) return `received descriptor ${fd} is not a socket`;
  }
  return undefined;
}
