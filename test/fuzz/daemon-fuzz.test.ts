// Fuzzes one real `anbox-oob proxy` daemon with mutated and random frames (see cases.ts), checks
// every answer (expect.ts), and at the end that the daemon is alive, still serves a plain connect,
// logged no internal error, and is back to the descriptors it had before the first case.
// `npm test` runs a few thousand cases; `npm run fuzz` runs 100,000 (ANBOX_OOB_FUZZ_CASES).

import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DataProxyClient } from '../../src/client/data-proxy-client.js';
import { openFdCount, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { startFakeChannel, type FakeChannel } from '../helpers/echo-platform.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { caseIndexes, fuzzConfig, replayCommand, seedHex } from './config.js';
import { FUZZ_CHANNEL } from './parcel-gen.js';
import { runDaemonCases, type RunStats } from './runner.js';

const FILE = 'test/fuzz/daemon-fuzz.test.ts';
const config = fuzzConfig();
const indexes = caseIndexes(config, config.daemonCases);

let dir: string;
let daemon: DaemonHandle;
let channel: FakeChannel;

beforeAll(async () => {
  dir = makeTempDir('aoob-fz-');
  // Only errors are logged: a refused transaction is an info line, and there are 100,000 of them.
  // The connection caps are raised: this fuzz is about frames, all from one uid, and a stream-mode
  // case's pipe lives (and counts against --max-connections-per-uid) until the fake channel ends
  // it. The caps have tests of their own (test/security, attack-fuzz.test.ts).
  daemon = await startDaemon(dir, ['--log-level', 'error', '--max-connections', '100000', '--max-connections-per-uid', '100000']);
  channel = await startFakeChannel(daemon.socketDir, FUZZ_CHANNEL);
});

afterAll(async () => {
  await channel?.close();
  await daemon?.stop();
  if (dir) removeTempDir(dir);
});

function rssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : NaN;
}

/** The daemon's descriptor count once it is back at or below `target` (closing is asynchronous there). */
async function settledFdCount(target: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let count = openFdCount(daemon.pid);
  while (count > target && Date.now() < deadline) {
    await sleep(50);
    count = openFdCount(daemon.pid);
  }
  return count;
}

async function servesConnect(): Promise<void> {
  const client = new DataProxyClient({ servicePath: daemon.servicePath });
  try {
    const socket = await client.connect(FUZZ_CHANNEL);
    socket.destroy();
  } finally {
    client.close();
  }
}

function dropClosedChannelConnections(): void {
  const live = channel.connections.filter((socket) => !socket.destroyed);
  channel.connections.length = 0;
  channel.connections.push(...live);
}

function report(stats: RunStats, fdsBefore: number, fdsAfter: number, rssBefore: number, rssAfter: number, ms: number): string {
  const codes = Object.entries(stats.errorCodes)
    .sort((a, b) => b[1] - a[1])
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  return [
    `daemon fuzz: seed ${seedHex(config.seed)}, ${stats.cases} cases in ${(ms / 1000).toFixed(1)} s (${Math.round((stats.cases / ms) * 1000)}/s) on ${stats.connections} connections`,
    `  cases by kind: ${JSON.stringify(stats.byMode)}`,
    `  replies ${stats.replies} (OK ${stats.okReplies}), descriptors received ${stats.descriptorsReceived}, stream-mode channels ${stats.streamsOpened}`,
    `  error codes: ${codes}`,
    `  daemon descriptors: ${fdsBefore} before, ${fdsAfter} after; RSS ${rssBefore} KiB -> ${rssAfter} KiB (${rssAfter - rssBefore >= 0 ? '+' : ''}${rssAfter - rssBefore} KiB)`,
    `  replay one case: ${replayCommand(config.seed, 0, FILE).replace('ONLY=0', 'ONLY=<index>')}`,
  ].join('\n');
}

it(
  `survives ${indexes.length} fuzzed cases with well-formed replies and no descriptor leak (seed ${seedHex(config.seed)})`,
  async () => {
    console.log(`daemon fuzz: seed ${seedHex(config.seed)} (ANBOX_OOB_FUZZ_SEED), ${indexes.length} cases (ANBOX_OOB_FUZZ_CASES)`);
    // Warm up (lazy allocations in the daemon), then take the baseline.
    await servesConnect();
    dropClosedChannelConnections();
    const fdsBefore = await settledFdCount(0, 500);
    const rssBefore = rssKiB(daemon.pid);
    const started = Date.now();
    const stats = await runDaemonCases({
      servicePath: daemon.servicePath,
      seed: config.seed,
      indexes,
      replyTimeoutMs: config.replyTimeoutMs,
      daemonGone: () => (daemon.child.exitCode !== null || daemon.child.signalCode !== null ? `exit ${daemon.child.exitCode ?? daemon.child.signalCode}\n${daemon.output().slice(-4000)}` : undefined),
      betweenCases: dropClosedChannelConnections,
      progress: indexes.length < 20_000 ? undefined : (done, total) => console.log(`  ${done}/${total} cases, daemon RSS ${rssKiB(daemon.pid)} KiB`),
    });
    const ms = Date.now() - started;
    // The daemon is alive and still does its job.
    expect(daemon.child.exitCode, daemon.output().slice(-4000)).toBeNull();
    await servesConnect();
    for (const socket of channel.connections.splice(0)) socket.destroy();
    // Every connection and descriptor the fuzz made is gone from the daemon (it closes asynchronously).
    const fdsAfter = await settledFdCount(fdsBefore, 30_000);
    const rssAfter = rssKiB(daemon.pid);
    console.log(report(stats, fdsBefore, fdsAfter, rssBefore, rssAfter, ms));
    const failures = stats.failures.map(
      (f) => `case ${f.index} (${f.mode}: ${f.what}): ${f.reason}\n    bytes: ${f.hex}\n    replay: ${replayCommand(config.seed, f.index, FILE)}`,
    );
    expect(failures, failures.join('\n')).toEqual([]);
    expect(stats.cases).toBe(indexes.length);
    // Internal errors are logged at level error (50) with a stack: none may happen.
    const internal = daemon.logLines().filter((line) => typeof line.level === 'number' && line.level >= 50);
    expect(internal, JSON.stringify(internal.slice(0, 5), null, 2)).toEqual([]);
    expect(fdsAfter, `daemon descriptors: ${fdsBefore} before the fuzz, ${fdsAfter} after`).toBeLessThanOrEqual(fdsBefore);
  },
  // Generous: this machine is shared and has two cores; ~2 ms a case is the slow end seen.
  120_000 + indexes.length * 10,
);
