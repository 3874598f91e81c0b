/**
 * Five channels, full duplex, all at once, through the whole stack:
 *
 *   headless web client (node-datachannel "browser", this process)
 *     ⇄ WebRTC ⇄ a spawned `anbox-oob serve` (platform + daemon)
 *     ⇄ channel socket, obtained by an "app" THROUGH THE PROXY (DataProxyClient.connect: the
 *       descriptor arrives by SCM_RIGHTS) ⇄ the app (this process).
 *
 * Every channel moves N bytes of random data each way at the same time (N = 3 MiB under `npm test`,
 * 20 MB under `npm run soak`), and both ends compare SHA-256. The app side is connected (and the
 * bridge has seen it) before any byte is sent: browser → app data held while no app is connected
 * is bounded at 8 MiB (src/platform/bridge/README.md). Both receivers read continuously, because
 * the bridge closes an app connection that lets more than 16 MiB pile up unread.
 *
 * The throughput is printed for information; nothing here is timed.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import nodeDataChannel from 'node-datachannel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataProxyClient } from '../../src/client/data-proxy-client.js';
import { connectWebClient, type WebClient, type WebClientChannel, type WebClientCloseInfo } from '../../src/headless-client/web-client.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { drained } from '../helpers/drained.js';
import { MB, MiB, SOAK, size, waitFor } from './helpers.js';
import { isListening } from '../helpers/listening.js';

const TOKEN = 'load-throughput-token';
const CHANNELS = ['load0', 'load1', 'load2', 'load3', 'load4'];
const TOTAL = size(3 * MiB, 20 * MB);
const APP_CHUNK = 64 * 1024;
const CLIENT_CHUNK = 256 * 1024;
const TRANSFER_TIMEOUT_MS = size(240_000, 900_000);

let dir: string | undefined;
let daemon: DaemonHandle | undefined;
let client: WebClient | undefined;
let proxy: DataProxyClient | undefined;
const apps: Socket[] = [];

beforeAll(async () => {
  dir = makeTempDir('aoob-load-');
  daemon = await startDaemon(dir, [], { command: 'serve', env: { ANBOX_OOB_TOKEN: TOKEN } });
}, 60_000);

afterAll(async () => {
  for (const app of apps) app.destroy();
  proxy?.close();
  await client?.close({ flushTimeoutMs: 0 });
  await daemon?.stop();
  nodeDataChannel.cleanup(); // vitest runs each file in its own fork: nothing else here uses the library
  if (dir) removeTempDir(dir);
}, 60_000);

/** One direction's bookkeeping. */
interface Flow {
  sent: Hash;
  received: Hash;
  receivedBytes: number;
  doneAt: number;
}

function newFlow(): Flow {
  return { sent: createHash('sha256'), received: createHash('sha256'), receivedBytes: 0, doneAt: 0 };
}

