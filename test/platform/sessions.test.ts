/**
 * The platform against a node-datachannel client that follows the SDK's protocol: channel sockets
 * appear and carry data both ways, sessions replace each other (old sockets gone first), the
 * 5-channel limit and the name validator reject channels without ending the session,
 * stream::disconnect on `control` ends it, and API version 1 works too.
 */
import { existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectApp, startHarness, TEST_TOKEN, waitFor, type AppConnection, type Harness } from './helpers/harness.js';
import { ClientChannel, StreamClient } from './helpers/stream-client.js';

let h: Harness;
let clients: StreamClient[];
let apps: AppConnection[];

beforeEach(async () => {
  h = await startHarness();
  clients = [];
  apps = [];
});

afterEach(async () => {
  for (const app of apps) app.socket.destroy();
  for (const client of clients) client.close();
  await h.close();
});

async function connectClient(channels: string[], extra: { apiVersion?: 1 | 2; join?: string; mediaLines?: boolean } = {}): Promise<StreamClient> {
  const client = await StreamClient.start({ gateway: h.platform.url, token: TEST_TOKEN, channels, ...extra });
  clients.push(client);
  return client;
}

async function app(name: string): Promise<AppConnection> {
  const connection = await connectApp(join(h.socketDir, `webrtc_data_${name}`));
  apps.push(connection);
  return connection;
}

const socketPath = (name: string) => join(h.socketDir, `webrtc_data_${name}`);

