import { chmodSync, existsSync, lstatSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DataProxyClient, DataProxyError } from '../../src/client/data-proxy-client.js';
import { ParcelWriter } from '../../src/parcel/parcel-writer.js';
import { Status } from '../../src/parcel/status.js';
import { DATA_PROXY_DESCRIPTOR, DATA_PROXY_SERVICE_NAME } from '../../src/service/data-proxy-service.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { GOLDEN } from '../helpers/golden.js';
import { readUntil, startFakeChannel, type FakeChannel } from '../helpers/echo-platform.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';


let dir: string;
let daemon: DaemonHandle;
let channel: FakeChannel;
let client: DataProxyClient;
const sockets: Socket[] = [];

beforeAll(async () => {
  dir = makeTempDir();
  daemon = await startDaemon(dir);
  channel = await startFakeChannel(daemon.socketDir, 'foo', (chunk) => `echo:${chunk.toString()}`);
  client = new DataProxyClient({ servicePath: daemon.servicePath });
});

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
});

afterAll(async () => {
  client?.close();
  await channel?.close();
  await daemon?.stop();
  removeTempDir(dir);
});

function track(socket: Socket): Socket {
  sockets.push(socket);
  return socket;
}

async function expectRefusal(promise: Promise<unknown>, errorCode: string, status: number): Promise<DataProxyError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DataProxyError);
  const refusal = error as DataProxyError;
  expect(refusal.errorCode).toBe(errorCode);
  expect(refusal.status).toBe(status);
  return refusal;
}

describe('connect in descriptor mode', () => {
  it('hands over the channel socket and data flows both ways', async () => {
    const socket = track(await client.connect('foo'));
    socket.write('hello');
    const reply = await readUntil(socket, (d) => d.toString() === 'echo:hello');
    expect(reply.toString()).toBe('echo:hello');
    expect(channel.connections.length).toBeGreaterThan(0);
  });

  it('accepts the golden request bytes of every interface-token layout unchanged', async () => {
    for (const layout of ['api28', 'api29', 'api30'] as const) {
      const hex = GOLDEN[layout];
      const reply = await client.transact(DATA_PROXY_SERVICE_NAME, 1, Buffer.from(hex, 'hex'));
      expect(reply.status, `${layout}: ${reply.message}`).toBe(Status.OK);
      // What Parcel.readFileDescriptor() reads: the fd object at offset 0, listed, nothing in front.
      expect(reply.objectOffsets).toEqual([0]);
      expect(reply.data.toString('hex')).toBe('852a64667f010000' + '00000000' + '00000000' + '0000000000000000');
      expect(reply.fds).toHaveLength(1);
      const socket = track(new (await import('node:net')).Socket({ fd: reply.fds[0]!, readable: true, writable: true }));
      socket.write(layout);
      expect((await readUntil(socket, (d) => d.toString() === `echo:${layout}`)).toString()).toBe(`echo:${layout}`);
    }
  });

  it('ignores the strict-mode policy value real apps send', async () => {
    for (const strictModePolicy of [0xc2000004, 0x01410004, 0]) {
      for (const layout of ['api28', 'api29', 'api30'] as const) {
        const data = new ParcelWriter().writeInterfaceToken(DATA_PROXY_DESCRIPTOR, layout, { strictModePolicy }).writeString16('foo').toBuffer();
        const reply = await client.transact(DATA_PROXY_SERVICE_NAME, 1, data);
        expect(reply.status, `${layout} policy ${strictModePolicy.toString(16)}: ${reply.message}`).toBe(Status.OK);
        for (const fd of reply.fds) (await import('../../src/native/addon.js')).close(fd);
      }
    }
  });

  it('keeps the daemon out of the data path: the socket works after the daemon is killed', async () => {
    const ownDir = makeTempDir();
    const own = await startDaemon(ownDir);
    const ownChannel = await startFakeChannel(own.socketDir, 'foo', (chunk) => `echo:${chunk.toString()}`);
    const ownClient = new DataProxyClient({ servicePath: own.servicePath });
    try {
      const socket = track(await ownClient.connect('foo'));
      ownClient.close();
      await own.stop('SIGKILL');
      socket.write('after-kill');
      expect((await readUntil(socket, (d) => d.toString() === 'echo:after-kill')).toString()).toBe('echo:after-kill');
    } finally {
      await ownChannel.close();
      removeTempDir(ownDir);
    }
  });
});

