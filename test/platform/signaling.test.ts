/**
 * The signaling WebSocket under misuse, while another session streams: refused upgrades (unknown
 * session, wrong, missing or reused secret), garbage frames, unknown message types, candidates or
 * answers before an offer, bad versions and SDPs — each answered with {"type":"error",…} or a clean
 * close, and the streaming session never notices.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { MAX_PROTOCOL_ERRORS } from '../../src/platform/signaling.js';
import { connectApp, startHarness, TEST_TOKEN, waitFor, type AppConnection, type Harness } from './helpers/harness.js';
import { b64, createSession, StreamClient, unb64 } from './helpers/stream-client.js';

let h: Harness;
let streaming: StreamClient;
let app: AppConnection;
let round = 0;

beforeAll(async () => {
  h = await startHarness();
  streaming = await StreamClient.start({ gateway: h.platform.url, token: TEST_TOKEN, channels: ['foo'] });
  await h.waitForEvent('channel-open', (e) => e.channel === 'foo');
  app = await connectApp(join(h.socketDir, 'webrtc_data_foo'));
});

afterAll(async () => {
  app?.socket.destroy();
  streaming?.close();
  await h?.close();
});

/** The streaming session is untouched: same peer, and data still flows both ways. */
async function expectStreamingIntact(): Promise<void> {
  expect(h.platform.stats.active).toMatchObject({ session: streaming.sessionId, state: 'connected', channels: ['foo'] });
  const n = ++round;
  const before = app.data().length;
  streaming.channel('foo').send(`ping ${n};`);
  await app.until((d) => d.subarray(before).toString() === `ping ${n};`, `ping ${n}`);
  const text = `pong ${n};`;
  app.socket.write(text);
  await streaming.channel('foo').until(() => streaming.channel('foo').bytes().toString().endsWith(text), `pong ${n}`);
}

interface RawSignaling {
  ws: WebSocket;
  messages: Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string }>;
  send(message: unknown): void;
  next(type: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

async function openSignaling(url: string): Promise<RawSignaling> {
  const ws = new WebSocket(url);
  const messages: Record<string, unknown>[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(data.toString()) as Record<string, unknown>));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let seen = 0;
  return {
    ws,
    messages,
    closed,
    send: (message) => ws.send(typeof message === 'string' ? message : JSON.stringify(message)),
    async next(type, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const index = messages.findIndex((m, i) => i >= seen && m.type === type);
        if (index >= 0) {
          seen = index + 1;
          return messages[index]!;
        }
        if (Date.now() > deadline) throw new Error(`no ${type} message; got ${JSON.stringify(messages)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

/** The HTTP status of a refused upgrade. */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.on('error', () => undefined);
  });
}

async function newSignaling(): Promise<RawSignaling> {
  const metadata = await createSession(h.platform.url, TEST_TOKEN);
  return openSignaling(metadata.url);
}

describe('refused upgrades', () => {
  it('refuses an unknown session (404), a wrong or missing secret (401) and a used URL (401)', async () => {
    const metadata = await createSession(h.platform.url, TEST_TOKEN);
    const url = new URL(metadata.url);
    const base = `ws://${url.host}`;
    expect(await upgradeStatus(`${base}/1.0/sessions/ffffffffffffffffffffffffffffffff/signaling?secret=${url.searchParams.get('secret')}`)).toBe(404);
    expect(await upgradeStatus(`${base}/1.0/sessions/${metadata.id}/signaling?secret=wrong`)).toBe(401);
    expect(await upgradeStatus(`${base}/1.0/sessions/${metadata.id}/signaling`)).toBe(401);
    expect(await upgradeStatus(`${base}/somewhere/else`)).toBe(404);
    // Another session's secret does not open this one.
    expect(await upgradeStatus(streaming.metadata.url.replace(streaming.sessionId, metadata.id))).toBe(401);
    const first = await openSignaling(metadata.url);
    expect(await upgradeStatus(metadata.url)).toBe(401); // one WebSocket per URL
    first.ws.close();
    expect(h.platform.stats.signalingRefused).toBeGreaterThanOrEqual(6);
    await expectStreamingIntact();
  });

  it('refuses the streaming session URL once used, even after the client closed its WebSocket', async () => {
    expect(await upgradeStatus(streaming.metadata.url)).toBe(401);
    await expectStreamingIntact();
  });
});

