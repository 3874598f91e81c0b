/**
 * Fault: the socket dir is deleted (`rm -rf`) under a running daemon, with a channel in it.
 *
 * For `proxy` (channels made with real socat and a Node listener) and for `serve` (channels made by its own platform for a
 * headless web client), the daemon must recover, never spin:
 *  - the channel that was there is announced `destroyed`; the deletion is logged once
 *    (watcher.dir_missing) and nothing is logged again and again while the dir is missing;
 *  - the daemon's CPU time (utime + stime, /proc/<pid>/stat) over an idle window after the deletion
 *    stays a small fraction of the window: a spin would use all of it (this is a spin check, not a
 *    timing assertion: the fraction does not depend on how loaded the machine is);
 *  - `status` keeps working;
 *  - channels made later are announced and reachable: with `proxy`, once someone recreates the dir;
 *    with `serve`, the platform recreates it itself for the next channel.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listenForBroadcasts, type BroadcastListener } from '../../src/broadcast/local/receiver.js';
import type { ReceivedBroadcast } from '../../src/broadcast/local/intent-codec.js';
import { DataProxyClient, DataProxyError } from '../../src/client/data-proxy-client.js';
import { connectWebClient, type WebClient } from '../../src/headless-client/web-client.js';
import { killAllSocat, startSocat } from '../broadcast/helpers.js';
import { openFdCount, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { CLOCK_TICKS_PER_SECOND, cpuTicks, describeFds, SOAK, statusJson, waitFor } from './helpers.js';

/** How long the daemon is watched, idle, after the deletion. */
const IDLE_WINDOW_MS = SOAK ? 15_000 : 3_000;
/** Delete-and-recreate cycles of the proxy's socket dir. */
const DELETIONS = SOAK ? 5 : 1;
/** A spinning daemon would use ~100 % of one core over the window; an idle one uses ~1 %. */
const MAX_CPU_FRACTION = 0.3;

interface Fixture {
  dir: string;
  daemon: DaemonHandle;
  listener: BroadcastListener;
  received: ReceivedBroadcast[];
}

async function startFixture(command: 'proxy' | 'serve', token: string): Promise<Fixture> {
  const dir = makeTempDir('aoob-rm-');
  const daemon = await startDaemon(dir, ['--broadcast-window', '50'], { command, env: { ANBOX_OOB_TOKEN: token } });
  const received: ReceivedBroadcast[] = [];
  const listener = await listenForBroadcasts({ dir: join(dir, 'receivers'), onBroadcast: (b) => received.push(b) });
  return { dir, daemon, listener, received };
}

async function stopFixture(f: Fixture | undefined): Promise<void> {
  if (!f) return;
  await f.listener.close();
  const code = await f.daemon.stop();
  removeTempDir(f.dir);
  // After all this the daemon never hit an unexpected error, and SIGTERM still stops it cleanly.
  expect(f.daemon.logLines().filter((l) => l.event === 'daemon.uncaught_exception' || l.event === 'daemon.unhandled_rejection')).toEqual([]);
  expect(code).toBe(0);
}

function naming(f: Fixture, event: 'created' | 'destroyed', channel: string): ReceivedBroadcast[] {
  return f.received.filter((b) => b.event === event && b.names.includes(channel));
}

function diagnostics(f: Fixture): () => string {
  return () => `--- daemon log (tail) ---\n${f.daemon.output().split('\n').slice(-30).join('\n')}\n--- broadcasts ---\n${JSON.stringify(f.received.map((b) => [b.event, b.names]))}`;
}

/**
 * Deletes the socket dir, waits for `channel`'s destroyed broadcast, then watches the idle daemon for
 * IDLE_WINDOW_MS: CPU time and log lines.
 */