describe('stream mode', () => {
  it('turns the IPC connection into the channel, both directions', async () => {
    const socket = track(await client.connect('foo', { stream: true }));
    socket.write('streamed');
    expect((await readUntil(socket, (d) => d.toString() === 'echo:streamed')).toString()).toBe('echo:streamed');
    socket.write('again');
    expect((await readUntil(socket, (d) => d.toString() === 'echo:again')).toString()).toBe('echo:again');
  });

  it('delivers bytes sent right behind the transaction, before the reply', async () => {
    const { encodeTransaction, ReplyMode } = await import('../../src/wire/envelope.js');
    const { encodeFrame } = await import('../../src/wire/framing.js');
    const data = new ParcelWriter().writeInterfaceToken(DATA_PROXY_DESCRIPTOR).writeString16('foo').toBuffer();
    const frame = encodeFrame(encodeTransaction({ id: 7, service: DATA_PROXY_SERVICE_NAME, code: 1, flags: 0, data, objectOffsets: [], replyMode: ReplyMode.STREAM }));
    const raw = track(createConnection(daemon.servicePath));
    raw.write(Buffer.concat([frame, Buffer.from('early-bytes')]));
    const received = await readUntil(raw, (d) => d.includes('echo:early-bytes'));
    // The OK reply frame (id 7) comes first, then channel bytes only.
    expect(received.subarray(0, 8).toString('hex')).toBe('0400000012020807');
    expect(received.subarray(8).toString()).toBe('echo:early-bytes');
  });

  it('ends the client side when the channel closes', async () => {
    const socket = track(await client.connect('foo', { stream: true }));
    socket.write('x');
    await readUntil(socket, (d) => d.toString() === 'echo:x');
    const ended = new Promise<void>((resolve) => socket.once('end', resolve));
    socket.resume();
    channel.connections.at(-1)!.end();
    await ended;
  });

  it('refuses stream mode for other transactions', async () => {
    const { ReplyMode } = await import('../../src/wire/envelope.js');
    const reply = await client.transact(DATA_PROXY_SERVICE_NAME, 0x5f504e47, Buffer.alloc(0), { replyMode: ReplyMode.STREAM });
    expect(reply.errorCode).toBe('STREAM_NOT_SUPPORTED');
    expect(reply.status).toBe(Status.INVALID_OPERATION);
  });
});

describe('refusals say what happened and the daemon keeps serving', () => {
  it('unknown channel', async () => {
    const error = await expectRefusal(client.connect('nope'), 'CHANNEL_NOT_FOUND', Status.NAME_NOT_FOUND);
    expect(error.message).toContain('webrtc_data_nope');
  });

  it.each([
    ['a/b', 'contains "/"'],
    ['..', 'not allowed'],
    ['.', 'not allowed'],
    ['', 'empty'],
    ['a,b', 'contains ","'],
    ['tab\there', 'control character'],
    ['nul\u0000x', 'control character'],
    ['x'.repeat(65), 'at most 64'],
  ])('bad channel name %j', async (name, says) => {
    const error = await expectRefusal(client.connect(name), 'INVALID_CHANNEL_NAME', Status.BAD_VALUE);
    expect(error.message).toContain(says);
  });

  it('a socket file nobody listens on', async () => {
    const path = join(daemon.socketDir, 'webrtc_data_stale');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(path, resolve));
    // Closing a net.Server unlinks its path; recreate a dead socket file the way a crash leaves it.
    const { listenUnix, close } = await import('../../src/native/addon.js');
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const fd = listenUnix(path, 1);
    close(fd);
    expect(lstatSync(path).isSocket()).toBe(true);
    const error = await expectRefusal(client.connect('stale'), 'CHANNEL_REFUSED', Status.DEAD_OBJECT);
    expect(error.message).toContain('nothing listens');
  });

  it('a regular file in place of a channel socket is no channel (as the socket-dir watcher sees it)', async () => {
    writeFileSync(join(daemon.socketDir, 'webrtc_data_file'), 'not a socket');
    const error = await expectRefusal(client.connect('file'), 'CHANNEL_NOT_FOUND', Status.NAME_NOT_FOUND);
    expect(error.message).toContain('not a socket');
  });

  it('a wrong interface token names the expected descriptor', async () => {
    const data = new ParcelWriter().writeInterfaceToken('com.example.IOther').writeString16('foo').toBuffer();
    const reply = await client.transact(DATA_PROXY_SERVICE_NAME, 1, data);
    expect(reply.errorCode).toBe('WRONG_INTERFACE');
    expect(reply.status).toBe(Status.PERMISSION_DENIED);
    expect(reply.message).toContain(DATA_PROXY_DESCRIPTOR);
    expect(reply.message).toContain('com.example.IOther');
  });

  it('a truncated Parcel', async () => {
    const full = Buffer.from(GOLDEN.api30, 'hex');
    const reply = await client.transact(DATA_PROXY_SERVICE_NAME, 1, full.subarray(0, full.length - 6));
    expect(reply.status).not.toBe(Status.OK);
    expect(reply.errorCode).toMatch(/TRUNCATED|LENGTH_TOO_LARGE|MISSING_TERMINATOR/);
  });

  it('a null channel name', async () => {
    const data = new ParcelWriter().writeInterfaceToken(DATA_PROXY_DESCRIPTOR).writeString16(null).toBuffer();
    const reply = await client.transact(DATA_PROXY_SERVICE_NAME, 1, data);
    expect(reply.errorCode).toBe('NULL_ARGUMENT');
    expect(reply.status).toBe(Status.UNEXPECTED_NULL);
  });

  it('unknown codes, unknown services, built-ins', async () => {
    expect((await client.transact(DATA_PROXY_SERVICE_NAME, 2, Buffer.alloc(0))).status).toBe(Status.UNKNOWN_TRANSACTION);
    expect((await client.transact(DATA_PROXY_SERVICE_NAME, 0x5f444d50, Buffer.alloc(0))).status).toBe(Status.UNKNOWN_TRANSACTION);
    const unknown = await client.transact('com.example.Nothing', 1, Buffer.alloc(0));
    expect(unknown.status).toBe(Status.NAME_NOT_FOUND);
    expect(unknown.errorCode).toBe('UNKNOWN_SERVICE');
    await client.ping();
    expect(await client.interfaceDescriptor()).toBe(DATA_PROXY_DESCRIPTOR);
    const ping = await client.transact(DATA_PROXY_SERVICE_NAME, 0x5f504e47, Buffer.alloc(0));
    expect(ping.data.toString('hex')).toBe('00000000');
  });

  it('the service manager checks and lists services', async () => {
    expect(await client.listServices()).toEqual(['manager', 'org.anbox.oob.IEmulatorStatus', 'org.anbox.platform.IPlatformAPI', DATA_PROXY_SERVICE_NAME]);
    expect(await client.checkService(DATA_PROXY_SERVICE_NAME)).toBe(DATA_PROXY_DESCRIPTOR);
    expect(await client.checkService('com.example.Nothing')).toBeNull();
    expect(await client.interfaceDescriptor('manager')).toBe('android.os.IServiceManager');
  });

  it('a channel that accepts and closes at once gives a descriptor that reads EOF', async () => {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(daemon.socketDir, { recursive: true });
    const slam = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => slam.listen(join(daemon.socketDir, 'webrtc_data_slam'), resolve));
    try {
      const socket = track(await client.connect('slam'));
      await new Promise<void>((resolve) => {
        socket.on('end', resolve);
        socket.on('close', () => resolve());
        socket.on('error', () => resolve());
        socket.resume();
      });
    } finally {
      await new Promise<void>((resolve) => slam.close(() => resolve()));
    }
  });

  it('still serves after all of the above', async () => {
    const socket = track(await client.connect('foo'));
    socket.write('still');
    expect((await readUntil(socket, (d) => d.toString() === 'echo:still')).toString()).toBe('echo:still');
  });
});

