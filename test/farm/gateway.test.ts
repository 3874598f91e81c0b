/**
 * The farm gateway against a real nats-server, with scripted fake instances (NATS clients in the
 * test) and real HTTP and WebSocket clients.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FarmGateway, MAX_HELD_WHILE_NATS_DOWN } from '../../src/farm/gateway/farm-gateway.js';
import { MAX_INSTANCES } from '../../src/farm/gateway/instance-registry.js';
import { MAX_EARLY_FRAMES } from '../../src/farm/gateway/signaling-relay.js';
import { encodeFarmMessage } from '../../src/farm/farm-messages.js';
import { HEARTBEAT_SUBJECT, relaySubject, SESSION_ENDED_SUBJECT } from '../../src/farm/subjects.js';
import { status } from './helpers/status.js';
import { captureLogger, waitFor, type LogLine } from '../platform/helpers/harness.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { FakeInstance, type FakeInstanceOptions } from './helpers/fake-instance.js';

const TOKEN = 'farm-test-token-0123456789';
const AUTH = { Authorization: `Macaroon root=${TOKEN}` };

interface Farm {
  nats: NatsServerHandle;
  gateway: FarmGateway;
  lines: LogLine[];
  instances: FakeInstance[];
}

let farm: Farm | undefined;
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  if (!farm) return;
  await farm.gateway.close();
  for (const instance of farm.instances) await instance.close();
  await farm.nats.stop();
  farm = undefined;
});

async function startFarm(specs: FakeInstanceOptions[]): Promise<Farm> {
  const nats = await startNatsServer();
  const { log, lines } = captureLogger();
  const gateway = await FarmGateway.start({ nats: { url: nats.url }, log, token: TOKEN, listen: { host: '127.0.0.1', port: 0 } });
  const instances: FakeInstance[] = [];
  for (const spec of specs) instances.push(await FakeInstance.start(nats.url, spec));
  farm = { nats, gateway, lines, instances };
  await waitFor(() => gateway.instances().length === specs.length, `${specs.length} instances registered`);
  return farm;
}

/** The gateway's JSON answer: metadata on success, error otherwise. */
interface GatewayBody {
  metadata: { id: string; url: string; stun_servers: unknown[] };
  error: string;
}

