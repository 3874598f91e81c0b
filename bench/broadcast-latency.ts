/**
 * Broadcast latency (issue 4): how long after a `webrtc_data_<name>` socket appears (or goes away)
 * the channel status broadcast reaches a local receiver, and the broadcast hook runs, with the
 * batching window stated in every row.
 *
 * The daemon (`anbox-oob proxy`, a child process) watches a socket dir of its own. This process
 * listen()s on <socket-dir>/webrtc_data_<n> (created) and later close()s it, which unlinks it
 * (destroyed), one channel at a time, waiting for each broadcast before the next change.
 * - receiver rows: this process binds a datagram receiver (src/broadcast/local/receiver.ts) in the
 *   daemon's receivers dir; latency = listen() or close() → the datagram's arrival, one clock.
 * - hook rows: a separate daemon run with `--broadcast-hook` = a bash script that appends
 *   `$EPOCHREALTIME event name` to a file; latency = listen() or close() → that line's time (wall
 *   clock on both sides), so it includes starting bash. No receiver is bound for those runs, so the
 *   receiver rows are not slowed by hook spawns and the other way round.
 * Baseline: the window itself (the batcher holds a change that long on purpose); latency − window
 * is the overhead (the watcher's fs.watch delay, the directory scan, delivery).
 *
 * Environment (all optional):
 *   BENCH_BROADCASTS         measured created/destroyed pairs per window, receiver rows (default 30)
 *   BENCH_BROADCAST_HOOKS    measured pairs per window, hook rows (default 20; 0 skips the hook rows)
 *   BENCH_BROADCAST_WINDOWS  comma-separated windows in ms (default "200,0": the default, and none)
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { BATCH_WINDOW_DEFAULT_MS } from '../src/broadcast/batcher.js';
import { listenForBroadcasts, type BroadcastListener } from '../src/broadcast/local/receiver.js';
import { SOCKET_DIR_WATCHER_DEFAULTS } from '../src/broadcast/socket-dir-watcher.js';
import { startDaemon, withOutputTails, type DaemonFixture } from './fixtures.js';
import { envInt, latencyStats, type BenchContext, type BenchResult, type BenchRow, type Benchmark, type LatencyStats } from './harness.js';
import type { SummaryRow } from './summary.js';

const WARMUP = 2;
type ChannelEvent = 'created' | 'destroyed';

interface Settings {
  n: number;
  hookN: number;
  windows: number[];
}

function settings(): Settings {
  const raw = process.env.BENCH_BROADCAST_WINDOWS ?? `${BATCH_WINDOW_DEFAULT_MS},0`;
  const windows = raw
    .split(',')
    .map((w) => w.trim())
    .filter(Boolean)
    .map((w) => {
      if (!/^\d+$/.test(w)) throw new Error(`BENCH_BROADCAST_WINDOWS must be milliseconds separated by commas, got "${raw}"`);
      return Number(w);
    });
  if (windows.length === 0) throw new Error('BENCH_BROADCAST_WINDOWS names no window');
  return { n: envInt('BENCH_BROADCASTS', 30), hookN: envInt('BENCH_BROADCAST_HOOKS', 20, 0), windows };
}

interface Measured {
  window: number;
  sink: 'receiver' | 'hook';
  created: LatencyStats;
  destroyed: LatencyStats;
}

export const broadcastLatency: Benchmark = {
  name: 'broadcast latency',
  async run(context: BenchContext): Promise<BenchResult> {
    const s = settings();
    const dir = context.makeTempDir('anbox-oob-bcast-');
    context.progress(`broadcast latency: windows ${s.windows.join(', ')} ms; ${s.n} pairs (receiver), ${s.hookN} pairs (hook) each; temp dir ${dir}`);
    const hookScript = join(dir, 'hook.sh');
    // $1 = the log (a fixed --broadcast-hook-arg), then the event, "--" and the names.
    writeFileSync(hookScript, '#!/bin/bash\nprintf \'%s %s %s\\n\' "$EPOCHREALTIME" "$2" "$4" >> "$1"\n');
    chmodSync(hookScript, 0o755);

    const results: Measured[] = [];
    for (const window of s.windows) {
      results.push(await measureReceiver(context, join(dir, `r${window}`), window, s.n));
    }
    if (s.hookN > 0) {
      for (const window of s.windows) {
        results.push(await measureHook(context, join(dir, `h${window}`), window, s.hookN, hookScript));
      }
    }
    return report(s, results);
  },
};

// ---------------------------------------------------------------------------------------------

/** Arrivals of broadcasts (or hook runs), waited for by event and name. */
class Arrivals {
  private readonly seen: { event: string; name: string; at: number }[] = [];
  private readonly waiters = new Set<{ event: string; name: string; resolve: (at: number) => void }>();