describe('the service socket', () => {
  it('has mode 0660 in a directory only its owner can write', () => {
    expect(statSync(daemon.servicePath).mode & 0o777).toBe(0o660);
    expect(statSync(join(daemon.servicePath, '..')).mode & 0o022).toBe(0);
  });

  it('is not stolen by a second daemon on the same path', async () => {
    // Another socket dir (the same one is refused earlier, by its lock: test/cli/socket-dir-lock.test.ts).
    const second = await startDaemon(dir, ['--socket-dir', join(dir, 'other-sockets')]).then(
      async (d) => {
        await d.stop();
        return 'started';
      },
      (error: Error) => error.message,
    );
    expect(second).toContain('another process is already listening');
    // The first daemon still answers.
    await client.ping();
  });

  it('replaces a stale socket file left by a crash, and SIGTERM removes the socket', async () => {
    const ownDir = makeTempDir();
    const first = await startDaemon(ownDir);
    await first.stop('SIGKILL');
    expect(existsSync(first.servicePath)).toBe(true);
    const second = await startDaemon(ownDir);
    await new DataProxyClient({ servicePath: second.servicePath }).ping();
    expect(await second.stop('SIGTERM')).toBe(0);
    expect(existsSync(second.servicePath)).toBe(false);
    expect(second.logLines().some((l) => l.event === 'daemon.stopped')).toBe(true);
    removeTempDir(ownDir);
  });

  it('refuses to replace a file that is not a socket', async () => {
    const ownDir = makeTempDir();
    writeFileSync(join(ownDir, 'svc.sock'), 'precious');
    const outcome = await startDaemon(ownDir).then(
      async (d) => {
        await d.stop();
        return 'started';
      },
      (error: Error) => error.message,
    );
    expect(outcome).toContain('is not a socket');
    removeTempDir(ownDir);
  });

  it('lets a uid outside the allowed set connect but refuses its transactions, and logs pid and uid', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test runs a client as uid 65534 and must run as root (CI does)');
    chmodSync(dir, 0o755);
    const { execFile } = await import('node:child_process');
    const { CLI } = await import('../helpers/cli.js');
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [CLI, 'connect', 'foo', '--service-socket', daemon.servicePath],
        { uid: 65534, gid: 0, timeout: 15_000 },
        (error, _stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stderr }),
      );
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('PERMISSION_DENIED');
    expect(result.stderr).toContain('--allow-uid 65534');
    const denied = daemon.logLines().find((l) => l.errorCode === 'PERMISSION_DENIED');
    expect(denied?.peerUid).toBe(65534);
    expect(typeof denied?.peerPid).toBe('number');
  });
});
