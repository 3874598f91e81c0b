/**
 * Fault: the adb server disappears and comes back on the same port.
 *
 * `anbox-oob proxy --adb` broadcasts through the REAL adb client to a fake adb server
 * (test/helpers/fake-adb-server.ts). The server is closed; channels come and go (real socat in the
 * socket dir), so broadcasts fail; a new fake server then listens on the SAME port. What
 * src/broadcast/README.md promises, and what is asserted here exactly:
 *  - the failure is logged once, with a hint (`adb.failure`, kind server-unreachable), not per retry;
 *  - a broadcast is retried with backoff: 0.5 s, 1 s, 2 s, … between attempts (each gap is at least
 *    that: a lower bound, not a timing assertion), at most 6 attempts;
 *  - each sink has an ordered queue: the broadcasts made during the outage reach the device, once
 *    each and in order, as soon as adb is back, and adb.recovered is logged;
 *  - a broadcast whose 6 attempts all fail is a failure (status and broadcast.failed say so) and is
 *    NOT delivered later; the next one is tried (long version, ANBOX_OOB_SOAK=1: the outage outlasts
 *    a broadcast's retries);
 *  - meanwhile local receivers are unaffected, and the adb reverse is made again on the new server.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listenForBroadcasts, type BroadcastListener } from '../../src/broadcast/local/receiver.js';
import type { ReceivedBroadcast } from '../../src/broadcast/local/intent-codec.js';
import { killAllSocat, shellWords, startSocat, type SocatListener } from '../broadcast/helpers.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { FakeAdbServer } from '../helpers/fake-adb-server.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { SOAK, statusJson, waitFor } from './helpers.js';

const SERIAL = 'emulator-5554';
/** The sink's documented retry delays (ADB_SINK_DEFAULTS): 0.5 s doubling, at most 6 attempts. */
const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000];
const MAX_ATTEMPTS = 6;

let dir: string;
let adb: FakeAdbServer | undefined;
let port: number;
let proxy: DaemonHandle;
let listener: BroadcastListener;
const received: ReceivedBroadcast[] = [];

beforeAll(async () => {
  dir = makeTempDir('aoob-adb-');
  adb = await FakeAdbServer.start([{ serial: SERIAL }]);
  port = adb.port;
  proxy = await startDaemon(dir, ['--adb', '--adb-serial', SERIAL, '--broadcast-package', 'com.example.oob', '--broadcast-window', '50', '--log-level', 'debug'], {
    env: { ...adb.env, ANBOX_OOB_ADB_RECHECK_MS: '500' },
  });
  listener = await listenForBroadcasts({ dir: join(dir, 'receivers'), onBroadcast: (b) => received.push(b) });
});

afterEach(async () => {
  await killAllSocat();
});

afterAll(async () => {
  await listener?.close();
  await proxy?.stop();
  await adb?.close();
  if (dir) removeTempDir(dir);
});

/** "event names" of each `am broadcast` a fake device received (default: the current server's). */
function amBroadcasts(server: FakeAdbServer | undefined = adb): string[] {
  return (server?.commands ?? []).map((c) => {
    const w = shellWords(c.command);
    return `${w[w.indexOf('event') + 1]} ${w[w.indexOf('data-channel-names') + 1]}`;
  });
}

function events(event: string): Record<string, unknown>[] {
  return proxy.logLines().filter((l) => l.event === event);
}

function diagnostics(): string {
  return `--- proxy log (adb lines) ---\n${proxy
    .logLines()
    .filter((l) => String(l.event).startsWith('adb') || String(l.event).startsWith('broadcast.'))
    .map((l) => JSON.stringify(l))
    .join('\n')}\n--- local broadcasts ---\n${JSON.stringify(received.map((b) => [b.sequence, b.event, b.names]))}`;
}

/** Makes a channel appear (real socat) and waits for the local receiver to hear of it; returns its sequence. */
async function channelAppears(name: string): Promise<{ socat: SocatListener; sequence: number }> {
  const socat = await startSocat(join(proxy.socketDir, `webrtc_data_${name}`));
  await waitFor(() => received.some((b) => b.event === 'created' && b.names.includes(name)), `a local 'created' broadcast naming ${name}`, 20_000, diagnostics);
  return { socat, sequence: received.find((b) => b.event === 'created' && b.names.includes(name))!.sequence };
}

async function channelGoes(socat: SocatListener, name: string): Promise<number> {
  await socat.kill();
  await waitFor(() => received.some((b) => b.event === 'destroyed' && b.names.includes(name)), `a local 'destroyed' broadcast naming ${name}`, 20_000, diagnostics);
  return received.find((b) => b.event === 'destroyed' && b.names.includes(name))!.sequence;
}

/** Log times of the sink's failed attempts at broadcast `sequence` (the first is adb.failure, later ones adb.retry_failed). */
function failedAttemptTimes(sequence: number): number[] {
  return proxy
    .logLines()
    .filter((l) => (l.event === 'adb.failure' || l.event === 'adb.retry_failed') && l.sink === 'adb' && l.sequence === sequence)
    .map((l) => Number(l.time));
}

interface StatusBroadcast {
  sequence: number;
  event: string;
  names: string[];
  results: { sink: string; ok: boolean; attempts: number }[];
}

