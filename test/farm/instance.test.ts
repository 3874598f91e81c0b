/**
 * `serve --nats`, the instance side of the farm (docs/farm.md), against a real nats-server and a
 * scripted fake gateway (a NATS client in the test). The platform and the agent run in process for
 * most cases; the CLI cases run `anbox-oob serve --nats`.
 */
import { join } from 'node:path';
import { hostname } from 'node:os';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectWebClient } from '../../src/headless-client/web-client.js';
import type { PlatformOptions } from '../../src/platform/platform.js';
import { LOG_RATE_LIMIT_DEFAULTS } from '../../src/log/rate-limited-log.js';
import { FarmStartError, InstanceAgent, type InstanceAgentOptions } from '../../src/farm/instance/instance-agent.js';
import { MAX_RELAYS_PER_INSTANCE } from '../../src/farm/instance/relay-registry.js';
import { MAX_BAD_RELAY_MESSAGES } from '../../src/farm/instance/relay-transport.js';
import { DISCOVER_SUBJECT, HEARTBEAT_SUBJECT, relaySubject, SESSION_ENDED_SUBJECT } from '../../src/farm/subjects.js';
import { startDaemon } from '../helpers/daemon.js';
import { runCli } from '../helpers/cli.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { captureLogger, connectApp, startHarness, waitFor, type Harness } from '../platform/helpers/harness.js';
import { FakeGateway, newRelayId, startGatewayFront, type Json } from './helpers/fake-gateway.js';

let nats: NatsServerHandle;
let gateway: FakeGateway;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  gateway = await FakeGateway.connect(nats.port);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await gateway?.close();
  await nats?.stop();
});

const subject = (name: string, kind: string) => `anbox-oob.farm.instance.${name}.${kind}`;

async function startInstance(name: string, extra: Partial<InstanceAgentOptions> = {}, platformOptions: Partial<PlatformOptions> = {}): Promise<{ harness: Harness; agent: InstanceAgent }> {
  const harness = await startHarness(platformOptions);
  cleanups.push(() => harness.close());
  const agent = await InstanceAgent.start({
    nats: { url: nats.url },
    name,
    labels: { os: '14', lab: 'a' },
    device: 'emulator-5554',
    host: hostname(),
    intervalMs: 200,
    platform: harness.platform,
    log: pino({ level: 'silent' }),
    ...extra,
  });
  cleanups.push(() => agent.close());
  return { harness, agent };
}

function collect(subjectName: string) {
  const collector = gateway.collect(subjectName);
  cleanups.push(() => collector.close());
  return collector;
}

const place = (name: string) => gateway.request(subject(name, 'place'), { v: 1, gateway: 'fake-gw', request: {} });

