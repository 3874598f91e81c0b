/**
 * What the channel bridge needs from one WebRTC data channel. The platform adapts a
 * node-datachannel DataChannel to it (and owns the channel's callbacks: node-datachannel keeps one
 * callback per event, so the platform registers them and forwards to the bridge). Tests use fakes.
 */
export interface DataChannelPort {
  readonly label: string;
  /** Sends one text message. Returns false when it was queued rather than sent at once (not a failure). Throws on failure. */
  sendText(text: string): boolean;
  /** Sends one binary message; same contract as sendText. */
  sendBinary(data: Buffer): boolean;
  /** Bytes queued in the channel and not yet handed to SCTP. */
  bufferedAmount(): number;
  /** The largest message the remote peer accepts (from its SDP), in bytes. */
  maxMessageSize(): number;
  /** The bridge is told (handleBufferedAmountLow) when bufferedAmount falls to this value. */
  setBufferedAmountLowThreshold(bytes: number): void;
}
