import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder } from '../../src/wire/framing.js';
import { WireError } from '../../src/wire/wire-error.js';

describe('FrameDecoder', () => {
  const bodies = [Buffer.from('a'), Buffer.alloc(0), Buffer.from('x'.repeat(70_000)), Buffer.from([0, 1, 2, 255])];
  const stream = Buffer.concat(bodies.map(encodeFrame));

  it('returns the same frames fed one byte at a time', () => {
    const decoder = new FrameDecoder();
    const out: Buffer[] = [];
    for (const byte of stream) {
      decoder.push(Buffer.from([byte]));
      for (let frame = decoder.next(); frame; frame = decoder.next()) out.push(frame);
    }
    expect(out.map((b) => b.toString('hex'))).toEqual(bodies.map((b) => b.toString('hex')));
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('returns the same frames fed in one chunk and in odd-sized chunks', () => {
    for (const size of [stream.length, 3, 4, 5, 4096, 65_537]) {
      const decoder = new FrameDecoder();
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) {
        decoder.push(stream.subarray(i, i + size));
        for (let frame = decoder.next(); frame; frame = decoder.next()) out.push(frame);
      }
      expect(out.length, `chunk size ${size}`).toBe(bodies.length);
      expect(Buffer.concat(out).equals(Buffer.concat(bodies))).toBe(true);
    }
  });

  it('returns frames the caller may keep after more bytes arrive', () => {
    const decoder = new FrameDecoder();
    decoder.push(encodeFrame(Buffer.from('first')));
    const first = decoder.next()!;
    decoder.push(encodeFrame(Buffer.from('other')));
    expect(first.toString()).toBe('first');
  });

  it('refuses an oversized header before the body arrives', () => {
    const decoder = new FrameDecoder(1024);
    const header = Buffer.alloc(4);
    header.writeUInt32LE(1025);
    decoder.push(header);
    expect(() => decoder.next()).toThrow(WireError);
    try {
      decoder.next();
    } catch (error) {
      expect((error as WireError).code).toBe('FRAME_TOO_LARGE');
      expect((error as WireError).message).toContain('1025');
    }
  });

  it('accepts a frame exactly at the limit', () => {
    const decoder = new FrameDecoder(16);
    decoder.push(encodeFrame(Buffer.alloc(16, 7)));
    expect(decoder.next()?.length).toBe(16);
  });

  it('hands back the bytes after the last frame (stream mode)', () => {
    const decoder = new FrameDecoder();
    decoder.push(Buffer.concat([encodeFrame(Buffer.from('tx')), Buffer.from('channel bytes')]));
    expect(decoder.next()?.toString()).toBe('tx');
    expect(decoder.takeRemainder().toString()).toBe('channel bytes');
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('writes a little-endian length header', () => {
    expect(encodeFrame(Buffer.from('abc')).toString('hex')).toBe('03000000616263');
  });
});