async function deleteAndWatch(f: Fixture, channel: string, deletions = 1): Promise<void> {
  rmSync(f.daemon.socketDir, { recursive: true, force: true });
  await waitFor(() => naming(f, 'destroyed', channel).length === 1, `a 'destroyed' broadcast naming ${channel}`, 20_000, diagnostics(f));
  const missing = () => f.daemon.logLines().filter((l) => l.event === 'watcher.dir_missing').length;
  await waitFor(() => missing() >= deletions, 'watcher.dir_missing in the log', 20_000, diagnostics(f));

  const linesBefore = f.daemon.logLines().length;
  const ticksBefore = cpuTicks(f.daemon.pid);
  const started = Date.now();
  // A measurement window, not a wait for something: the daemon has nothing to do during it.
  await sleep(IDLE_WINDOW_MS);
  const elapsedSeconds = (Date.now() - started) / 1000;
  const cpuSeconds = (cpuTicks(f.daemon.pid) - ticksBefore) / CLOCK_TICKS_PER_SECOND;
  const during = f.daemon.logLines().slice(linesBefore);

  console.info(`${f.daemon.child.spawnargs[2]}: ${cpuSeconds.toFixed(2)} s CPU over ${elapsedSeconds.toFixed(1)} s idle after the deletion (for information)`);
  expect(f.daemon.child.exitCode).toBeNull();
  expect(cpuSeconds, `CPU ${cpuSeconds} s over ${elapsedSeconds} s idle: spinning?`).toBeLessThan(elapsedSeconds * MAX_CPU_FRACTION);
  // Nothing logged over and over while the dir is missing (the rescan runs every second).
  const counts = new Map<string, number>();
  for (const line of during) counts.set(String(line.event ?? line.msg), (counts.get(String(line.event ?? line.msg)) ?? 0) + 1);
  expect([...counts].filter(([, n]) => n > 1), diagnostics(f)()).toEqual([]);
  expect(missing()).toBe(deletions); // once per deletion, not once per rescan
  // And the daemon still answers: no channels, and a connect says why.
  expect((await statusJson(f.daemon.servicePath)).channels).toEqual([]);
  const client = new DataProxyClient({ servicePath: f.daemon.servicePath });
  const refused = await client.connect(channel).then(
    () => undefined,
    (error: unknown) => error,
  );
  client.close();
  expect(refused).toBeInstanceOf(DataProxyError);
  expect((refused as DataProxyError).errorCode).toBe('CHANNEL_NOT_FOUND');
}

/** connect(channel) through the daemon, write `line`, and wait for `arrived()` to see it. */
async function connectAndSend(f: Fixture, channel: string, line: string, arrived: () => boolean): Promise<void> {
  const client = new DataProxyClient({ servicePath: f.daemon.servicePath });
  try {
    const socket = await client.connect(channel);
    socket.on('error', () => undefined);
    socket.write(line);
    await waitFor(arrived, `"${line.trim()}" to reach the other end of ${channel}`, 20_000, diagnostics(f));
    socket.destroy();
  } finally {
    client.close();
  }
}

