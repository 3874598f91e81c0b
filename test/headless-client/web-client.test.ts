/**
 * The headless web client against a stand-in server written from the protocol description only
 * (helpers/fake-platform.ts): protocol conformance independent of the platform's implementation.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HIGH_WATER_MARK, MAX_CHUNK_BYTES } from '../../src/headless-client/channel.js';
import { connectWebClient, GatewayError, type WebClient } from '../../src/headless-client/web-client.js';
import { startFakePlatform, type FakePlatform, type FakePlatformOptions } from './helpers/fake-platform.js';

/** A port nothing listens on (just released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function platform(options: FakePlatformOptions = {}): Promise<FakePlatform> {
  const p = await startFakePlatform(options);
  cleanups.push(() => p.close());
  return p;
}

async function connect(p: FakePlatform, channels: string[], extra: { apiVersion?: 1 | 2; openTimeoutMs?: number } = {}): Promise<WebClient> {
  const client = await connectWebClient({ gateway: p.url, token: p.token, channels, ...extra });
  cleanups.push(() => client.close({ flushTimeoutMs: 0 }));
  return client;
}

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const bytesOf = (messages: (string | Buffer)[]) => Buffer.concat(messages.map((m) => (typeof m === 'string' ? Buffer.from(m) : m)));

function collect(client: WebClient, name: string): (string | Buffer)[] {
  const got: (string | Buffer)[] = [];
  client.channel(name).on('message', (data) => got.push(data));
  return got;
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('signaling as the SDK speaks it (API version 2)', () => {
  it('sends discover, then settings, answers the offer in base64 and trickles candidates without "a="', async () => {
    const p = await platform();
    const client = await connect(p, ['foo', 'bar']);
    await client.opened;
    const session = await p.nextSession();
    await until(() => session.signals.some((s) => s.type === 'candidate'), 'a client candidate');
    const types = session.signals.map((s) => s.type);
    expect(types.slice(0, 3)).toEqual(['discover', 'settings', 'answer']);
    expect(types.slice(3).every((t) => t === 'candidate')).toBe(true);
    expect(session.signals[0]).toEqual({ type: 'discover' });
    expect(session.signals[1]).toEqual({
      type: 'settings',
      api_version: 2,
      data_channels: ['foo', 'bar'],
      enable_speaker: false,
      enable_microphone: false,
      enable_video: false,
      enable_camera: false,
    });
    const answer = Buffer.from(String(session.signals[2]!.sdp), 'base64').toString();
    expect(answer).toMatch(/^v=0\r?\n/);
    expect(answer).toContain('m=application');
    for (const candidate of session.signals.filter((s) => s.type === 'candidate')) {
      expect(Buffer.from(String(candidate.candidate), 'base64').toString()).toMatch(/^candidate:/);
      expect(typeof candidate.sdpMid).toBe('string');
      expect(candidate.sdpMLineIndex).toBe(0);
    }
  });

  it('opens `control` first, then one channel per name in the order given', async () => {
    const p = await platform();
    const names = ['e1', 'd2', 'c3', 'b4', 'a5'];
    const client = await connect(p, names);
    await client.opened;
    const session = await p.nextSession();
    await until(() => session.channelOrder.length === 6, 'six channels');
    expect(session.channelOrder).toEqual(['control', ...names]);
    expect(client.channels.map((c) => c.name)).toEqual(names);
    expect(client.channels.every((c) => c.state === 'open')).toBe(true);
  });

  it('closes the signaling WebSocket itself once ICE is connected, as the browser does', async () => {
    const p = await platform();
    const client = await connect(p, ['foo']);
    await client.opened;
    const session = await p.nextSession();
    await session.wsClosed;
    // The session goes on without the WebSocket.
    const foo = await session.channel('foo');
    await client.channel('foo').send('still here');
    await foo.waitFor((m) => m.length === 1);
    expect(foo.messages).toEqual(['still here']);
  });
});

describe('data', () => {
  it('exchanges text and binary messages both ways, keeping their kind', async () => {
    const p = await platform();
    const client = await connect(p, ['foo']);
    const got = collect(client, 'foo');
    await client.opened;
    const session = await p.nextSession();
    const foo = await session.channel('foo');

    await client.channel('foo').send('héllo ✓');
    await client.channel('foo').send(Buffer.from([0, 1, 2, 255]));
    await client.channel('foo').send(new Uint8Array([7, 8]));
    await foo.waitFor((m) => m.length === 3);
    expect(foo.messages[0]).toBe('héllo ✓');
    expect(Buffer.isBuffer(foo.messages[1])).toBe(true);
    expect([...(foo.messages[1] as Buffer)]).toEqual([0, 1, 2, 255]);
    expect([...(foo.messages[2] as Buffer)]).toEqual([7, 8]);

    foo.dc.sendMessage('from the server');
    foo.dc.sendMessageBinary(Buffer.from([9, 8, 7]));
    await until(() => got.length === 2, 'two messages at the client');
    expect(got[0]).toBe('from the server');
    expect(Buffer.isBuffer(got[1]) && [...got[1]]).toEqual([9, 8, 7]);
    expect(client.channel('foo').stats).toMatchObject({ messagesSent: 3, messagesReceived: 2, bytesReceived: 18 });
  });

  it('keeps messages that arrive before a listener is attached and delivers them to it', async () => {
    const p = await platform();
    const client = await connect(p, ['foo']);
    await client.opened;
    const foo = await (await p.nextSession()).channel('foo');
    foo.dc.sendMessage('early 1');
    foo.dc.sendMessage('early 2');
    await until(() => client.channel('foo').stats.messagesReceived === 2, 'two messages received');
    const got = collect(client, 'foo');
    await until(() => got.length === 2, 'the kept messages');
    expect(got).toEqual(['early 1', 'early 2']);
  });

  it('keeps channels apart', async () => {
    const p = await platform();
    const client = await connect(p, ['foo', 'bar']);
    const gotBar = collect(client, 'bar');
    await client.opened;
    const session = await p.nextSession();
    const [foo, bar] = await Promise.all([session.channel('foo'), session.channel('bar')]);
    await client.channel('bar').send('to bar');
    await bar.waitFor((m) => m.length === 1);
    expect(foo.messages).toEqual([]);
    bar.dc.sendMessage('from bar');
    await until(() => gotBar.length === 1, 'bar message');
    expect(gotBar).toEqual(['from bar']);
    expect(() => client.channel('baz')).toThrow(/no data channel "baz"/);
  });

  it('chunks text and binary above the remote maximum message size, never splitting a character', async () => {
    const p = await platform({ maxMessageSize: 16_384 });
    const client = await connect(p, ['foo']);
    await client.opened;
    expect(client.channel('foo').maxMessageSize()).toBe(16_384);
    const foo = await (await p.nextSession()).channel('foo');

    // 3-byte characters with an odd offset so that naive byte splits would cut one.
    const text = 'a' + '€'.repeat(40_000) + 'z';
    await client.channel('foo').send(text);
    await foo.waitFor((m) => Buffer.byteLength(m.join('')) >= Buffer.byteLength(text));
    expect(foo.messages.length).toBeGreaterThan(7);
    for (const message of foo.messages) {
      expect(typeof message).toBe('string');
      expect(Buffer.byteLength(message as string)).toBeLessThanOrEqual(16_384);
      expect(message as string).not.toContain('\uFFFD');
    }
    expect(foo.messages.join('')).toBe(text);

    foo.messages.length = 0;
    const binary = randomBytes(1_000_000);
    await client.channel('foo').send(binary);
    await foo.waitFor((m) => bytesOf(m).length >= binary.length);
    for (const message of foo.messages) {
      expect(Buffer.isBuffer(message)).toBe(true);
      expect((message as Buffer).length).toBeLessThanOrEqual(16_384);
    }
    expect(sha(bytesOf(foo.messages))).toBe(sha(binary));
  });

  it('never sends a message larger than 256 KiB even when the remote allows more', async () => {
    const p = await platform({ maxMessageSize: 4 * 1024 * 1024 });
    const client = await connect(p, ['foo']);
    await client.opened;
    expect(client.channel('foo').maxMessageSize()).toBe(MAX_CHUNK_BYTES);
    const foo = await (await p.nextSession()).channel('foo');
    const binary = randomBytes(1024 * 1024);
    await client.channel('foo').send(binary);
    await foo.waitFor((m) => bytesOf(m).length >= binary.length);
    expect(Math.max(...foo.messages.map((m) => (m as Buffer).length))).toBe(MAX_CHUNK_BYTES);
    expect(sha(bytesOf(foo.messages))).toBe(sha(binary));
  });

  it('paces large sends by the buffered amount and delivers everything in order', async () => {
    const p = await platform();
    const client = await connect(p, ['foo']);
    await client.opened;
    const foo = await (await p.nextSession()).channel('foo');
    const channel = client.channel('foo');
    const blocks = Array.from({ length: 24 }, () => randomBytes(1024 * 1024));
    let maxBuffered = 0;
    for (const block of blocks) {
      await channel.send(block);
      maxBuffered = Math.max(maxBuffered, channel.stats.bufferedAmount);
    }
    // send() resolves with at most the high-water mark plus one message buffered.
    expect(maxBuffered).toBeLessThanOrEqual(HIGH_WATER_MARK + MAX_CHUNK_BYTES);
    await channel.flush();
    expect(channel.stats.bufferedAmount).toBe(0);
    const all = Buffer.concat(blocks);
    await foo.waitFor((m) => bytesOf(m).length >= all.length, 30_000);
    expect(sha(bytesOf(foo.messages))).toBe(sha(all));
  });
});

describe('ending the session', () => {
  it('close() flushes queued data, closes the channels and sends stream::disconnect on control', async () => {
    const p = await platform();
    const client = await connect(p, ['foo']);
    await client.opened;
    const session = await p.nextSession();
    const foo = await session.channel('foo');
    const data = randomBytes(5 * 1024 * 1024);
    void client.channel('foo').send(data); // not awaited: close() must still deliver it
    await client.close();
    await foo.waitFor((m) => bytesOf(m).length >= data.length, 20_000);
    expect(sha(bytesOf(foo.messages))).toBe(sha(data));
    await session.waitForControl((m) => m.length > 0);
    expect(JSON.parse(session.controlMessages[0]!)).toEqual({ type: 'stream::disconnect', data: {} });
    expect(await client.closed).toEqual({ initiator: 'local', reason: 'closed by the client' });
    expect(client.channel('foo').state).toBe('closed');
    await expect(client.channel('foo').send('late')).rejects.toThrow(/closed/);
  });

  it('reports a session the server ends as closed by the remote side', async () => {
    const p = await platform();
    const client = await connect(p, ['foo']);
    await client.opened;
    const session = await p.nextSession();
    const closedChannel = new Promise<void>((resolve) => client.channel('foo').once('close', () => resolve()));
    session.close();
    const info = await client.closed;
    expect(info.initiator).toBe('remote');
    await closedChannel;
    expect(client.isClosed).toBe(true);
  });

  it('rejects `opened` naming the channel when the server closes it before it opens', async () => {
    const p = await platform({ rejectChannels: ['bad'] });
    const client = await connect(p, ['good', 'bad']);
    // The server may let the channel open for a moment before closing it.
    const outcome = await client.opened.then(
      () => client.channel('bad').whenClosed().then(() => 'opened, then closed'),
      (error: Error) => error.message,
    );
    expect(outcome === 'opened, then closed' || /"bad"/.test(outcome)).toBe(true);
    await client.channel('bad').whenClosed();
    expect(client.channel('good').state).toBe('open');
    expect(client.isClosed).toBe(false);
  });
});

describe('failures', () => {
  it('a wrong token is a GatewayError UNAUTHORIZED with status 401', async () => {
    const p = await platform();
    const error = await connectWebClient({ gateway: p.url, token: 'wrong', channels: ['foo'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayError);
    expect(error).toMatchObject({ kind: 'UNAUTHORIZED', status: 401 });
    expect((error as Error).message).toContain('invalid or missing token');
  });

  it('an unreachable gateway is a GatewayError UNREACHABLE', async () => {
    const port = await closedPort();
    const error = await connectWebClient({ gateway: `http://127.0.0.1:${port}`, token: 't', channels: ['foo'] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'UNREACHABLE' });
    expect((error as Error).message).toBe(`cannot reach the gateway at http://127.0.0.1:${port}: ECONNREFUSED`);
  });

  it('refuses what the SDK refuses: no channels, more than 5, duplicates, "control"', async () => {
    const base = { gateway: 'http://127.0.0.1:1', token: 't' };
    await expect(connectWebClient({ ...base, channels: [] })).rejects.toThrow(/at least one/);
    await expect(connectWebClient({ ...base, channels: ['a', 'b', 'c', 'd', 'e', 'f'] })).rejects.toThrow(/at most 5/);
    await expect(connectWebClient({ ...base, channels: ['a', 'a'] })).rejects.toThrow(/twice/);
    await expect(connectWebClient({ ...base, channels: ['control'] })).rejects.toThrow(/SDK's own channel/);
  });

  it('a signaling error message ends the session with that message', async () => {
    const p = await platform();
    const client = await connect(p, ['foo']);
    const session = await p.nextSession();
    session.sendSignal(JSON.stringify({ type: 'error', message: 'instance exploded' }));
    await expect(client.opened).rejects.toThrow(/instance exploded/);
    expect(await client.closed).toEqual({ initiator: 'error', reason: 'the signaling server reported an error: instance exploded' });
  });

  it('ignores malformed and unknown signaling messages', async () => {
    const p = await platform();
    const client = await connect(p, ['foo']);
    const session = await p.nextSession();
    session.sendSignal('not json');
    session.sendSignal(JSON.stringify({ type: 'something-new', x: 1 }));
    session.sendSignal(JSON.stringify({ type: 'candidate', candidate: '%%%' }));
    await client.opened;
  });

  it('fails clearly when the server only speaks an older API version', async () => {
    const p = await platform({ maxApiVersion: 1 });
    const client = await connect(p, ['foo']);
    await expect(client.opened).rejects.toThrow(/supports signaling API version 1 at most; this client uses 2/);
  });

  it('fails after the open timeout when the server never answers', async () => {
    const p = await platform({ ignoreSettings: true });
    const client = await connect(p, ['foo'], { openTimeoutMs: 300 });
    await expect(client.opened).rejects.toThrow(/did not all open within 300 ms/);
    expect((await client.closed).initiator).toBe('error');
  });
});

describe('API version 1', () => {
  it('sends settings with only api_version 1, then an offer listing the data channels, and applies the answer', async () => {
    const p = await platform();
    const client = await connect(p, ['foo', 'bar'], { apiVersion: 1 });
    const got = collect(client, 'foo');
    await client.opened;
    const session = await p.nextSession();
    expect(session.signals[0]).toEqual({ type: 'discover' });
    expect(session.signals[1]).toEqual({ type: 'settings', api_version: 1 });
    const offer = session.signals[2]!;
    expect(offer.type).toBe('offer');
    expect(offer.dataChannels).toEqual(['foo', 'bar']);
    expect(Buffer.from(String(offer.sdp), 'base64').toString()).toContain('m=application');
    const foo = await session.channel('foo');
    await client.channel('foo').send('v1 works');
    await foo.waitFor((m) => m.length === 1);
    foo.dc.sendMessage('both ways');
    await until(() => got.length === 1, 'a message');
    expect(got).toEqual(['both ways']);
    expect(session.channelOrder).toEqual(['control', 'foo', 'bar']);
  });
});