describe('serve --nats: the instance agent', () => {
  it('heartbeats carry the name, labels, device, channels and state, and answer discover at once', async () => {
    const beats = collect(HEARTBEAT_SUBJECT);
    const { agent } = await startInstance('hb-1');
    const beat = await beats.next((m) => m.instance === 'hb-1', 'a heartbeat');
    expect(beat).toMatchObject({ v: 1, instance: 'hb-1', boot: agent.boot, host: hostname(), device: 'emulator-5554', labels: { os: '14', lab: 'a' }, state: 'free', session: null, channels: [], intervalMs: 200 });
    const seq = beat.seq as number;
    gateway.publish(DISCOVER_SUBJECT, { v: 1 });
    const after = await beats.next((m) => m.instance === 'hb-1' && (m.seq as number) > seq, 'a later heartbeat');
    expect(after.seq).toBeGreaterThan(seq);
  });

  it('place → ok with session and secret; a second place → BUSY; join → a fresh secret; joining another session while reserved → BUSY', async () => {
    const beats = collect(HEARTBEAT_SUBJECT);
    await startInstance('pl-1');
    const first = await place('pl-1');
    expect(first).toMatchObject({ v: 1, ok: true, stunServers: [] });
    expect(first.session).toMatch(/^[0-9a-f]{32}$/);
    expect(typeof first.secret).toBe('string');
    await beats.next((m) => m.instance === 'pl-1' && m.state === 'reserved' && m.session === first.session, 'a reserved heartbeat');
    expect(await place('pl-1')).toMatchObject({ ok: false, code: 'BUSY' });
    const joined = await gateway.request(subject('pl-1', 'join'), { v: 1, gateway: 'fake-gw', session: first.session });
    expect(joined).toMatchObject({ ok: true, session: first.session });
    expect(joined.secret).not.toBe(first.secret);
    expect(await gateway.request(subject('pl-1', 'join'), { v: 1, gateway: 'fake-gw', session: 'f'.repeat(32) })).toMatchObject({ ok: false, code: 'BUSY' });
  });

  it("gives the instance's STUN/TURN servers (serve --stun/--turn) with a join as with a place", async () => {
    await startInstance('ice-1', {}, { stunUrls: ['stun:stun.example.org:3478', 'turn:user:secret@turn.example.org:3478'] });
    const placed = await place('ice-1');
    expect(placed).toMatchObject({ ok: true });
    expect(placed.stunServers).toHaveLength(2);
    const joined = await gateway.request(subject('ice-1', 'join'), { v: 1, gateway: 'fake-gw', session: placed.session });
    expect(joined).toMatchObject({ ok: true, session: placed.session });
    expect(joined.stunServers).toEqual(placed.stunServers);
  });

  it('lets a reservation without signaling lapse: session.ended, then free, and the session is gone', async () => {
    const ended = collect(SESSION_ENDED_SUBJECT);
    const beats = collect(HEARTBEAT_SUBJECT);
    await startInstance('lapse-1', { reservationMs: 300 });
    const placed = await place('lapse-1');
    const end = await ended.next((m) => m.session === placed.session, 'session.ended');
    expect(end).toMatchObject({ v: 1, instance: 'lapse-1', session: placed.session });
    expect(end.reason).toMatch(/reservation lapsed/);
    await beats.next((m) => m.instance === 'lapse-1' && m.state === 'reserved', 'a reserved heartbeat');
    await beats.next((m) => m.instance === 'lapse-1' && m.state === 'free', 'a free heartbeat after the lapse', beats.messages.findIndex((m) => m.state === 'reserved'));
    expect(await gateway.request(subject('lapse-1', 'join'), { v: 1, gateway: 'fake-gw', session: placed.session })).toMatchObject({ ok: false, code: 'UNKNOWN_SESSION' });
    expect(await place('lapse-1')).toMatchObject({ ok: true });
  });

  it('refuses SignalOpen with a wrong secret (401) or an unknown session (404); malformed requests get BAD_REQUEST / 400 and it keeps serving', async () => {
    await startInstance('bad-1');
    const placed = await place('bad-1');
    const open = (body: Json) => gateway.request(subject('bad-1', 'signal'), body);
    expect(await open({ v: 1, gateway: 'fake-gw', session: placed.session, secret: 'wrong', relay: newRelayId() })).toMatchObject({ ok: false, status: 401 });
    expect(await open({ v: 1, gateway: 'fake-gw', session: 'a'.repeat(32), secret: 'x', relay: newRelayId() })).toMatchObject({ ok: false, status: 404 });
    expect(await open({ v: 1, gateway: 'fake-gw', session: placed.session, secret: placed.secret, relay: 'not-hex' })).toMatchObject({ ok: false, status: 400 });
    expect(await gateway.request(subject('bad-1', 'signal'), '{')).toMatchObject({ ok: false, status: 400 });
    expect(await gateway.request(subject('bad-1', 'place'), 'junk')).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    expect(await gateway.request(subject('bad-1', 'place'), { v: 2, gateway: 'g', request: {} })).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    expect(await gateway.request(subject('bad-1', 'join'), { v: 1, gateway: 'g' })).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    expect(await gateway.request(subject('bad-1', 'place'), { v: 1, gateway: 'g', request: { labels: 'x' } })).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    // Still serving: the right secret opens the relay.
    expect(await open({ v: 1, gateway: 'fake-gw', session: placed.session, secret: placed.secret, relay: newRelayId() })).toEqual({ v: 1, ok: true });
  });

  it('drops place/join/signal published without a reply subject before any effect: no reservation, no secret reissued or used', async () => {
    const { log, lines } = captureLogger();
    await startInstance('pub-1', { log });
    // Published on the same connection as the requests after them: nats-server delivers them first.
    gateway.publish(subject('pub-1', 'place'), { v: 1, gateway: 'g', request: {} });
    const placed = await place('pub-1');
    expect(placed).toMatchObject({ ok: true });
    gateway.publish(subject('pub-1', 'join'), { v: 1, gateway: 'g', session: placed.session });
    gateway.publish(subject('pub-1', 'signal'), { v: 1, gateway: 'g', session: placed.session, secret: placed.secret, relay: newRelayId() });
    // The secret from the place is still the valid one, and unused.
    expect(await gateway.request(subject('pub-1', 'signal'), { v: 1, gateway: 'g', session: placed.session, secret: placed.secret, relay: newRelayId() })).toEqual({ v: 1, ok: true });
    expect(lines.filter((l) => l.event === 'farm.instance.bad_request' && l.code === 'NO_REPLY').map((l) => l.kind)).toEqual(['place', 'join', 'signal']);
  });

  it('negotiates a real WebRTC peer through the relay subjects; data reaches the channel socket; the peer end publishes session.ended', async () => {
    const ended = collect(SESSION_ENDED_SUBJECT);
    const beats = collect(HEARTBEAT_SUBJECT);
    const { harness } = await startInstance('rtc-1');
    const front = await startGatewayFront(gateway, 'rtc-1');
    cleanups.push(() => front.close());
    const client = await connectWebClient({ gateway: front.url, token: 'unused-by-the-fake', channels: ['foo'] });
    cleanups.push(() => client.close({ flushTimeoutMs: 0 }));
    await client.opened;
    await harness.waitForEvent('channel-open', (e) => e.channel === 'foo');
    const app = await connectApp(join(harness.socketDir, 'webrtc_data_foo'));
    cleanups.push(() => void app.socket.destroy());
    await client.channel('foo').send('hello through the farm');
    await app.until((data) => data.toString().includes('hello through the farm'), 'the client data at the channel socket');
    await beats.next((m) => m.instance === 'rtc-1' && m.state === 'streaming' && m.session === client.session.id && (m.channels as string[]).includes('foo'), 'a streaming heartbeat with the channel');
    const mark = beats.messages.length;
    await client.close({ flushTimeoutMs: 0 });
    const end = await ended.next((m) => m.session === client.session.id, 'session.ended');
    expect(end.reason).toMatch(/peer ended/);
    await beats.next((m) => m.instance === 'rtc-1' && m.state === 'free' && m.session === null, 'a free heartbeat', mark);
  });

  it('closes a relay that hears nothing for its silence time, telling the gateway', async () => {
    await startInstance('relay-1', { relaySilenceMs: 300 });
    const placed = await place('relay-1');
    const relay = newRelayId();
    const toClient = collect(relaySubject('relay-1', relay, 'to-client'));
    await gateway.nc.flush();
    expect(await gateway.request(subject('relay-1', 'signal'), { v: 1, gateway: 'g', session: placed.session, secret: placed.secret, relay })).toEqual({ v: 1, ok: true });
    const closed = await toClient.next((m) => m.t === 'close', 'the relay closing');
    expect(closed).toMatchObject({ t: 'close', code: 1001 });
  });

  it(`closes a relay (1008) at its ${MAX_BAD_RELAY_MESSAGES}th malformed message, and only then; the slot is free again`, async () => {
    await startInstance('junk-1');
    const placed = await place('junk-1');
    const relay = newRelayId();
    const toClient = collect(relaySubject('junk-1', relay, 'to-client'));
    const toInstance = relaySubject('junk-1', relay, 'to-instance');
    await gateway.nc.flush();
    expect(await gateway.request(subject('junk-1', 'signal'), { v: 1, gateway: 'g', session: placed.session, secret: placed.secret, relay })).toEqual({ v: 1, ok: true });
    const junk = ['not json', '{"t":"frame"}', '{"t":"nope"}', '[]', '{"t":"close","code":"x"}'];
    for (let i = 0; i < MAX_BAD_RELAY_MESSAGES - 1; i++) gateway.nc.publish(toInstance, junk[i % junk.length]!);
    // One short of the limit: still open, frames still reach the platform's signaling.
    gateway.publish(toInstance, { t: 'frame', data: JSON.stringify({ type: 'discover' }) });
    const answer = await toClient.next((m) => m.t === 'frame' || m.t === 'close', 'the resp:discover through the relay');
    expect(answer.t).toBe('frame');
    expect(JSON.parse(answer.data as string)).toMatchObject({ type: 'resp:discover' });
    // Pushed past the limit: closed once, whatever follows.
    for (let i = 0; i < 20; i++) gateway.nc.publish(toInstance, 'still junk');
    const closed = await toClient.next((m) => m.t === 'close', 'the relay closing');
    expect(closed).toMatchObject({ t: 'close', code: 1008 });
    await gateway.nc.flush();
    expect(toClient.messages.filter((m) => m.t === 'close')).toHaveLength(1);
    const joined = await gateway.request(subject('junk-1', 'join'), { v: 1, gateway: 'g', session: placed.session });
    expect(await gateway.request(subject('junk-1', 'signal'), { v: 1, gateway: 'g', session: placed.session, secret: joined.secret, relay })).toEqual({ v: 1, ok: true });
  });

  it('refuses a relay past its cap with 503, its warning rate-limited however many SignalOpens come', async () => {
    const { log, lines } = captureLogger();
    const { agent } = await startInstance('cap-1', { log });
    const placed = await place('cap-1');
    const statuses: unknown[] = [];
    for (let i = 0; i <= MAX_RELAYS_PER_INSTANCE; i++) {
      const joined = await gateway.request(subject('cap-1', 'join'), { v: 1, gateway: 'g', session: placed.session });
      const reply = await gateway.request(subject('cap-1', 'signal'), { v: 1, gateway: 'g', session: placed.session, secret: joined.secret, relay: newRelayId() });
      statuses.push(reply.ok === true ? 'ok' : reply.status);
    }
    expect(statuses).toEqual([...Array(MAX_RELAYS_PER_INSTANCE).fill('ok'), 503]);
    // The cap is checked before the secret: any NATS peer can be refused, again and again.
    const more = LOG_RATE_LIMIT_DEFAULTS.burst + 10;
    for (let i = 0; i < more; i++) {
      expect(await gateway.request(subject('cap-1', 'signal'), { v: 1, gateway: 'g', session: placed.session, secret: 'junk', relay: newRelayId() })).toMatchObject({ ok: false, status: 503 });
    }
    await agent.close(); // flushes the log.suppressed summaries
    const written = lines.filter((l) => l.event === 'farm.instance.relays_full').length;
    const suppressed = lines.filter((l) => l.event === 'log.suppressed' && l.suppressedEvent === 'farm.instance.relays_full').reduce((sum, l) => sum + (l.suppressed as number), 0);
    expect(written + suppressed).toBe(more + 1);
    expect(suppressed).toBeGreaterThan(0);
  });

  it('refuses to start under the name of a live instance, naming its host', async () => {
    const { agent } = await startInstance('dup-1');
    const harness = await startHarness();
    cleanups.push(() => harness.close());
    const second = InstanceAgent.start({ nats: { url: nats.url }, name: 'dup-1', labels: {}, device: null, host: 'other-host', intervalMs: 200, platform: harness.platform, log: pino({ level: 'silent' }) });
    await expect(second).rejects.toThrow(FarmStartError);
    await expect(second).rejects.toThrow(new RegExp(`another instance named "dup-1" is live on host ${hostname()} \\(boot ${agent.boot}`));
  });
});