  add(event: string, names: readonly string[], at: number): void {
    for (const name of names) {
      const waiter = [...this.waiters].find((w) => w.event === event && w.name === name);
      if (waiter) {
        this.waiters.delete(waiter);
        waiter.resolve(at);
      } else {
        this.seen.push({ event, name, at });
      }
    }
  }

  /** Resolves with the arrival time (same clock as `add`'s `at`). */
  wait(event: ChannelEvent, name: string, timeoutMs: number): Promise<number> {
    const index = this.seen.findIndex((s) => s.event === event && s.name === name);
    if (index >= 0) return Promise.resolve(this.seen.splice(index, 1)[0]!.at);
    return new Promise((resolve, reject) => {
      const waiter = {
        event,
        name,
        resolve: (at: number) => {
          clearTimeout(timer);
          resolve(at);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no "${event}" broadcast for ${name} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }
}

interface Clock {
  /** Now, on the clock the arrivals are stamped with (ms). */
  now(): number;
}

/**
 * `count` measured pairs (after WARMUP unmeasured): listen on a new channel socket, wait for its
 * `created`; close it, wait for its `destroyed`. A random pause between changes, so that they do
 * not fall into step with the watcher's periodic rescan.
 */
async function measurePairs(
  arrivals: Arrivals,
  clock: Clock,
  socketDir: string,
  prefix: string,
  window: number,
  count: number,
): Promise<{ created: LatencyStats; destroyed: LatencyStats }> {
  const created = new Float64Array(count);
  const destroyed = new Float64Array(count);
  const timeoutMs = 5000 + 2 * window;
  const open: Server[] = [];
  try {
    for (let i = -WARMUP; i < count; i++) {
      const name = `${prefix}-${i + WARMUP}`;
      const server = createServer();
      open.push(server);
      const listening = new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.once('listening', resolve);
      });
      const t0 = clock.now();
      server.listen(join(socketDir, `webrtc_data_${name}`));
      await listening;
      const createdAt = await arrivals.wait('created', name, timeoutMs);
      await sleep(10 + Math.random() * 40);
      const t1 = clock.now();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const destroyedAt = await arrivals.wait('destroyed', name, timeoutMs);
      await closed;
      open.splice(open.indexOf(server), 1);
      if (i >= 0) {
        created[i] = (createdAt - t0) * 1e6; // ms → ns
        destroyed[i] = (destroyedAt - t1) * 1e6;
      }
      await sleep(10 + Math.random() * 40);
    }
  } finally {
    for (const server of open) server.close();
  }
  return { created: stats(created), destroyed: stats(destroyed) };
}

function stats(latenciesNs: Float64Array): LatencyStats {
  let sum = 0;
  for (const l of latenciesNs) sum += l;
  return latencyStats(latenciesNs, sum);
}

function daemonArgs(base: string, window: number, extra: string[] = []): { socketDir: string; receiversDir: string; args: string[] } {
  mkdirSync(base, { recursive: true });
  const socketDir = join(base, 'sockets');
  const receiversDir = join(base, 'receivers');
  mkdirSync(socketDir, { recursive: true, mode: 0o750 });
  // Always a receivers dir of our own: the default one may hold a real `anbox-oob listen`.
  return { socketDir, receiversDir, args: ['--receivers-dir', receiversDir, '--broadcast-window', String(window), ...extra] };
}

async function withDaemon<T>(context: BenchContext, base: string, args: string[], body: (daemon: DaemonFixture) => Promise<T>): Promise<T> {
  const daemon = await startDaemon(context, base, args);
  try {
    return await body(daemon);
  } catch (error) {
    throw withOutputTails(error, [daemon.process]);
  } finally {
    await daemon.stop();
  }
}

async function measureReceiver(context: BenchContext, base: string, window: number, count: number): Promise<Measured> {
  context.progress(`broadcast: window ${window} ms, local receiver, ${count} pairs`);
  const { socketDir, receiversDir, args } = daemonArgs(base, window);
  const arrivals = new Arrivals();
  const errors: Error[] = [];
  const listener: BroadcastListener = await listenForBroadcasts({
    dir: receiversDir,
    onBroadcast: (b) => arrivals.add(b.event, b.names, performance.now()),
    onError: (error) => void errors.push(error),
  });
  try {
    const measured = await withDaemon(context, base, args, () => measurePairs(arrivals, { now: () => performance.now() }, socketDir, `r${window}`, window, count));
    if (errors.length > 0) throw new Error(`the receiver saw errors: ${errors.map((e) => e.message).join('; ')}`);
    return { window, sink: 'receiver', ...measured };
  } finally {
    await listener.close();
  }
}

async function measureHook(context: BenchContext, base: string, window: number, count: number, hookScript: string): Promise<Measured> {
  context.progress(`broadcast: window ${window} ms, --broadcast-hook, ${count} pairs`);
  const log = join(base, 'hook.log');
  const { socketDir, args } = daemonArgs(base, window, ['--broadcast-hook', hookScript, '--broadcast-hook-arg', log]);
  writeFileSync(log, '');
  const arrivals = new Arrivals();
  // Wall clock in ms with sub-ms resolution, comparable with bash's $EPOCHREALTIME.
  const wall: Clock = { now: () => performance.timeOrigin + performance.now() };
  let read = 0;
  let stop = false;
  const poller = (async () => {
    while (!stop) {
      const text = readFileSync(log, 'utf8');
      const end = text.lastIndexOf('\n') + 1;
      for (const line of text.slice(read, end).split('\n')) {
        const [time, event, name] = line.split(' ');
        if (time && event && name) arrivals.add(event, [name], Number(time) * 1000);
      }
      read = end;
      await sleep(5);
    }
  })();
  try {
    const measured = await withDaemon(context, base, args, () => measurePairs(arrivals, wall, socketDir, `h${window}`, window, count));
    return { window, sink: 'hook', ...measured };
  } finally {
    stop = true;
    await poller;
  }
}

// ---------------------------------------------------------------------------------------------

function report(s: Settings, results: Measured[]): BenchResult {
  const rows: BenchRow[] = [];
  const overheads: string[] = [];
  const ms = (us: number) => (us / 1000).toFixed(1);
  for (const m of results) {
    const windowText = `window ${m.window} ms${m.window === BATCH_WINDOW_DEFAULT_MS ? ' (default)' : ''}`;
    const target = m.sink === 'receiver' ? 'local receiver' : 'hook ran';
    for (const event of ['created', 'destroyed'] as const) {
      const st = m[event];
      const baselineUs = m.window * 1000;
      rows.push({
        benchmark: `broadcast ${event} → ${target}, ${windowText}`,
        p50Us: st.p50Us,
        p99Us: st.p99Us,
        meanUs: st.meanUs,
        floorUs: baselineUs,
        p50Ratio: baselineUs > 0 ? st.p50Us / baselineUs : undefined,
      });
      overheads.push(`${event} → ${m.sink} @${m.window} ms: +${ms(st.p50Us - baselineUs)} / +${ms(st.p99Us - baselineUs)}`);
    }
  }
  const notes = [
    'broadcast: latency = listen() of a new webrtc_data_<n> socket (created) or its close(), which unlinks it (destroyed), in this process → ' +
      'the datagram at a local receiver bound in this process (one clock), or the hook script\'s first line ($EPOCHREALTIME, wall clock; ' +
      'includes starting bash). One channel at a time, each broadcast awaited before the next change; ' +
      `${s.n} pairs per window for the receiver, ${s.hookN} for the hook, after ${WARMUP} unmeasured. Baseline = the batching window.`,
    `broadcast: overhead over the window, p50 / p99 in ms: ${overheads.join('; ')}. ` +
      `Of it, ${SOCKET_DIR_WATCHER_DEFAULTS.watchDelayMs} ms is the watcher's deliberate delay between an fs.watch event and the scan it triggers ` +
      '(coalescing bursts; src/broadcast/socket-dir-watcher.ts); the rest is the scan (readdir, lstat, /proc/net/unix) and delivery, plus for the hook ' +
      `starting it. With ${s.hookN > 0 ? `${Math.min(s.n, s.hookN)}-${Math.max(s.n, s.hookN)}` : s.n} samples per row, p99 is the slowest sample.`,
  ];
  const summary: SummaryRow[] = results.map((m) => ({
    metric: `broadcast p50, socket appears / goes → ${m.sink === 'receiver' ? 'local receiver' : '`--broadcast-hook` ran'}, window ${m.window} ms${m.window === BATCH_WINDOW_DEFAULT_MS ? ' (default)' : ''}`,
    value: `${ms(m.created.p50Us)} / ${ms(m.destroyed.p50Us)} ms`,
    baseline: `the window: ${m.window} ms`,
    ratio: `window + ${ms(m.created.p50Us - m.window * 1000)} / ${ms(m.destroyed.p50Us - m.window * 1000)} ms`,
  }));
  return { rows, notes, summary };
}
