import { isUtf8 } from 'node:buffer';

/**
 * Turns the byte stream read from a channel socket into data channel messages for the browser.
 * Pure: no I/O, no timers. One chunker per app connection (each connection is its own stream).
 *
 * Text or binary (the policy):
 * - Every read (`push(chunk)`, after the carried bytes of the previous read are put in front) is
 *   judged as a whole. If all of it is valid UTF-8 (strict: no overlong forms, no surrogates,
 *   nothing above U+10FFFF — the same rules as the browser's decoder), it goes as text messages.
 *   If any byte of it is not, the WHOLE read goes as binary messages, its valid parts included.
 *   Why not "valid prefix as text, rest as binary" or one message per run: binary data (images,
 *   protobuf, compressed bytes) is full of short valid-looking runs; cutting it into text and binary
 *   pieces would hand the browser spurious short strings whose boundaries depend on read timing, and
 *   many tiny messages. Either way no byte is ever changed: text messages only ever hold valid
 *   UTF-8, so the receiver rebuilds the exact byte stream by concatenating, in order, the UTF-8
 *   encoding of every text message and the bytes of every binary message.
 * - A multi-byte sequence is never split across two text messages: an incomplete sequence at the end
 *   of a read (1 to 3 bytes that can still become a valid character) is carried over and put in front
 *   of the next read. `end()` (EOF) flushes a carried sequence, which is then incomplete for good, as
 *   binary. (The bridge also calls end() when carried bytes wait too long: see channel-bridge.ts.)
 * - `binary: true` sends every byte as binary messages, cut anywhere, nothing carried.
 *
 * Message size: every message is at most `min(maxMessageSize, 256 KiB)` bytes (the UTF-8 length for
 * text). Text is cut only at code point boundaries. The 256 KiB cap (CHROMIUM_MAX_MESSAGE_BYTES)
 * holds whatever the remote advertises: Chromium advertises a=max-message-size:262144 and its own
 * `send` throws above 262144 bytes, so no browser API user expects larger messages; Firefox
 * advertises up to 1 GB, and one huge message would be reassembled whole in the browser's memory and
 * hold up the channel (SCTP sends a message in order, so a large one blocks the ones behind it). A
 * character longer than a tiny limit (maxMessageSize below 4, only seen in tests) cannot be sent as
 * text without splitting it, so such characters go as binary pieces.
 */

/** Chromium's RTCDataChannel.send limit and advertised max-message-size: the cap for every message. */
export const CHROMIUM_MAX_MESSAGE_BYTES = 262_144;
/**
 * The smallest remote a=max-message-size a channel is bridged with. Below it every app write would
 * become thousands of messages (4 MiB at max-message-size:1 is 4.19M messages); raising the limit
 * instead is no answer, as the peer would drop the bigger messages. Such a channel is refused.
 */
export const MIN_REMOTE_MAX_MESSAGE_BYTES = 1024;
/** RFC 8841: the remote's limit when its SDP carries no a=max-message-size. */
export const DEFAULT_REMOTE_MAX_MESSAGE_BYTES = 65_536;

export type BrowserMessage =
  | { readonly type: 'text'; readonly text: string; /** UTF-8 length of text. */ readonly byteLength: number }
  | { readonly type: 'binary'; readonly data: Buffer };

export interface Utf8ChunkerOptions {
  /** The remote's maximum message size in bytes; capped at CHROMIUM_MAX_MESSAGE_BYTES. Integer ≥ 1. */
  maxMessageSize: number;
  /** Everything as binary messages. */
  binary?: boolean;
}

/**
 * The per-message limit for a remote that advertises `remoteMaxMessageSize` (node-datachannel's
 * `maxMessageSize()`): at most 256 KiB; 0, negative or infinite mean "no limit" (RFC 8841's 0) and
 * give 256 KiB; anything not a number gives the RFC 8841 default of 64 KiB.
 */
/** Why a remote advertising `remoteMaxMessageSize` cannot be bridged, or undefined when it can (0: no limit). */
export function remoteMaxMessageSizeRefusal(remoteMaxMessageSize: number): string | undefined {
  if (typeof remoteMaxMessageSize !== 'number' || Number.isNaN(remoteMaxMessageSize) || remoteMaxMessageSize <= 0) return undefined;
  if (remoteMaxMessageSize >= MIN_REMOTE_MAX_MESSAGE_BYTES) return undefined;
  return `the peer's a=max-message-size:${remoteMaxMessageSize} is below the ${MIN_REMOTE_MAX_MESSAGE_BYTES}-byte floor (every write would become a flood of tiny messages)`;
}

export function effectiveMaxMessageSize(remoteMaxMessageSize: number): number {
  if (typeof remoteMaxMessageSize !== 'number' || Number.isNaN(remoteMaxMessageSize)) return DEFAULT_REMOTE_MAX_MESSAGE_BYTES;
  if (remoteMaxMessageSize <= 0 || remoteMaxMessageSize === Infinity) return CHROMIUM_MAX_MESSAGE_BYTES;
  return Math.max(1, Math.min(Math.floor(remoteMaxMessageSize), CHROMIUM_MAX_MESSAGE_BYTES));
}

