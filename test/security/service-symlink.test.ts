/**
 * Issue 9, item 4: connect(name) follows no symlink. A `webrtc_data_x` symlink to another socket
 * (here a root-only socket outside the socket dir) is no channel, exactly as the socket-dir
 * watcher sees it: the reply is CHANNEL_NOT_FOUND and the target is never connected. Before the
 * fix a root daemon with --allow-uid handed the target socket to the client.
 */
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataProxyClient, DataProxyError } from '../../src/client/data-proxy-client.js';
import { Status } from '../../src/parcel/status.js';
import { logEvent, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { startFakeChannel, type FakeChannel } from '../helpers/echo-platform.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';

/**
 * Both of the daemon's connect paths (docs/protocol.md, section 5): `trusted-dir` (the default: a
 * socket dir only we can write, held open, entries checked with fstatat) and `pinned` (a socket dir
 * --allow-shared-dir let through, here group-writable: each entry pinned with O_PATH).
 */
for (const mode of ['trusted-dir', 'pinned'] as const) {
  describe(`connect and symlinks (${mode} connect path)`, () => {
    let dir: string;
    let daemon: DaemonHandle;
    let channel: FakeChannel;
    let secret: Server;
    let secretConnections = 0;
    let client: DataProxyClient;
    let socketDir: string;

    beforeAll(async () => {
      dir = makeTempDir('aoob-sec-');
      if (mode === 'pinned') {
        const shared = join(dir, 'shared-sockets');
        mkdirSync(shared, { mode: 0o770 });
        chmodSync(shared, 0o770); // group-writable: trusted only with --allow-shared-dir
        daemon = await startDaemon(dir, ['--allow-shared-dir', '--socket-dir', shared]);
        socketDir = shared;
      } else {
        daemon = await startDaemon(dir);
        socketDir = daemon.socketDir;
      }
      expect(logEvent(daemon, 'daemon.started')?.channelConnect).toBe(mode);
      channel = await startFakeChannel(socketDir, 'foo');
      mkdirSync(join(dir, 'private'), { mode: 0o700 });
      const secretPath = join(dir, 'private', 'secret.sock');
      secret = createServer((socket) => {
        secretConnections++;
        socket.end('secret');
      });
      await new Promise<void>((resolve) => secret.listen(secretPath, resolve));
      chmodSync(secretPath, 0o600);
      symlinkSync(secretPath, join(socketDir, 'webrtc_data_x'));
      // A symlink to the real channel socket, inside the socket dir: no channel either.
      symlinkSync(join(socketDir, 'webrtc_data_foo'), join(socketDir, 'webrtc_data_y'));
      writeFileSync(join(socketDir, 'webrtc_data_file'), '');
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

    it('refuses a symlinked channel socket with CHANNEL_NOT_FOUND and never connects its target', async () => {
      for (const stream of [false, true]) {
        const error = await refusal(client.connect('x', { stream }));
        expect(error.errorCode).toBe('CHANNEL_NOT_FOUND');
        expect(error.status).toBe(Status.NAME_NOT_FOUND);
        expect(error.message).toContain('symlink');
      }
      expect(secretConnections).toBe(0);
    });

    it('refuses a symlink to a real channel in the socket dir, a regular file and a missing entry', async () => {
      const accepted = channel.accepted;
      const link = await refusal(client.connect('y'));
      expect(link.errorCode).toBe('CHANNEL_NOT_FOUND');
      expect(link.message).toContain('symlink');
      const file = await refusal(client.connect('file'));
      expect(file.errorCode).toBe('CHANNEL_NOT_FOUND');
      expect(file.message).toContain('not a socket');
      const missing = await refusal(client.connect('absent'));
      expect(missing.errorCode).toBe('CHANNEL_NOT_FOUND');
      expect(missing.message).toContain('does not exist');
      expect(channel.accepted).toBe(accepted);
    });

    it('still connects a real channel socket', async () => {
      const socket = await client.connect('foo');
      socket.destroy();
    });
  });
}
