import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FdConnection } from '../../src/io/fd-connection.js';
import { connectUnix } from '../../src/native/addon.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';

let dir: string;
let server: Server;
const peers: Socket[] = [];

beforeEach(() => {
  dir = makeTempDir('aoob-fdconn-');
});
afterEach(async () => {
  for (const peer of peers.splice(0)) peer.destroy();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  removeTempDir(dir);
});

// A peer that answers and hangs up without reading what we sent: Linux then flags our socket with
// ECONNRESET (EPOLLERR), while the answer is still in our receive queue. The answer must not be lost.
it('delivers what the peer wrote before a reset, then reports the close', async () => {
  const path = join(dir, 's.sock');
  const accepted = new Promise<Socket>((resolve) => {
    // pauseOnConnect: the peer never reads, so our request stays in its receive queue.
    server = createServer({ pauseOnConnect: true }, (socket) => {
      peers.push(socket);
      resolve(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const fd = connectUnix(path);
  expect(fd).toBeGreaterThanOrEqual(0);
  const received: Buffer[] = [];
  let closedWith: number | undefined;
  let onClosed!: () => void;
  const closed = new Promise<void>((resolve) => (onClosed = resolve));
  const connection = new FdConnection(fd, {
    onData: (bytes) => received.push(bytes),
    onClose: (errno) => {
      closedWith = errno;
      onClosed();
    },
  });
  // Not reading until the peer has answered and gone: the answer and the reset are then both
  // pending when polling resumes.
  connection.pauseReading();
  connection.write(Buffer.from('a request the peer never reads'));
  const peer = await accepted;
  await new Promise<void>((resolve) => peer.write('the answer', () => resolve()));
  const gone = new Promise((resolve) => peer.once('close', resolve));
  peer.destroy();
  await gone;
  connection.resumeReading();
  await closed;
  expect(Buffer.concat(received).toString()).toBe('the answer');
  expect(closedWith).toBeDefined();
});
