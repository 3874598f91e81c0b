import { describe, expect, it } from 'vitest';
import { incompleteUtf8Tail, splitBinary, splitText, Utf8Classifier, type Piece } from '../../src/headless-client/utf8.js';

describe('splitText', () => {
  it('keeps short text whole and splits long text on code point boundaries within the byte limit', () => {
    expect(splitText('hello', 16)).toEqual(['hello']);
    const text = 'x' + '€'.repeat(10) + '😀'.repeat(5) + 'y';
    const pieces = splitText(text, 7);
    expect(pieces.join('')).toBe(text);
    for (const piece of pieces) {
      expect(Buffer.byteLength(piece)).toBeLessThanOrEqual(7);
      expect(piece).not.toContain('\uFFFD');
    }
  });

  it('refuses a limit that cannot hold a 4-byte character', () => {
    expect(() => splitText('abc', 3)).toThrow(RangeError);
  });
});

describe('splitBinary', () => {
  it('cuts into views of at most the limit', () => {
    const data = Buffer.from([...Array(10).keys()]);
    expect(splitBinary(data, 4).map((b) => [...b])).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(splitBinary(data, 10)).toEqual([data]);
  });
});

describe('incompleteUtf8Tail', () => {
  it('finds a multi-byte sequence cut at the end', () => {
    const euro = Buffer.from('€'); // e2 82 ac
    expect(incompleteUtf8Tail(Buffer.from('ab'))).toBe(0);
    expect(incompleteUtf8Tail(Buffer.concat([Buffer.from('a'), euro]))).toBe(0);
    expect(incompleteUtf8Tail(Buffer.concat([Buffer.from('a'), euro.subarray(0, 1)]))).toBe(1);
    expect(incompleteUtf8Tail(Buffer.concat([Buffer.from('a'), euro.subarray(0, 2)]))).toBe(2);
    expect(incompleteUtf8Tail(Buffer.from('😀').subarray(0, 3))).toBe(3);
    expect(incompleteUtf8Tail(Buffer.from([0x61, 0xff]))).toBe(0);
  });
});

describe('Utf8Classifier', () => {
  const texts = (pieces: Piece[]) => pieces.map((p) => (p.kind === 'text' ? p.text : `<${p.data.toString('hex')}>`));

  it('sends valid UTF-8 as text and holds back a character split between chunks', () => {
    const c = new Utf8Classifier();
    const bytes = Buffer.from('a€b');
    expect(texts(c.push(bytes.subarray(0, 2)))).toEqual(['a']);
    expect(texts(c.push(bytes.subarray(2)))).toEqual(['€b']);
    expect(c.end()).toEqual([]);
  });

  it('sends invalid UTF-8 as binary, and a dangling partial character at the end as binary', () => {
    const c = new Utf8Classifier();
    expect(texts(c.push(Buffer.from([0x68, 0xff, 0x69])))).toEqual(['<68ff69>']);
    expect(texts(c.push(Buffer.from([0x6f, 0xe2])))).toEqual(['o']);
    expect(texts(c.end())).toEqual(['<e2>']);
  });

  it('forces binary when asked', () => {
    const c = new Utf8Classifier(true);
    expect(c.push(Buffer.from('hi'))).toEqual([{ kind: 'binary', data: Buffer.from('hi') }]);
  });
});
