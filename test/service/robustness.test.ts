import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { DataProxyClient, DataProxyError } from '../../src/client/data-proxy-client.js';
import * as native from '../../src/native/addon.js';
import { Status } from '../../src/parcel/status.js';
import { DATA_PROXY_SERVICE_NAME } from '../../src/service/data-proxy-service.js';
import { decodeFrame, encodeReply, ReplyMode, type ReplyMessage } from '../../src/wire/envelope.js';
import { encodeFrame, FrameDecoder } from '../../src/wire/framing.js';
import { useDaemonWithChannel } from '../helpers/daemon-with-channel.js';
import { openFdCount, startDaemon } from '../helpers/daemon.js';
import { startFakeChannel } from '../helpers/echo-platform.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { connectRequest, PING, transactionFrame } from '../helpers/raw-frames.js';

const suite = useDaemonWithChannel();

/** A raw connection that collects reply frames (net cannot receive descriptors; these replies carry none). */
function rawConnection(): { socket: Socket; replies: ReplyMessage[]; closed: Promise<void>; nextReply(): Promise<ReplyMessage> } {
  const socket = createConnection(suite.daemon.servicePath);
  const decoder = new FrameDecoder();
  const replies: ReplyMessage[] = [];
  const waiters: (() => void)[] = [];
  socket.on('error', () => undefined);
  socket.on('data', (chunk) => {
    decoder.push(chunk);
    for (let body = decoder.next(); body; body = decoder.next()) {
      const frame = decodeFrame(body);
      if (frame.kind === 'reply') replies.push(frame.reply);
      waiters.splice(0).forEach((w) => w());
    }
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  let taken = 0;
  return {
    socket,
    replies,
    closed,
    async nextReply() {
      const deadline = Date.now() + 5000;
      while (replies.length <= taken) {
        if (Date.now() > deadline) throw new Error('no reply within 5 s');
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return replies[taken++]!;
    },
  };
}

async function expectServing(): Promise<void> {
  const client = new DataProxyClient({ servicePath: suite.daemon.servicePath });
  try {
    const socket = await client.connect('foo');
    socket.destroy();
  } finally {
    client.close();
  }
}

/** The daemon's descriptor count once it has settled (closing is asynchronous on its side). */
async function settledFdCount(expected?: number): Promise<number> {
  let count = openFdCount(suite.daemon.pid);
  for (let i = 0; i < 100 && expected !== undefined && count > expected; i++) {
    await sleep(20);
    count = openFdCount(suite.daemon.pid);
  }
  return count;
}

describe('malformed input', () => {
  it('answers a frame that is not a Frame message and keeps the connection usable', async () => {
    const raw = rawConnection();
    raw.socket.write(encodeFrame(Buffer.from('ffffffffffff', 'hex')));
    const error = await raw.nextReply();
    expect(error).toMatchObject({ id: 0, status: Status.BAD_VALUE, errorCode: 'MALFORMED_FRAME' });
    raw.socket.write(transactionFrame({ id: 2, code: PING }));
    expect(await raw.nextReply()).toMatchObject({ id: 2, status: Status.OK });
    raw.socket.destroy();
  });

  it('refuses a reply frame sent to the daemon', async () => {
    const raw = rawConnection();
    raw.socket.write(encodeFrame(encodeReply({ id: 1, status: 0, data: Buffer.alloc(0), objectOffsets: [], fdCount: 0, message: '', errorCode: '' })));
    expect(await raw.nextReply()).toMatchObject({ id: 0, errorCode: 'UNEXPECTED_FRAME', status: Status.INVALID_OPERATION });
    raw.socket.destroy();
  });

  it('refuses an oversized frame before reading it, then hangs up', async () => {
    const raw = rawConnection();
    const header = Buffer.alloc(4);
    header.writeUInt32LE(64 * 1024 * 1024);
    raw.socket.write(header);
    expect(await raw.nextReply()).toMatchObject({ id: 0, errorCode: 'FRAME_TOO_LARGE', status: Status.FAILED_TRANSACTION });
    await raw.closed;
  });

  it('hangs up on a peer speaking another protocol (HTTP)', async () => {
    const raw = rawConnection();
    raw.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await raw.nextReply()).errorCode).toBe('FRAME_TOO_LARGE');
    await raw.closed;
  });

  it('answers pipelined transactions in order', async () => {
    const raw = rawConnection();
    raw.socket.write(Buffer.concat([transactionFrame({ id: 11, code: PING }), transactionFrame({ id: 12, code: 2, data: connectRequest() }), transactionFrame({ id: 13, code: PING })]));
    const ids = [await raw.nextReply(), await raw.nextReply(), await raw.nextReply()].map((r) => [r.id, r.status]);
    expect(ids).toEqual([
      [11, Status.OK],
      [12, Status.UNKNOWN_TRANSACTION],
      [13, Status.OK],
    ]);
    raw.socket.destroy();
  });

  it('refuses an unknown reply mode with the transaction id', async () => {
    const raw = rawConnection();
    raw.socket.write(transactionFrame({ id: 21, code: PING, replyMode: 2 }));
    expect(await raw.nextReply()).toMatchObject({ id: 21, status: Status.BAD_VALUE, errorCode: 'UNKNOWN_REPLY_MODE' });
    raw.socket.destroy();
  });

  it('hangs up after refusing a stream-mode connect, so early channel bytes are never run as frames', async () => {
    const raw = rawConnection();
    const refused = transactionFrame({ id: 22, code: 1, data: connectRequest('missing'), replyMode: ReplyMode.STREAM });
    raw.socket.write(Buffer.concat([refused, transactionFrame({ id: 23, code: PING })]));
    expect(await raw.nextReply()).toMatchObject({ id: 22, errorCode: 'CHANNEL_NOT_FOUND' });
    await raw.closed;
    expect(raw.replies.map((r) => r.id)).toEqual([22]);
  });

  it('sends no reply to a oneway transaction', async () => {
    const raw = rawConnection();
    const oneway = transactionFrame({ id: 5, code: PING, flags: 1 });
    raw.socket.write(Buffer.concat([oneway, transactionFrame({ id: 6, code: PING })]));
    expect((await raw.nextReply()).id).toBe(6);
    expect(raw.replies.map((r) => r.id)).toEqual([6]);
    raw.socket.destroy();
  });

  it('closes descriptors a client sends and refuses the transaction they came with', async () => {
    const baseline = await settledFdCount();
    const fd = native.connectUnix(suite.daemon.servicePath);
    expect(fd).toBeGreaterThanOrEqual(0);
    const passenger = native.connectUnix(suite.channel.path);
    const frame = transactionFrame({ id: 9, code: PING });
    expect(native.sendmsg(fd, frame, [passenger, passenger, passenger])).toBe(frame.length);
    native.close(passenger);
    const buffer = Buffer.alloc(4096);
    let reply: ReplyMessage | undefined;
    const deadline = Date.now() + 5000;
    const decoder = new FrameDecoder();
    while (!reply && Date.now() < deadline) {
      const result = native.recvmsg(fd, buffer);
      if (typeof result === 'number') {
        await sleep(10);
        continue;
      }
      decoder.push(buffer.subarray(0, result.bytes));
      const body = decoder.next();
      if (body) {
        const frame2 = decodeFrame(body);
        if (frame2.kind === 'reply') reply = frame2.reply;
      }
    }
    native.close(fd);
    expect(reply).toMatchObject({ id: 9, errorCode: 'DESCRIPTORS_NOT_ACCEPTED', status: Status.FDS_NOT_ALLOWED });
    expect(await settledFdCount(baseline)).toBeLessThanOrEqual(baseline);
  });
});

describe('vanishing clients and busy channels', () => {
  it('survives clients that disconnect mid-frame or right after a request, without leaking', async () => {
    await expectServing();
    const baseline = await settledFdCount();
    const frame = transactionFrame({ id: 1, code: 1, data: connectRequest() });
    for (let i = 0; i < 200; i++) {
      const socket = createConnection(suite.daemon.servicePath);
      socket.on('error', () => undefined);
      // Half a frame, a whole request, or a request followed by a hang-up before the reply.
      socket.write(i % 2 === 0 ? frame.subarray(0, 1 + (i % frame.length)) : frame);
      socket.destroy();
    }
    await sleep(200);
    await expectServing();
    expect(await settledFdCount(baseline)).toBeLessThanOrEqual(baseline);
  });

  it('answers CHANNEL_BUSY when the channel never accepts and its backlog is full', async () => {
    const path = join(suite.daemon.socketDir, 'webrtc_data_stuck');
    const listener = native.listenUnix(path, 0);
    expect(listener).toBeGreaterThanOrEqual(0);
    const fillers: number[] = [];
    for (let i = 0; i < 4; i++) {
      const fd = native.connectUnix(path);
      if (fd >= 0) fillers.push(fd);
    }
    const client = new DataProxyClient({ servicePath: suite.daemon.servicePath });
    try {
      const error = await client.connect('stuck').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DataProxyError);
      expect((error as DataProxyError).errorCode).toBe('CHANNEL_BUSY');
      expect((error as DataProxyError).status).toBe(Status.WOULD_BLOCK);
    } finally {
      client.close();
      for (const fd of fillers) native.close(fd);
      native.close(listener);
    }
  });
});

