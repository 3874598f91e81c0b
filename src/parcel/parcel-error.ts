// Typed failure of a parcel reader. Readers throw it instead of returning partial
// values, and leave their cursor where it was, so a caller can log the exact byte
// offset and answer the peer with a libbinder status.

import { Status } from './status.js';

export type ParcelErrorCode =
  /** A fixed-size field (int32, int64, fd object) does not fit in the bytes left. */
  | 'TRUNCATED'
  /** A length or count below -1 (-1 alone means null). */
  | 'NEGATIVE_LENGTH'
  /** A String16 length or array count that claims more than the bytes left. */
  | 'LENGTH_TOO_LARGE'
  /** The UTF-16 unit after a String16's N units is not 0. */
  | 'MISSING_TERMINATOR'
  /** A listed object whose type is not the one asked for. */
  | 'BAD_OBJECT'
  /** An object read at a position that the parcel's object-offset list does not name. */
  | 'OBJECT_NOT_LISTED'
  /** No interface-token layout parses at the cursor. */
  | 'BAD_INTERFACE_TOKEN'
  /** The interface token parses but names another interface. */
  | 'WRONG_INTERFACE';

export class ParcelError extends Error {
  readonly code: ParcelErrorCode;
  /** Byte offset in the parcel of the field that failed. */
  readonly offset: number;

  /** `message` is the full human-readable text; it should name the offset. */
  constructor(code: ParcelErrorCode, offset: number, message: string) {
    super(message);
    this.name = 'ParcelError';
    this.code = code;
    this.offset = offset;
  }
}

/**
 * The libbinder status_t a server answers with when a request fails to parse.
 * WRONG_INTERFACE maps to PERMISSION_DENIED because that is what libbinder's
 * CHECK_INTERFACE macro returns when enforceInterface() fails.
 */
export function parcelErrorStatus(code: ParcelErrorCode): number {
  switch (code) {
    case 'TRUNCATED':
      return Status.NOT_ENOUGH_DATA;
    case 'NEGATIVE_LENGTH':
    case 'LENGTH_TOO_LARGE':
    case 'MISSING_TERMINATOR':
      return Status.BAD_VALUE;
    case 'BAD_OBJECT':
    case 'OBJECT_NOT_LISTED':
    case 'BAD_INTERFACE_TOKEN':
      return Status.BAD_TYPE;
    case 'WRONG_INTERFACE':
      return Status.PERMISSION_DENIED;
  }
}
