/**
 * The platform link (src/v1/link-*.ts) on a real Unix socket: the daemon's client against the
 * platform's server, a scripted peer for malformed and stalled requests, and another uid (setpriv).
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, statSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeLinkReply, decodeLinkRequest, encodeLinkReply, encodeLinkRequest, LinkCodecError, platformApiSocketPath } from '../../src/v1/link-codec.js';
import { sendOverPlatformLink } from '../../src/v1/link-client.js';
import { LINK_REQUEST_TIMEOUT_MS, MAX_LINK_CONNECTIONS, PlatformLinkServer } from '../../src/v1/link-server.js';
import { refused, SENT, type V1SendResult } from '../../src/v1/v1-message.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';

let dir: string;
let server: PlatformLinkServer | undefined;
const logs: Record<string, unknown>[] = [];
const received: { type: string; data: string }[] = [];

function startServer(answer: (type: string, data: string) => V1SendResult = () => SENT, requestTimeoutMs?: number): PlatformLinkServer {
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  server = new PlatformLinkServer({
    socketDir: dir,
    log: pino({ level: 'info' }, sink),
    requestTimeoutMs,
    send: (type, data) => {
      received.push({ type, data });
      return answer(type, data);
    },
  });
  return server;
}

/** Raw bytes to the link; resolves with everything it answered before closing. */
function rawExchange(bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(platformApiSocketPath(dir));
    const chunks: Buffer[] = [];
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (c) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

/** A connection that sent part of a request and waits; `closed` resolves with what it was answered. */
function heldConnection(): Promise<{ socket: Socket; closed: Promise<Buffer> }> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(platformApiSocketPath(dir));
    const chunks: Buffer[] = [];
    const closed = new Promise<Buffer>((done) => socket.on('close', () => done(Buffer.concat(chunks))));
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('connect', () => {
      socket.write(encodeLinkRequest('held', 'x').subarray(0, 6));
      resolve({ socket, closed });
    });
  });
}

