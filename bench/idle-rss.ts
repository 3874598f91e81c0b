/**
 * Idle memory: the resident set (VmRSS, /proc/<pid>/status) of `anbox-oob serve` once its start-up
 * has settled, and again after one streaming session with one data channel was opened, used and
 * closed, next to baselines started at the same moment on the same machine: a bare `node` that
 * loads nothing and idles, and `node` with node-datachannel loaded (the floor for any WebRTC
 * platform on Node: the addon and libdatachannel mapped).
 *
 * "Settled": sampled every SAMPLE_MS from MIN_IDLE_MS after start-up (or the session); the figure
 * is the median of the last WINDOW samples once their range is within 1% (or 256 KiB), so a
 * start-up still allocating is not caught half-way.
 * `serve` rescans its socket dir every second and creeps by a few KiB between collections; that
 * is inside the tolerance. A process that never settles within SETTLE_TIMEOUT_MS is reported
 * anyway, flagged in the trials column.
 *
 * The session: the headless client (./bridge-peer.ts web-peer, a child) opens a session with the
 * channel "bench"; this process connects to it through the daemon (DataProxyClient.connect, the
 * descriptor path an app takes), sends BENCH_RSS_MB each way, closes the connection, and the
 * client quits; the figure is taken once the channel socket is gone and RSS has settled again. A
 * few more identical sessions (BENCH_RSS_SESSIONS) follow: memory that grows again with it would be a leak, memory that
 * stays is what the first session paged in or the heap kept.
 *
 * Environment (optional): BENCH_RSS_MB        MB (10^6 bytes) each way through the channel (default 1)
 *                         BENCH_RSS_SESSIONS  sessions, one after the other (default 4)
 */
import { type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataProxyClient } from '../src/client/data-proxy-client.js';
import { processStatusKiB, startPlatform, startScript, waitForPath, withOutputTails, type PlatformFixture } from './fixtures.js';
import { envInt, type BenchContext, type BenchResult, type BenchRow, type Benchmark, type TrackedChild } from './harness.js';
import { Worker } from './peer-worker.js';
import { times, type SummaryRow } from './summary.js';

const SAMPLE_MS = 200;
const WINDOW = 10; // 2 s of samples
const TOLERANCE = 0.01;
const TOLERANCE_FLOOR_KIB = 256;
const SETTLE_TIMEOUT_MS = 30_000;
/** Samples before this are not used: start-up's last allocations, and at least one socket-dir rescan (every 1 s). */
const MIN_IDLE_MS = 2000;
const CHANNEL = 'bench'; // the channel bridge-peer's web-peer opens

/** Loads nothing, idles until its stdin ends. */
const BARE_SCRIPT = `
process.on('SIGTERM', () => process.exit(0));
process.stdin.on('end', () => process.exit(0)).resume();
process.stdout.write('ready\\n');
`;

/** node-datachannel loaded (not used), idles until its stdin ends. */
const NODE_DATACHANNEL_SCRIPT = `
await import('node-datachannel');
process.on('SIGTERM', () => process.exit(0));
process.stdin.on('end', () => process.exit(0)).resume();
process.stdout.write('ready\\n');
`;

interface Settled {
  kib: number;
  /** Time from the first sample to the settled window's end, ms. */
  afterMs: number;
  settled: boolean;
  /** Range of the last window, KiB. */
  rangeKiB: number;
}

/** Samples VmRSS until the last WINDOW samples agree (see the file comment). */
async function settledRss(label: string, pid: number | undefined): Promise<Settled> {
  const samples: number[] = [];
  const started = Date.now();
  for (;;) {
    const kib = processStatusKiB(pid, 'VmRSS');
    if (!Number.isFinite(kib)) throw new Error(`cannot read VmRSS of ${label} (pid ${pid}) from /proc/${pid}/status: is this Linux, and is it still running?`);
    if (Date.now() - started >= MIN_IDLE_MS) samples.push(kib);
    if (samples.length >= WINDOW) {
      const last = samples.slice(-WINDOW).sort((a, b) => a - b);
      const range = last[last.length - 1]! - last[0]!;
      const settled = range <= Math.max(TOLERANCE * last[last.length - 1]!, TOLERANCE_FLOOR_KIB);
      if (settled || Date.now() - started > SETTLE_TIMEOUT_MS) {
        return { kib: last[Math.floor((last.length - 1) / 2)]!, afterMs: Date.now() - started, settled, rangeKiB: range };
      }
    }
    await sleep(SAMPLE_MS);
  }
}

