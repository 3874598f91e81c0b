import { Status } from '../parcel/status.js';

/**
 * Stable error codes of the service, each with the status_t its reply carries. Documented in
 * docs/protocol.md; clients may switch on `error_code`. Parcel and wire errors keep their own
 * codes (ParcelError, WireError) and are mapped in reply-error.ts.
 */
export const SERVICE_ERROR_STATUS = {
  PERMISSION_DENIED: Status.PERMISSION_DENIED,
  UNKNOWN_SERVICE: Status.NAME_NOT_FOUND,
  UNKNOWN_TRANSACTION: Status.UNKNOWN_TRANSACTION,
  NULL_ARGUMENT: Status.UNEXPECTED_NULL,
  INVALID_CHANNEL_NAME: Status.BAD_VALUE,
  CHANNEL_NOT_FOUND: Status.NAME_NOT_FOUND,
  CHANNEL_REFUSED: Status.DEAD_OBJECT,
  CHANNEL_ACCESS_DENIED: Status.PERMISSION_DENIED,
  CHANNEL_NOT_A_STREAM_SOCKET: Status.BAD_TYPE,
  CHANNEL_BUSY: Status.WOULD_BLOCK,
  OUT_OF_DESCRIPTORS: Status.NO_MEMORY,
  DESCRIPTORS_NOT_ACCEPTED: Status.FDS_NOT_ALLOWED,
  STREAM_NOT_SUPPORTED: Status.INVALID_OPERATION,
  UNKNOWN_REPLY_MODE: Status.BAD_VALUE,
  SHUTTING_DOWN: Status.DEAD_OBJECT,
  TOO_MANY_CONNECTIONS: Status.WOULD_BLOCK,
  PEER_TIMEOUT: Status.TIMED_OUT,
  INTERNAL_ERROR: Status.UNKNOWN_ERROR,
} as const;

export type ServiceErrorCode = keyof typeof SERVICE_ERROR_STATUS;

/** A peer-visible failure of a transaction: becomes a non-OK reply, never a crash. */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
  ) {
    super(message);
  }

  get status(): number {
    return SERVICE_ERROR_STATUS[this.code];
  }
}
