import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { constants } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChannelNameError } from '../../../src/channels/channel-name.js';
import { ListenError } from '../../../src/io/unix-listener.js';
import * as native from '../../../src/native/addon.js';
import { ChannelBridge, type ChannelBridgeEvent, type ChannelBridgeOptions } from '../../../src/platform/bridge/channel-bridge.js';
import { captureLogger, connectApp, FakePort, makeDir, removeDir, sleep, waitFor, type AppClient, type LogLine } from './bridge-helpers.js';

let dir: string;
let bridges: ChannelBridge[];
let clients: AppClient[];
let servers: Server[];
let port: FakePort;
let events: ChannelBridgeEvent[];
let lines: LogLine[];

beforeEach(() => {
  dir = makeDir();
  bridges = [];
  clients = [];
  servers = [];
  port = new FakePort();
  events = [];
  lines = [];
});

afterEach(async () => {
  for (const client of clients) client.socket.destroy();
  await Promise.all(bridges.map((b) => b.close('test over')));
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  removeDir(dir);
});

async function open(options: Partial<ChannelBridgeOptions> = {}): Promise<ChannelBridge> {
  const captured = captureLogger();
  lines = captured.lines;
  const bridge = await ChannelBridge.open({
    socketDir: dir,
    name: 'foo',
    port,
    log: captured.log,
    graceMs: 200,
    onEvent: (event) => events.push(event),
    ...options,
  });
  bridges.push(bridge);
  return bridge;
}

async function app(bridge: ChannelBridge, options: { allowHalfOpen?: boolean } = {}): Promise<AppClient> {
  const served = bridge.stats.connectionsServed;
  const client = await connectApp(bridge.path, options);
  clients.push(client);
  await waitFor(() => bridge.stats.connectionsServed > served, 'the bridge to accept the connection');
  return client;
}

function text(): string {
  return port.bytes().toString('utf8');
}