describe('descriptors', () => {
  it('returns to its descriptor baseline after 10,000 connects', async () => {
    const client = new DataProxyClient({ servicePath: suite.daemon.servicePath });
    const request = connectRequest();
    try {
      await client.ping();
      const baseline = await settledFdCount();
      for (let i = 0; i < 10_000; i++) {
        const reply = await client.transact(DATA_PROXY_SERVICE_NAME, 1, request);
        if (reply.status !== Status.OK || reply.fds.length !== 1) throw new Error(`connect ${i} failed: ${reply.errorCode} ${reply.message}`);
        native.close(reply.fds[0]!);
        // Keep the fake channel's accepted connections from piling up in this process.
        if (i % 500 === 0) suite.channel.connections.splice(0).forEach((s) => s.destroy());
      }
      suite.channel.connections.splice(0).forEach((s) => s.destroy());
      expect(await settledFdCount(baseline)).toBeLessThanOrEqual(baseline);
    } finally {
      client.close();
    }
  });

  it('answers OUT_OF_DESCRIPTORS when it runs out, and recovers', async () => {
    const ownDir = makeTempDir();
    const tight = await startDaemon(ownDir, ['--log-level', 'error'], { shellPrefix: 'ulimit -n 96' });
    const ownChannel = await startFakeChannel(tight.socketDir, 'foo');
    const hogs: Socket[] = [];
    try {
      // Fill the daemon's descriptor table with idle connections; the rest wait in its backlog.
      for (let i = 0; i < 120; i++) {
        const socket = createConnection(tight.servicePath);
        socket.on('error', () => undefined);
        hogs.push(socket);
      }
      await sleep(300);
      // One accepted connection asks for a channel: connecting needs one more descriptor.
      let reply: ReplyMessage | undefined;
      for (const socket of hogs) {
        const decoder = new FrameDecoder();
        socket.on('data', (chunk) => {
          decoder.push(chunk);
          const body = decoder.next();
          if (body) {
            const frame = decodeFrame(body);
            if (frame.kind === 'reply') reply ??= frame.reply;
          }
        });
        socket.write(transactionFrame({ id: 1, code: 1, data: connectRequest() }));
      }
      const deadline = Date.now() + 5000;
      while (!reply && Date.now() < deadline) await sleep(20);
      expect(reply).toMatchObject({ errorCode: 'OUT_OF_DESCRIPTORS', status: Status.NO_MEMORY });
      for (const socket of hogs.splice(0)) socket.destroy();
      await sleep(300);
      if (tight.child.exitCode !== null) throw new Error(`daemon exited: ${tight.output()}`);
      const client = new DataProxyClient({ servicePath: tight.servicePath });
      const channelSocket = await client.connect('foo');
      channelSocket.destroy();
      client.close();
      expect(tight.child.exitCode).toBeNull();
    } finally {
      for (const socket of hogs) socket.destroy();
      await ownChannel.close();
      await tight.stop();
      removeTempDir(ownDir);
    }
  });
});