describe('a session with API version 2 (the SDK default)', () => {
  it('opens foo as webrtc_data_foo (mode 0600, the default) and carries data both ways; control is not bridged', async () => {
    const client = await connectClient(['foo']);
    const opened = await h.waitForEvent('channel-open', (e) => e.channel === 'foo');
    expect(opened.path).toBe(socketPath('foo'));
    await client.channel('foo').opened;
    expect(statSync(socketPath('foo')).isSocket()).toBe(true);
    expect(statSync(socketPath('foo')).mode & 0o777).toBe(0o600);
    expect(existsSync(socketPath('control'))).toBe(false);

    const a = await app('foo');
    client.channel('foo').send('hello from the browser');
    await a.until((d) => d.toString() === 'hello from the browser', 'browser text');
    client.channel('foo').send(Buffer.from([0, 1, 2, 255]));
    await a.until((d) => d.length === 'hello from the browser'.length + 4, 'browser binary');
    expect(a.data().subarray(-4)).toEqual(Buffer.from([0, 1, 2, 255]));

    a.socket.write('hello from the app\n');
    await client.channel('foo').until(() => client.channel('foo').bytes().toString() === 'hello from the app\n', 'app text');
    expect(typeof client.channel('foo').messages[0]).toBe('string');

    expect(h.platform.stats.active).toMatchObject({ session: client.sessionId, apiVersion: 2, state: 'connected', channels: ['foo'] });
    // Control messages other than stream::disconnect are accepted and ignored.
    client.control.send(JSON.stringify({ type: 'input::touch', data: {} }));
    client.control.send('not json');
    client.channel('foo').send('still here');
    await a.until((d) => d.toString().endsWith('still here'), 'data after control messages');
  });

  it('keeps the session when the browser closes the WebSocket (as the SDK does once ICE connects)', async () => {
    const client = await connectClient(['foo']);
    await h.waitForEvent('channel-open', (e) => e.channel === 'foo');
    await waitFor(() => client.ws.readyState === client.ws.CLOSED, 'the client to close its WebSocket');
    const a = await app('foo');
    client.channel('foo').send('after ws close');
    await a.until((d) => d.toString() === 'after ws close', 'data after the WebSocket closed');
    expect(h.platform.stats.active?.state).toBe('connected');
  });

  it('removes a channel socket when the browser closes that channel; the others go on', async () => {
    const client = await connectClient(['foo', 'bar']);
    await h.waitForEvent('channel-open', (e) => e.channel === 'foo');
    await h.waitForEvent('channel-open', (e) => e.channel === 'bar');
    const a = await app('foo');
    client.channel('foo').dc.close();
    await h.waitForEvent('channel-closed', (e) => e.channel === 'foo');
    await a.ended;
    expect(existsSync(socketPath('foo'))).toBe(false);
    const b = await app('bar');
    client.channel('bar').send('bar lives');
    await b.until((d) => d.toString() === 'bar lives', 'bar data');
  });

  it('rejects a 6th channel and a bad name on their own; the five others work', async () => {
    const names = ['c1', 'c2', 'bad name', 'c3', 'c4', 'c5', 'c6'];
    const client = await connectClient(names);
    await client.connected;
    const rejected = await h.waitForEvent('channel-rejected', (e) => e.channel === 'bad name');
    expect(rejected.reason).toMatch(/contains " "/);
    // Which of c1..c6 is sixth depends on arrival order: exactly one of them is refused for the limit.
    const limit = await h.waitForEvent('channel-rejected', (e) => e.reason.includes('at most 5'));
    const accepted = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'].filter((n) => n !== limit.channel);
    for (const name of accepted) await h.waitForEvent('channel-open', (e) => e.channel === name);
    await client.channel('bad name').closed;
    await client.channel(limit.channel).closed;
    expect(existsSync(socketPath(limit.channel))).toBe(false);
    for (const name of accepted) {
      const a = await app(name);
      client.channel(name).send(`to ${name}`);
      await a.until((d) => d.toString() === `to ${name}`, `data on ${name}`);
    }
    expect(h.platform.stats.active?.channels.sort()).toEqual(accepted.sort());
    expect(h.lines.some((l) => l.event === 'channel.rejected' && l.channel === 'bad name' && l.session === client.sessionId)).toBe(true);
  });

  it('rejects a duplicate name and a second control channel; a channel added later in the session is bridged', async () => {
    const client = await connectClient(['foo']);
    await h.waitForEvent('channel-open', (e) => e.channel === 'foo');
    await client.control.opened;
    const duplicate = new ClientChannel('foo', client.pc.createDataChannel('foo'));
    const control = new ClientChannel('control', client.pc.createDataChannel('control'));
    const later = new ClientChannel('later', client.pc.createDataChannel('later'));
    const rejected = await h.waitForEvent('channel-rejected', (e) => e.channel === 'foo');
    expect(rejected.reason).toContain('already open');
    expect((await h.waitForEvent('channel-rejected', (e) => e.channel === 'control')).reason).toContain('second control');
    await duplicate.closed;
    await control.closed;
    await h.waitForEvent('channel-open', (e) => e.channel === 'later');
    await later.opened;
    const a = await app('later');
    later.send('late');
    await a.until((d) => d.toString() === 'late', 'data on the later channel');
    // The first foo is untouched.
    const f = await app('foo');
    client.channel('foo').send('first foo');
    await f.until((d) => d.toString() === 'first foo', 'data on the first foo');
  });

  it('rejects a channel whose socket path is held by a live listener, and goes on', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(socketPath('busy'), () => resolve()));
    try {
      const client = await connectClient(['busy', 'foo']);
      const rejected = await h.waitForEvent('channel-rejected', (e) => e.channel === 'busy');
      expect(rejected.reason).toContain('cannot open its socket');
      await client.channel('busy').closed;
      await h.waitForEvent('channel-open', (e) => e.channel === 'foo');
      const a = await app('foo');
      client.channel('foo').send('ok');
      await a.until((d) => d.toString() === 'ok', 'data on foo');
      expect(existsSync(socketPath('busy'))).toBe(true); // not ours: left alone
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });

  it('ends the session on stream::disconnect: sockets removed, apps see EOF', async () => {
    const client = await connectClient(['foo', 'bar']);
    await h.waitForEvent('channel-open', (e) => e.channel === 'foo');
    await h.waitForEvent('channel-open', (e) => e.channel === 'bar');
    const a = await app('foo');
    client.sendDisconnect();
    const ended = await h.waitForEvent('peer-ended');
    expect(ended.reason).toContain('stream::disconnect');
    await a.ended;
    expect(existsSync(socketPath('foo'))).toBe(false);
    expect(existsSync(socketPath('bar'))).toBe(false);
    expect(h.platform.stats.active).toBeNull();
    await client.channel('foo').closed;
  });

  it('a new session replaces the previous one: its sockets close first, then the new ones open', async () => {
    const first = await connectClient(['foo', 'old']);
    await h.waitForEvent('channel-open', (e) => e.channel === 'foo');
    await h.waitForEvent('channel-open', (e) => e.channel === 'old');
    const oldApp = await app('foo');
    const mark = h.mark();
    const second = await connectClient(['foo']);
    const closedOld = await h.waitForEvent('channel-closed', (e) => e.channel === 'foo' && e.session === first.sessionId, 15_000, mark);
    const openedNew = await h.waitForEvent('channel-open', (e) => e.channel === 'foo' && e.session === second.sessionId, 15_000, mark);
    const history = h.platform.history;
    const order = (pred: (e: (typeof history)[number]) => boolean) => history.findIndex(pred);
    expect(order((e) => e === closedOld)).toBeLessThan(order((e) => e === openedNew));
    expect(order((e) => e.type === 'peer-ended' && e.session === first.sessionId)).toBeLessThan(
      order((e) => e.type === 'peer-started' && e.session === second.sessionId),
    );
    expect(closedOld.reason).toContain(`replaced by session ${second.sessionId}`);
    await oldApp.ended;
    expect(existsSync(socketPath('old'))).toBe(false);
    await first.channel('foo').closed;
    const newApp = await app('foo');
    second.channel('foo').send('new session');
    await newApp.until((d) => d.toString() === 'new session', 'data in the new session');
  });

  it('a join replaces the connected client of the same session', async () => {
    const first = await connectClient(['foo']);
    await h.waitForEvent('channel-open', (e) => e.channel === 'foo');
    const mark = h.mark();
    const again = await connectClient(['foo'], { join: first.sessionId });
    expect(again.sessionId).toBe(first.sessionId);
    await h.waitForEvent('channel-closed', (e) => e.channel === 'foo' && e.reason.includes('joined again'), 15_000, mark);
    await h.waitForEvent('channel-open', (e) => e.channel === 'foo', 15_000, mark);
    const a = await app('foo');
    again.channel('foo').send('joined');
    await a.until((d) => d.toString() === 'joined', 'data after join');
  });

  it('ending the platform ends the session and removes every socket', async () => {
    const client = await connectClient(['foo']);
    await h.waitForEvent('channel-open', (e) => e.channel === 'foo');
    const a = await app('foo');
    await h.platform.close();
    await a.ended;
    expect(existsSync(socketPath('foo'))).toBe(false);
    await client.channel('foo').closed;
  });
});

