/**
 * Shared pieces of the benchmark suite: the Benchmark/Row types every module returns, statistics,
 * child-process and temp-dir bookkeeping that is torn down on success, failure and Ctrl-C, and the
 * plain-text table.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { SummaryRow } from './summary.js';

/** One line of the results table. Leave a field undefined when it does not apply (printed as "-"). */
export interface BenchRow {
  benchmark: string;
  p50Us?: number;
  p99Us?: number;
  meanUs?: number;
  opsPerS?: number;
  /** Throughput in MB/s (10^6 bytes per second). */
  mbPerS?: number;
  /**
   * The baseline this row is compared with: latency (µs/op) and throughput. Each benchmark states
   * its own: the C floor (connect round trip), raw node-datachannel (bridge), the batching window
   * (broadcasts).
   */
  floorUs?: number;
  floorOpsPerS?: number;
  baselineMbPerS?: number;
  /** p50 / baseline µs (lower is better; 1.0 = as fast as the baseline). */
  p50Ratio?: number;
  /** ops/s (or MB/s) / the baseline's (higher is better). */
  opsRatio?: number;
  /** Resident set size (VmRSS), MiB, and the baseline's; their ratio (lower is better). */
  rssMiB?: number;
  baselineRssMiB?: number;
  rssRatio?: number;
  /** How spread the trials were, e.g. "p50 412-468". */
  spread?: string;
}

/** A target from an issue, checked against the measured rows. */
export interface BenchGoal {
  description: string;
  pass: boolean;
  detail: string;
}

export interface BenchResult {
  rows: BenchRow[];
  goals?: BenchGoal[];
  /** The benchmark's lines of the consolidated table (./summary.ts): one per metric. */
  summary?: SummaryRow[];
  /** Free-form lines printed under the table (method, caveats). */
  notes?: string[];
}

export interface BenchContext {
  /** The package root (the directory with package.json). */
  repoRoot: string;
  /** A fresh directory, removed when the run ends however it ends. */
  makeTempDir(prefix: string): string;
  /** Spawns a child that is killed when the run ends (see {@link Children}). */
  spawnChild(label: string, command: string, args: string[], options?: SpawnOptions & { group?: boolean }): TrackedChild;
  /** Progress output (stderr, so stdout carries only the report). */
  progress(message: string): void;
}

export interface Benchmark {
  name: string;
  run(context: BenchContext): Promise<BenchResult>;
}

/** A missing prerequisite (compiler, baseline source, build): reported without a stack trace. */
export class BenchSetupError extends Error {
  override readonly name = 'BenchSetupError';
}

// ---------------------------------------------------------------------------------------------
// Statistics

export interface LatencyStats {
  count: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
  opsPerS: number;
}

/** `latenciesNs`: one entry per operation; `wallNs`: elapsed time of the whole measured phase. */
export function latencyStats(latenciesNs: Float64Array, wallNs: number): LatencyStats {
  const sorted = Float64Array.from(latenciesNs).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    count: sorted.length,
    p50Us: percentile(sorted, 0.5) / 1000,
    p99Us: percentile(sorted, 0.99) / 1000,
    meanUs: sum / sorted.length / 1000,
    opsPerS: sorted.length / (wallNs / 1e9),
  };
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** The element with the median key (the lower middle one for an even count). */
export function medianBy<T>(items: readonly T[], key: (item: T) => number): T {
  if (items.length === 0) throw new Error('medianBy of nothing');
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

export function envInt(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Children and temp dirs, cleaned up whatever happens

export interface TrackedChild {
  label: string;
  child: ChildProcess;
  /** Everything it wrote to stdout/stderr (when piped), for error messages. */
  output(): string;
  /** Resolves with the exit code (or the signal name) once it has exited. */
  exited: Promise<number | string>;
  /** Sends `signal` (default SIGTERM), waits up to `graceMs`, then SIGKILL. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/**
 * Every child and temp dir of the run. `group` children are started in their own process group
 * and killed as a group, for programs that fork helpers of their own (fdpass does).
 */
export class Resources {
  private readonly children = new Set<TrackedChild & { group: boolean }>();
  private readonly dirs = new Set<string>();

  makeTempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.add(dir);
    return dir;
  }

  spawnChild(label: string, command: string, args: string[], options: SpawnOptions & { group?: boolean } = {}): TrackedChild {
    const { group = false, ...spawnOptions } = options;
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOptions, detached: group });
    let output = '';
    const keep = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > 64 * 1024) output = output.slice(-32 * 1024);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<number | string>((resolve, reject) => {
      child.once('error', (error) => reject(new Error(`${label}: cannot start ${command}: ${error.message}`)));
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    });
    exited.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
    const tracked = {
      label,
      child,
      group,
      output: () => output,
      exited,
      stop: async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000) => {
        if (hasExited(child)) {
          killLeftovers(child, group);
          return;
        }
        kill(child, group, signal);
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
        const outcome = await Promise.race([exited.catch(() => 'error'), timeout]);
        clearTimeout(timer);
        if (outcome === 'timeout') {
          kill(child, group, 'SIGKILL');
          await exited.catch(() => undefined);
        }
        killLeftovers(child, group);
      },
    };
    const forget = () => {
      if (!group) this.children.delete(tracked);
    };
    exited.then(forget, forget);
    this.children.add(tracked);
    return tracked;
  }

  /** Orderly teardown: SIGTERM every child (SIGKILL after a grace period), then remove the dirs. */
  async release(): Promise<void> {
    await Promise.all([...this.children].map((c) => c.stop('SIGTERM', 3000).catch(() => undefined)));
    this.children.clear();
    this.removeDirs();
  }

  /** Synchronous last resort (signal handlers, exit): SIGKILL everything, remove the dirs. */
  releaseNow(): void {
    for (const c of this.children) {
      if (hasExited(c.child)) killLeftovers(c.child, c.group);
      else kill(c.child, c.group, 'SIGKILL');
    }
    this.children.clear();
    this.removeDirs();
  }

  private removeDirs(): void {
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    this.dirs.clear();
  }
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * A group leader that exited cleanly has reaped its helpers (fdpass waits for them); one that did
 * not may have left them running, so kill what is left of its group.
 */
