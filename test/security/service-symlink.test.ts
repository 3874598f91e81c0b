/**
 * Issue 9, item 4: connect(name) follows no symlink. A `webrtc_data_x` symlink to another socket
 * (here a root-only socket outside the socket dir) is no channel, exactly as the socket-dir
 * watcher sees it: the reply is CHANNEL_NOT_FOUND and the target is never connected. Before the
 * fix a root daemon with --allow-uid handed the target socket to the client.
 */
import { chmodSync, mkdirSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataProxyClient, DataProxyError } from '../../src/client/data-proxy-client.js';
import { Status } from '../../src/parcel/status.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { startFakeChannel, type FakeChannel } from '../helpers/echo-platform.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';

let dir: string;
let daemon: DaemonHandle;
let channel: FakeChannel;
let secret: Server;
let secretConnections = 0;
let client: DataProxyClient;

beforeAll(async () => {
  dir = makeTempDir('aoob-sec-');
  daemon = await startDaemon(dir);
  channel = await startFakeChannel(daemon.socketDir, 'foo');
  mkdirSync(join(dir, 'private'), { mode: 0o700 });
  const secretPath = join(dir, 'private', 'secret.sock');
  secret = createServer((socket) => {
    secretConnections++;
    socket.end('secret');
  });
  await new Promise<void>((resolve) => secret.listen(secretPath, resolve));
  chmodSync(secretPath, 0o600);
  symlinkSync(secretPath, join(daemon.socketDir, 'webrtc_data_x'));
  client = new DataProxyClient({ servicePath: daemon.servicePath });
});

afterAll(async () => {
  client?.close();
  await new Promise<void>((resolve) => (secret ? secret.close(() => resolve()) : resolve()));
  await channel?.close();
  await daemon?.stop();
  if (dir) removeTempDir(dir);
});

async function refusal(promise: Promise<unknown>): Promise<DataProxyError> {
  const error = await promise.then(
    () => new Error('connect succeeded'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DataProxyError);
  return error as DataProxyError;
}

describe('connect and symlinks', () => {
  it('refuses a symlinked channel socket with CHANNEL_NOT_FOUND and never connects its target', async () => {
    for (const stream of [false, true]) {
      const error = await refusal(client.connect('x', { stream }));
      expect(error.errorCode).toBe('CHANNEL_NOT_FOUND');
      expect(error.status).toBe(Status.NAME_NOT_FOUND);
      expect(error.message).toContain('symlink');
    }
    expect(secretConnections).toBe(0);
  });

  it('still connects a real channel socket', async () => {
    const socket = await client.connect('foo');
    socket.destroy();
  });
});
