/**
 * Issue 9, item 6: any local uid, without a token, opened idle TCP connections to the gateway until
 * the descriptor limit; `connect`, `status` and new sessions then hung. Reproduced for real against
 * `anbox-oob serve` under a lowered `ulimit -n`: more idle connections than the descriptor limit,
 * then the service socket and a new session must still work, and the idle connections get closed.
 * And the signaling WebSockets: a silent one before setup is closed, one that stops answering
 * pings is closed, a quiet live one stays.
 */
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { runCli, spawnCli } from '../helpers/cli.js';
import { logEvent, openFdCount, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { startHarness, TEST_TOKEN, waitFor, type Harness } from '../platform/helpers/harness.js';
import { createSession, StreamClient } from '../platform/helpers/stream-client.js';

const TOKEN = 'exhaustion-test-token-0123456789';
/** The daemon's soft descriptor limit in this test: the attack opens more connections than this. */
const FD_LIMIT = 400;
const ATTACK_CONNECTIONS = 600;

let dir: string;
let daemon: DaemonHandle | undefined;
let sockets: Socket[];
let clients: StreamClient[];

beforeEach(() => {
  dir = makeTempDir('aoob-sec-gw-');
  daemon = undefined;
  sockets = [];
  clients = [];
});

afterEach(async () => {
  for (const s of sockets) s.destroy();
  for (const c of clients) c.close();
  await daemon?.stop();
  removeTempDir(dir);
});

/** Opens a TCP connection that never sends a byte; resolves once connected (or refused/closed). */
function idleConnection(port: number): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const settle = () => resolve(socket);
    socket.once('connect', settle);
    socket.once('error', settle);
    socket.once('close', settle);
  });
}

describe('gateway descriptor exhaustion', () => {
  it(`${ATTACK_CONNECTIONS} idle connections (ulimit -n ${FD_LIMIT}): status, connect and a new session still work; the idle ones are closed`, async () => {
    daemon = await startDaemon(dir, ['--gateway-idle-timeout', '3000'], {
      command: 'serve',
      shellPrefix: `ulimit -n ${FD_LIMIT}`,
      env: { ANBOX_OOB_TOKEN: TOKEN },
    });
    const listening = logEvent(daemon, 'platform.listening');
    const port = Number(listening?.port);
    expect(port).toBeGreaterThan(0);
    const gateway = `http://127.0.0.1:${port}`;

    // The attack: idle connections, no token, in batches so the accept queue keeps up.
    for (let i = 0; i < ATTACK_CONNECTIONS; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, ATTACK_CONNECTIONS - i) }, () => idleConnection(port)));
      sockets.push(...batch);
    }
    const held = () => sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;

    // The service socket answers at once, whatever the gateway holds.
    const status = await runCli(['status', '--service-socket', daemon.servicePath, '--json'], { timeoutMs: 15_000 });
    expect(status.code, `status: ${status.stderr}`).toBe(0);
    // The daemon's descriptors stay below its limit: the gateway's cap leaves a reserve.
    expect(openFdCount(daemon.pid)).toBeLessThan(FD_LIMIT);
    const cap = Number(listening?.maxConnections);
    expect(cap).toBeLessThan(FD_LIMIT);
    await waitFor(() => held() <= cap, `at most ${cap} attack connections held (now ${held()})`, 10_000);

    // Idle connections are closed by the gateway (3 s idle timeout here).
    await waitFor(() => held() === 0, `every idle connection closed by the gateway (still open: ${held()})`, 30_000);

    // A new session works, and its channel reaches `anbox-oob connect` through the service socket.
    const client = await StreamClient.start({ gateway, token: TOKEN, channels: ['foo'] });
    clients.push(client);
    await client.channel('foo').opened;
    await waitFor(() => existsSync(join(daemon!.socketDir, 'webrtc_data_foo')), 'the channel socket');
    const app = spawnCli(['connect', 'foo', '--service-socket', daemon.servicePath], { stdio: ['pipe', 'pipe', 'pipe'] });
    const appExit = new Promise<number | null>((resolve) => app.on('exit', (code) => resolve(code)));
    app.stdin?.write('through the daemon\n');
    const foo = client.channel('foo');
    await foo.until(() => foo.bytes().toString() === 'through the daemon\n', 'data from `anbox-oob connect`');
    app.stdin?.end();
    app.kill('SIGTERM');
    await appExit;
    expect(daemon.output()).not.toContain('daemon.accept_failed');
  });
});

describe('signaling WebSocket liveness', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.platform.close();
    if (h) removeTempDir(h.dir);
    h = undefined;
  });

  async function openSignaling(harness: Harness, options: WebSocket.ClientOptions = {}): Promise<{ ws: WebSocket; closed: Promise<number> }> {
    const meta = await createSession(harness.platform.url, TEST_TOKEN);
    const ws = new WebSocket(meta.url, options);
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return { ws, closed };
  }

  it('a WebSocket that never starts a session is closed (1008); one that never answers pings is closed; a live quiet one stays', async () => {
    h = await startHarness({ signalingSetupTimeoutMs: 1000, signalingPingIntervalMs: 500 });

    const silent = await openSignaling(h);
    expect(await silent.closed).toBe(1008);
    expect(h.lines.some((l) => l.event === 'signaling.setup_timeout')).toBe(true);

    // Set up (settings: the peer starts) and then quiet. One never answers pings; then one that
    // does (ws answers by default). One after the other: a second session replaces the first.
    const deaf = await openSignaling(h, { autoPong: false });
    deaf.ws.send(JSON.stringify({ type: 'settings', api_version: 2, data_channels: [] }));
    expect(await deaf.closed).toBe(1006); // terminated: no close frame
    expect(h.lines.some((l) => l.event === 'signaling.ping_timeout')).toBe(true);
    const live = await openSignaling(h);
    live.ws.send(JSON.stringify({ type: 'settings', api_version: 2, data_channels: [] }));
    let liveClosed = false;
    void live.closed.then(() => (liveClosed = true));
    // Past several ping intervals and the setup timeout, the live one is still open.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(liveClosed).toBe(false);
    expect(live.ws.readyState).toBe(WebSocket.OPEN);
    live.ws.close();
  });

  it('refused upgrades (no token needed) are logged as one line and a summary, not a line each', async () => {
    h = await startHarness();
    const meta = await createSession(h.platform.url, TEST_TOKEN);
    const wrong = meta.url.replace(/secret=[^&]+/, 'secret=wrong');
    for (let i = 0; i < 50; i++) {
      const ws = new WebSocket(wrong);
      await new Promise<void>((resolve) => {
        ws.on('error', () => resolve());
        ws.on('close', () => resolve());
      });
    }
    expect(h.platform.stats.signalingRefused).toBe(50);
    expect(h.lines.filter((l) => l.event === 'signaling.refused').length).toBe(1);
    await h.platform.close();
    expect(h.lines.find((l) => l.event === 'signaling.refused_summary')).toMatchObject({ refused: 49 });
  });
});
