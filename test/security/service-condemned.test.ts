/**
 * Issue 9, item 1: a condemned connection stops reading at once and is closed after a short
 * bounded wait whether or not the peer reads. The attacker pipelines bad frames without reading
 * the replies, then sends a fatal frame (a 4 GiB header, or a stream-mode connect the daemon
 * refuses), then writes 200 MB of junk. Before the fix the daemon read and buffered all of it.
 */
import { chmodSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CONDEMNED_CLOSE_MS } from '../../src/service/service-limits.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { startFakeChannel, type FakeChannel } from '../helpers/echo-platform.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { countEvents, legitimateClientDuring, OTHER_UID, rssKiB, runAttacker, whileSampling } from './helpers/service-attack.js';

const ATTACK_BYTES = 200 * 1024 * 1024;
/** What the daemon may take in from one condemned peer: its read chunk, kernel buffers aside. */
const ACCEPTED_BOUND = 16 * 1024 * 1024;
const RSS_GROWTH_BOUND_KIB = 64 * 1024;

interface FloodResult {
  accepted: number;
  hungUp: boolean;
  hungUpAfterMs: number | null;
}

// Each attack runs up to 30 s (the attacker's own bound) when the daemon does not hang up.
vi.setConfig({ testTimeout: 120_000 });

let dir: string;
let daemon: DaemonHandle;
let channel: FakeChannel;

beforeAll(async () => {
  dir = makeTempDir('aoob-sec-');
  chmodSync(dir, 0o755);
  daemon = await startDaemon(dir);
  channel = await startFakeChannel(daemon.socketDir, 'foo');
});

afterAll(async () => {
  await channel?.close();
  await daemon?.stop();
  if (dir) removeTempDir(dir);
}, 30_000);

async function floodAttack(options: object, as: { uid?: number } = {}) {
  const before = rssKiB(daemon.pid);
  const linesBefore = daemon.logLines().length;
  const attack = runAttacker<FloodResult>('flood', daemon.servicePath, { totalBytes: ATTACK_BYTES, timeoutMs: 30_000, ...options }, as);
  const [{ result, peak }, legit] = await Promise.all([whileSampling(daemon.pid, attack), legitimateClientDuring(daemon.servicePath, 'foo', attack)]);
  return { result, growthKiB: peak.rssKiB - before, legit, lines: daemon.logLines().slice(linesBefore) };
}

describe('a condemned connection', () => {
  it('stops reading after a 4 GiB header, and is closed although the peer never reads its reply', async () => {
    const { result, growthKiB, legit, lines } = await floodAttack({ badFrames: 2000, fatal: 'header' });
    console.log(`4 GiB header attack: ${JSON.stringify(result)}, daemon RSS growth ${growthKiB} KiB, ${legit.served} legitimate connects served`);
    expect(result.hungUp).toBe(true);
    // Not a timing claim: a generous ceiling on "closed after a short bounded wait" (never, before).
    expect(result.hungUpAfterMs).toBeLessThan(CONDEMNED_CLOSE_MS + 20_000);
    expect(result.accepted).toBeLessThan(ACCEPTED_BOUND);
    expect(growthKiB).toBeLessThan(RSS_GROWTH_BOUND_KIB);
    // 2000 malformed frames: at most a burst of lines plus the frame_too_large line.
    expect(countEvents(lines, ['transaction.malformed', 'connection.frame_too_large'])).toBeLessThanOrEqual(55);
    expect(countEvents(lines, ['daemon.uncaught_exception'])).toBe(0);
    expect(legit.failures).toEqual([]);
    expect(legit.served).toBeGreaterThan(0);
  });

  it('stops reading after a refused stream-mode connect, and is closed', async () => {
    // The bad frames' unread replies fill the peer's socket, so the refusal cannot flush at once.
    const { result, growthKiB, legit, lines } = await floodAttack({ badFrames: 3000, fatal: 'stream' });
    expect(result.hungUp).toBe(true);
    expect(result.accepted).toBeLessThan(ACCEPTED_BOUND);
    expect(growthKiB).toBeLessThan(RSS_GROWTH_BOUND_KIB);
    expect(countEvents(lines, ['daemon.uncaught_exception'])).toBe(0);
    expect(legit.failures).toEqual([]);
  });

  it('four connections of another uid flooding at once are each hung up on', async () => {
    const before = rssKiB(daemon.pid);
    const attacks = Promise.all(
      Array.from({ length: 4 }, () => runAttacker<FloodResult>('flood', daemon.servicePath, { badFrames: 500, fatal: 'header', totalBytes: ATTACK_BYTES / 4, timeoutMs: 30_000 }, { uid: OTHER_UID })),
    );
    const [{ result, peak }, legit] = await Promise.all([whileSampling(daemon.pid, attacks), legitimateClientDuring(daemon.servicePath, 'foo', attacks)]);
    for (const one of result) {
      expect(one.hungUp).toBe(true);
      expect(one.accepted).toBeLessThan(ACCEPTED_BOUND);
    }
    expect(peak.rssKiB - before).toBeLessThan(RSS_GROWTH_BOUND_KIB);
    expect(legit.failures).toEqual([]);
  });

});
