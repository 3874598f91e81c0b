/**
 * Sequential connects against one `anbox-oob proxy`: 100,000 under `npm run soak`, 3,000 under
 * `npm test`. Each connect goes through the TypeScript client (transaction → reply + descriptor →
 * net.Socket), and each socket is destroyed before the next connect. Every 1,000th connection is
 * checked with a round trip through the channel.
 *
 * The daemon's open descriptors (/proc/<pid>/fd) and RSS (/proc/<pid>/status VmRSS) are sampled
 * after a warm-up and after the run (once every connection has closed): the descriptor count must
 * be the same, and RSS may grow by less than 20 MB. The figures are printed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataProxyClient } from '../../src/client/data-proxy-client.js';
import { openFdCount, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { mb, MB, roundTrip, rssBytes, settledFdCount, size, SOAK, stableFdCount, startLeanChannel, waitFor, type LeanChannel } from './helpers.js';

const CONNECTS = size(3_000, 100_000);
const WARM_UP = 1_000;
const CHECK_EVERY = 1_000;
const RSS_GROWTH_LIMIT = 20 * MB;
const TIMEOUT_MS = size(240_000, 1_800_000);

let dir: string | undefined;
let daemon: DaemonHandle | undefined;
let channel: LeanChannel | undefined;
let client: DataProxyClient | undefined;

beforeAll(async () => {
  dir = makeTempDir('aoob-load-');
  daemon = await startDaemon(dir, ['--log-level', 'warn']);
  channel = await startLeanChannel(daemon.socketDir, 'seq');
}, 60_000);

afterAll(async () => {
  client?.close();
  await channel?.close();
  await daemon?.stop();
  if (dir) removeTempDir(dir);
}, 60_000);

async function connects(count: number, offset: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const socket = await client!.connect('seq');
    if ((offset + i) % CHECK_EVERY === 0) {
      const token = `n${offset + i}`;
      expect(await roundTrip(socket, token, `seq:${token}`.length, 30_000)).toBe(`seq:${token}`);
    }
    socket.destroy();
  }
}

describe(`sequential connects (${SOAK ? 'soak' : 'short'}: ${CONNECTS})`, () => {
  it(`leaves the daemon with the same descriptors and less than 20 MB more RSS after ${CONNECTS} connects`, async () => {
    const pid = daemon!.pid;
    client = new DataProxyClient({ servicePath: daemon!.servicePath });
    await connects(WARM_UP, 0);
    await waitFor(() => channel!.open === 0, 'the warm-up connections to close', 60_000);
    const fdBefore = await stableFdCount(pid);
    const rssBefore = rssBytes(pid);

    const started = performance.now();
    const samples: string[] = [];
    const step = Math.max(CHECK_EVERY, Math.floor(CONNECTS / 10));
    for (let done = 0; done < CONNECTS; done += step) {
      const count = Math.min(step, CONNECTS - done);
      await connects(count, WARM_UP + done);
      samples.push(`${done + count}: ${openFdCount(pid)} fds, ${mb(rssBytes(pid))}`);
    }
    const seconds = (performance.now() - started) / 1000;

    await waitFor(() => channel!.open === 0, 'every channel connection to close', 60_000, () => `${channel!.open} still open`);
    expect(channel!.accepted).toBe(WARM_UP + CONNECTS);
    const fdAfter = await settledFdCount(pid, fdBefore);
    const rssAfter = rssBytes(pid);
    console.log(
      `[load sequential] ${CONNECTS} connects (client.connect → net.Socket → destroy) in ${seconds.toFixed(1)} s = ${(CONNECTS / seconds).toFixed(0)}/s; ` +
        `daemon fds ${fdBefore} → ${fdAfter}; RSS ${mb(rssBefore)} → ${mb(rssAfter)} (${rssAfter >= rssBefore ? '+' : ''}${((rssAfter - rssBefore) / MB).toFixed(1)} MB)\n` +
        `  samples (connects: fds, RSS): ${samples.join('; ')}`,
    );
    expect(fdAfter, 'daemon descriptors after the run').toBe(fdBefore);
    expect(rssAfter - rssBefore, `daemon RSS growth (${mb(rssBefore)} → ${mb(rssAfter)})`).toBeLessThan(RSS_GROWTH_LIMIT);
    expect(daemon!.logLines().filter((line) => typeof line.level === 'number' && line.level >= 50), 'errors in the daemon log').toEqual([]);
  }, TIMEOUT_MS);
});
