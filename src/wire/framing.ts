import { WireError } from './wire-error.js';

/** Frame header: u32 little-endian count of the body bytes that follow. */
export const FRAME_HEADER_BYTES = 4;
/** Largest frame body the daemon accepts (binder's own transaction buffer is 1 MiB). */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;
/** The most an empty decoder keeps allocated for the next frames. */
const RETAINED_BUFFER_BYTES = 64 * 1024;

/**
 * Layout: [u32 LE body length][body]. One allocation, so one sendmsg carries the whole frame
 * (and, with it, any SCM_RIGHTS descriptors).
 */
export function encodeFrame(body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32LE(body.length, 0);
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Splits a byte stream into frame bodies. Pure: fed bytes by whoever owns the socket, in chunks of
 * any size (one byte at a time works). The size limit is checked as soon as a header is complete,
 * before any of the body is buffered.
 */
export class FrameDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  private start = 0;
  private end = 0;

  constructor(readonly maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {}

  /** Bytes received but not yet returned as frames. */
  get bufferedBytes(): number {
    return this.end - this.start;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.end + chunk.length > this.buffer.length) this.makeRoom(chunk.length);
    this.buffer.set(chunk, this.end);
    this.end += chunk.length;
  }

  /**
   * The next complete frame body (a copy the caller may keep), or null when more bytes are needed.
   * Throws FRAME_TOO_LARGE when a header announces more than the limit; the decoder is then unusable.
   */
  next(): Buffer | null {
    if (this.end - this.start < FRAME_HEADER_BYTES) return null;
    const length = this.buffer.readUInt32LE(this.start);
    if (length > this.maxFrameBytes) {
      throw new WireError(
        'FRAME_TOO_LARGE',
        `frame announces ${length} bytes; the limit is ${this.maxFrameBytes} (is the peer speaking this protocol? see docs/protocol.md)`,
      );
    }
    if (this.end - this.start < FRAME_HEADER_BYTES + length) return null;
    const bodyStart = this.start + FRAME_HEADER_BYTES;
    const body = Buffer.from(this.buffer.subarray(bodyStart, bodyStart + length));
    this.start = bodyStart + length;
    if (this.start === this.end) this.empty();
    return body;
  }

  /** Everything buffered after the last returned frame (for stream mode); the decoder is emptied. */
  takeRemainder(): Buffer {
    const rest = Buffer.from(this.buffer.subarray(this.start, this.end));
    this.empty();
    return rest;
  }

  /**
   * Nothing buffered: a buffer grown for a large frame is let go, so an idle connection holds
   * no more than RETAINED_BUFFER_BYTES (a thousand idle peers that each sent one 1 MiB frame
   * would otherwise pin 1-2 GiB).
   */
  private empty(): void {
    this.start = this.end = 0;
    if (this.buffer.length > RETAINED_BUFFER_BYTES) this.buffer = Buffer.alloc(0);
  }

  private makeRoom(incoming: number): void {
    const live = this.end - this.start;
    const needed = live + incoming;
    if (needed <= this.buffer.length && this.start > 0) {
      this.buffer.copy(this.buffer, 0, this.start, this.end);
    } else {
      // Doubling, but never past the end of the frame being received: a peer holding most of a
      // 1 MiB frame costs about 1 MiB, not 2.
      let capacity = Math.max(needed, this.buffer.length * 2, 4096);
      if (live >= FRAME_HEADER_BYTES) {
        const frameEnd = FRAME_HEADER_BYTES + this.buffer.readUInt32LE(this.start);
        if (frameEnd <= FRAME_HEADER_BYTES + this.maxFrameBytes && needed <= frameEnd) capacity = Math.min(capacity, frameEnd);
      }
      const grown = Buffer.allocUnsafe(capacity);
      this.buffer.copy(grown, 0, this.start, this.end);
      this.buffer = grown;
    }
    this.start = 0;
    this.end = live;
  }
}