describe('the socket dir deleted under `anbox-oob proxy`', () => {
  let f: Fixture | undefined;
  beforeAll(async () => {
    f = await startFixture('proxy', 'unused');
  });
  const servers: Server[] = [];
  afterEach(async () => {
    await killAllSocat();
    for (const server of servers.splice(0)) server.close();
  });
  afterAll(async () => {
    await stopFixture(f);
  });

  it(`announces the channel destroyed, does not spin, and announces channels made after the dir is back (${DELETIONS} deletion(s))`, async () => {
    const fx = f!;
    let fdsAtStart = 0;
    let fdsAtStartText = '';
    for (let deletion = 1; deletion <= DELETIONS; deletion++) {
      const name = `before${deletion}`;
      mkdirSync(fx.daemon.socketDir, { recursive: true, mode: 0o750 });
      const socat = await startSocat(join(fx.daemon.socketDir, `webrtc_data_${name}`));
      await waitFor(() => naming(fx, 'created', name).length === 1, `a 'created' broadcast naming ${name}`, 20_000, diagnostics(fx));
      if (deletion === 1) {
        // After the first delivery: the local sink keeps a sender socket per receiver from then on.
        fdsAtStart = openFdCount(fx.daemon.pid);
        fdsAtStartText = describeFds(fx.daemon.pid);
      }
      await deleteAndWatch(fx, name, deletion);
      await socat.kill();
    }

    // The dir comes back (as a platform or Anbox would make it) with a new channel in it.
    mkdirSync(fx.daemon.socketDir, { mode: 0o750 });
    let atChannel = '';
    const server = createServer((socket) => socket.on('data', (chunk: Buffer) => (atChannel += chunk.toString())));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(join(fx.daemon.socketDir, 'webrtc_data_after'), resolve));
    await waitFor(() => naming(fx, 'created', 'after').length === 1, "a 'created' broadcast naming after", 20_000, diagnostics(fx));
    await waitFor(() => fx.daemon.logLines().some((l) => l.event === 'watcher.dir_present'), 'watcher.dir_present in the log', 20_000, diagnostics(fx));
    expect((await statusJson(fx.daemon.servicePath)).channels).toEqual(['after']);
    // The ones that vanished with the old dirs are not resurrected.
    expect(fx.received.filter((b) => b.event === 'created').map((b) => b.names)).toEqual([
      ...Array.from({ length: DELETIONS }, (_, i) => [`before${i + 1}`]),
      ['after'],
    ]);
    await connectAndSend(fx, 'after', 'into the new dir\n', () => atChannel.includes('into the new dir\n'));
    // Losing and watching the dir again leaks no descriptor.
    await waitFor(() => openFdCount(fx.daemon.pid) <= fdsAtStart, `the daemon's descriptors back to ${fdsAtStart}`, 20_000, () => `at start:\n${fdsAtStartText}\nnow:\n${describeFds(fx.daemon.pid)}`);
  }, DELETIONS * 180_000);
});

describe('the socket dir deleted under `anbox-oob serve`', () => {
  const TOKEN = 'fault-rm-serve-token';
  let f: Fixture | undefined;
  const clients: WebClient[] = [];
  beforeAll(async () => {
    f = await startFixture('serve', TOKEN);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close({ flushTimeoutMs: 0 })));
    await stopFixture(f);
    const { releaseWebRtcRuntime } = await import('../../src/platform/webrtc-runtime.js');
    releaseWebRtcRuntime();
  });

  it('announces the channel destroyed, does not spin, and its platform recreates the dir for the next channel', async () => {
    const fx = f!;
    const ready = fx.daemon.logLines().find((l) => l.event === 'serve.ready');
    const gateway = String(ready?.gateway);
    const first = await connectWebClient({ gateway, token: TOKEN, channels: ['before'], openTimeoutMs: 60_000 });
    clients.push(first);
    await first.opened;
    await waitFor(() => naming(fx, 'created', 'before').length === 1, "a 'created' broadcast naming before", 20_000, diagnostics(fx));

    await deleteAndWatch(fx, 'before');

    // The browser reconnects with another channel: the platform must make the dir again for its socket.
    const second = await connectWebClient({ gateway, token: TOKEN, channels: ['after'], openTimeoutMs: 60_000 });
    clients.push(second);
    await second.opened;
    await waitFor(() => naming(fx, 'created', 'after').length === 1, "a 'created' broadcast naming after", 20_000, diagnostics(fx));
    expect((await statusJson(fx.daemon.servicePath)).channels).toEqual(['after']);
    expect(fx.daemon.logLines().filter((l) => l.event === 'channel.socket_dir_recreated')).toHaveLength(1);
    await waitFor(() => fx.daemon.logLines().some((l) => l.event === 'watcher.dir_present'), 'watcher.dir_present in the log', 20_000, diagnostics(fx));
    const atClient: string[] = [];
    second.channel('after').on('message', (m) => atClient.push(typeof m === 'string' ? m : m.toString('utf8')));
    await connectAndSend(fx, 'after', 'through the new dir\n', () => atClient.join('').includes('through the new dir\n'));
  }, 180_000);
});
