/**
 * 1,000 connect requests in flight at once, each from its own client (its own service connection),
 * against one daemon.
 *
 * 1. `anbox-oob proxy` with five stand-in channel sockets: every request gets a descriptor that is a
 *    connection of its own to the channel it named (checked by a round trip through it). The daemon
 *    does not arbitrate between callers — it connects the channel socket and hands the connection
 *    over; the one-connection-per-channel policy belongs to the platform (test 2).
 * 2. `anbox-oob serve` with one real channel from the headless web client, all requests for that one
 *    channel: every request still gets a descriptor, and the bridge's documented policy holds — a new
 *    connection replaces the current one, which gets EOF — so once all are accepted exactly one
 *    connection is live, and data from the browser reaches that one only.
 *
 * CHANNEL_BUSY (WOULD_BLOCK: the channel's listen backlog was full) is the documented answer a
 * caller must retry; it is counted, printed and retried. Any other answer fails the test.
 *
 * Descriptor budget: each request costs this process up to 3 descriptors (service connection,
 * received channel descriptor, stand-in channel's accepted end) and the daemon 2. Node raises its
 * soft RLIMIT_NOFILE to the hard limit at start-up; when that is still too low for 1,000 at once,
 * the requests go in the largest batches that fit, and the test says so.
 */
import type { Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import nodeDataChannel from 'node-datachannel';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DataProxyClient, DataProxyError } from '../../src/client/data-proxy-client.js';
import { connectWebClient, type WebClient } from '../../src/headless-client/web-client.js';
import { Status } from '../../src/parcel/status.js';
import { openFdCount, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { openFileLimit, roundTrip, settledFdCount, size, SOAK, stableFdCount, startLeanChannel, waitFor, type LeanChannel } from './helpers.js';
import { isListening } from '../helpers/listening.js';

const REQUESTS = 1000;
const TIMEOUT_MS = size(240_000, 600_000);
const TOKEN = 'load-concurrent-token';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
}, 60_000);
afterAll(() => {
  nodeDataChannel.cleanup(); // vitest runs each file in its own fork: nothing else here uses the library
});

/** How many requests may be in flight at once given both processes' descriptor limits. */
function batchSize(daemonPid: number, perRequestHere: number, perRequestDaemon: number): number {
  const margin = 128;
  const here = Math.floor((openFileLimit('self') - openFdCount(process.pid) - margin) / perRequestHere);
  const there = Math.floor((openFileLimit(daemonPid) - openFdCount(daemonPid) - margin) / perRequestDaemon);
  const batch = Math.min(REQUESTS, here, there);
  if (batch < 1) throw new Error(`no room for a single connect: raise the descriptor limit (ulimit -n; now ${openFileLimit('self')} here, ${openFileLimit(daemonPid)} in the daemon)`);
  if (batch < REQUESTS) {
    console.log(
      `[load concurrent] descriptor limit (ulimit -n ${openFileLimit('self')} here, ${openFileLimit(daemonPid)} in the daemon) allows ${batch} at once: ` +
        `running ${REQUESTS} requests in batches of ${batch}. Raise the hard limit (e.g. ulimit -Hn 8192) for all ${REQUESTS} at once.`,
    );
  }
  return batch;
}

interface Outcome {
  socket: Socket;
  busyRetries: number;
}

/** connect(channel) from a client of its own; CHANNEL_BUSY is retried (what the error tells a caller to do). */
async function connectOwnClient(servicePath: string, channel: string): Promise<Outcome> {
  let busyRetries = 0;
  for (;;) {
    const client = new DataProxyClient({ servicePath });
    try {
      return { socket: await client.connect(channel), busyRetries };
    } catch (error) {
      if (error instanceof DataProxyError && error.errorCode === 'CHANNEL_BUSY' && error.status === Status.WOULD_BLOCK && busyRetries < 100) {
        busyRetries++;
        continue;
      }
      throw error;
    } finally {
      client.close();
    }
  }
}

/**
 * Runs `task(i)` for i in [0, count), at most `batch` at a time, in waves that start together;
 * `betweenWaves` runs after every wave but the last (to give descriptors back before the next).
 */
async function inBatches<T>(count: number, batch: number, task: (i: number) => Promise<T>, betweenWaves?: (wave: T[]) => Promise<void>): Promise<T[]> {
  const results: T[] = [];
  for (let start = 0; start < count; start += batch) {
    const wave = await Promise.all(Array.from({ length: Math.min(batch, count - start) }, (_, k) => task(start + k)));
    results.push(...wave);
    if (betweenWaves && start + batch < count) await betweenWaves(wave);
  }
  return results;
}

