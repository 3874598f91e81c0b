import { DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES } from '../wire/framing.js';

/**
 * What any one peer, allowed or not, can make the data-proxy daemon hold. Allowed does not mean
 * trusted: with --adb every app on the device arrives under the adb server's uid.
 */
export interface ServiceLimits {
  /** Open connections (IPC sessions and stream-mode pipes) at once; more are closed at accept. */
  maxConnections: number;
  /** Open connections of one uid at once. */
  maxConnectionsPerUid: number;
  /** Bytes held for all connections together (unread input + unflushed output). */
  maxBufferedBytes: number;
  /**
   * A frame begun must be complete, and a reply written must be read, within this time; else the
   * connection is condemned.
   */
  frameTimeoutMs: number;
}

/**
 * Connections cost descriptors, not memory (the byte budget bounds that), so their caps are set
 * for descriptors: 1,000 clients of one uid at once is a load the daemon serves (test/load), and
 * one uid cannot take every descriptor from the others.
 */
export const DEFAULT_SERVICE_LIMITS: ServiceLimits = {
  maxConnections: 4096,
  maxConnectionsPerUid: 1024,
  maxBufferedBytes: 64 * 1024 * 1024,
  frameTimeoutMs: 10_000,
};

/**
 * Unflushed output past which a connection stops reading (a peer that pipelines without reading
 * its replies); reading resumes once the output drains. Replies are small, so this is many replies.
 */
export const OUTPUT_HIGH_WATER_BYTES = 64 * 1024;

/**
 * Most a connection buffers: one frame of input (the decoder's limit; a transaction in flight
 * pauses reading once a frame is waiting), the read chunk in hand, and the output high-water mark
 * plus one reply. Not a flag: it follows from the frame limit.
 */
export const MAX_CONNECTION_BUFFER_BYTES = DEFAULT_MAX_FRAME_BYTES + FRAME_HEADER_BYTES + 64 * 1024 + OUTPUT_HIGH_WATER_BYTES + 64 * 1024;

/**
 * A condemned connection (fatal framing error, refused stream-mode connect, PERMISSION_DENIED,
 * frame timeout) stops reading at once; its last reply gets this long to flush, then it is closed
 * whether or not the peer read it.
 */
export const CONDEMNED_CLOSE_MS = 1_500;
