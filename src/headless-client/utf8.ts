import { isUtf8 } from 'node:buffer';

/**
 * Splits UTF-8 text into pieces of at most `maxBytes` encoded bytes, never inside a code point.
 * `maxBytes` must be at least 4.
 */
export function splitText(text: string, maxBytes: number): string[] {
  if (maxBytes < 4) throw new RangeError(`maxBytes must be at least 4, not ${maxBytes}`);
  if (text.length * 3 <= maxBytes) return [text];
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return [text];
  const pieces: string[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(start + maxBytes, bytes.length);
    // Back off over continuation bytes so the piece ends on a code point boundary.
    while (end < bytes.length && end > start && (bytes[end]! & 0xc0) === 0x80) end--;
    pieces.push(bytes.toString('utf8', start, end));
    start = end;
  }
  return pieces;
}

/** Splits bytes into views of at most `maxBytes` (no copy). */
export function splitBinary(data: Buffer, maxBytes: number): Buffer[] {
  if (maxBytes < 1) throw new RangeError(`maxBytes must be positive, not ${maxBytes}`);
  if (data.length <= maxBytes) return [data];
  const pieces: Buffer[] = [];
  for (let start = 0; start < data.length; start += maxBytes) pieces.push(data.subarray(start, Math.min(start + maxBytes, data.length)));
  return pieces;
}

/**
 * How many bytes at the end of `data` are the start of a multi-byte UTF-8 sequence that the next
 * chunk may complete (0–3). Bytes that can never become valid UTF-8 count as complete (0).
 */
export function incompleteUtf8Tail(data: Buffer): number {
  const n = data.length;
  for (let back = 1; back <= Math.min(3, n); back++) {
    const byte = data[n - back]!;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead byte
    const needed = byte >= 0xf0 && byte <= 0xf4 ? 4 : byte >= 0xe0 && byte <= 0xef ? 3 : byte >= 0xc2 && byte <= 0xdf ? 2 : 1;
    return needed > back ? back : 0;
  }
  return 0;
}

export type Piece = { kind: 'text'; text: string } | { kind: 'binary'; data: Buffer };

/**
 * Turns a byte stream into data-channel messages: each chunk goes as text when it is valid UTF-8
 * (a multi-byte sequence cut at the chunk's end is held back for the next chunk, so no code point is
 * ever split), otherwise as binary. With `binary: true` everything goes as binary.
 */
export class Utf8Classifier {
  #held: Buffer = Buffer.alloc(0);

  constructor(private readonly binary = false) {}

  push(chunk: Buffer): Piece[] {
    if (this.binary) return chunk.length > 0 ? [{ kind: 'binary', data: chunk }] : [];
    const data = this.#held.length > 0 ? Buffer.concat([this.#held, chunk]) : chunk;
    const tail = incompleteUtf8Tail(data);
    const body = data.subarray(0, data.length - tail);
    if (isUtf8(body)) {
      this.#held = Buffer.from(data.subarray(data.length - tail));
      return body.length > 0 ? [{ kind: 'text', text: body.toString('utf8') }] : [];
    }
    this.#held = Buffer.alloc(0);
    return [{ kind: 'binary', data }];
  }

  /** At end of input: whatever is held back (an incomplete sequence) goes as binary. */
  end(): Piece[] {
    const held = this.#held;
    this.#held = Buffer.alloc(0);
    return held.length > 0 ? [{ kind: 'binary', data: held }] : [];
  }
}
