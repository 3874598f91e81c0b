/**
 * Connect cost in instructions: what the daemon executes per connect, counted by valgrind's
 * callgrind, which does not move with machine load (a second, stable figure next to the connect
 * round trip's timings, which do).
 *
 * Method: `anbox-oob proxy` runs under `valgrind --tool=callgrind --smc-check=all` (all threads,
 * JIT code included); this process connects BENCH_ICOUNT_N1 times (default 500), then, in a second
 * daemon, BENCH_ICOUNT_N2 times (default 2500), each connect a `transact` of the connect Parcel on
 * one connection with the descriptor closed unread. Instructions per connect = (I(N2) - I(N1)) /
 * (N2 - N1): start-up, shut-down and the first connects' warm-up cancel out; the JIT compiling
 * that more connects bring about stays in (it is part of what more connects cost).
 *
 * Compared with:
 * - before: the same measurement of the daemon before issue 11's work (BEFORE_INSTRUCTIONS_PER_CONNECT,
 *   measured on commit 8d3564a for the default and a warmed-up window), or, with BENCH_ICOUNT_BEFORE=<another checkout, built>, that
 *   checkout measured in this run;
 * - the C floor's service process (fdpass.c under callgrind, same N1/N2 method; its service serves
 *   the persistent and the reconnect loop, N + N/4 requests). User-space instructions only: the
 *   kernel's share, most of the floor's time, is not counted, so this ratio is much larger than
 *   the time ratio; it says how much of our own work is left, not how far from the floor's speed.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataProxyClient } from '../src/client/data-proxy-client.js';
import { close } from '../src/native/addon.js';
import { ParcelWriter } from '../src/parcel/parcel-writer.js';
import { buildFloor, startChannelListener } from './fixtures.js';
import { BenchSetupError, envInt, type BenchContext, type BenchResult, type Benchmark } from './harness.js';
import { times, type SummaryRow } from './summary.js';

/**
 * Daemon instructions per connect before issue 11 (commit 8d3564a, method above), by "N1/N2":
 * the default window, and a warmed-up one (2026-12-04).
 */
export const BEFORE_INSTRUCTIONS_PER_CONNECT: Readonly<Record<string, number>> = { '500/2500': 441_142, '2500/7500': 65_264 };
const BEFORE_COMMIT = '8d3564a';
const CHANNEL = 'foo';
const SERVICE = 'org.anbox.webrtc.IDataProxyService';
const DESCRIPTOR = 'org.anbox.webrtc.IDataProxyService@1.0';

export const connectInstructions: Benchmark = {
  name: 'connect instructions (callgrind)',
  async run(context: BenchContext): Promise<BenchResult> {
    const n1 = envInt('BENCH_ICOUNT_N1', 500);
    const n2 = envInt('BENCH_ICOUNT_N2', 2500);
    if (n2 <= n1) throw new BenchSetupError(`BENCH_ICOUNT_N2 (${n2}) must be larger than BENCH_ICOUNT_N1 (${n1})`);
    const beforeRepo = process.env.BENCH_ICOUNT_BEFORE;
    const recorded = BEFORE_INSTRUCTIONS_PER_CONNECT[`${n1}/${n2}`];
    if (!beforeRepo && recorded === undefined) {
      throw new BenchSetupError(
        `no recorded figure before issue 11 for N1=${n1}, N2=${n2} (there are: ${Object.keys(BEFORE_INSTRUCTIONS_PER_CONNECT).join(', ')}); ` +
          'set BENCH_ICOUNT_BEFORE to a built checkout of commit 8d3564a to measure it in this run',
      );
    }
    requireValgrind();
    const dir = context.makeTempDir('anbox-oob-icount-');
    context.progress(`connect instructions: daemon under callgrind, ${n1} then ${n2} connects (a few minutes)`);
    const now = await daemonPerConnect(context, context.repoRoot, dir, n1, n2);
    const before = beforeRepo ? await daemonPerConnect(context, beforeRepo, dir, n1, n2) : recorded!;
    const beforeLabel = beforeRepo ? `${beforeRepo}, this run` : `commit ${BEFORE_COMMIT}, recorded`;
    context.progress('connect instructions: the C floor under callgrind');
    const floor = floorPerConnect(context, dir, n1, n2);
    const summary: SummaryRow[] = [
      {
        metric: 'connect: daemon instructions per connect (callgrind)',
        value: count(now),
        baseline: `before issue 11 (${beforeLabel}) ${count(before)}`,
        ratio: `${times(now / before)} (${(before / now).toFixed(2)}x fewer)`,
      },
      {
        metric: 'connect: daemon instructions per connect vs the C floor',
        value: count(now),
        baseline: `fdpass.c service process ${count(floor)} (user space only)`,
        ratio: times(now / floor),
      },
    ];
    return {
      rows: [],
      summary,
      notes: [
        `connect instructions: (I(${n2}) - I(${n1})) / ${n2 - n1} of \`anbox-oob proxy\` under valgrind --tool=callgrind --smc-check=all, all threads; ` +
          `the C floor's service process the same way (user-space instructions only, so far below its time share)`,
      ],
    };
  },
};

