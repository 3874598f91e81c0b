import { mkdirSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

export interface FakeChannel {
  server: Server;
  path: string;
  /** Connections accepted so far. */
  connections: Socket[];
  close(): Promise<void>;
}

/**
 * Stands in for the WebRTC platform's side of one data channel: listens on
 * `<socketDir>/webrtc_data_<name>` and answers each chunk with `reply(chunk)` (default: echo).
 */
export async function startFakeChannel(socketDir: string, name: string, reply: (chunk: Buffer) => Buffer | string = (c) => c): Promise<FakeChannel> {
  mkdirSync(socketDir, { recursive: true });
  const path = join(socketDir, `webrtc_data_${name}`);
  const connections: Socket[] = [];
  const server = createServer((socket) => {
    connections.push(socket);
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => socket.write(reply(chunk)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return {
    server,
    path,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of connections) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Reads from a socket until `predicate(all bytes so far)` holds, or rejects after `timeoutMs`.
 * Leaves the socket paused: call resume() before waiting for 'end'.
 */
export function readUntil(socket: Socket, predicate: (data: Buffer) => boolean, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms; received ${JSON.stringify(data.toString())}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (predicate(data)) {
        cleanup();
        resolve(data);
      }
    };
    const onEnd = () => {
      cleanup();
      if (predicate(data)) resolve(data);
      else reject(new Error(`socket ended; received ${JSON.stringify(data.toString())}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      // Hold what arrives next for the next reader; without a 'data' listener a flowing socket drops it.
      socket.pause();
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    // A socket paused by an earlier readUntil does not resume just because a listener was added.
    socket.resume();
  });
}