describe('discover', () => {
  it('answers exactly as the SDK expects: max_api_version 2, no capabilities', async () => {
    const s = await newSignaling();
    s.send({ type: 'discover' });
    expect(await s.next('resp:discover')).toEqual({ type: 'resp:discover', max_api_version: 2, capabilities: [] });
    s.ws.close();
    await expectStreamingIntact();
  });
});

describe('misuse on another session', () => {
  it.each([
    ['malformed JSON', '{"type":', /malformed JSON/],
    ['not JSON at all', 'hello', /malformed JSON/],
    ['a JSON array', '[1,2,3]', /JSON object with a string "type"/],
    ['a message without a type', '{"sdp":"x"}', /JSON object with a string "type"/],
    ['a non-string type', '{"type":42}', /JSON object with a string "type"/],
    ['an unknown message type', '{"type":"frobnicate"}', /unknown message type "frobnicate"/],
    ['a candidate before an offer', JSON.stringify({ type: 'candidate', candidate: b64('candidate:1 1 UDP 1 127.0.0.1 9 typ host'), sdpMid: '0', sdpMLineIndex: 0 }), /candidate before an offer/],
    ['an answer before an offer', JSON.stringify({ type: 'answer', sdp: b64('v=0\r\n') }), /answer without an offer/],
    ['an unsupported API version', JSON.stringify({ type: 'settings', api_version: 3 }), /unsupported api_version 3/],
    ['settings without a version', JSON.stringify({ type: 'settings' }), /unsupported api_version/],
    ['a v1 offer that is not base64', JSON.stringify({ type: 'offer', sdp: '%%%', dataChannels: [] }), /not base64 of an SDP/],
    ['a v1 offer without sdp', JSON.stringify({ type: 'offer' }), /needs "sdp"/],
  ])('answers %s with an error message and keeps the connection', async (_what, frame, expected) => {
    const s = await newSignaling();
    s.send(frame);
    const error = await s.next('error');
    expect(String(error.message)).toMatch(expected);
    expect(Object.keys(error).sort()).toEqual(['message', 'type']);
    // Still answering on the same WebSocket.
    s.send({ type: 'discover' });
    await s.next('resp:discover');
    s.ws.close();
    await expectStreamingIntact();
  });

  it('refuses a v1 offer whose SDP libdatachannel cannot use, without ending the streaming session', async () => {
    const s = await newSignaling();
    s.send({ type: 'settings', api_version: 1 });
    s.send({ type: 'offer', sdp: b64('v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n'), dataChannels: ['foo'] });
    expect(String((await s.next('error', 10_000)).message)).toMatch(/cannot use the offer/);
    // A valid offer replaces the streaming session by design; this one did, and then ended itself.
    await h.waitForEvent('peer-ended', (e) => e.session !== streaming.sessionId);
    s.ws.close();
    // …so reconnect the streaming client for the tests that follow.
    await reconnectStreaming();
  });

  it('closes on a binary frame (1003) and on invalid UTF-8 (1007)', async () => {
    const binary = await newSignaling();
    binary.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(String((await binary.next('error')).message)).toMatch(/binary frames/);
    expect((await binary.closed).code).toBe(1003);
    const invalid = await newSignaling();
    invalid.ws.send(Buffer.from([0xff, 0xfe, 0xfd]), { binary: false });
    expect((await invalid.closed).code).toBe(1007);
    await expectStreamingIntact();
  });

  it('closes a frame above the size limit (1009)', async () => {
    const s = await newSignaling();
    s.send(JSON.stringify({ type: 'discover', padding: 'x'.repeat(1024 * 1024 + 10) }));
    expect((await s.closed).code).toBe(1009);
    await expectStreamingIntact();
  });

  it(`closes after ${MAX_PROTOCOL_ERRORS} protocol errors (1008)`, async () => {
    const s = await newSignaling();
    for (let i = 0; i < MAX_PROTOCOL_ERRORS + 5; i++) {
      if (s.ws.readyState === WebSocket.OPEN) s.send('garbage');
    }
    expect((await s.closed).code).toBe(1008);
    expect(s.messages.filter((m) => m.type === 'error').length).toBe(MAX_PROTOCOL_ERRORS);
    await expectStreamingIntact();
  });

  it('logs every refusal against its session', async () => {
    const before = h.lines.length;
    const s = await newSignaling();
    s.send('{"type":"nope"}');
    await s.next('error');
    s.ws.close();
    await waitFor(() => h.lines.slice(before).some((l) => l.event === 'signaling.protocol_error' && typeof l.session === 'string'), 'the log line');
  });
});

