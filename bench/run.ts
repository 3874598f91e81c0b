/**
 * `npm run bench`: runs every benchmark module in ALL_BENCHMARKS (or those BENCH_ONLY names) and
 * prints one table of their rows, the goals they check, and the machine they ran on. Progress goes to stderr, the report to stdout.
 * Nothing is written to the repository; children and temp dirs are removed on success, failure,
 * and Ctrl-C / SIGTERM.
 *
 * Add a benchmark: write a module exporting a {@link Benchmark} (see ./harness.ts) and list it here.
 */
import { loadavg } from 'node:os';
import { bridgeThroughput } from './bridge-throughput.js';
import { broadcastLatency } from './broadcast-latency.js';
import { connectRoundTrip } from './connect-round-trip.js';
import { packageRoot } from '../src/config/package-root.js';
import { BenchSetupError, formatTable, machineInfo, Resources, type BenchContext, type BenchGoal, type BenchRow, type Benchmark } from './harness.js';

const ALL_BENCHMARKS: readonly Benchmark[] = [connectRoundTrip, bridgeThroughput, broadcastLatency];

/** BENCH_ONLY: comma-separated parts of benchmark names, e.g. `BENCH_ONLY=bridge,broadcast`; default all. */
function selected(): readonly Benchmark[] {
  const only = (process.env.BENCH_ONLY ?? '')
    .split(',')
    .map((part) => part.trim().toLowerCase())
    .filter(Boolean);
  if (only.length === 0) return ALL_BENCHMARKS;
  const chosen = ALL_BENCHMARKS.filter((b) => only.some((part) => b.name.toLowerCase().includes(part)));
  if (chosen.length === 0) throw new Error(`BENCH_ONLY=${process.env.BENCH_ONLY} matches none of: ${ALL_BENCHMARKS.map((b) => b.name).join(', ')}`);
  return chosen;
}

async function main(): Promise<number> {
  let benchmarks: readonly Benchmark[];
  try {
    benchmarks = selected();
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n`);
    return 2;
  }
  const resources = new Resources();
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\nbench: ${signal}: stopping children, removing temp dirs\n`);
    resources.releaseNow();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
  process.on('exit', () => resources.releaseNow()); // last resort; a no-op after release()

  const context: BenchContext = {
    repoRoot: packageRoot(),
    makeTempDir: (prefix) => resources.makeTempDir(prefix),
    spawnChild: (label, command, args, options) => resources.spawnChild(label, command, args, options),
    progress: (message) => process.stderr.write(`bench: ${message}\n`),
  };

  const startedAt = new Date();
  const loadAtStart = loadavg();
  const rows: BenchRow[] = [];
  const goals: BenchGoal[] = [];
  const notes: string[] = [];
  let failed = false;
  try {
    for (const benchmark of benchmarks) {
      try {
        const result = await benchmark.run(context);
        rows.push(...result.rows);
        goals.push(...(result.goals ?? []));
        notes.push(...(result.notes ?? []));
      } catch (error) {
        failed = true;
        const detail = error instanceof BenchSetupError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
        process.stderr.write(`bench: ${benchmark.name} failed: ${detail}\n`);
      }
    }
  } finally {
    await resources.release();
  }

  const out: string[] = ['', 'anbox-oob-emulator benchmarks', ...machineInfo(startedAt, loadAtStart), ''];
  out.push(rows.length > 0 ? formatTable(rows) : '(no results)', '');
  for (const goal of goals) out.push(`goal: ${goal.description}: ${goal.pass ? 'PASS' : 'MISS'} — ${goal.detail}`);
  if (goals.length > 0) out.push('');
  for (const note of notes) out.push(`- ${note}`);
  out.push(`- total time ${((Date.now() - startedAt.getTime()) / 1000).toFixed(1)} s${failed ? '; SOME BENCHMARKS FAILED (see above)' : ''}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
