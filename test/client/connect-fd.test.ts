import { spawn } from 'node:child_process';
import { closeSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataProxyClient, DataProxyError } from '../../src/client/data-proxy-client.js';
import { Status } from '../../src/parcel/status.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { startFakeChannel, type FakeChannel } from '../helpers/echo-platform.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';

/** A Python child that writes to its fd 3, reads the echo, and prints what it saw (and the fd's mode). */
const PYTHON_ECHO = [
  '-c',
  'import socket; s = socket.socket(fileno=3); s.sendall(b"from-python"); print(s.recv(100).decode(), s.getblocking(), s.family == socket.AF_UNIX)',
];

let dir: string;
let daemon: DaemonHandle;
let channel: FakeChannel;
let client: DataProxyClient;

beforeAll(async () => {
  dir = makeTempDir();
  daemon = await startDaemon(dir);
  channel = await startFakeChannel(daemon.socketDir, 'foo', (chunk) => `echo:${chunk.toString()}`);
  client = new DataProxyClient({ servicePath: daemon.servicePath });
});

afterAll(async () => {
  client?.close();
  await channel?.close();
  await daemon?.stop();
  removeTempDir(dir);
});

/** Runs python3 with `fd` as its descriptor 3; resolves with its stdout once it exits 0. */
function pythonOnFd3(fd: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', PYTHON_ECHO, { stdio: ['ignore', 'pipe', 'pipe', fd] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`python3 exited ${code}: ${err}`))));
  });
}

function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

describe('DataProxyClient.connectFd', () => {
  it('returns the channel as a blocking Unix socket descriptor that a Python child reads and writes', async () => {
    const fd = await client.connectFd('foo');
    try {
      expect(await pythonOnFd3(fd)).toBe('echo:from-python True True');
    } finally {
      closeSync(fd);
    }
  });

  it('refuses an unknown channel with the daemon status and leaves no descriptor behind', async () => {
    // Warm-up: the shared connection and whatever Node opens lazily exist from here on.
    await client.connectFd('nope').catch(() => undefined);
    const before = openDescriptors();
    for (let i = 0; i < 20; i++) {
      const error = await client.connectFd('nope').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DataProxyError);
      expect((error as DataProxyError).errorCode).toBe('CHANNEL_NOT_FOUND');
      expect((error as DataProxyError).status).toBe(Status.NAME_NOT_FOUND);
    }
    expect(openDescriptors()).toBe(before);
  });
});

describe('DataProxyClient.connectFdSync', () => {
  it('returns the channel descriptor without awaiting, and a Python child talks over it', async () => {
    const before = openDescriptors();
    const fd = client.connectFdSync('foo');
    // Only the channel descriptor is left open: its own service connection is gone.
    expect(openDescriptors()).toBe(before + 1);
    try {
      expect(await pythonOnFd3(fd)).toBe('echo:from-python True True');
    } finally {
      closeSync(fd);
    }
  });

  it('throws the daemon refusal, closing everything', () => {
    const before = openDescriptors();
    let error: unknown;
    try {
      client.connectFdSync('bad/name');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DataProxyError);
    expect((error as DataProxyError).status).toBe(Status.BAD_VALUE);
    expect(openDescriptors()).toBe(before);
  });

  it('says when no daemon listens', () => {
    const absent = new DataProxyClient({ servicePath: join(dir, 'absent.sock') });
    expect(() => absent.connectFdSync('foo')).toThrow(/no data-proxy daemon/);
  });

  it('gives up after timeoutMs when the daemon never answers', async () => {
    // A stand-in that accepts and never replies; it runs in a child so that this thread may block.
    const path = join(dir, 'silent.sock');
    const silent = spawn('python3', ['-c', `import socket,time\ns=socket.socket(socket.AF_UNIX)\ns.bind(${JSON.stringify(path)})\ns.listen(1)\nprint("ready",flush=True)\nc,_=s.accept()\ntime.sleep(30)`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        silent.stdout!.once('data', () => resolve());
        silent.once('exit', (code) => reject(new Error(`stand-in exited ${code}`)));
      });
      const before = openDescriptors();
      const stuck = new DataProxyClient({ servicePath: path });
      let error: unknown;
      try {
        stuck.connectFdSync('foo', { timeoutMs: 300 });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(DataProxyError);
      expect((error as DataProxyError).errorCode).toBe('TIMED_OUT');
      expect(openDescriptors()).toBe(before);
    } finally {
      silent.kill('SIGKILL');
    }
  });
});


describe('DataProxyClient.openSyncConnection', () => {
  it('connects many times over one blocking connection; a refusal leaves it usable; close releases it', async () => {
    const before = openDescriptors();
    const connection = client.openSyncConnection();
    try {
      // One descriptor for the service connection, and no more however many connects go over it.
      expect(openDescriptors()).toBe(before + 1);
      for (let i = 0; i < 5; i++) closeSync(connection.connectFd('foo'));
      expect(openDescriptors()).toBe(before + 1);
      let error: unknown;
      try {
        connection.connectFd('no-such-channel');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(DataProxyError);
      expect((error as DataProxyError).message).toMatch(/no-such-channel/);
      expect(openDescriptors()).toBe(before + 1);
      const fd = connection.connectFd('foo');
      try {
        expect(await pythonOnFd3(fd)).toBe('echo:from-python True True');
      } finally {
        closeSync(fd);
      }
    } finally {
      connection.close();
    }
    expect(openDescriptors()).toBe(before);
    expect(() => connection.connectFd('foo')).toThrow(/closed the connection/);
  });
});