async function adbResult(sequence: number): Promise<{ ok: boolean; attempts: number } | undefined> {
  const status = await statusJson(proxy.servicePath);
  const broadcasts = status.broadcasts as StatusBroadcast[];
  return broadcasts.find((b) => b.sequence === sequence)?.results.find((r) => r.sink === 'adb');
}

describe('the adb server disappears and returns on the same port', () => {
  it(SOAK ? 'a broadcast that outlives its retries is a failure; later ones are delivered in order' : 'broadcasts made during the outage are delivered once each, in order, when it returns', async () => {
    // adb works: a first channel is announced, the reverse is in place.
    const first = await channelAppears('up');
    await adb!.waitFor(() => amBroadcasts().includes('created up'), "the device to receive 'created up'", 20_000);
    await adb!.waitFor(() => adb!.reverses(SERIAL).length === 1, 'the adb reverse on the first server', 20_000);
    expect(events('adb.failure')).toEqual([]);

    // The adb server goes away.
    await adb!.close();
    const gone = adb!;
    adb = undefined;

    // Channel changes during the outage, each its own broadcast (the local receiver hears each at once).
    const a = await channelAppears('during-a');
    await waitFor(() => failedAttemptTimes(a.sequence).length >= 1, `a failed adb attempt at broadcast #${a.sequence}`, 30_000, diagnostics);
    const failure = events('adb.failure').filter((l) => l.sink === 'adb');
    expect(failure).toHaveLength(1);
    expect(failure[0]!.kind).toBe('server-unreachable');
    expect(String(failure[0]!.hint)).toMatch(/adb start-server/);
    const aGone = await channelGoes(a.socat, 'during-a');
    const b = await channelAppears('during-b');
    const duringOutage = [`created during-a`, `destroyed during-a`, `created during-b`];
    expect(received.filter((r) => r.sequence >= a.sequence).map((r) => `${r.event} ${r.names.join(',')}`)).toEqual(duringOutage);
    expect([a.sequence, aGone, b.sequence]).toEqual([a.sequence, a.sequence + 1, a.sequence + 2]);

    if (!SOAK) {
      // Retried with backoff: wait for a second failed attempt, then bring adb back before the sixth.
      await waitFor(() => failedAttemptTimes(a.sequence).length >= 2, `a retry of broadcast #${a.sequence}`, 30_000, diagnostics);
    } else {
      // The outage outlasts broadcast #a's six attempts (0.5+1+2+4+8 s of backoff).
      await waitFor(() => events('broadcast.failed').some((l) => l.sink === 'adb' && l.sequence === a.sequence), `broadcast #${a.sequence} to fail for good`, 60_000, diagnostics);
    }
    adb = await FakeAdbServer.start([{ serial: SERIAL }], port);
    expect(adb.port).toBe(port);

    const expected = SOAK ? duringOutage.slice(1) : duringOutage;
    await waitFor(() => amBroadcasts().length >= expected.length, `the device to receive ${JSON.stringify(expected)}`, 60_000, () => `${JSON.stringify(amBroadcasts())}\n${diagnostics()}`);
    // Once each, in order, nothing else (give a duplicate the time of the next recheck to show up: the
    // reverse is rechecked every 500 ms, so wait for a recheck after the last delivery).
    const reverseChecks = adb.reverseRequests.length;
    await adb.waitFor(() => adb!.reverseRequests.length >= reverseChecks + 2, 'two more adb reverse requests (the daemon is past the deliveries)', 20_000);
    expect(amBroadcasts()).toEqual(expected);
    expect(amBroadcasts(gone)).toEqual(['created up']);

    // Logged once, recovered once.
    expect(events('adb.failure').filter((l) => l.sink === 'adb')).toHaveLength(1);
    await waitFor(() => events('adb.recovered').length === 1, 'adb.recovered in the log', 20_000, diagnostics);

    // The backoff between failed attempts of the first outage broadcast: at least the documented delays.
    const times = failedAttemptTimes(a.sequence);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(RETRY_DELAYS_MS[i - 1]! - 5);

    // What status says about each broadcast of the outage.
    const resultA = await adbResult(a.sequence);
    if (SOAK) {
      expect(resultA).toMatchObject({ ok: false, attempts: MAX_ATTEMPTS });
      expect(times).toHaveLength(MAX_ATTEMPTS);
    } else {
      expect(resultA?.ok).toBe(true);
      expect(resultA!.attempts).toBeGreaterThan(1);
      expect(resultA!.attempts).toBeLessThanOrEqual(MAX_ATTEMPTS);
    }
    expect(await adbResult(aGone)).toMatchObject({ ok: true });
    expect(await adbResult(b.sequence)).toMatchObject({ ok: true });
    expect(await adbResult(first.sequence)).toMatchObject({ ok: true, attempts: 1 });

    // The reverse is made again on the new server, and the proxy is fine.
    await adb.waitFor(() => adb!.reverses(SERIAL).length === 1, 'the adb reverse on the new server', 20_000);
    expect(proxy.child.exitCode).toBeNull();
    expect(events('daemon.uncaught_exception')).toEqual([]);
  }, SOAK ? 300_000 : 180_000);
});
