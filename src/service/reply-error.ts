import { ChannelNameError } from '../channels/channel-name.js';
import { ParcelError, parcelErrorStatus } from '../parcel/parcel-error.js';
import { Status } from '../parcel/status.js';
import { encodeReply } from '../wire/envelope.js';
import { encodeFrame } from '../wire/framing.js';
import { WireError, type WireErrorCode } from '../wire/wire-error.js';
import { ServiceError } from './service-error.js';

export interface ReplyError {
  status: number;
  errorCode: string;
  message: string;
  /** Programmer errors are logged with their stack; peer mistakes are not. */
  internal: boolean;
}

const WIRE_ERROR_STATUS: Record<WireErrorCode, number> = {
  FRAME_TOO_LARGE: Status.FAILED_TRANSACTION,
  MALFORMED_FRAME: Status.BAD_VALUE,
  EMPTY_FRAME: Status.BAD_VALUE,
  UNEXPECTED_FRAME: Status.INVALID_OPERATION,
};

/** The one place where an error becomes the status, code and message of a reply. */
export function toReplyError(error: unknown): ReplyError {
  if (error instanceof ServiceError) return { status: error.status, errorCode: error.code, message: error.message, internal: false };
  if (error instanceof ParcelError) {
    return { status: parcelErrorStatus(error.code), errorCode: error.code, message: error.message, internal: false };
  }
  if (error instanceof WireError) return { status: WIRE_ERROR_STATUS[error.code], errorCode: error.code, message: error.message, internal: false };
  if (error instanceof ChannelNameError) {
    return { status: Status.BAD_VALUE, errorCode: 'INVALID_CHANNEL_NAME', message: error.message, internal: false };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { status: Status.UNKNOWN_ERROR, errorCode: 'INTERNAL_ERROR', message: `internal error: ${message}`, internal: true };
}

/**
 * A whole frame (header included) answering transaction `id` (0: no transaction in particular)
 * with `error` as toReplyError words it: the one builder for every refusal the daemon sends.
 */
export function encodeErrorReplyFrame(id: number, error: unknown): Buffer {
  const { status, errorCode, message } = toReplyError(error);
  return encodeFrame(encodeReply({ id, status, data: Buffer.alloc(0), objectOffsets: [], fdCount: 0, message, errorCode }));
}
