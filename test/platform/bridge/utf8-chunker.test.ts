import { describe, expect, it } from 'vitest';
import {
  CHROMIUM_MAX_MESSAGE_BYTES,
  effectiveMaxMessageSize,
  incompleteTailLength,
  Utf8Chunker,
  type BrowserMessage,
} from '../../../src/platform/bridge/utf8-chunker.js';

/** Deterministic PRNG (mulberry32): failures are reproducible from the seed in the test name. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * n;
  };
}

function bytesOf(messages: readonly BrowserMessage[]): Buffer {
  return Buffer.concat(messages.map((m) => (m.type === 'text' ? Buffer.from(m.text, 'utf8') : m.data)));
}

/** Feeds `input` cut at `cuts` (sorted offsets), then EOF. */
function run(input: Buffer, cuts: readonly number[], maxMessageSize: number, binary = false): BrowserMessage[] {
  const chunker = new Utf8Chunker({ maxMessageSize, binary });
  const out: BrowserMessage[] = [];
  let start = 0;
  for (const cut of [...cuts, input.length]) {
    out.push(...chunker.push(input.subarray(start, cut)));
    start = cut;
  }
  out.push(...chunker.end());
  return out;
}

/** Plain checks (not expect) so the property loops stay fast; the message says what broke. */
function expectWellFormed(messages: readonly BrowserMessage[], max: number, inputHadReplacementChar: boolean): void {
  const fail = (what: string, m: BrowserMessage) => {
    throw new Error(`${what}: ${JSON.stringify(m)} (max ${max})`);
  };
  for (const m of messages) {
    if (m.type === 'text') {
      if (m.text.length === 0) fail('empty text message', m);
      if (Buffer.byteLength(m.text, 'utf8') !== m.byteLength) fail('byteLength mismatch', m);
      if (m.byteLength > max) fail('text message above the limit', m);
      // Lone surrogates would be re-encoded as EF BF BD: a text message must be well-formed.
      if (Buffer.from(m.text, 'utf8').toString('utf8') !== m.text) fail('text message with a lone surrogate', m);
      if (!inputHadReplacementChar && m.text.includes('\uFFFD')) fail('U+FFFD that was not in the input', m);
    } else {
      if (m.data.length === 0) fail('empty binary message', m);
      if (m.data.length > max) fail('binary message above the limit', m);
    }
  }
}

const SAMPLES = ['a', 'é', '€', '😀', 'ऄ', '\u{10FFFF}', '\uFFFD', '\u0000'];

/** Random bytes mixing valid text, random garbage and the classic invalid forms. */
function randomStream(rand: (n: number) => number): Buffer {
  const parts: Buffer[] = [];
  const pieces = 1 + Math.floor(rand(12));
  for (let i = 0; i < pieces; i++) {
    switch (Math.floor(rand(6))) {
      case 0: {
        let text = '';
        const n = Math.floor(rand(40));
        for (let j = 0; j < n; j++) text += SAMPLES[Math.floor(rand(SAMPLES.length))];
        parts.push(Buffer.from(text, 'utf8'));
        break;
      }
      case 1: {
        const n = Math.floor(rand(40));
        parts.push(Buffer.from(Array.from({ length: n }, () => Math.floor(rand(256)))));
        break;
      }
      case 2: // a sequence cut short
        parts.push(Buffer.from('😀', 'utf8').subarray(0, 1 + Math.floor(rand(3))));
        break;
      case 3: // surrogate, overlong, above U+10FFFF, stray continuation
        parts.push(Buffer.from([[0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xe0, 0x80, 0x80]][Math.floor(rand(5))]));
        break;
      case 4:
        parts.push(Buffer.from('plain ascii line\n'));
        break;
      default:
        parts.push(Buffer.alloc(0));
    }
  }
  return Buffer.concat(parts);
}