/** Turns of the event loop (setImmediate, which the fake clocks below leave real) until `done`. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setImmediate(resolve));
}

beforeEach(() => {
  dir = makeTempDir('aoob-v1-link-');
  logs.length = 0;
  received.length = 0;
});

afterEach(() => {
  vi.useRealTimers();
  server?.close();
  server = undefined;
  removeTempDir(dir);
});

describe('platform link codec', () => {
  it('round-trips requests and replies, and rejects other shapes', () => {
    const frame = encodeLinkRequest('tÿpe', 'dätä');
    expect(frame.readUInt32LE(0)).toBe(frame.length - 4);
    expect(decodeLinkRequest(frame.subarray(4))).toEqual({ type: 'tÿpe', data: 'dätä' });
    expect(() => decodeLinkRequest(Buffer.from([1, 0]))).toThrow(LinkCodecError);
    expect(() => decodeLinkRequest(Buffer.from([9, 0, 0, 0, 0x61]))).toThrow(LinkCodecError);
    expect(decodeLinkReply(encodeLinkReply(SENT).subarray(4))).toEqual({ sent: true });
    const no = refused('NO_SESSION', 'none');
    expect(decodeLinkReply(encodeLinkReply(no).subarray(4))).toEqual(no);
    expect(() => decodeLinkReply(Buffer.from('{"sent":false,"code":"MADE_UP","reason":"x"}'))).toThrow(LinkCodecError);
    expect(() => decodeLinkReply(Buffer.from('nope'))).toThrow(LinkCodecError);
  });
});

describe('platform link over a real socket', () => {
  it('delivers a message in order and returns the platform\'s answer; the socket is mode 0600 and removed on close', async () => {
    startServer((type) => (type === 'no' ? refused('NO_SESSION', 'nobody') : SENT));
    expect(statSync(platformApiSocketPath(dir)).mode & 0o777).toBe(0o600);
    expect(await sendOverPlatformLink(dir, 'a', '1')).toEqual({ sent: true });
    expect(await sendOverPlatformLink(dir, 'no', '2')).toEqual({ sent: false, code: 'NO_SESSION', reason: 'nobody' });
    expect(await sendOverPlatformLink(dir, 'ü'.repeat(1000), 'x'.repeat(1024 * 1024))).toEqual({ sent: true });
    expect(received.map((r) => r.type.slice(0, 2))).toEqual(['a', 'no', 'üü']);
    expect(received[2]!.data.length).toBe(1024 * 1024);
    server!.close();
    expect(existsSync(platformApiSocketPath(dir))).toBe(false);
    expect(await sendOverPlatformLink(dir, 'a', '1')).toMatchObject({ sent: false, code: 'NO_PLATFORM' });
  });

  it('closes a request whose header announces more than the limit, before reading it, and keeps serving', async () => {
    startServer();
    const header = Buffer.alloc(4);
    header.writeUInt32LE(0xffffffff, 0);
    expect((await rawExchange(header)).length).toBe(0);
    expect(logs.some((l) => l.event === 'sendmessage.link_refused' && l.reason === 'frame')).toBe(true);
    expect(await sendOverPlatformLink(dir, 'after', '')).toEqual({ sent: true });
  });

  it('closes a connection that never completes its request', async () => {
    startServer(undefined, 300);
    const partial = encodeLinkRequest('t', 'data').subarray(0, 6);
    expect((await rawExchange(partial)).length).toBe(0);
    expect(logs.some((l) => l.event === 'sendmessage.link_refused' && l.reason === 'timeout')).toBe(true);
    expect(received).toEqual([]);
  });

  it('another uid cannot use the link: the 0600 socket refuses it, and SO_PEERCRED does when the mode is widened (setpriv as uid 65534)', async () => {
    if ((process.getuid?.() ?? 1) !== 0) throw new Error('this test needs root to run a process as uid 65534 (setpriv); .ci/run runs as root');
    chmodSync(dir, 0o755); // only the socket's own mode stands in the way
    startServer();
    const path = platformApiSocketPath(dir);
    const script = `const s=require('net').createConnection(${JSON.stringify(path)});s.on('error',e=>{console.log(e.code);process.exit(0)});s.on('connect',()=>s.write(${JSON.stringify(encodeLinkRequest('t', 'd').toString('latin1'))},'latin1'));s.on('data',d=>console.log('answered'));s.on('close',()=>{console.log('closed');process.exit(0)})`;
    const asNobody = () =>
      new Promise<string>((resolve) =>
        execFile('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, '-e', script], { timeout: 20_000 }, (_e, stdout, stderr) => resolve((stdout + stderr).trim())),
      );
    expect(await asNobody()).toBe('EACCES');
    chmodSync(path, 0o666);
    // Hung up on at accept: the write finds the socket closed (EPIPE/ECONNRESET) or the peer sees EOF; never an answer.
    expect(await asNobody()).toMatch(/^(closed|EPIPE|ECONNRESET)$/);
    expect(logs.some((l) => l.event === 'sendmessage.link_refused' && l.reason === 'uid' && l.peerUid === 65534)).toBe(true);
    expect(received).toEqual([]);
  });

  it(`serves at most ${MAX_LINK_CONNECTIONS} connections at once: one more is closed at accept, unanswered, with reason "busy", and a freed slot serves again`, async () => {
    startServer();
    const held = [];
    for (let i = 0; i < MAX_LINK_CONNECTIONS; i++) held.push(await heldConnection());
    try {
      // Sends nothing (a write could race the hang-up: EPIPE): EOF with no answer is the refusal.
      const ninth = await new Promise<Buffer>((resolve, reject) => {
        const socket = createConnection(platformApiSocketPath(dir));
        const chunks: Buffer[] = [];
        socket.on('data', (c) => chunks.push(c));
        socket.on('close', () => resolve(Buffer.concat(chunks)));
        socket.on('error', reject);
      });
      expect(ninth.length).toBe(0);
      expect(logs.filter((l) => l.event === 'sendmessage.link_refused' && l.reason === 'busy')).toHaveLength(1);
      expect(received).toEqual([]);
      // The rest of one held request: it is served, then closed, which frees its slot.
      const first = held.shift()!;
      first.socket.write(encodeLinkRequest('held', 'x').subarray(6));
      expect(decodeLinkReply((await first.closed).subarray(4))).toEqual({ sent: true });
      expect(await sendOverPlatformLink(dir, 'after', '')).toEqual({ sent: true });
      expect(received.map((r) => r.type)).toEqual(['held', 'after']);
    } finally {
      for (const { socket } of held) socket.destroy();
    }
  });

  it('close() ends held connections and clears their request timers: none fires afterwards', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    startServer();
    const held = [await heldConnection(), await heldConnection()];
    try {
      await until(() => vi.getTimerCount() === 2); // both accepted, each with its request timer
      server!.close();
      expect(vi.getTimerCount()).toBe(0);
      vi.advanceTimersByTime(LINK_REQUEST_TIMEOUT_MS * 2);
      for (const { closed } of held) expect((await closed).length).toBe(0);
      expect(logs.filter((l) => l.event === 'sendmessage.link_refused')).toEqual([]);
    } finally {
      for (const { socket } of held) socket.destroy();
    }
  });
});