describe('a session with API version 1', () => {
  it('takes the client offer, answers, and bridges the channels', async () => {
    const client = await connectClient(['foo', 'bar'], { apiVersion: 1 });
    const started = await h.waitForEvent('peer-started');
    expect(started.apiVersion).toBe(1);
    await h.waitForEvent('channel-open', (e) => e.channel === 'foo');
    await client.channel('foo').opened;
    const a = await app('foo');
    client.channel('foo').send('v1 to app');
    await a.until((d) => d.toString() === 'v1 to app', 'v1 data to the app');
    a.socket.write('v1 to browser');
    await client.channel('foo').until(() => client.channel('foo').bytes().toString() === 'v1 to browser', 'v1 data to the browser');
  });

  it('answers an offer with audio and video m-lines (the SDK v1 transceivers) and still bridges the channel', async () => {
    const client = await connectClient(['foo'], { apiVersion: 1, mediaLines: true });
    await h.waitForEvent('channel-open', (e) => e.channel === 'foo');
    const answer = client.received.find((m) => m.type === 'answer');
    expect(Buffer.from(String(answer?.sdp), 'base64').toString()).toMatch(/^m=application/m);
    const a = await app('foo');
    client.channel('foo').send('with media lines');
    await a.until((d) => d.toString() === 'with media lines', 'data');
  });
});