describe('ChannelBridge: the socket file', () => {
  it('listens on <socket-dir>/webrtc_data_<name> with mode 0600 (the default) and leaves the umask alone', async () => {
    const before = process.umask(0o022);
    try {
      const bridge = await open();
      expect(bridge.path).toBe(join(dir, 'webrtc_data_foo'));
      const stats = lstatSync(bridge.path);
      expect(stats.isSocket()).toBe(true);
      expect(stats.mode & 0o777).toBe(0o600);
      expect(process.umask(0o022)).toBe(0o022);
      expect(port.threshold).toBe(256 * 1024); // the low-water mark, set at open
    } finally {
      process.umask(before);
    }
  });

  it('close() removes the socket, the app sees EOF, and close is idempotent', async () => {
    const bridge = await open();
    const client = await app(bridge);
    await bridge.close('channel closed');
    expect(existsSync(bridge.path)).toBe(false);
    await waitFor(() => client.ended, 'the app to see EOF');
    await bridge.close('again'); // same promise, no throw
    expect(bridge.closed).toBe(true);
    expect(events.filter((e) => e.type === 'closed')).toHaveLength(1);
    expect(events.some((e) => e.type === 'disconnected' && e.reason === 'bridge closed: channel closed')).toBe(true);
    await expect(connectApp(bridge.path)).rejects.toMatchObject({ code: 'ENOENT' });
    // After close, browser data is counted as dropped, not thrown.
    bridge.handleBrowserMessage('late');
    expect(bridge.stats.droppedFromBrowserBytes).toBe(4);
  });

  it('close() destroys an app that ignores EOF after the grace period', async () => {
    const bridge = await open({ graceMs: 100 });
    const client = await app(bridge, { allowHalfOpen: true }); // never ends its side by itself
    const started = Date.now();
    await bridge.close('bye');
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(client.ended).toBe(true);
    expect(events.find((e) => e.type === 'disconnected')).toMatchObject({ connection: 1, reason: 'bridge closed: bye' });
  });

  it('replaces a stale socket file left by a crash', async () => {
    const path = join(dir, 'webrtc_data_foo');
    const fd = native.listenUnix(path, 1);
    expect(fd).toBeGreaterThanOrEqual(0);
    native.close(fd); // a socket file nobody listens on, as a crash leaves it
    expect(native.connectUnix(path)).toBe(-constants.errno.ECONNREFUSED);
    const bridge = await open();
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
    const client = await app(bridge);
    client.socket.write('alive');
    await waitFor(() => text() === 'alive', 'data through the new socket');
  });

  it('does not steal a live listener', async () => {
    const path = join(dir, 'webrtc_data_foo');
    const other = createServer((s) => {
      s.on('error', () => undefined); // the bridge's liveness probe hangs up at once
      s.end('still mine');
    });
    servers.push(other);
    await new Promise<void>((resolve) => other.listen(path, resolve));
    const error = await open().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ListenError);
    expect((error as ListenError).code).toBe('ADDRESS_IN_USE');
    expect((error as ListenError).message).toContain(path);
    // The other listener still owns the path.
    const client = await connectApp(path);
    clients.push(client);
    await waitFor(() => client.received().toString() === 'still mine', 'the live listener to answer');
  });

  it('refuses a path that is not a socket, a bad name and a path too long for sun_path', async () => {
    const path = join(dir, 'webrtc_data_foo');
    writeFileSync(path, 'precious');
    await expect(open()).rejects.toMatchObject({ code: 'NOT_A_SOCKET' });
    expect(readFileSync(path, 'utf8')).toBe('precious');
    await expect(open({ name: 'a/b' })).rejects.toBeInstanceOf(ChannelNameError);
    await expect(open({ name: 'x'.repeat(64), socketDir: join(dir, 'y'.repeat(40)) })).rejects.toMatchObject({ problem: 'PATH_TOO_LONG' });
    await expect(open({ name: 'bar', lowWaterMark: 10, highWaterMark: 5 })).rejects.toBeInstanceOf(RangeError);
    // A socket dir that cannot be made (its parent is a file) is a LISTEN_FAILED that says so.
    await expect(open({ name: 'bar', socketDir: join(path, 'sockets') })).rejects.toMatchObject({ code: 'LISTEN_FAILED', message: expect.stringContaining('cannot be made again') });
    expect(existsSync(join(dir, 'webrtc_data_bar'))).toBe(false);
  });

  it('makes the socket dir again when it was deleted under the running platform', async () => {
    const socketDir = join(dir, 'deleted');
    const bridge = await open({ name: 'bar', socketDir });
    try {
      expect(lstatSync(socketDir).mode & 0o027).toBe(0); // 0750 (less under a stricter umask)
      expect(lstatSync(join(socketDir, 'webrtc_data_bar')).isSocket()).toBe(true);
    } finally {
      await bridge.close('done');
    }
  });

  it('close() leaves alone a socket file that is no longer its own', async () => {
    const bridge = await open();
    unlinkSync(bridge.path);
    const fd = native.listenUnix(bridge.path, 1); // someone else's socket now
    try {
      await bridge.close('done');
      expect(lstatSync(bridge.path).isSocket()).toBe(true);
    } finally {
      native.close(fd);
    }
  });

  it('can be opened again for the same name after close', async () => {
    const first = await open();
    await first.close('session replaced');
    const second = await open();
    const client = await app(second);
    client.socket.write('again');
    await waitFor(() => text() === 'again', 'data through the reopened socket');
  });
});