describe(`5 channels, full duplex (${SOAK ? 'soak' : 'short'}: ${(TOTAL / MB).toFixed(1)} MB each way per channel)`, () => {
  it('moves the data of every channel both ways at once, byte for byte (SHA-256), with the app side reached through the proxy', async () => {
    const ready = daemon!.logLines().find((line) => line.event === 'serve.ready');
    expect(ready, 'the serve.ready log line').toBeDefined();
    const gateway = String(ready!.gateway);

    client = await connectWebClient({ gateway, token: TOKEN, channels: CHANNELS, openTimeoutMs: 60_000 });
    await client.opened;
    let clientClosed: WebClientCloseInfo | undefined;
    void client.closed.then((info) => (clientClosed = info));

    // The app side of every channel, through the daemon, before any data moves.
    proxy = new DataProxyClient({ servicePath: daemon!.servicePath });
    const appState = CHANNELS.map(() => ({ closed: false, error: undefined as Error | undefined }));
    for (const [i, name] of CHANNELS.entries()) {
      const path = join(daemon!.socketDir, `webrtc_data_${name}`);
      await waitFor(() => isListening(path), `${path} to exist`, 30_000);
      const app = await proxy.connect(name);
      apps.push(app);
      app.on('error', (error) => (appState[i]!.error = error));
      app.on('close', () => (appState[i]!.closed = true));
      await waitFor(
        () => daemon!.logLines().some((line) => line.event === 'channel.app_connected' && line.channel === name),
        `the bridge of ${name} to accept the app connection`,
        30_000,
      );
    }

    const toBrowser = CHANNELS.map(newFlow); // app → socket → platform → client
    const toApp = CHANNELS.map(newFlow); // client → platform → socket → app
    const started = performance.now();
    const channels: WebClientChannel[] = CHANNELS.map((name) => client!.channel(name));
    for (const [i, channel] of channels.entries()) {
      // The platform sends valid UTF-8 as text messages: rebuilt exactly by Buffer.from(text, 'utf8').
      channel.on('message', (message) => {
        const bytes = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
        const flow = toBrowser[i]!;
        flow.received.update(bytes);
        flow.receivedBytes += bytes.length;
        if (flow.receivedBytes >= TOTAL && flow.doneAt === 0) flow.doneAt = performance.now();
      });
    }
    for (const [i, app] of apps.entries()) {
      app.on('data', (chunk: Buffer) => {
        const flow = toApp[i]!;
        flow.received.update(chunk);
        flow.receivedBytes += chunk.length;
        if (flow.receivedBytes >= TOTAL && flow.doneAt === 0) flow.doneAt = performance.now();
      });
    }

    const writeApp = async (i: number) => {
      const app = apps[i]!;
      for (let offset = 0; offset < TOTAL; ) {
        const chunk = randomBytes(Math.min(APP_CHUNK, TOTAL - offset));
        offset += chunk.length;
        toBrowser[i]!.sent.update(chunk);
        if (!app.write(chunk)) await drained(app);
      }
    };
    const sendClient = async (i: number) => {
      for (let offset = 0; offset < TOTAL; ) {
        const chunk = randomBytes(Math.min(CLIENT_CHUNK, TOTAL - offset));
        offset += chunk.length;
        toApp[i]!.sent.update(chunk);
        await channels[i]!.send(chunk); // paced on the channel's bufferedAmount
      }
    };
    await Promise.all(CHANNELS.flatMap((_, i) => [writeApp(i), sendClient(i)]));

    const progress = () =>
      CHANNELS.map(
        (name, i) =>
          `${name}: client got ${toBrowser[i]!.receivedBytes}, app got ${toApp[i]!.receivedBytes}, app closed ${appState[i]!.closed} ${appState[i]!.error?.message ?? ''}`,
      ).join('\n') + `\nclient closed ${JSON.stringify(clientClosed)}\ndaemon output (tail):\n${daemon!.output().slice(-4000)}`;
    await waitFor(
      () => {
        if (clientClosed || appState.some((s) => s.closed)) throw new Error(`a side closed before the transfer finished:\n${progress()}`);
        return [...toBrowser, ...toApp].every((flow) => flow.receivedBytes >= TOTAL);
      },
      'every channel to finish both directions',
      TRANSFER_TIMEOUT_MS,
      progress,
    );
    const seconds = (performance.now() - started) / 1000;

    for (const [i, name] of CHANNELS.entries()) {
      expect(toBrowser[i]!.receivedBytes, `${name} app → client bytes`).toBe(TOTAL);
      expect(toApp[i]!.receivedBytes, `${name} client → app bytes`).toBe(TOTAL);
      expect(toBrowser[i]!.received.digest('hex'), `${name} app → client SHA-256`).toBe(toBrowser[i]!.sent.digest('hex'));
      expect(toApp[i]!.received.digest('hex'), `${name} client → app SHA-256`).toBe(toApp[i]!.sent.digest('hex'));
      expect(appState[i]!.error).toBeUndefined();
    }
    const problems = daemon!.logLines().filter((line) => typeof line.level === 'number' && line.level >= 40);
    expect(problems, 'warnings or errors in the daemon log').toEqual([]);

    const all = 2 * CHANNELS.length * TOTAL;
    const slowest = (flows: Flow[]) => Math.max(...flows.map((f) => (f.doneAt - started) / 1000));
    console.log(
      `[load throughput] 5 channels × ${(TOTAL / MB).toFixed(1)} MB each way at once through serve + proxy descriptors: ` +
        `${(all / MB).toFixed(0)} MB in ${seconds.toFixed(1)} s = ${(all / MB / seconds).toFixed(1)} MB/s aggregate; ` +
        `last channel done app→client at ${slowest(toBrowser).toFixed(1)} s, client→app at ${slowest(toApp).toFixed(1)} s; SHA-256 equal on all 10 flows`,
    );

    // A clean end: the client's close ends the session; every app sees EOF and every socket goes.
    await client.close();
    await waitFor(() => apps.every((app) => app.readableEnded || app.destroyed), 'EOF at every app', 30_000);
    for (const name of CHANNELS) await waitFor(() => !existsSync(join(daemon!.socketDir, `webrtc_data_${name}`)), `webrtc_data_${name} to be removed`, 30_000);
    expect(await daemon!.stop()).toBe(0);
  }, TRANSFER_TIMEOUT_MS + 120_000);
});
