/**
 * `npm run bench`: runs every benchmark module in ALL_BENCHMARKS (or those BENCH_ONLY names) and
 * prints the detailed table of their rows, the goals they check, notes, and the machine they ran
 * on, then ONE consolidated table (./summary.ts: one row per metric, its same-run baseline, the
 * goal, met or missed by how much), as text and as Markdown. Progress goes to stderr, the report
 * to stdout. The report is also written to bench/results/<date>.md (BENCH_RESULTS_DIR to change,
 * `BENCH_RESULTS_DIR=-` not to write); its Markdown block is what the README's Performance section
 * holds (`BENCH_UPDATE_README=1` puts it there: ./readme-block.ts). Children and temp dirs are removed on success, failure, and Ctrl-C / SIGTERM.
 *
 * Add a benchmark: write a module exporting a {@link Benchmark} (see ./harness.ts) and list it here.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { bridgeThroughput } from './bridge-throughput.js';
import { broadcastLatency } from './broadcast-latency.js';
import { connectInstructions } from './connect-instructions.js';
import { connectRoundTrip } from './connect-round-trip.js';
import { farmSessions } from './farm-sessions.js';
import { idleRss } from './idle-rss.js';
import { packageRoot } from '../src/config/package-root.js';
import { BenchSetupError, formatTable, machineInfo, Resources, type BenchContext, type BenchGoal, type BenchRow, type Benchmark } from './harness.js';
import { formatSummaryMarkdown, formatSummaryText, type RunInfo, type SummaryRow } from './summary.js';
import { replaceMarkedBlock } from './readme-block.js';

// Idle RSS first: measured before the other benchmarks have loaded the machine's page cache and CPUs.
const ALL_BENCHMARKS: readonly Benchmark[] = [idleRss, connectRoundTrip, connectInstructions, bridgeThroughput, broadcastLatency, farmSessions];

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
  const tables: { name: string; rows: BenchRow[] }[] = [];
  const goals: BenchGoal[] = [];
  const notes: string[] = [];
  const summary: SummaryRow[] = [];
  const failedNames: string[] = [];
  try {
    for (const benchmark of benchmarks) {
      try {
        const result = await benchmark.run(context);
        tables.push({ name: benchmark.name, rows: result.rows });
        goals.push(...(result.goals ?? []));
        notes.push(...(result.notes ?? []));
        summary.push(...(result.summary ?? []));
      } catch (error) {
        failedNames.push(benchmark.name);
        const detail = error instanceof BenchSetupError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
        process.stderr.write(`bench: ${benchmark.name} failed: ${detail}\n`);
      }
    }
  } finally {
    await resources.release();
  }

  const failed = failedNames.length > 0;
  const out: string[] = ['', 'anbox-oob-emulator benchmarks', ...machineInfo(startedAt, loadAtStart), ''];
  // One table per benchmark: each has its own columns (latency, throughput, memory).
  for (const table of tables) out.push(`${table.name}:`, '', formatTable(table.rows), '');
  if (tables.length === 0) out.push('(no results)', '');
  for (const goal of goals) out.push(`goal: ${goal.description}: ${goal.pass ? 'PASS' : 'MISS'} — ${goal.detail}`);
  if (goals.length > 0) out.push('');
  for (const note of notes) out.push(`- ${note}`);
  out.push(`- total time ${((Date.now() - startedAt.getTime()) / 1000).toFixed(1)} s${failed ? `; FAILED: ${failedNames.join(', ')} (see above)` : ''}`);

  const info: RunInfo = { command: commandLine(), startedAt, loadAtStart, failed: failedNames };
  const markdown = formatSummaryMarkdown(summary, info);
  out.push('', 'SUMMARY (one row per metric; baselines measured in this run)', '', formatSummaryText(summary, info), '');
  out.push('Markdown (for the README\'s Performance section, verbatim):', '', markdown, '');
  const report = out.join('\n');
  process.stdout.write(report);
  saveReport(context.repoRoot, startedAt, markdown, report);
  if (process.env.BENCH_UPDATE_README === '1') updateReadme(context.repoRoot, markdown);
  return failed ? 1 : 0;
}

/** How this run was asked for, as a reader would retype it. */
function commandLine(): string {
  const only = process.env.BENCH_ONLY ? `BENCH_ONLY=${process.env.BENCH_ONLY} ` : '';
  return `${only}npm run bench`;
}

/** bench/results/<date>.md: the Markdown block first, then the whole plain-text report. */
function saveReport(repoRoot: string, startedAt: Date, markdown: string, report: string): void {
  const setting = process.env.BENCH_RESULTS_DIR ?? join(repoRoot, 'bench', 'results');
  if (setting === '-') return;
  const dir = resolve(setting);
  const file = join(dir, `${startedAt.toISOString().slice(0, 19).replaceAll(':', '-')}Z.md`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, `# npm run bench, ${startedAt.toISOString()}\n\n${markdown}\n\n## Full report\n\n\`\`\`text${report}\`\`\`\n`);
    process.stderr.write(`bench: report written to ${relative(process.cwd(), file) || file}\n`);
  } catch (error) {
    process.stderr.write(`bench: cannot write ${file}: ${(error as Error).message} (set BENCH_RESULTS_DIR, or - not to write)\n`);
  }
}

/** BENCH_UPDATE_README=1: the README's marked block becomes this run's (the prose is the author's to update). */
function updateReadme(repoRoot: string, markdown: string): void {
  const file = join(repoRoot, 'README.md');
  try {
    writeFileSync(file, replaceMarkedBlock(readFileSync(file, 'utf8'), markdown));
    process.stderr.write(`bench: README.md's Performance block replaced by this run's; update the figures in the prose under it\n`);
  } catch (error) {
    process.stderr.write(`bench: cannot update ${file}: ${(error as Error).message}\n`);
  }
}

process.exitCode = await main();
