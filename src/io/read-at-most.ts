/**
 * All of `source`, or undefined as soon as it passes `limit` bytes: then nothing more is read or
 * buffered and the source is closed through its iterator's return() (a Node stream is destroyed,
 * a web ReadableStream cancelled). The one bounded reader for anything a peer or pipe can make us
 * hold: stdin for send-message, the gateway's answer in the headless client (and the gateway's
 * request bodies can take it too).
 */
export async function readAtMost(source: AsyncIterable<Uint8Array>, limit: number): Promise<Buffer | undefined> {
  const iterator = source[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await iterator.next();
    if (done) return Buffer.concat(chunks);
    total += value.byteLength;
    if (total > limit) {
      // The caller's answer is "too much" whatever closing says.
      await iterator.return?.()?.catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
}