function randomCuts(rand: (n: number) => number, length: number): number[] {
  const cuts = Array.from({ length: Math.floor(rand(8)) }, () => Math.floor(rand(length + 1)));
  return cuts.sort((a, b) => a - b);
}

describe('Utf8Chunker', () => {
  it('produces nothing for empty input, also between reads', () => {
    const chunker = new Utf8Chunker({ maxMessageSize: 16 });
    expect(chunker.push(Buffer.alloc(0))).toEqual([]);
    expect(chunker.end()).toEqual([]);
    expect(run(Buffer.alloc(0), [0, 0], 1)).toEqual([]);
  });

  it('sends valid UTF-8 as one text message', () => {
    const messages = new Utf8Chunker({ maxMessageSize: 65536 }).push(Buffer.from('hello wörld 😀\n'));
    expect(messages).toEqual([{ type: 'text', text: 'hello wörld 😀\n', byteLength: Buffer.byteLength('hello wörld 😀\n') }]);
  });

  it('never splits a multi-byte character, whatever the split position (one and two cuts)', () => {
    const text = 'aé€😀b\u{10FFFF}ऄ😀';
    const input = Buffer.from(text, 'utf8');
    for (let i = 0; i <= input.length; i++) {
      for (let j = i; j <= input.length; j++) {
        const messages = run(input, [i, j], 65536);
        expect(messages.every((m) => m.type === 'text')).toBe(true);
        expect(messages.map((m) => (m.type === 'text' ? m.text : '')).join('')).toBe(text);
        expectWellFormed(messages, 65536, false);
      }
    }
  });

  it('reassembles 4-byte emoji fed one byte at a time', () => {
    const input = Buffer.from('😀😀🎉', 'utf8');
    const chunker = new Utf8Chunker({ maxMessageSize: 65536 });
    const messages: BrowserMessage[] = [];
    for (let i = 0; i < input.length; i++) {
      messages.push(...chunker.push(input.subarray(i, i + 1)));
      // 1 to 3 bytes waiting inside a character, none on a boundary
      expect(chunker.carriedBytes).toBe((i + 1) % 4);
    }
    messages.push(...chunker.end());
    expect(messages).toEqual([
      { type: 'text', text: '😀', byteLength: 4 },
      { type: 'text', text: '😀', byteLength: 4 },
      { type: 'text', text: '🎉', byteLength: 4 },
    ]);
  });

  it('flushes an incomplete sequence at EOF as binary', () => {
    const chunker = new Utf8Chunker({ maxMessageSize: 65536 });
    expect(chunker.push(Buffer.from('ok'))).toEqual([{ type: 'text', text: 'ok', byteLength: 2 }]);
    expect(chunker.push(Buffer.from([0xe2, 0x82]))).toEqual([]);
    expect(chunker.carriedBytes).toBe(2);
    const flushed = chunker.end();
    expect(flushed).toHaveLength(1);
    expect(flushed[0]).toEqual({ type: 'binary', data: Buffer.from([0xe2, 0x82]) });
    expect(chunker.carriedBytes).toBe(0);
  });

  it('does not carry bytes that can no longer become a character', () => {
    // E0 80: E0 needs A0..BF next; F4 90: above U+10FFFF; ED A0: a surrogate
    for (const bytes of [[0xe0, 0x80], [0xf4, 0x90], [0xed, 0xa0], [0xff], [0xc1]]) {
      const chunker = new Utf8Chunker({ maxMessageSize: 65536 });
      expect(chunker.push(Buffer.from(bytes))).toEqual([{ type: 'binary', data: Buffer.from(bytes) }]);
      expect(chunker.carriedBytes).toBe(0);
    }
  });

  it('incompleteTailLength recognises exactly the completable prefixes', () => {
    expect(incompleteTailLength(Buffer.from([]))).toBe(0);
    expect(incompleteTailLength(Buffer.from('abc'))).toBe(0);
    expect(incompleteTailLength(Buffer.from([0x61, 0xc3]))).toBe(1);
    expect(incompleteTailLength(Buffer.from([0xe2, 0x82]))).toBe(2);
    expect(incompleteTailLength(Buffer.from([0xf0, 0x9f, 0x98]))).toBe(3);
    expect(incompleteTailLength(Buffer.from([0xf0, 0x9f, 0x98, 0x80]))).toBe(0); // complete
    expect(incompleteTailLength(Buffer.from([0x80, 0x80, 0x80]))).toBe(0); // no lead byte
    expect(incompleteTailLength(Buffer.from([0xe0, 0x9f]))).toBe(0);
    expect(incompleteTailLength(Buffer.from([0xe0, 0xa0]))).toBe(2);
    expect(incompleteTailLength(Buffer.from([0xf0, 0x8f]))).toBe(0);
  });

  it('sends a read that mixes text and invalid bytes entirely as binary (the documented policy)', () => {
    const mixed = Buffer.concat([Buffer.from('hello '), Buffer.from([0xff]), Buffer.from(' wörld')]);
    const chunker = new Utf8Chunker({ maxMessageSize: 65536 });
    expect(chunker.push(mixed)).toEqual([{ type: 'binary', data: mixed }]);
    // the next read stands on its own
    expect(chunker.push(Buffer.from('next'))).toEqual([{ type: 'text', text: 'next', byteLength: 4 }]);
  });

  it('carries a trailing incomplete character of an invalid read into the next read', () => {
    const chunker = new Utf8Chunker({ maxMessageSize: 65536 });
    expect(chunker.push(Buffer.from([0xff, 0x41, 0xf0, 0x9f]))).toEqual([{ type: 'binary', data: Buffer.from([0xff, 0x41]) }]);
    expect(chunker.push(Buffer.from([0x98, 0x80, 0x21]))).toEqual([{ type: 'text', text: '😀!', byteLength: 5 }]);
  });

  it('binary: true sends everything as binary, cut at the limit, nothing carried', () => {
    const chunker = new Utf8Chunker({ maxMessageSize: 3, binary: true });
    expect(chunker.push(Buffer.from('abcdefg'))).toEqual([
      { type: 'binary', data: Buffer.from('abc') },
      { type: 'binary', data: Buffer.from('def') },
      { type: 'binary', data: Buffer.from('g') },
    ]);
    expect(chunker.push(Buffer.from([0xe2]))).toEqual([{ type: 'binary', data: Buffer.from([0xe2]) }]);
    expect(chunker.carriedBytes).toBe(0);
    expect(chunker.end()).toEqual([]);
  });

  it('cuts text only at code point boundaries for maxMessageSize 1..8', () => {
    const text = 'a€😀éb😀ऄ\u{10FFFF}zz€';
    const input = Buffer.from(text, 'utf8');
    for (let max = 1; max <= 8; max++) {
      const messages = run(input, [], max);
      expect(bytesOf(messages).equals(input)).toBe(true);
      expectWellFormed(messages, max, false);
      // With room for any character, everything is text; below that, only characters that do not fit go binary.
      if (max >= 4) expect(messages.every((m) => m.type === 'text')).toBe(true);
      for (const m of messages) {
        if (m.type === 'binary') expect(m.data.length).toBeLessThan(4);
      }
      // Each text message is filled as far as the next character allows.
      const texts = messages.filter((m) => m.type === 'text');
      expect(texts.length).toBeGreaterThan(0);
    }
    expect(run(Buffer.from('abcdefgh'), [], 3).map((m) => (m.type === 'text' ? m.text : '?'))).toEqual(['abc', 'def', 'gh']);
  });

  it('caps messages at 256 KiB whatever the remote advertises', () => {
    const chunker = new Utf8Chunker({ maxMessageSize: 1_000_000_000 });
    expect(chunker.maxMessageSize).toBe(CHROMIUM_MAX_MESSAGE_BYTES);
    const input = Buffer.from('€'.repeat(200_000), 'utf8'); // 600 000 bytes, 3-byte characters
    const messages = chunker.push(input);
    expect(messages.length).toBe(3);
    expectWellFormed(messages, CHROMIUM_MAX_MESSAGE_BYTES, false);
    expect(bytesOf(messages).equals(input)).toBe(true);
  });

  it('derives the per-message limit from the remote max-message-size', () => {
    expect(effectiveMaxMessageSize(65536)).toBe(65536);
    expect(effectiveMaxMessageSize(262144)).toBe(262144);
    expect(effectiveMaxMessageSize(1 << 30)).toBe(262144);
    expect(effectiveMaxMessageSize(0)).toBe(262144); // RFC 8841: 0 = no limit
    expect(effectiveMaxMessageSize(Infinity)).toBe(262144);
    expect(effectiveMaxMessageSize(Number.NaN)).toBe(65536);
    expect(effectiveMaxMessageSize(100.7)).toBe(100);
    expect(() => new Utf8Chunker({ maxMessageSize: 0 })).toThrow(RangeError);
    expect(() => new Utf8Chunker({ maxMessageSize: 1.5 })).toThrow(RangeError);
  });

  it('property: random byte streams cut at random points reassemble exactly (2000 cases)', () => {
    const rand = prng(0x5eed);
    let textMessages = 0;
    let binaryMessages = 0;
    for (let i = 0; i < 2000; i++) {
      const input = randomStream(rand);
      const cuts = randomCuts(rand, input.length);
      const max = [1, 2, 3, 4, 5, 7, 8, 13, 64, 65536][Math.floor(rand(10))];
      const binary = rand(10) < 1;
      const messages = run(input, cuts, max, binary);
      const hadReplacement = input.includes(Buffer.from('\uFFFD', 'utf8'));
      const out = bytesOf(messages);
      if (!out.equals(input)) throw new Error(`case ${i}: input ${input.toString('hex')} cuts ${cuts} max ${max} gave ${out.toString('hex')}`);
      expectWellFormed(messages, max, hadReplacement);
      for (const m of messages) {
        if (binary && m.type === 'text') throw new Error(`case ${i}: text message in binary mode`);
        if (m.type === 'text') textMessages++;
        else binaryMessages++;
      }
    }
    // The generator exercised both kinds.
    expect(textMessages).toBeGreaterThan(100);
    expect(binaryMessages).toBeGreaterThan(100);
  });

  it('property: valid text cut at random points always arrives as text, never with U+FFFD', () => {
    const rand = prng(42);
    for (let i = 0; i < 1000; i++) {
      let text = '';
      const n = Math.floor(rand(60));
      for (let j = 0; j < n; j++) text += SAMPLES.filter((s) => s !== '\uFFFD')[Math.floor(rand(SAMPLES.length - 1))];
      const input = Buffer.from(text, 'utf8');
      const max = 4 + Math.floor(rand(20));
      const messages = run(input, randomCuts(rand, input.length), max);
      if (!messages.every((m) => m.type === 'text')) throw new Error(`case ${i}: binary message for valid text ${JSON.stringify(text)}`);
      const joined = messages.map((m) => (m.type === 'text' ? m.text : '')).join('');
      if (joined !== text) throw new Error(`case ${i}: ${JSON.stringify(joined)} != ${JSON.stringify(text)}`);
      expectWellFormed(messages, max, false);
    }
  });

  it('the checks above can fail: a split character is caught', () => {
    const split = [{ type: 'text', text: '\uFFFD', byteLength: 3 } as const];
    expect(() => expectWellFormed(split, 8, false)).toThrow(/U\+FFFD/);
    expect(() => expectWellFormed([{ type: 'binary', data: Buffer.alloc(9) }], 8, false)).toThrow(/above the limit/);
  });
});