interface Measured {
  bare: Settled;
  withDataChannel: Settled;
  serveIdle: Settled;
  serveIdleAnonKiB: number;
  /** One entry per session, in order. */
  afterSessions: { bare: Settled; serve: Settled; anonKiB: number }[];
}

export const idleRss: Benchmark = {
  name: 'idle RSS',
  async run(context: BenchContext): Promise<BenchResult> {
    const bytes = envInt('BENCH_RSS_MB', 1) * 1e6;
    const sessions = envInt('BENCH_RSS_SESSIONS', 4);
    const dir = context.makeTempDir('anbox-oob-rss-');
    context.progress(`idle RSS: serve, bare node, node + node-datachannel, started together; temp dir ${dir}`);
    const children: (TrackedChild | undefined)[] = [];
    let serve: PlatformFixture | undefined;
    let peer: Worker | undefined;
    try {
      // Started together, so that all three see the same machine.
      const started = await Promise.allSettled([
        startScript(context, 'bare node', BARE_SCRIPT),
        startScript(context, 'node + node-datachannel', NODE_DATACHANNEL_SCRIPT),
        startPlatform(context, dir, 'serve'),
      ]);
      const [bareChild, dcChild, serveFixture] = started.map((s) => (s.status === 'fulfilled' ? s.value : undefined)) as [
        TrackedChild | undefined,
        TrackedChild | undefined,
        PlatformFixture | undefined,
      ];
      children.push(bareChild, dcChild, serveFixture?.process);
      serve = serveFixture;
      const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failure) throw failure.reason;
      const bare = bareChild!;
      const running = serve!;

      context.progress('idle RSS: waiting for all three to settle');
      const [bareIdle, withDataChannel, serveIdle] = await Promise.all([
        settledRss('bare node', bare.child.pid),
        settledRss('node + node-datachannel', dcChild!.child.pid),
        settledRss('serve', running.process.child.pid),
      ]);
      const serveIdleAnonKiB = processStatusKiB(running.process.child.pid, 'RssAnon');

      const afterSessions: { bare: Settled; serve: Settled; anonKiB: number }[] = [];
      for (let n = 1; n <= sessions; n++) {
        context.progress(`idle RSS: session ${n}/${sessions}: channel "${CHANNEL}", ${bytes / 1e6} MB each way, then closed`);
        const client = new Worker(context, `headless client ${n}`, 'web-peer', [running.gateway, running.token]);
        peer = client;
        children.push(client.tracked);
        await client.next('open', 30_000);
        const socketPath = join(running.socketDir, `webrtc_data_${CHANNEL}`);
        await waitForPath(socketPath, true, 10_000);
        await exchange(running.servicePath!, client, bytes);
        await client.quit();
        await waitForPath(socketPath, false, 60_000);
        context.progress(`idle RSS: session ${n}/${sessions} closed; waiting for serve to settle again`);
        const [bareAfter, serveAfter] = await Promise.all([settledRss('bare node', bare.child.pid), settledRss('serve', running.process.child.pid)]);
        afterSessions.push({ bare: bareAfter, serve: serveAfter, anonKiB: processStatusKiB(running.process.child.pid, 'RssAnon') });
      }
      return report({ bare: bareIdle, withDataChannel, serveIdle, serveIdleAnonKiB, afterSessions }, bytes);
    } catch (error) {
      throw withOutputTails(error, children);
    } finally {
      await peer?.quit();
      await Promise.all(children.map((c) => c?.stop('SIGTERM', 5000)));
    }
  },
};

/**
 * The app's side: connect to the channel through the daemon (descriptor passing), `bytes` to the
 * peer and `bytes` back, then close.
 */
async function exchange(servicePath: string, peer: Worker, bytes: number): Promise<void> {
  const client = new DataProxyClient({ servicePath });
  let socket: Socket | undefined;
  try {
    socket = await client.connect(CHANNEL);
    const app = socket;
    const expect = peer.start({ cmd: 'expect', bytes });
    await expect.reply('ready', 10_000);
    const block = Buffer.alloc(64 * 1024, 0x61);
    for (let sent = 0; sent < bytes; sent += block.length) {
      if (!app.write(block.subarray(0, Math.min(block.length, bytes - sent)))) await new Promise((resolve) => app.once('drain', resolve));
    }
    await expect.reply('received', 60_000);
    const back = new Promise<void>((resolve, reject) => {
      let got = 0;
      const timer = setTimeout(() => reject(new Error(`the app read ${got} of ${bytes} bytes from the peer in 60 s`)), 60_000);
      app.on('data', (chunk: Buffer) => {
        got += chunk.length;
        if (got >= bytes) {
          clearTimeout(timer);
          resolve();
        }
      });
      app.once('error', reject);
    });
    await peer.start({ cmd: 'send', bytes, chunk: 64 * 1024 }).reply('sent', 60_000);
    await back;
  } finally {
    socket?.destroy();
    client.close();
  }
}

