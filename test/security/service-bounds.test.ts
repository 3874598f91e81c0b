/**
 * Issue 9, items 2 and 9 (PERMISSION_DENIED text): denied peers get one reply and are hung up on;
 * partial frames time out; connections are capped overall and per uid (allowed uids included);
 * bytes buffered are capped; repeated log lines are rate-limited with a summary of the count.
 * Each test runs the attack against a real `anbox-oob proxy`, the attacker a process of its own
 * (as uid 65534 through setpriv where the uid matters).
 */
import { chmodSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { openFdCount, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { startFakeChannel, type FakeChannel } from '../helpers/echo-platform.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { countEvents, legitimateClientDuring, OTHER_UID, rssKiB, runAttacker, whileSampling } from './helpers/service-attack.js';

const cleanups: (() => Promise<void> | void)[] = [];

// Stopping a daemon waits up to 10 s before SIGKILL (an unfixed daemon holding gigabytes is slow).
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}, 30_000);

async function daemonWith(args: string[]): Promise<{ daemon: DaemonHandle; channel: FakeChannel }> {
  const dir = makeTempDir('aoob-sec-');
  chmodSync(dir, 0o755);
  cleanups.push(() => removeTempDir(dir));
  const daemon = await startDaemon(dir, args);
  cleanups.push(async () => void (await daemon.stop()));
  const channel = await startFakeChannel(daemon.socketDir, 'foo');
  cleanups.push(() => channel.close());
  return { daemon, channel };
}

interface PipelineResult {
  sent: number;
  replies: { id: number; status: number; errorCode: string; message: string }[];
  eof: boolean;
}

interface PartialResult {
  connections: number;
  closed: number;
  maxClosedAfterMs: number;
}

describe('a uid that may not transact', () => {
  it('gets exactly one reply to 100 pipelined transactions, is hung up on, and is not told the allowed uids', async () => {
    const { daemon } = await daemonWith(['--allow-uid', '4242']);
    const result = await runAttacker<PipelineResult>('pipeline', daemon.servicePath, { count: 100, timeoutMs: 15_000 }, { uid: OTHER_UID });
    expect(result.replies).toHaveLength(1);
    expect(result.replies[0]).toMatchObject({ id: 1, errorCode: 'PERMISSION_DENIED' });
    expect(result.eof).toBe(true);
    const { message } = result.replies[0]!;
    expect(message).toContain(`--allow-uid ${OTHER_UID}`);
    expect(message).not.toContain('4242');
    expect(message).not.toMatch(/allowed uids/i);
  });
});

describe('partial frames', () => {
  it('a peer holding half a frame is hung up on after --frame-timeout-ms', async () => {
    const { daemon } = await daemonWith(['--frame-timeout-ms', '1000']);
    const result = await runAttacker<PartialResult>('partial', daemon.servicePath, { connections: 20, frameBytes: 1024 * 1024, timeoutMs: 30_000 });
    expect(result.connections).toBe(20);
    expect(result.closed).toBe(20);
    // A generous ceiling, not a timing claim: before the fix they were never closed.
    expect(result.maxClosedAfterMs).toBeLessThan(20_000);
    expect(countEvents(daemon.logLines(), ['connection.timeout'])).toBeGreaterThan(0);
  });

  it('a uid that may not transact and sends nothing is hung up on after --frame-timeout-ms (its idle connections hold no slots)', async () => {
    const { daemon } = await daemonWith(['--frame-timeout-ms', '1000']);
    const result = await runAttacker<PartialResult>('partial', daemon.servicePath, { connections: 20, silent: true, timeoutMs: 30_000 }, { uid: OTHER_UID });
    expect(result.connections).toBe(20);
    expect(result.closed).toBe(20);
    // A generous ceiling, not a timing claim: before the fix they were held for ever.
    expect(result.maxClosedAfterMs).toBeLessThan(20_000);
  });
});