export class Utf8Chunker {
  readonly maxMessageSize: number;
  readonly binary: boolean;
  /** 0 to 3 bytes of an incomplete multi-byte sequence at the end of the last read. */
  private carry: Buffer = Buffer.alloc(0);

  constructor(options: Utf8ChunkerOptions) {
    if (!Number.isInteger(options.maxMessageSize) || options.maxMessageSize < 1) {
      throw new RangeError(`maxMessageSize must be an integer ≥ 1, got ${options.maxMessageSize}`);
    }
    this.maxMessageSize = Math.min(options.maxMessageSize, CHROMIUM_MAX_MESSAGE_BYTES);
    this.binary = options.binary ?? false;
  }

  /** Bytes held back, waiting for the rest of a multi-byte sequence. */
  get carriedBytes(): number {
    return this.carry.length;
  }

  /** The messages for one read; may be empty (nothing but an incomplete sequence so far). */
  push(chunk: Buffer): BrowserMessage[] {
    const messages: BrowserMessage[] = [];
    if (this.binary) {
      pushBinary(messages, chunk, this.maxMessageSize);
      return messages;
    }
    const data = this.carry.length === 0 ? chunk : Buffer.concat([this.carry, chunk]);
    const tail = incompleteTailLength(data);
    const bodyEnd = data.length - tail;
    // Copied: the carry must not keep the whole read alive.
    this.carry = tail === 0 ? EMPTY : Buffer.from(data.subarray(bodyEnd));
    const body = data.subarray(0, bodyEnd);
    if (body.length === 0) return messages;
    if (isUtf8(body)) pushText(messages, body, this.maxMessageSize);
    else pushBinary(messages, body, this.maxMessageSize);
    return messages;
  }

  /**
   * End of the stream: the carried bytes (an incomplete sequence) as binary. The chunker can be
   * reused; the bridge also calls it when the carried bytes waited too long for the rest (a binary
   * stream may end a burst with what looks like the start of a character).
   */
  end(): BrowserMessage[] {
    const messages: BrowserMessage[] = [];
    if (this.carry.length > 0) pushBinary(messages, this.carry, this.maxMessageSize);
    this.carry = EMPTY;
    return messages;
  }
}

const EMPTY = Buffer.alloc(0);

/** Byte length of the message (UTF-8 length for text). */
export function messageByteLength(message: BrowserMessage): number {
  return message.type === 'text' ? message.byteLength : message.data.length;
}

function pushBinary(out: BrowserMessage[], data: Buffer, max: number): void {
  for (let start = 0; start < data.length; start += max) {
    out.push({ type: 'binary', data: data.subarray(start, Math.min(start + max, data.length)) });
  }
}

/** `body` is valid UTF-8: text messages of at most `max` bytes, cut at code point boundaries. */
function pushText(out: BrowserMessage[], body: Buffer, max: number): void {
  let start = 0;
  while (start < body.length) {
    let end = Math.min(start + max, body.length);
    while (end > start && end < body.length && isContinuation(body[end])) end--;
    if (end > start) {
      out.push({ type: 'text', text: body.toString('utf8', start, end), byteLength: end - start });
      start = end;
      continue;
    }
    // The character at `start` is longer than `max`: it and the next ones like it go as binary.
    let runEnd = start;
    while (runEnd < body.length && sequenceLength(body[runEnd]) > max) runEnd += sequenceLength(body[runEnd]);
    pushBinary(out, body.subarray(start, runEnd), max);
    start = runEnd;
  }
}

function isContinuation(byte: number): boolean {
  return (byte & 0xc0) === 0x80;
}

/** Length of the sequence a valid lead byte starts. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead < 0xe0) return 2;
  if (lead < 0xf0) return 3;
  return 4;
}

/**
 * How many bytes at the end of `data` (0 to 3) are the beginning of a multi-byte sequence that the
 * next bytes could still complete into a valid character (Unicode Table 3-7). Bytes that can no
 * longer become valid are not carried: they are invalid already.
 */
export function incompleteTailLength(data: Buffer): number {
  const limit = Math.min(3, data.length);
  for (let k = 1; k <= limit; k++) {
    const lead = data[data.length - k];
    if (isContinuation(lead)) continue;
    const needed = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    if (needed <= k) return 0; // ASCII, an invalid lead byte, or a complete sequence
    if (k >= 2) {
      const second = data[data.length - k + 1];
      const [low, high] = secondByteRange(lead);
      if (second < low || second > high) return 0;
    }
    return k;
  }
  return 0;
}

function secondByteRange(lead: number): [number, number] {
  switch (lead) {
    case 0xe0:
      return [0xa0, 0xbf];
    case 0xed:
      return [0x80, 0x9f];
    case 0xf0:
      return [0x90, 0xbf];
    case 0xf4:
      return [0x80, 0x8f];
    default:
      return [0x80, 0xbf];
  }
}