function killLeftovers(child: ChildProcess, group: boolean): void {
  if (group && child.exitCode !== 0) kill(child, true, 'SIGKILL');
}

function kill(child: ChildProcess, group: boolean, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    if (group) process.kill(-child.pid, signal);
    else if (!hasExited(child)) child.kill(signal);
  } catch {
    // already gone
  }
}

// ---------------------------------------------------------------------------------------------
// Report

/** `loadAtStart`: os.loadavg() taken before the first benchmark (the run itself adds to the later one). */
export function machineInfo(startedAt: Date, loadAtStart: number[]): string[] {
  const cpuList = cpus();
  const model = cpuList[0]?.model.trim() || 'unknown';
  const load = (values: number[]) => values.map((v) => v.toFixed(2)).join(' ');
  return [
    `date:    ${startedAt.toISOString()}`,
    `node:    ${process.version} (${process.platform}/${process.arch}, kernel ${release()})`,
    `cpu:     ${model}, nproc ${availableParallelism()} (${cpuList.length} online), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    `load:    ${load(loadAtStart)} before the run, ${load(loadavg())} after (1/5/15 min; other work on this machine skews every row)`,
  ];
}

const COLUMNS: { title: string; get(row: BenchRow): string; left?: boolean }[] = [
  { title: 'benchmark', get: (r) => r.benchmark, left: true },
  { title: 'p50 µs', get: (r) => fixed(r.p50Us, 1) },
  { title: 'p99 µs', get: (r) => fixed(r.p99Us, 1) },
  { title: 'mean µs', get: (r) => fixed(r.meanUs, 1) },
  { title: 'ops/s', get: (r) => fixed(r.opsPerS, 0) },
  { title: 'MB/s', get: (r) => fixed(r.mbPerS, 1) },
  { title: 'baseline µs', get: (r) => fixed(r.floorUs, 1) },
  { title: 'baseline ops/s', get: (r) => fixed(r.floorOpsPerS, 0) },
  { title: 'baseline MB/s', get: (r) => fixed(r.baselineMbPerS, 1) },
  { title: 'RSS MiB', get: (r) => fixed(r.rssMiB, 1) },
  { title: 'baseline RSS MiB', get: (r) => fixed(r.baselineRssMiB, 1) },
  { title: 'p50/baseline', get: (r) => ratio(r.p50Ratio) },
  { title: 'rate/baseline', get: (r) => ratio(r.opsRatio) },
  { title: 'RSS/baseline', get: (r) => ratio(r.rssRatio) },
  { title: 'trials (min-max)', get: (r) => r.spread ?? '', left: true },
];

/** The detailed table: one line per row, without the columns no row fills (a BENCH_ONLY run stays narrow). */
export function formatTable(rows: readonly BenchRow[]): string {
  const used = COLUMNS.filter((c, i) => i === 0 || rows.some((row) => !['', '-'].includes(c.get(row))));
  const cells = rows.map((row) => used.map((c) => c.get(row)));
  const widths = used.map((c, i) => Math.max(c.title.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (used[i]!.left ? v.padEnd(widths[i]!) : v.padStart(widths[i]!)))
      .join(' | ')
      .trimEnd();
  const header = line(used.map((c) => c.title));
  const rule = widths.map((w) => '-'.repeat(w)).join('-+-');
  return [header, rule, ...cells.map(line)].join('\n');
}

function fixed(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);
}

function ratio(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '-' : `${value.toFixed(2)}x`;
}