describe('connection caps', () => {
  it('caps the connections of one uid and keeps serving the others', async () => {
    const { daemon } = await daemonWith(['--max-connections-per-uid', '8', '--frame-timeout-ms', '60000']);
    const baseline = openFdCount(daemon.pid);
    const attack = runAttacker<PartialResult>('partial', daemon.servicePath, { connections: 200, frameBytes: 1024, sendBytes: 10, timeoutMs: 3000 }, { uid: OTHER_UID });
    const [{ peak }, legit] = await Promise.all([whileSampling(daemon.pid, attack), legitimateClientDuring(daemon.servicePath, 'foo', attack)]);
    // 8 of the attacker's, the legitimate client's connection and channel socket, and slack for timing.
    expect(peak.fds - baseline).toBeLessThanOrEqual(8 + 6);
    expect(legit.failures).toEqual([]);
    expect(legit.served).toBeGreaterThan(0);
    const rejected = countEvents(daemon.logLines(), ['connection.rejected']);
    expect(rejected).toBeGreaterThan(0);
    expect(rejected).toBeLessThanOrEqual(50);
  });

  it('caps the connections of all uids together, the daemon own uid included', async () => {
    const { daemon } = await daemonWith(['--max-connections', '12', '--max-connections-per-uid', '100', '--frame-timeout-ms', '60000']);
    const baseline = openFdCount(daemon.pid);
    const attack = runAttacker<PartialResult>('partial', daemon.servicePath, { connections: 200, frameBytes: 1024, sendBytes: 10, timeoutMs: 3000 });
    const { peak } = await whileSampling(daemon.pid, attack);
    expect(peak.fds - baseline).toBeLessThanOrEqual(12 + 4);
    expect(daemon.child.exitCode).toBeNull();
  });
});

describe('bytes buffered', () => {
  it('holds at most --max-buffered-mib for 100 peers each holding most of a 1 MiB frame', async () => {
    const { daemon } = await daemonWith(['--max-buffered-mib', '8', '--max-connections', '200', '--max-connections-per-uid', '200', '--frame-timeout-ms', '60000']);
    const before = rssKiB(daemon.pid);
    const attack = runAttacker<PartialResult>('partial', daemon.servicePath, { connections: 100, frameBytes: 1024 * 1024, sendBytes: 1024 * 1024 - 16, timeoutMs: 4000 });
    const [{ peak }, legit] = await Promise.all([whileSampling(daemon.pid, attack), legitimateClientDuring(daemon.servicePath, 'foo', attack)]);
    // Unbounded, 100 such peers held over 100 MiB (each decoder grows to 2 MiB).
    expect(peak.rssKiB - before).toBeLessThan(48 * 1024);
    expect(legit.served).toBeGreaterThan(0);
  });
});

describe('log lines', () => {
  it('5,000 malformed frames from one peer write a bounded number of lines and one summary with the count', async () => {
    const { daemon } = await daemonWith([]);
    const result = await runAttacker<{ replies: number }>('badframes', daemon.servicePath, { connections: 1, frames: 5000, timeoutMs: 30_000 });
    // The peer is allowed, so it is still answered: every frame gets its MALFORMED_FRAME reply.
    expect(result.replies).toBe(5000);
    const malformed = countEvents(daemon.logLines(), ['transaction.malformed']);
    expect(malformed).toBeGreaterThan(0);
    expect(malformed).toBeLessThanOrEqual(150);
    await daemon.stop();
    const summaries = daemon.logLines().filter((line) => line.event === 'log.suppressed' && line.suppressedEvent === 'transaction.malformed');
    const suppressed = summaries.reduce((sum, line) => sum + Number(line.suppressed), 0);
    expect(suppressed + malformed).toBe(5000);
  });

  it('200 connections of a denied uid write a bounded number of lines', async () => {
    const { daemon } = await daemonWith([]);
    await runAttacker('badframes', daemon.servicePath, { connections: 200, frames: 50, timeoutMs: 30_000 }, { uid: OTHER_UID });
    const lines = daemon.logLines().filter((line) => line.peerUid === OTHER_UID && line.event !== 'log.suppressed');
    expect(lines.length).toBeGreaterThan(0);
    // Three events (connection.denied, transaction.malformed, connection.error at debug) × 50 per window, two windows at most.
    expect(lines.length).toBeLessThanOrEqual(300);
  });
});