// ---------------------------------------------------------------------------------------------

const mib = (kib: number) => kib / 1024;

function trialNote(s: Settled): string {
  const how = s.settled ? 'settled' : `NOT settled (range ${s.rangeKiB} KiB)`;
  return `${how} after ${(s.afterMs / 1000).toFixed(1)} s`;
}

function report(m: Measured, bytes: number): BenchResult {
  const row = (benchmark: string, s: Settled, baseline?: Settled): BenchRow => ({
    benchmark,
    rssMiB: mib(s.kib),
    baselineRssMiB: baseline ? mib(baseline.kib) : undefined,
    rssRatio: baseline ? s.kib / baseline.kib : undefined,
    spread: trialNote(s),
  });
  const session = `a session + channel (${bytes / 1e6} MB each way) opened and closed`;
  const first = m.afterSessions[0]!;
  const last = m.afterSessions[m.afterSessions.length - 1]!;
  const rows: BenchRow[] = [
    row('RSS: bare node, idle', m.bare),
    row('RSS: node + node-datachannel loaded, idle', m.withDataChannel, m.bare),
    row('RSS: anbox-oob serve, idle after start-up', m.serveIdle, m.bare),
    ...m.afterSessions.map((a, i) => row(`RSS: serve after ${i === 0 ? session : `session ${i + 1} (the same again)`}`, a.serve, a.bare)),
  ];
  const value = (s: Settled) => `${mib(s.kib).toFixed(1)} MiB`;
  const growth = (from: Settled, to: Settled) => {
    const d = mib(to.kib - from.kib);
    return `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(1)} MiB`;
  };
  const summary: SummaryRow[] = [
    {
      metric: 'idle RSS, `anbox-oob serve` after start-up',
      value: value(m.serveIdle),
      baseline: `bare \`node\`, idle: ${value(m.bare)}`,
      ratio: `${times(m.serveIdle.kib / m.bare.kib)} (${growth(m.bare, m.serveIdle)})`,
    },
    {
      metric: `RSS, \`serve\` idle after ${session}` + (m.afterSessions.length > 1 ? `; after ${m.afterSessions.length} such sessions` : ''),
      value: value(first.serve) + (m.afterSessions.length > 1 ? `; ${value(last.serve)}` : ''),
      baseline: `bare \`node\`: ${value(first.bare)}`,
      ratio:
        `${times(first.serve.kib / first.bare.kib)} (${growth(m.serveIdle, first.serve)} over idle` +
        (m.afterSessions.length > 1 ? `, then ${growth(first.serve, last.serve)} by session ${m.afterSessions.length})` : ')'),
    },
    {
      metric: 'idle RSS, `node` + node-datachannel loaded (the floor for a WebRTC platform on Node)',
      value: value(m.withDataChannel),
      baseline: `bare \`node\`: ${value(m.bare)}`,
      ratio: times(m.withDataChannel.kib / m.bare.kib),
    },
  ];
  const notes = [
    'idle RSS: VmRSS from /proc/<pid>/status (resident pages, shared library pages included), the median of ' +
      `${WINDOW} samples ${SAMPLE_MS} ms apart once their range is within ${TOLERANCE * 100}% (or ${TOLERANCE_FLOOR_KIB} KiB), ` +
      `from ${MIN_IDLE_MS / 1000} s after start-up or the session on; ` +
      'serve, bare node (`node -e` that only waits on stdin) and node + node-datachannel (imported, unused) started together. ' +
      `serve's anonymous memory (RssAnon: heaps, stacks) is ${mib(m.serveIdleAnonKiB).toFixed(1)} MiB idle, then ` +
      `${m.afterSessions.map((a) => mib(a.anonKiB).toFixed(1)).join(', ')} MiB after each session; what serve holds beyond node + node-datachannel loaded is ` +
      `${mib(m.serveIdle.kib - m.withDataChannel.kib).toFixed(1)} MiB (its own code, ws, pino, protobufjs, the native addon, the gateway).`,
  ];
  return { rows, summary, notes };
}