function requireValgrind(): void {
  const probe = spawnSync('valgrind', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new BenchSetupError('valgrind is not installed: the instruction counts need it (`apt-get install valgrind`)');
  }
}

function count(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

async function daemonPerConnect(context: BenchContext, repo: string, dir: string, n1: number, n2: number): Promise<number> {
  const i1 = await daemonInstructions(context, repo, join(dir, `n1-${Date.now()}`), n1);
  const i2 = await daemonInstructions(context, repo, join(dir, `n2-${Date.now()}`), n2);
  return (i2 - i1) / (n2 - n1);
}

/** Total instructions of one `proxy` run under callgrind serving `connects` connects. */
async function daemonInstructions(context: BenchContext, repo: string, dir: string, connects: number): Promise<number> {
  const socketDir = join(dir, 'sockets');
  const servicePath = join(dir, 'svc.sock');
  const out = join(dir, 'callgrind.out');
  mkdirSync(socketDir, { recursive: true, mode: 0o700 });
  const channel = await startChannelListener(context, socketDir, CHANNEL);
  const cli = join(repo, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(cli)) throw new BenchSetupError(`${cli} is missing: run \`npm run build\` in ${repo}`);
  const daemon = context.spawnChild('proxy under callgrind', 'valgrind', [
    '--tool=callgrind',
    '--smc-check=all',
    `--callgrind-out-file=${out}`,
    process.execPath,
    cli,
    'proxy',
    '--socket-dir',
    socketDir,
    '--service-socket',
    servicePath,
    '--log-level',
    'info',
  ], { stdio: ['ignore', 'ignore', 'pipe'] }); // log lines to /dev/null: a pipe this process drains late under load would add retries
  try {
    const started = Date.now();
    while (!existsSync(servicePath)) {
      if (Date.now() - started > 180_000) throw new Error(`the daemon under callgrind did not start in 180 s:\n${daemon.output()}`);
      await sleep(200);
    }
    await sleep(1000);
    const request = new ParcelWriter().writeInterfaceToken(DESCRIPTOR).writeString16(CHANNEL).toBuffer();
    const client = new DataProxyClient({ servicePath });
    try {
      for (let i = 0; i < connects; i++) {
        const reply = await client.transact(SERVICE, 1, request);
        for (const fd of reply.fds) close(fd);
        if (reply.status !== 0) throw new Error(`connect ${i} failed: status ${reply.status} ${reply.errorCode} ${reply.message}`);
      }
    } finally {
      client.close();
    }
    await sleep(500);
  } finally {
    await daemon.stop('SIGTERM', 60_000);
    await channel.stop();
  }
  return totals(dir, 'callgrind.out');
}

/** Sum of the `totals:` lines of every callgrind output file in `dir` starting with `prefix`. */
function totals(dir: string, prefix: string, only?: (text: string) => boolean): number {
  let total = 0;
  let files = 0;
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(prefix)) continue;
    const text = readFileSync(join(dir, name), 'utf8');
    if (only && !only(text)) continue;
    files++;
    for (const match of text.matchAll(/^totals: (\d+)/gm)) total += Number(match[1]);
  }
  if (files === 0) throw new Error(`no callgrind output (${prefix}*) in ${dir}`);
  return total;
}

/** fdpass's service process: instructions per request it served, by the same N1/N2 difference. */
function floorPerConnect(context: BenchContext, dir: string, n1: number, n2: number): number {
  const binary = buildFloor(context, dir);
  const run = (n: number): number => {
    const runDir = join(dir, `floor-${n}`);
    mkdirSync(runDir, { recursive: true });
    const result = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${join(runDir, 'cg.%p')}`, binary, String(n), runDir], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    if (result.status !== 0) throw new Error(`fdpass under callgrind failed (${result.status ?? result.error?.message}):\n${result.stderr.slice(-2000)}`);
    // The service is the one process of the three that calls sendmsg (the client only receives).
    return totals(runDir, 'cg.', (text) => /^c?fn=.*sendmsg/m.test(text));
  };
  const served = (n: number) => n + Math.max(1, Math.floor(n / 4));
  return (run(n2) - run(n1)) / (served(n2) - served(n1));
}