describe('ChannelBridge: data', () => {
  it('carries data both ways: socket bytes as text or binary, browser text as UTF-8 and binary as is', async () => {
    const bridge = await open();
    const client = await app(bridge);
    client.socket.write('hi 😀\n');
    await waitFor(() => port.messages.length === 1, 'a text message');
    expect(port.messages[0]).toEqual({ type: 'text', text: 'hi 😀\n' });
    client.socket.write(Buffer.from([0xff, 0x00, 0x41]));
    await waitFor(() => port.messages.length === 2, 'a binary message');
    expect(port.messages[1]).toEqual({ type: 'binary', data: Buffer.from([0xff, 0x00, 0x41]) });

    bridge.handleBrowserMessage('héllo');
    bridge.handleBrowserMessage(Buffer.from([0x00, 0xff]));
    const expected = Buffer.concat([Buffer.from('héllo', 'utf8'), Buffer.from([0x00, 0xff])]);
    await waitFor(() => client.received().equals(expected), 'browser data at the app');
    const stats = bridge.stats;
    expect(stats.bytesToBrowser).toBe(Buffer.byteLength('hi 😀\n') + 3);
    expect(stats.messagesToBrowser).toBe(2);
    expect(stats.textMessagesToBrowser).toBe(1);
    expect(stats.binaryMessagesToBrowser).toBe(1);
    expect(stats.bytesFromBrowser).toBe(expected.length);
    expect(stats.messagesFromBrowser).toBe(2);
    expect(stats.bytesToApp).toBe(expected.length);
    expect(events.find((e) => e.type === 'connected')).toMatchObject({ channel: 'foo', connection: 1 });
    expect(lines.some((l) => l.msg === 'app connected' && l.channel === 'foo')).toBe(true);
  });

  it('keeps a character split across two writes whole, and flushes an incomplete one at EOF as binary', async () => {
    const bridge = await open({ carryFlushMs: 5000 });
    const client = await app(bridge);
    client.socket.write(Buffer.from([0xf0, 0x9f]));
    await sleep(50);
    client.socket.write(Buffer.from([0x98, 0x80]));
    await waitFor(() => port.messages.length === 1, 'the emoji');
    expect(port.messages[0]).toEqual({ type: 'text', text: '😀' });
    client.socket.end(Buffer.from([0xe2, 0x82]));
    await waitFor(() => port.messages.length === 2, 'the flushed bytes');
    expect(port.messages[1]).toEqual({ type: 'binary', data: Buffer.from([0xe2, 0x82]) });
  });

  it('sends carried bytes as binary when the rest of the character does not come within carryFlushMs', async () => {
    const bridge = await open({ carryFlushMs: 30 });
    const client = await app(bridge);
    const started = Date.now();
    client.socket.write(Buffer.from([0x41, 0xc3])); // "A" and what may be the start of "é"
    await waitFor(() => port.messages.length === 2, 'the text and the flushed byte');
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(port.messages).toEqual([
      { type: 'text', text: 'A' },
      { type: 'binary', data: Buffer.from([0xc3]) },
    ]);
    client.socket.write(Buffer.from([0xa9, 0x42])); // the late rest: not text on its own, but no byte lost
    await waitFor(() => port.messages.length === 3, 'the late bytes');
    expect(port.bytes().equals(Buffer.from('Aé' + 'B', 'utf8'))).toBe(true);
  });

  it('chunks to the remote maxMessageSize and honours binary: true', async () => {
    port.max = 10;
    const bridge = await open({ binary: true });
    const client = await app(bridge);
    const payload = Buffer.from('abcdefghijklmnopqrstuvwxyz0123456789'.repeat(3));
    client.socket.write(payload);
    await waitFor(() => port.receivedBytes === payload.length, 'all bytes');
    expect(port.bytes().equals(payload)).toBe(true);
    expect(port.messages.every((m) => m.type === 'binary' && m.data.length <= 10)).toBe(true);
  });

  it('treats a send returning false as queued, not as a failure', async () => {
    port.sendResult = false;
    const bridge = await open();
    const client = await app(bridge);
    client.socket.write('one');
    await waitFor(() => text() === 'one', 'first message');
    client.socket.write('two');
    await waitFor(() => text() === 'onetwo', 'second message');
    expect(client.closed).toBe(false);
    expect(bridge.stats.sendFailures).toBe(0);
  });

  it('a throwing send is caught, logged against the channel, and closes the app connection', async () => {
    const bridge = await open();
    const first = await app(bridge);
    port.failWith = new Error('message too large for the remote');
    first.socket.write('doomed');
    await waitFor(() => first.closed, 'the app connection to close');
    expect(bridge.stats.sendFailures).toBe(1);
    expect(bridge.stats.droppedToBrowserBytes).toBe(6);
    expect(events.find((e) => e.type === 'send-failed')).toMatchObject({ channel: 'foo', connection: 1, error: 'message too large for the remote' });
    const logged = lines.find((l) => l.msg.startsWith('sending to the browser failed'));
    expect(logged).toMatchObject({ channel: 'foo', connection: 1, level: 50 });
    // The bridge keeps serving.
    port.failWith = undefined;
    const second = await app(bridge);
    second.socket.write('fine');
    await waitFor(() => text() === 'fine', 'data after the failure');
  });
});

