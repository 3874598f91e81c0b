/**
 * Issue 9, soak-sized: each attack on the data-proxy service socket, run at scale against one
 * real `anbox-oob proxy` with its default bounds, prints the daemon's peak RSS and descriptors
 * with the bound that applies, and checks them. `npm test` runs it short; `npm run soak`
 * (ANBOX_OOB_SOAK=1) runs it at the sizes of the issue (1 GB floods, 1,500 partial frames...).
 * Attackers are uid 65534 (through setpriv) and uid 65533 (allowed with --allow-uid: allowed is
 * not trusted); the legitimate client is this process's uid and must be served throughout.
 */
import { chmodSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SERVICE_LIMITS, MAX_CONNECTION_BUFFER_BYTES } from '../../src/service/service-limits.js';
import { openFdCount, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { startFakeChannel, type FakeChannel } from '../helpers/echo-platform.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { legitimateClientDuring, OTHER_UID, rssKiB, runAttacker, whileSampling, type AttackMode } from '../security/helpers/service-attack.js';
import { size, SOAK } from './helpers.js';

const ALLOWED_ATTACKER_UID = 65533;
const MiB = 1024 * 1024;
/** Node's own heap and allocator churn on top of what the daemon buffers. */
const OVERHEAD_KIB = 96 * 1024;
/**
 * What the daemon may hold with `connections` open: the budget, plus one 64 KiB read per
 * connection (the budget is checked after a read), times two (the copy a read makes and a
 * receive buffer that grows by doubling; V8 gives freed memory back lazily), plus Node's own.
 */
function rssBoundKiB(connections: number): number {
  return (2 * (DEFAULT_SERVICE_LIMITS.maxBufferedBytes + connections * 64 * 1024)) / 1024 + OVERHEAD_KIB;
}
/** Both attacking uids at their per-uid cap, the legitimate client, slack for closes in flight. */
const FD_BOUND = 2 * DEFAULT_SERVICE_LIMITS.maxConnectionsPerUid + 8;

let dir: string;
let daemon: DaemonHandle;
let channel: FakeChannel;
let baselineFds: number;
let baselineRss: number;
const report: string[] = [];

beforeAll(async () => {
  dir = makeTempDir('aoob-soak-');
  chmodSync(dir, 0o755);
  daemon = await startDaemon(dir, ['--allow-uid', String(ALLOWED_ATTACKER_UID)]);
  channel = await startFakeChannel(daemon.socketDir, 'foo');
  baselineFds = openFdCount(daemon.pid);
  baselineRss = rssKiB(daemon.pid);
});

afterAll(async () => {
  console.log(
    [
      `service attack soak (${SOAK ? 'soak' : 'short'}), defaults: --max-connections ${DEFAULT_SERVICE_LIMITS.maxConnections}, ` +
        `--max-connections-per-uid ${DEFAULT_SERVICE_LIMITS.maxConnectionsPerUid}, --max-buffered-mib ${DEFAULT_SERVICE_LIMITS.maxBufferedBytes / MiB}, ` +
        `--frame-timeout-ms ${DEFAULT_SERVICE_LIMITS.frameTimeoutMs}; per connection ${(MAX_CONNECTION_BUFFER_BYTES / MiB).toFixed(2)} MiB`,
      `  daemon at rest: RSS ${baselineRss} KiB, ${baselineFds} descriptors; bounds: RSS +2 × (${DEFAULT_SERVICE_LIMITS.maxBufferedBytes / MiB} MiB + 64 KiB × connections) + ${OVERHEAD_KIB / 1024} MiB, descriptors +${FD_BOUND}`,
      ...report,
    ].join('\n'),
  );
  await channel?.close();
  await daemon?.stop();
  if (dir) removeTempDir(dir);
});

async function attack(name: string, runs: [AttackMode, object, number][]): Promise<unknown[]> {
  // Growth is counted from just before each attack: V8 gives memory back lazily, so what an
  // earlier attack left is not charged to this one.
  const rssBefore = rssKiB(daemon.pid);
  const all = Promise.all(runs.map(([mode, options, uid]) => runAttacker(mode, daemon.servicePath, options, { uid })));
  const [{ result, peak }, legit] = await Promise.all([whileSampling(daemon.pid, all), legitimateClientDuring(daemon.servicePath, 'foo', all)]);
  for (const socket of channel.connections.splice(0)) socket.destroy();
  const rssBound = rssBoundKiB(Math.max(0, peak.fds - baselineFds));
  report.push(
    `  ${name}: peak RSS ${peak.rssKiB} KiB (+${peak.rssKiB - rssBefore} over ${rssBefore} before it, bound +${rssBound}), peak descriptors ${peak.fds} (+${peak.fds - baselineFds}, bound +${FD_BOUND}); ` +
      `legitimate connects ${legit.served} served, ${legit.failures.length} failed; attacker saw ${JSON.stringify(result).slice(0, 200)}`,
  );
  expect(legit.failures).toEqual([]);
  expect(legit.served).toBeGreaterThan(0);
  expect(peak.rssKiB - rssBefore).toBeLessThan(rssBound);
  expect(peak.fds - baselineFds).toBeLessThanOrEqual(FD_BOUND);
  expect(daemon.child.exitCode).toBeNull();
  return result;
}

describe(`service socket attacks (${SOAK ? 'soak' : 'short'})`, () => {
  const floodBytes = size(32 * MiB, 1024 * MiB);
  const timeoutMs = size(15_000, 120_000);

  it('4 floods after a 4 GiB header and 4 after a refused stream-mode connect, two uids', async () => {
    const run = (fatal: string, uid: number): [AttackMode, object, number] => ['flood', { badFrames: 2000, fatal, totalBytes: floodBytes, timeoutMs }, uid];
    await attack('condemned floods', [run('header', OTHER_UID), run('header', OTHER_UID), run('header', ALLOWED_ATTACKER_UID), run('header', ALLOWED_ATTACKER_UID), run('stream', ALLOWED_ATTACKER_UID), run('stream', ALLOWED_ATTACKER_UID), run('stream', OTHER_UID), run('stream', OTHER_UID)]);
  });

  it('partial 1 MiB frames on many connections of two uids', async () => {
    const connections = size(200, 1500);
    const waitMs = DEFAULT_SERVICE_LIMITS.frameTimeoutMs + 15_000;
    const run = (uid: number): [AttackMode, object, number] => ['partial', { connections, frameBytes: MiB, sendBytes: MiB - 16, waitMs, timeoutMs: waitMs + 60_000 }, uid];
    const results = await attack(`partial frames (${connections} connections per uid)`, [run(OTHER_UID), run(ALLOWED_ATTACKER_UID)]);
    // Every connection the caps let in is hung up on once --frame-timeout-ms has passed.
    for (const result of results as { connections: number; closed: number }[]) expect(result.closed).toBe(result.connections);
  });

  it('clients that pipeline without reading their replies', async () => {
    const run: [AttackMode, object, number] = ['noread', { totalBytes: floodBytes, timeoutMs }, ALLOWED_ATTACKER_UID];
    await attack('never-reading pipeliners', [run, run, run, run]);
  });

  it('log floods: many connections of bad frames', async () => {
    const linesBefore = daemon.logLines().length;
    const connections = size(50, 500);
    await attack(`log floods (${connections} connections × 1000 bad frames per uid)`, [
      ['badframes', { connections, frames: 1000, timeoutMs }, OTHER_UID],
      ['badframes', { connections, frames: 1000, timeoutMs }, ALLOWED_ATTACKER_UID],
    ]);
    const lines = daemon.logLines().length - linesBefore;
    report.push(`    log lines written during the log floods: ${lines}`);
    expect(lines).toBeLessThan(1000);
  });
});