describe('the server side of API version 2', () => {
  it('offers a data-only SDP and trickles its candidates in the SDK format (once the answer is applied)', async () => {
    await reconnectStreaming();
    const messages = streaming.received;
    const offerAt = messages.findIndex((m) => m.type === 'offer');
    const firstCandidateAt = messages.findIndex((m) => m.type === 'candidate');
    expect(messages[0]).toEqual({ type: 'resp:discover', max_api_version: 2, capabilities: [] });
    expect(offerAt).toBeGreaterThan(0);
    expect(firstCandidateAt).toBeGreaterThan(offerAt);
    const offer = messages[offerAt]!;
    expect(Object.keys(offer).sort()).toEqual(['sdp', 'type']);
    const sdp = unb64(String(offer.sdp));
    expect(sdp.startsWith('v=0')).toBe(true);
    expect(sdp).toMatch(/^m=application \d+ UDP\/DTLS\/SCTP webrtc-datachannel/m);
    expect(sdp).not.toMatch(/^m=(audio|video)/m);
    for (const candidate of messages.filter((m) => m.type === 'candidate')) {
      expect(Object.keys(candidate).sort()).toEqual(['candidate', 'sdpMLineIndex', 'sdpMid', 'type']);
      expect(unb64(String(candidate.candidate))).toMatch(/^candidate:\d+ \d+ UDP /i);
      expect(candidate.sdpMid).toBe('0');
      expect(candidate.sdpMLineIndex).toBe(0);
    }
  });

  it('holds its candidates until the answer; a WebSocket closed before the answer ends that peer', async () => {
    const s = await newSignaling();
    const session = new URL(s.ws.url).pathname.split('/')[3];
    s.send({ type: 'discover' });
    await s.next('resp:discover');
    s.send({ type: 'settings', api_version: 2, data_channels: ['foo'], enable_speaker: false, enable_microphone: false, enable_video: false, enable_camera: false });
    await s.next('offer', 10_000);
    // A second settings, or a client offer, is refused.
    s.send({ type: 'settings', api_version: 2 });
    expect(String((await s.next('error')).message)).toMatch(/settings already received/);
    s.send({ type: 'offer', sdp: b64('v=0\r\n') });
    expect(String((await s.next('error')).message)).toMatch(/server makes the offer/);
    await new Promise((r) => setTimeout(r, 300));
    expect(s.messages.filter((m) => m.type === 'candidate')).toEqual([]);
    s.ws.close();
    const ended = await h.waitForEvent('peer-ended', (e) => e.session === session);
    expect(ended.reason).toMatch(/signaling closed before/);
    await reconnectStreaming();
  });

  it('refuses an answer libdatachannel cannot use with an error', async () => {
    const s = await newSignaling();
    const session = new URL(s.ws.url).pathname.split('/')[3];
    s.send({ type: 'settings', api_version: 2, data_channels: [] });
    await s.next('offer', 10_000);
    s.send({ type: 'answer', sdp: b64('v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n') });
    expect(String((await s.next('error')).message)).toMatch(/cannot use the answer/);
    await h.waitForEvent('peer-ended', (e) => e.session === session);
    s.ws.close();
    await reconnectStreaming();
  });
});

/** Sessions that start a peer replace the streaming one by design: bring it back. */
async function reconnectStreaming(): Promise<void> {
  app.socket.destroy();
  streaming.close();
  const mark = h.mark();
  streaming = await StreamClient.start({ gateway: h.platform.url, token: TEST_TOKEN, channels: ['foo'] });
  await h.waitForEvent('channel-open', (e) => e.channel === 'foo' && e.session === streaming.sessionId, 15_000, mark);
  app = await connectApp(join(h.socketDir, 'webrtc_data_foo'));
  await expectStreamingIntact();
}