describe('ChannelBridge: one connection at a time', () => {
  it('a new connection replaces the old one: the old sees EOF, data goes to the new one', async () => {
    const bridge = await open();
    const first = await app(bridge);
    bridge.handleBrowserMessage('to-first');
    await waitFor(() => first.received().toString() === 'to-first', 'data at the first app');
    const second = await app(bridge);
    await waitFor(() => first.ended, 'EOF at the first app');
    bridge.handleBrowserMessage('to-second');
    await waitFor(() => second.received().toString() === 'to-second', 'data at the second app');
    expect(first.received().toString()).toBe('to-first');
    second.socket.write('from-second');
    await waitFor(() => text() === 'from-second', 'data from the second app');
    expect(events.find((e) => e.type === 'replaced')).toMatchObject({ connection: 1, by: 2 });
    await waitFor(() => events.some((e) => e.type === 'disconnected' && e.connection === 1), 'the first to disconnect');
    expect(events.find((e) => e.type === 'disconnected' && e.connection === 1)).toMatchObject({ reason: 'replaced by connection 2' });
    expect(bridge.stats.connectionsReplaced).toBe(1);
    expect(bridge.stats.connectionsServed).toBe(2);
    expect(second.ended).toBe(false);
  });

  it('a replaced app that ignores EOF is destroyed after the grace period', async () => {
    const bridge = await open({ graceMs: 100 });
    const stale = await app(bridge, { allowHalfOpen: true });
    const started = Date.now();
    await app(bridge);
    await waitFor(() => stale.ended, 'EOF at the stale app');
    const gone = () => events.some((e) => e.type === 'disconnected' && e.connection === 1);
    expect(gone()).toBe(false);
    await waitFor(gone, 'the stale connection destroyed', 2000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(bridge.connected).toBe(true); // the new one
  });

  it('keeps writing to an app that half-closed (it may still read)', async () => {
    const bridge = await open();
    const client = await app(bridge, { allowHalfOpen: true });
    client.socket.end('bye');
    await waitFor(() => text() === 'bye', 'the app data');
    bridge.handleBrowserMessage('reply');
    await waitFor(() => client.received().toString() === 'reply', 'the reply after half-close');
  });
});

describe('ChannelBridge: buffering browser data', () => {
  it('holds messages while no app is connected and flushes them, in order, to the next one', async () => {
    const bridge = await open();
    bridge.handleBrowserMessage('one');
    bridge.handleBrowserMessage(Buffer.from('two'));
    bridge.handleBrowserMessage('three');
    expect(bridge.stats.heldBytes).toBe(11);
    const client = await app(bridge);
    await waitFor(() => client.received().toString() === 'onetwothree', 'the held data');
    expect(events.find((e) => e.type === 'connected')).toMatchObject({ flushedBytes: 11 });
    expect(bridge.stats.heldBytes).toBe(0);
  });

  it('an app that went away is found by the next write, whose data is held again for the next app', async () => {
    const bridge = await open();
    const client = await app(bridge);
    client.socket.write('last words');
    await waitFor(() => text() === 'last words', 'the app data');
    client.socket.destroy(); // the app exits; the bridge only sees EOF (the connection may be half-closed)
    await sleep(50);
    expect(bridge.connected).toBe(true);
    bridge.handleBrowserMessage('four');
    bridge.handleBrowserMessage('five');
    await waitFor(() => !bridge.connected, 'the write to fail');
    bridge.handleBrowserMessage('six');
    await waitFor(() => events.some((e) => e.type === 'disconnected'), 'the disconnect');
    expect(events.find((e) => e.type === 'disconnected')).toMatchObject({ connection: 1, reason: 'socket error: EPIPE', bytesFromApp: 10, bytesToApp: 0 });
    expect(bridge.stats.heldBytes).toBe(11);
    expect(bridge.stats.droppedFromBrowserBytes).toBe(0);
    const next = await app(bridge);
    await waitFor(() => next.received().toString() === 'fourfivesix', 'the held data, in order, at the next app');
    expect(bridge.stats.bytesToApp).toBe(11);
  });

  it('refuses (and counts) data past the bound while no app is connected, keeping the oldest', async () => {
    const bridge = await open({ maxBufferedToSocketBytes: 10 });
    bridge.handleBrowserMessage('aaaaaa');
    bridge.handleBrowserMessage('bbbbbb');
    bridge.handleBrowserMessage('cccccc');
    expect(bridge.stats.heldBytes).toBe(6);
    expect(bridge.stats.droppedFromBrowserBytes).toBe(12);
    expect(events.filter((e) => e.type === 'refused')).toHaveLength(2);
    const warnings = lines.filter((l) => l.level === 40 && l.msg.includes('refusing browser data'));
    expect(warnings).toHaveLength(1); // loud once per episode, not per message
    const client = await app(bridge);
    bridge.handleBrowserMessage('dddd');
    await waitFor(() => client.received().toString() === 'aaaaaadddd', 'the kept data then the new data');
  });

  it('closes an app that does not read once its unflushed data would pass the bound', async () => {
    const bound = 256 * 1024;
    const bridge = await open({ maxBufferedToSocketBytes: bound });
    const client = await app(bridge);
    client.socket.pause(); // the app stops reading
    const message = randomBytes(64 * 1024);
    let sent = 0;
    for (let i = 0; i < 400 && !events.some((e) => e.type === 'overflow'); i++) {
      bridge.handleBrowserMessage(message);
      sent++;
      if (i % 8 === 7) await sleep(1); // let the kernel buffers fill
    }
    const overflow = events.find((e) => e.type === 'overflow');
    expect(overflow).toMatchObject({ type: 'overflow', connection: 1, limit: bound });
    expect(bridge.stats.connectionsClosedForOverflow).toBe(1);
    expect(bridge.connected).toBe(false);
    expect(lines.some((l) => l.level === 40 && l.msg.startsWith('the app is not reading') && l.channel === 'foo')).toBe(true);
    client.socket.resume();
    await waitFor(() => client.closed, 'the overflowed app connection to close');
    const stats = bridge.stats;
    // The unflushed bytes were dropped and counted: what the app read plus those is what was handed over.
    expect(stats.droppedFromBrowserBytes).toBeGreaterThan(0);
    expect(stats.droppedFromBrowserBytes).toBeLessThanOrEqual(2 * bound); // the hard limit
    // What the app read is what was handed over, less part of the one write in flight at the destroy
    // (Node reports an in-flight write of a destroyed socket as done: it may have been partly written).
    expect(client.received().length).toBeLessThanOrEqual(stats.bytesToApp);
    expect(client.received().length).toBeGreaterThan(stats.bytesToApp - message.length);
    // The message that overflowed is held for the next app, not lost; every browser byte is accounted for.
    expect(stats.heldBytes).toBe(message.length);
    expect(stats.bytesFromBrowser).toBe(sent * message.length);
    expect(stats.bytesToApp + stats.droppedFromBrowserBytes + stats.heldBytes).toBe(stats.bytesFromBrowser);
    const next = await app(bridge);
    await waitFor(() => next.received().length === message.length, 'the held message at the next app');
    expect(next.received().equals(message)).toBe(true);
  });

  it('closes an app whose unflushed data stays above the bound for overflowAfterMs', async () => {
    const bound = 1024 * 1024;
    const bridge = await open({ maxBufferedToSocketBytes: bound, overflowAfterMs: 100 });
    const client = await app(bridge);
    client.socket.pause();
    const message = randomBytes(32 * 1024);
    const started = Date.now();
    for (let i = 0; i < 1000 && !events.some((e) => e.type === 'overflow'); i++) {
      bridge.handleBrowserMessage(message);
      await sleep(10);
    }
    const overflow = events.find((e) => e.type === 'overflow');
    expect(overflow).toMatchObject({ connection: 1, limit: bound });
    // Judged by time, not by the hard limit.
    expect(overflow?.type === 'overflow' && overflow.bufferedBytes).toBeLessThan(2 * bound);
    const line = lines.find((l) => l.msg.startsWith('the app is not reading'));
    expect(line?.aboveBoundForMs).toBeGreaterThanOrEqual(100);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    client.socket.resume();
    await waitFor(() => client.closed, 'the app connection to close');
  });

  it('lets an app that reads drain a burst above the bound (below the hard limit) without closing it', async () => {
    const bound = 512 * 1024;
    const bridge = await open({ maxBufferedToSocketBytes: bound });
    const client = await app(bridge);
    const burst = Array.from({ length: 16 }, () => randomBytes(64 * 1024)); // 1 MiB at once: nothing drains meanwhile
    for (const message of burst) bridge.handleBrowserMessage(message);
    const expected = Buffer.concat(burst);
    await waitFor(() => client.received().length === expected.length, 'the whole burst at the app');
    expect(client.received().equals(expected)).toBe(true);
    expect(bridge.stats.connectionsClosedForOverflow).toBe(0);
    expect(bridge.stats.droppedFromBrowserBytes).toBe(0);
    // Drained: the next burst starts from zero again.
    for (const message of burst) bridge.handleBrowserMessage(message);
    await waitFor(() => client.received().length === 2 * expected.length, 'the second burst');
    expect(bridge.connected).toBe(true);
  });
});

describe('ChannelBridge: backpressure', () => {
  it('stops reading the socket while the channel buffer is high and resumes on buffered-amount-low', async () => {
    port.autoBuffer = true; // the "browser" reads nothing until the test drains
    const bridge = await open({ highWaterMark: 64 * 1024, lowWaterMark: 16 * 1024 });
    expect(port.threshold).toBe(16 * 1024);
    const client = await app(bridge);
    const payload = randomBytes(2 * 1024 * 1024);
    client.socket.write(payload);
    await waitFor(() => bridge.stats.backpressurePauses === 1, 'reading to pause');
    await sleep(150);
    const stalled = port.receivedBytes;
    await sleep(150);
    expect(port.receivedBytes).toBe(stalled); // nothing more while the buffer stays high
    expect(stalled).toBeLessThan(payload.length);
    expect(stalled).toBeGreaterThan(64 * 1024);
    expect(stalled).toBeLessThan(64 * 1024 + 256 * 1024); // one read past the high-water mark at most
    while (port.receivedBytes < payload.length) {
      const before = port.receivedBytes;
      port.buffered = 0;
      bridge.handleBufferedAmountLow();
      await waitFor(() => port.receivedBytes > before, 'reading to resume');
      await waitFor(() => port.receivedBytes === payload.length || port.buffered > 64 * 1024, 'the next pause or the end');
    }
    expect(port.bytes().equals(payload)).toBe(true);
    expect(bridge.stats.backpressurePauses).toBeGreaterThan(10);
  });

  it('falls back to polling when the buffered-amount-low event never comes', async () => {
    port.autoBuffer = true;
    const bridge = await open({ highWaterMark: 1024, lowWaterMark: 512 });
    const client = await app(bridge);
    const total = 512 * 1024;
    client.socket.write(randomBytes(total));
    await waitFor(() => bridge.stats.backpressurePauses === 1, 'reading to pause');
    await sleep(50);
    const stalled = port.receivedBytes;
    expect(stalled).toBeLessThan(total);
    port.autoBuffer = false;
    port.buffered = 0; // drained, but no event
    await waitFor(() => port.receivedBytes === total, 'reading to resume by itself', 2000);
  });

  it('a new connection starts paused while the channel buffer is high', async () => {
    port.autoBuffer = true;
    const bridge = await open({ highWaterMark: 100, lowWaterMark: 10 });
    const first = await app(bridge);
    first.socket.write('x'.repeat(200));
    await waitFor(() => bridge.stats.backpressurePauses === 1, 'reading to pause');
    const second = await app(bridge);
    second.socket.write('from second');
    await sleep(100);
    expect(text()).toBe('x'.repeat(200));
    port.buffered = 0;
    bridge.handleBufferedAmountLow();
    await waitFor(() => text() === 'x'.repeat(200) + 'from second', 'the second app once drained');
  });
});

describe('ChannelBridge: guarded hooks', () => {
  it('an onEvent handler that throws is logged and ignored', async () => {
    const bridge = await open({
      onEvent: () => {
        throw new Error('handler bug');
      },
    });
    const client = await app(bridge);
    client.socket.write('ok');
    await waitFor(() => text() === 'ok', 'data despite the handler');
    expect(lines.some((l) => l.msg.includes('event handler threw'))).toBe(true);
  });

  it('port calls that throw do not escape', async () => {
    port.bufferedAmount = () => {
      throw new Error('channel closed');
    };
    const bridge = await open();
    const client = await app(bridge);
    client.socket.write('still');
    await waitFor(() => text() === 'still', 'data despite bufferedAmount throwing');
    expect(() => bridge.handleBufferedAmountLow()).not.toThrow();
    expect(lines.some((l) => l.msg === 'data channel call failed' && l.channel === 'foo')).toBe(true);
  });
});
