// The shared bounded reader: whole sources up to the limit, and a source past it closed unread.
import { Readable } from 'node:stream';
import { ReadableStream } from 'node:stream/web';
import { describe, expect, it } from 'vitest';
import { readAtMost } from '../../src/io/read-at-most.js';

describe('readAtMost', () => {
  it('returns everything up to and including exactly the limit', async () => {
    expect((await readAtMost(Readable.from([Buffer.from('ab'), Buffer.from('cd')]), 4))?.toString()).toBe('abcd');
    expect((await readAtMost(Readable.from([]), 0))?.length).toBe(0);
  });

  it('past the limit: undefined, and a Node stream is destroyed with nothing more read', async () => {
    let pulled = 0;
    const source = new Readable({
      read() {
        pulled++;
        this.push(Buffer.alloc(10));
      },
    });
    expect(await readAtMost(source, 25)).toBeUndefined();
    expect(source.destroyed).toBe(true);
    expect(pulled).toBeLessThan(10);
  });

  it('past the limit: a web ReadableStream is cancelled', async () => {
    let cancelled = false;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(10));
      },
      cancel() {
        cancelled = true;
      },
    });
    expect(await readAtMost(source, 25)).toBeUndefined();
    expect(cancelled).toBe(true);
  });
});