async function createSession(body: Record<string, unknown> = {}): Promise<{ status: number; headers: Headers; json: GatewayBody }> {
  const response = await fetch(`${farm!.gateway.url}/1.0/sessions/`, { method: 'POST', headers: { ...AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, headers: response.headers, json: (await response.json()) as GatewayBody };
}

function instanceOf(sessionId: string): FakeInstance {
  const found = farm!.instances.find((i) => i.session === sessionId);
  if (!found) throw new Error(`no instance has session ${sessionId}`);
  return found;
}

async function openSignaling(url: string): Promise<{ ws: WebSocket; messages: string[]; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(url);
  sockets.push(ws);
  const messages: string[] = [];
  ws.on('message', (data) => messages.push(data.toString()));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return { ws, messages, closed };
}

describe('farm gateway', () => {
  it('spreads sessions over the free instances, then answers 503 with Retry-After when all are busy', async () => {
    await startFarm([{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
    const placed = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const { status, json } = await createSession({ app: 'demo' });
      expect(status).toBe(201);
      expect(json.metadata.url).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:${farm!.gateway.address.port}/1\\.0/sessions/`));
      expect(json.metadata.stun_servers).toEqual([{ urls: ['stun:stun.example:3478'] }]);
      placed.add(instanceOf(json.metadata.id).name);
    }
    expect([...placed].sort()).toEqual(['a', 'b', 'c']);
    const full = await createSession();
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('5');
    expect(full.json.error).toBe('no free instance: 3 of 3 busy');
  });

  it('honours instance, device and labels; 404 names what was asked; 503 without any instance', async () => {
    await startFarm([
      { name: 'lab-1', device: 'R58A', labels: { gpu: 'yes' } },
      { name: 'lab-2', device: 'emulator-5554', labels: { gpu: 'no' } },
    ]);
    const byName = await createSession({ instance: 'lab-2' });
    expect(instanceOf(byName.json.metadata.id).name).toBe('lab-2');
    const byDevice = await createSession({ device: 'R58A' });
    expect(instanceOf(byDevice.json.metadata.id).name).toBe('lab-1');
    const missing = await createSession({ instance: 'nope' });
    expect(missing.status).toBe(404);
    expect(missing.json.error).toBe('no instance named "nope"');
    const labels = await createSession({ labels: { gpu: 'maybe' } });
    expect(labels.status).toBe(404);
    expect(labels.json.error).toBe('no instance matches labels {"gpu":"maybe"}');
    const badField = await createSession({ instance: 'a.b' });
    expect(badField.status).toBe(400);
    for (const i of farm!.instances) i.stopHeartbeats();
    await waitFor(() => farm!.gateway.instances().length === 0, 'instances dropped');
    const none = await createSession();
    expect(none.status).toBe(503);
    expect(none.json.error).toMatch(/no instance is registered/);
  });

  it('a busy instance makes the gateway try the next one', async () => {
    await startFarm([{ name: 'a' }, { name: 'b' }]);
    farm!.instances[0]!.answerBusy = true;
    farm!.instances[1]!.answerBusy = true;
    const first = await createSession();
    expect(first.status).toBe(503);
    expect(first.json.error).toBe('no free instance: 2 of 2 busy');
    await waitFor(() => farm!.gateway.instances().every((i) => i.state === 'free'), 'heartbeats say free again');
    farm!.instances[1]!.answerBusy = false;
    const second = await createSession();
    expect(second.status).toBe(201);
    expect(instanceOf(second.json.metadata.id).name).toBe('b');
    expect(farm!.instances[0]!.placeRequests.length).toBeGreaterThanOrEqual(2);
  });

  it('relays signaling frames both ways in order, and join hands out a new URL', async () => {
    await startFarm([{ name: 'solo' }]);
    const { json } = await createSession();
    const instance = instanceOf(json.metadata.id);
    const client = await openSignaling(json.metadata.url);
    const sent = Array.from({ length: 50 }, (_, i) => JSON.stringify({ type: 'candidate', n: i }));
    for (const frame of sent) client.ws.send(frame);
    await waitFor(() => client.messages.length === sent.length, 'echoes back');
    expect(instance.received.filter((m) => m.t === 'frame').map((m) => (m as { data: string }).data)).toEqual(sent);
    expect(client.messages).toEqual(sent.map((f) => `echo:${f}`));
    // A bad message on to-client (any NATS peer may publish there) is dropped and logged; the relay goes on.
    const toClient = relaySubject(instance.name, instance.relay!, 'to-client');
    instance.publishRaw(toClient, new TextEncoder().encode('{"t":"frame"}'));
    client.ws.send('after');
    await waitFor(() => client.messages.length === sent.length + 1, 'relay still works');
    expect(client.messages.at(-1)).toBe('echo:after');
    expect(farm!.lines.find((l) => l.event === 'farm.gateway.bad_message')).toMatchObject({ subject: toClient });
    // The instance closes the relay: the browser's WebSocket gets its code and reason.
    instance.toClient({ t: 'close', code: 4001, reason: 'done here' });
    expect(await client.closed).toEqual({ code: 4001, reason: 'done here' });
    const join = await fetch(`${farm!.gateway.url}/1.0/sessions/${json.metadata.id}/join`, { method: 'POST', headers: AUTH });
    expect(join.status).toBe(200);
    const joined = (await join.json()) as { metadata: { url: string } };
    const again = await openSignaling(joined.metadata.url);
    again.ws.close(1000, 'bye');
    await waitFor(() => instance.received.some((m) => m.t === 'close' && m.code === 1000), 'close relayed to the instance');
    const unknown = await fetch(`${farm!.gateway.url}/1.0/sessions/nope/join`, { method: 'POST', headers: AUTH });
    expect(unknown.status).toBe(404);
    // Upgrades the shared GatewayServer refuses before asking the farm: other paths, undecodable session ids.
    const base = `ws://127.0.0.1:${farm!.gateway.address.port}`;
    await expect(openSignaling(`${base}/somewhere/else`)).rejects.toThrow('upgrade refused: 404');
    await expect(openSignaling(`${base}/1.0/sessions/%zz/signaling?secret=x`)).rejects.toThrow('upgrade refused: 400');
    await expect(openSignaling(`${base}/1.0/sessions/nope/signaling?secret=x`)).rejects.toThrow('upgrade refused: 404');
  });

  it(`holds at most ${MAX_EARLY_FRAMES} frames sent before the WebSocket is accepted; one more ends the relay`, async () => {
    await startFarm([{ name: 'chatty' }]);
    const { json } = await createSession();
    const instance = instanceOf(json.metadata.id);
    // Within the bound: the early frames reach the browser first, in order.
    instance.earlyFrames = 3;
    const client = await openSignaling(json.metadata.url);
    await waitFor(() => client.messages.length === 3, 'early frames flushed');
    expect(client.messages).toEqual(['early-0', 'early-1', 'early-2']);
    client.ws.close(1000, 'next');
    await waitFor(() => farm!.gateway.relaysOpen === 0, 'first relay closed');
    // Past it: the relay ends (the instance is told why) and the upgrade is refused.
    instance.earlyFrames = MAX_EARLY_FRAMES + 1;
    const join = await fetch(`${farm!.gateway.url}/1.0/sessions/${json.metadata.id}/join`, { method: 'POST', headers: AUTH });
    const joined = (await join.json()) as { metadata: { url: string } };
    await expect(openSignaling(joined.metadata.url)).rejects.toThrow('upgrade refused: 503');
    await waitFor(() => instance.received.some((m) => m.t === 'close' && m.code === 1011), 'the instance told the relay ended');
    expect(instance.received.find((m) => m.t === 'close' && m.code === 1011)).toMatchObject({ reason: `instance chatty sent more than ${MAX_EARLY_FRAMES} frames before the WebSocket opened` });
    expect(farm!.gateway.relaysOpen).toBe(0);
  });

  it('closes with 1009 a frame whose JSON escaping would make it too large to relay, instead of losing it', async () => {
    await startFarm([{ name: 'solo' }]);
    const { json } = await createSession();
    const instance = instanceOf(json.metadata.id);
    const client = await openSignaling(json.metadata.url);
    // 100 KiB of control characters: under the frame limit, but ×6 once escaped (\u0001).
    client.ws.send('\u0001'.repeat(100 * 1024));
    const closed = await client.closed;
    expect(closed.code).toBe(1009);
    expect(closed.reason).toMatch(/once escaped for the relay/);
    await waitFor(() => instance.received.some((m) => m.t === 'close' && m.code === 1009), 'the instance told');
    expect(instance.received.filter((m) => m.t === 'frame')).toEqual([]);
    expect(farm!.lines.filter((l) => l.event === 'farm.gateway.relay_publish_failed')).toEqual([]);
  });

  it('a dropped instance ends its WebSocket with 1011 and a reason naming it; a session.ended does too', async () => {
    await startFarm([{ name: 'doomed' }, { name: 'steady' }]);
    const first = await createSession({ instance: 'doomed' });
    const client = await openSignaling(first.json.metadata.url);
    farm!.instances[0]!.stopHeartbeats();
    const closed = await client.closed;
    expect(closed.code).toBe(1011);
    expect(closed.reason).toMatch(/instance "doomed" stopped answering/);
    expect(farm!.gateway.instances().map((i) => i.name)).toEqual(['steady']);
    expect(farm!.lines.some((l) => l.event === 'farm.gateway.instance_dropped' && l.instance === 'doomed')).toBe(true);
    const second = await createSession();
    expect(instanceOf(second.json.metadata.id).name).toBe('steady');
    const other = await openSignaling(second.json.metadata.url);
    farm!.instances[1]!.endSession('the peer ended');
    const ended = await other.closed;
    expect(ended).toEqual({ code: 1011, reason: 'session ended on instance "steady": the peer ended' });
  });

  it('answers 503 while NATS is down, and has the whole list again after it is back', async () => {
    await startFarm([{ name: 'a' }, { name: 'b' }]);
    const { nats } = farm!;
    await nats.stop();
    await waitFor(() => farm!.lines.some((l) => l.event === 'farm.nats_disconnected'), 'disconnection noticed');
    const meanwhile = await createSession();
    expect(meanwhile.status).toBe(503);
    expect(meanwhile.json.error).toMatch(/NATS not connected/);
    // Longer than 3 intervals: expiry is paused while NATS is down, so nothing is dropped.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(farm!.gateway.instances()).toHaveLength(2);
    farm!.nats = await nats.restart();
    await waitFor(() => farm!.lines.some((l) => l.event === 'farm.nats_reconnected'), 'gateway reconnected', 15_000);
    // The instances reconnect on their own schedule; until then a placement would get a 503 too.
    await waitFor(() => farm!.instances.every((i) => i.reconnections > 0), 'instances reconnected', 15_000);
    const after = await createSession();
    expect(after.json.error).toBeUndefined();
    expect(after.status).toBe(201);
    expect(farm!.gateway.instances().map((i) => i.name)).toEqual(['a', 'b']);
    expect(farm!.lines.some((l) => l.event === 'farm.gateway.instance_dropped')).toBe(false);
  });

  it('holds at most MAX_HELD_WHILE_NATS_DOWN bytes of browser frames while NATS is down; past it the relay ends with 1013', async () => {
    await startFarm([{ name: 'solo' }]);
    const { json } = await createSession();
    const client = await openSignaling(json.metadata.url);
    await farm!.nats.stop();
    await waitFor(() => farm!.lines.some((l) => l.event === 'farm.nats_disconnected'), 'disconnection noticed');
    // nats.js keeps each of these in memory until it reconnects: one frame more than the bound allows.
    const frame = 'x'.repeat(256 * 1024);
    const fits = Math.floor(MAX_HELD_WHILE_NATS_DOWN / frame.length);
    for (let i = 0; i <= fits; i++) client.ws.send(frame);
    const closed = await client.closed;
    expect(closed.code).toBe(1013);
    expect(closed.reason).toMatch(/^NATS is reconnecting/);
    await waitFor(() => farm!.gateway.relaysOpen === 0, 'relay forgotten');
  });

  it('drops bad and oversized NATS messages with a rate-limited log line and keeps serving', async () => {
    await startFarm([{ name: 'a' }]);
    const sender = farm!.instances[0]!;
    for (let i = 0; i < 200; i++) sender.publishRaw(HEARTBEAT_SUBJECT, new TextEncoder().encode('{"v":1,"instance":"x.y"}'));
    sender.publishRaw(HEARTBEAT_SUBJECT, new Uint8Array(100 * 1024).fill(0x20));
    sender.publishRaw(SESSION_ENDED_SUBJECT, new TextEncoder().encode('not json'));
    await waitFor(() => farm!.lines.filter((l) => l.event === 'farm.gateway.bad_message').length >= 50, 'bad messages logged');
    const placed = await createSession();
    expect(placed.status).toBe(201);
    const bad = farm!.lines.filter((l) => l.event === 'farm.gateway.bad_message');
    expect(bad.length).toBe(50); // the RateLimitedLog burst; the rest counted in log.suppressed
    expect(bad[0]).toMatchObject({ code: 'BAD_FIELD', subject: HEARTBEAT_SUBJECT });
    expect(farm!.gateway.instances().map((i) => i.name)).toEqual(['a']);
  });

  it(`logs at most ${MAX_INSTANCES} restarts and session ends per window however many a NATS peer announces, then a count`, async () => {
    await startFarm([{ name: 'a' }]);
    const peer = farm!.instances[0]!;
    const flood = MAX_INSTANCES + 200;
    for (let i = 0; i < flood; i++) peer.publishRaw(HEARTBEAT_SUBJECT, encodeFarmMessage(status('ghost', { boot: `boot-${i}`, intervalMs: 60_000 })));
    await peer.flush();
    const restarts = () => farm!.lines.filter((l) => l.event === 'farm.gateway.instance_restarted' && l.instance === 'ghost').length;
    await waitFor(() => restarts() === MAX_INSTANCES, 'the burst of restart lines');
    // Sessions named by a heartbeat, then ended, as fast as the peer publishes.
    const lastBoot = `boot-${flood - 1}`;
    for (let i = 0; i < flood; i++) {
      peer.publishRaw(HEARTBEAT_SUBJECT, encodeFarmMessage(status('ghost', { boot: lastBoot, seq: i + 1, intervalMs: 60_000, session: `s${i}`, state: 'reserved' })));
      peer.publishRaw(SESSION_ENDED_SUBJECT, encodeFarmMessage({ v: 1, instance: 'ghost', session: `s${i}`, reason: 'churn' }));
    }
    await peer.flush();
    await farm!.gateway.close(); // handles what is in flight, then writes the window's summaries
    expect(restarts()).toBe(MAX_INSTANCES);
    expect(farm!.lines.find((l) => l.event === 'log.suppressed' && l.suppressedEvent === 'farm.gateway.instance_restarted')).toMatchObject({ suppressed: flood - 1 - MAX_INSTANCES });
    expect(farm!.lines.filter((l) => l.event === 'farm.gateway.session_ended' && l.instance === 'ghost')).toHaveLength(MAX_INSTANCES);
    expect(farm!.lines.find((l) => l.event === 'log.suppressed' && l.suppressedEvent === 'farm.gateway.session_ended')).toMatchObject({ suppressed: flood - MAX_INSTANCES });
  });

  it('GET /1.0/instances needs the token and lists state, device, channels and session', async () => {
    await startFarm([{ name: 'lab-1', device: 'R58A', labels: { room: '2' } }]);
    const anonymous = await fetch(`${farm!.gateway.url}/1.0/instances`);
    expect(anonymous.status).toBe(401);
    const { json } = await createSession();
    await waitFor(() => farm!.gateway.instances()[0]?.session === json.metadata.id, 'heartbeat with the session');
    const listed = await fetch(`${farm!.gateway.url}/1.0/instances`, { headers: AUTH });
    expect(listed.status).toBe(200);
    const body = (await listed.json()) as { metadata: Record<string, unknown>[] };
    expect(body.metadata).toEqual([
      expect.objectContaining({ name: 'lab-1', state: 'reserved', device: 'R58A', labels: { room: '2' }, channels: [], session: json.metadata.id }),
    ]);
    const page = await fetch(`${farm!.gateway.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
  });
});
