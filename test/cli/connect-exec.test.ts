import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { startFakeChannel, type FakeChannel } from '../helpers/echo-platform.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';

let dir: string;
let daemon: DaemonHandle;
let channel: FakeChannel;

beforeAll(async () => {
  dir = makeTempDir();
  daemon = await startDaemon(dir);
  channel = await startFakeChannel(daemon.socketDir, 'foo', (chunk) => `echo:${chunk.toString()}`);
});

afterAll(async () => {
  await channel?.close();
  await daemon?.stop();
  removeTempDir(dir);
});

/**
 * What sd_listen_fds(0) checks (LISTEN_PID is this process, LISTEN_FDS counts from fd 3) and what
 * sd_is_socket_unix(3, SOCK_STREAM, 0, NULL, 0) checks (a Unix stream socket, not listening),
 * then a real round trip over fd 3.
 */
const SD_CHILD = `
import os, socket
assert os.environ["LISTEN_PID"] == str(os.getpid()), (os.environ["LISTEN_PID"], os.getpid())
assert os.environ["LISTEN_FDS"] == "1"
s = socket.socket(fileno=3)
assert s.family == socket.AF_UNIX and s.type == socket.SOCK_STREAM
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 0
s.sendall(b"over-fd3")
print(os.environ["LISTEN_FDNAMES"], s.recv(100).decode(), s.getblocking())
`;

describe('anbox-oob connect --exec', () => {
  it('hands the channel to the command as fd 3, systemd style, and the command talks over it', async () => {
    const result = await runCli(['connect', 'foo', '--service-socket', daemon.servicePath, '--exec', 'python3', '-c', SD_CHILD]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('foo echo:over-fd3 True');
  });

  it("exits with the command's status, and 128+N when signal N ends it", async () => {
    expect((await runCli(['connect', 'foo', '--service-socket', daemon.servicePath, '--exec', 'sh', '-c', 'exit 7'])).code).toBe(7);
    expect((await runCli(['connect', 'foo', '--service-socket', daemon.servicePath, '--exec', 'sh', '-c', 'kill -TERM $$'])).code).toBe(128 + 15);
  });

  it('runs nothing when the daemon refuses, and says why', async () => {
    const result = await runCli(['connect', 'nope', '--service-socket', daemon.servicePath, '--exec', 'sh', '-c', 'echo ran']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/CHANNEL_NOT_FOUND/);
  });

  it('refuses an empty command and --stream', async () => {
    const empty = await runCli(['connect', 'foo', '--service-socket', daemon.servicePath, '--exec']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/--exec needs a command/);
    const stream = await runCli(['connect', 'foo', '--stream', '--service-socket', daemon.servicePath, '--exec', 'true']);
    expect(stream.code).toBe(2);
    expect(stream.stderr).toMatch(/--stream/);
  });
});
