/** Peer mistakes at the framing/envelope level. Each code is documented in docs/protocol.md. */
export type WireErrorCode =
  | 'FRAME_TOO_LARGE' // header announces more than the limit: the stream cannot be resynchronised
  | 'MALFORMED_FRAME' // the frame body is not a valid Frame message
  | 'EMPTY_FRAME' // a Frame with neither transaction nor reply
  | 'UNEXPECTED_FRAME'; // a reply sent to the daemon, or a transaction sent to a client

export class WireError extends Error {
  override readonly name = 'WireError';
  constructor(
    readonly code: WireErrorCode,
    message: string,
  ) {
    super(message);
  }
}