describe('anbox-oob serve --nats', () => {
  it('publishes session.ended on SIGTERM and stops cleanly (exit 0)', async () => {
    const dir = makeTempDir('aoob-farm-');
    cleanups.push(() => removeTempDir(dir));
    const ended = collect(SESSION_ENDED_SUBJECT);
    const beats = collect(HEARTBEAT_SUBJECT);
    const daemon = await startDaemon(dir, ['--nats', nats.url, '--instance-name', 'cli-1', '--label', 'os=14', '--heartbeat-ms', '300'], { command: 'serve' });
    cleanups.push(async () => void (await daemon.stop('SIGKILL')));
    await beats.next((m) => m.instance === 'cli-1', 'the daemon heartbeat');
    const placed = await place('cli-1');
    expect(placed.ok).toBe(true);
    expect(await daemon.stop('SIGTERM')).toBe(0);
    const end = await ended.next((m) => m.session === placed.session, 'session.ended');
    expect(end).toMatchObject({ instance: 'cli-1', reason: 'instance cli-1 is stopping' });
    const events = daemon.logLines().map((l) => l.event);
    expect(events).toEqual(expect.arrayContaining(['farm.instance.joined', 'farm.instance.session_placed', 'farm.instance.session_ended', 'farm.instance.left', 'platform.stopped']));
  });

  it('stops at start with a message that says what to fix: a bad URL (usage), wrong credentials (exit 1)', async () => {
    const dir = makeTempDir('aoob-farm-');
    cleanups.push(() => removeTempDir(dir));
    const base = ['serve', '--socket-dir', join(dir, 's'), '--service-socket', join(dir, 'svc.sock'), '--receivers-dir', join(dir, 'r'), '--listen', '127.0.0.1:0', '--log-format', 'json'];
    const badUrl = await runCli([...base, '--nats', 'http://127.0.0.1:4222']);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/--nats .*the scheme must be nats:\/\/ or tls:\/\//);
    const stray = await runCli([...base, '--instance-name', 'x']);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toMatch(/--instance-name needs --nats URL/);
    const secured = await startNatsServer({ args: ['--user', 'farm', '--pass', 'right-password'] });
    cleanups.push(() => secured.stop());
    const wrong = await runCli([...base, '--nats', secured.url, '--nats-user', 'farm'], { env: { ANBOX_OOB_NATS_PASSWORD: 'wrong-password' } });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/farm\.instance\.start_failed/);
    expect(wrong.stdout).toMatch(/refused this instance.*--nats-user/);
  });

  it('keeps serving locally while NATS is unreachable, and joins once nats-server comes up', async () => {
    const dir = makeTempDir('aoob-farm-');
    cleanups.push(() => removeTempDir(dir));
    const later = await startNatsServer();
    const port = later.port;
    await later.stop();
    const daemon = await startDaemon(dir, ['--nats', `nats://127.0.0.1:${port}`, '--instance-name', 'late-1'], { command: 'serve' });
    cleanups.push(async () => void (await daemon.stop('SIGKILL')));
    expect(daemon.logLines().some((l) => l.event === 'farm.instance.nats_unreachable')).toBe(true);
    const restarted = await later.restart();
    cleanups.push(() => restarted.stop());
    await waitFor(() => daemon.logLines().some((l) => l.event === 'farm.instance.joined'), 'the instance joining once NATS is up', 30_000);
    expect(await daemon.stop('SIGTERM')).toBe(0);
  });
});