describe(`${REQUESTS} concurrent connect requests (${SOAK ? 'soak' : 'short'})`, () => {
  it(
    'against `proxy` and five channel sockets: every request gets a working connection of its own, and no descriptor leaks on either side',
    async () => {
      const dir = makeTempDir('aoob-load-');
      cleanups.push(() => removeTempDir(dir));
      const daemon = await startDaemon(dir, ['--log-level', 'warn']);
      cleanups.push(() => daemon.stop());
      const channels: LeanChannel[] = [];
      for (let c = 0; c < 5; c++) channels.push(await startLeanChannel(daemon.socketDir, `conc${c}`));
      cleanups.push(() => Promise.all(channels.map((c) => c.close())));

      // Warm-up (lazy initialisation on both sides), then the baselines.
      const warm = await connectOwnClient(daemon.servicePath, 'conc0');
      expect(await roundTrip(warm.socket, 'warm', 'conc0:warm'.length, 30_000)).toBe('conc0:warm');
      warm.socket.destroy();
      await waitFor(() => channels[0]!.open === 0, 'the warm-up connection to close', 30_000);
      const daemonBefore = await stableFdCount(daemon.pid);
      const hereBefore = await stableFdCount(process.pid);
      const acceptedBefore = channels.reduce((n, c) => n + c.accepted, 0);

      const batch = batchSize(daemon.pid, 3, 2);
      const started = performance.now();
      const outcomes = await inBatches(REQUESTS, batch, async (i) => {
        const channel = channels[i % channels.length]!;
        const outcome = await connectOwnClient(daemon.servicePath, channel.name);
        const token = `req-${i}`;
        // The descriptor is a connection to the channel that was asked for: it answers "<name>:<token>".
        const answer = await roundTrip(outcome.socket, token, `${channel.name}:${token}`.length, TIMEOUT_MS);
        return { ...outcome, answer, expected: `${channel.name}:${token}` };
      }, async (wave) => {
        // Batched (descriptor limit): a wave's connections are closed before the next wave starts.
        for (const outcome of wave) outcome.socket.destroy();
        await waitFor(() => channels.every((c) => c.open === 0), 'the wave\'s channel connections to close', 60_000);
      });
      const seconds = (performance.now() - started) / 1000;

      expect(outcomes).toHaveLength(REQUESTS);
      for (const outcome of outcomes) expect(outcome.answer).toBe(outcome.expected);
      // One connection per request (a CHANNEL_BUSY attempt makes none): none was shared or lost.
      expect(channels.reduce((n, c) => n + c.accepted, 0) - acceptedBefore).toBe(REQUESTS);
      if (batch === REQUESTS) expect(channels.reduce((n, c) => n + c.open, 0)).toBe(REQUESTS);

      for (const outcome of outcomes) outcome.socket.destroy();
      await waitFor(() => channels.every((c) => c.open === 0), 'every channel connection to close', 60_000);
      const daemonAfter = await settledFdCount(daemon.pid, daemonBefore);
      const hereAfter = await settledFdCount(process.pid, hereBefore);
      const busy = outcomes.reduce((n, o) => n + o.busyRetries, 0);
      console.log(
        `[load concurrent proxy] ${REQUESTS} connects in ${batch === REQUESTS ? 'one wave' : `waves of ${batch}`}, answered in ${seconds.toFixed(2)} s ` +
          `(${busy} CHANNEL_BUSY retried); daemon fds ${daemonBefore} → ${daemonAfter}, test process fds ${hereBefore} → ${hereAfter}`,
      );
      expect(daemonAfter, 'daemon descriptors after every connection closed').toBe(daemonBefore);
      // The test process also holds vitest's and WebRTC's own descriptors, which may close meanwhile: no growth is the check.
      expect(hereAfter, 'test-process descriptors after every connection closed').toBeLessThanOrEqual(hereBefore);
      expect(daemon.logLines().filter((line) => typeof line.level === 'number' && line.level >= 50), 'errors in the daemon log').toEqual([]);
      expect(await daemon.stop()).toBe(0);
    },
    TIMEOUT_MS,
  );

  it(
    'against `serve` and one real channel: every request gets a descriptor, the bridge keeps only the newest connection and the others get EOF',
    async () => {
      const dir = makeTempDir('aoob-load-');
      cleanups.push(() => removeTempDir(dir));
      const daemon: DaemonHandle = await startDaemon(dir, [], { command: 'serve', env: { ANBOX_OOB_TOKEN: TOKEN } });
      cleanups.push(() => daemon.stop());
      const ready = daemon.logLines().find((line) => line.event === 'serve.ready');
      expect(ready, 'the serve.ready log line').toBeDefined();
      const client: WebClient = await connectWebClient({ gateway: String(ready!.gateway), token: TOKEN, channels: ['contended'], openTimeoutMs: 60_000 });
      cleanups.push(() => client.close({ flushTimeoutMs: 0 }));
      await client.opened;
      const path = join(daemon.socketDir, 'webrtc_data_contended');
      await waitFor(() => isListening(path), `${path} to exist`, 30_000);
      const connectedEvents = () => daemon.logLines().filter((line) => line.event === 'channel.app_connected' && line.channel === 'contended').length;

      const daemonBefore = await stableFdCount(daemon.pid);
      const hereBefore = await stableFdCount(process.pid);
      // this process: service connection + descriptor; serve: session + the bridge's accepted end.
      const batch = batchSize(daemon.pid, 2, 2);
      const sockets: Socket[] = [];
      const state = new Map<Socket, { ended: boolean; data: string }>();
      cleanups.push(() => sockets.forEach((s) => s.destroy()));
      const started = performance.now();
      let busy = 0;
      await inBatches(REQUESTS, batch, async () => {
        const outcome = await connectOwnClient(daemon.servicePath, 'contended');
        busy += outcome.busyRetries;
        const entry = { ended: false, data: '' };
        state.set(outcome.socket, entry);
        sockets.push(outcome.socket);
        outcome.socket.on('data', (chunk: Buffer) => (entry.data += chunk.toString()));
        outcome.socket.on('end', () => (entry.ended = true));
        outcome.socket.on('error', () => undefined);
      });
      const seconds = (performance.now() - started) / 1000;
      expect(sockets).toHaveLength(REQUESTS);

      // The bridge accepts every connection, and each one replaces the one before it.
      const replacedDetail = () =>
        `${connectedEvents()} app_connected events, ${[...state.values()].filter((s) => s.ended).length} EOFs; daemon output (tail):\n${daemon.output().slice(-3000)}`;
      await waitFor(() => connectedEvents() === REQUESTS, `${REQUESTS} app connections at the bridge`, TIMEOUT_MS, replacedDetail);
      await waitFor(() => [...state.values()].filter((s) => s.ended).length === REQUESTS - 1, `EOF at all but one connection`, TIMEOUT_MS, replacedDetail);
      const survivors = sockets.filter((s) => !state.get(s)!.ended);
      expect(survivors).toHaveLength(1);

      // The browser's data goes to the survivor, and only to it.
      await client.channel('contended').send('to-the-survivor');
      await waitFor(() => state.get(survivors[0]!)!.data === 'to-the-survivor', 'the survivor to receive the browser message', 30_000);
      expect([...state.values()].filter((s) => s.data.length > 0)).toHaveLength(1);

      for (const socket of sockets) socket.destroy();
      const daemonAfter = await settledFdCount(daemon.pid, daemonBefore);
      const hereAfter = await settledFdCount(process.pid, hereBefore);
      console.log(
        `[load concurrent serve] ${REQUESTS} connects to one real channel in ${batch === REQUESTS ? 'one wave' : `waves of ${batch}`}, answered in ${seconds.toFixed(2)} s ` +
          `(${busy} CHANNEL_BUSY retried); ${REQUESTS - 1} replaced (EOF), 1 live; serve fds ${daemonBefore} → ${daemonAfter}, test process fds ${hereBefore} → ${hereAfter}`,
      );
      expect(daemonAfter, 'serve descriptors after every connection closed').toBe(daemonBefore);
      // The test process also holds vitest's and WebRTC's own descriptors, which may close meanwhile: no growth is the check.
      expect(hereAfter, 'test-process descriptors after every connection closed').toBeLessThanOrEqual(hereBefore);
      expect(daemon.logLines().filter((line) => typeof line.level === 'number' && line.level >= 50), 'errors in the serve log').toEqual([]);
      await client.close();
      expect(await daemon.stop()).toBe(0);
    },
    TIMEOUT_MS,
  );
});
