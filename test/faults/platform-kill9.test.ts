/**
 * Fault: `kill -9` of the platform in mid-transfer.
 *
 * `anbox-oob platform` and `anbox-oob proxy` run as two processes sharing a fresh socket dir; the proxy
 * broadcasts to a local receiver and, through the REAL adb client, to a fake adb server. A headless web
 * client (node-datachannel) opens two channels; an app connects to one through the proxy
 * (DataProxyClient: the descriptor it receives is the channel connection) and bytes flow both ways.
 * Then the platform gets SIGKILL. Expected:
 *  - the app's connection ends (EOF or an error), the pump stops: nothing hangs;
 *  - the proxy broadcasts `destroyed` for both channels (local receiver and adb);
 *  - the proxy keeps serving: `status` works and lists no channel although the socket files are still
 *    there (SIGKILL cannot unlink them), and connect() to a dead channel is refused with
 *    CHANNEL_REFUSED, not left hanging;
 *  - a platform started again on the same socket dir replaces the stale files; a new web client opens
 *    the same channels; `created` follows and data flows again through the proxy.
 * The long version (ANBOX_OOB_SOAK=1) repeats the cycle and moves more data before each kill.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenForBroadcasts, type BroadcastListener } from '../../src/broadcast/local/receiver.js';
import type { ReceivedBroadcast } from '../../src/broadcast/local/intent-codec.js';
import { DataProxyClient, DataProxyError } from '../../src/client/data-proxy-client.js';
import { connectWebClient, type WebClient } from '../../src/headless-client/web-client.js';
import { shellWords } from '../broadcast/helpers.js';
import { openFdCount, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { FakeAdbServer } from '../helpers/fake-adb-server.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { pumpChannel, pumpSocket, SOAK, startPlatformProcess, statusJson, waitFor, type PlatformProcess } from './helpers.js';

const TOKEN = 'fault-kill9-token';
const CHANNELS = ['k1', 'k2'];
const CYCLES = SOAK ? 5 : 1;
/** Bytes each way that must have flowed before the kill (so that the kill is mid-transfer). */
const BEFORE_KILL = SOAK ? 16 * 1024 * 1024 : 1024 * 1024;

let dir: string;
let adb: FakeAdbServer;
let proxy: DaemonHandle;
let listener: BroadcastListener;
const received: ReceivedBroadcast[] = [];
let platform: PlatformProcess | undefined;
const clients = new Set<WebClient>();
const apps = new Set<DataProxyClient>();

beforeAll(async () => {
  dir = makeTempDir('aoob-k9-');
  adb = await FakeAdbServer.start([{ serial: 'emulator-5554' }]);
  proxy = await startDaemon(dir, ['--broadcast-window', '50', '--adb', '--adb-serial', 'emulator-5554', '--no-adb-reverse', '--broadcast-package', 'com.example.oob'], {
    env: adb.env,
  });
  listener = await listenForBroadcasts({ dir: join(dir, 'receivers'), onBroadcast: (b) => received.push(b) });
});

afterAll(async () => {
  for (const app of apps) app.close();
  await Promise.all([...clients].map((c) => c.close({ flushTimeoutMs: 0 })));
  await platform?.stop('SIGKILL');
  await listener?.close();
  await proxy?.stop();
  await adb?.close();
  const { releaseWebRtcRuntime } = await import('../../src/platform/webrtc-runtime.js');
  releaseWebRtcRuntime();
  if (dir) removeTempDir(dir);
});

/** Local broadcasts of `event` naming `channel`, received from index `from` on. */
function localNaming(event: 'created' | 'destroyed', channel: string, from: number): ReceivedBroadcast[] {
  return received.slice(from).filter((b) => b.event === event && b.names.includes(channel));
}

/** `am broadcast` commands the fake device received from index `from` on, with `event`, naming `channel`. */
function adbNaming(event: 'created' | 'destroyed', channel: string, from: number): string[][] {
  return adb.commands
    .slice(from)
    .map((c) => shellWords(c.command))
    .filter((w) => w[w.indexOf('event') + 1] === event && (w[w.indexOf('data-channel-names') + 1] ?? '').split(',').includes(channel));
}

function diagnostics(): string {
  return `--- proxy log (tail) ---\n${proxy.output().split('\n').slice(-30).join('\n')}\n--- platform log (tail) ---\n${
    platform?.output().split('\n').slice(-30).join('\n') ?? ''
  }\n--- local broadcasts ---\n${JSON.stringify(received.map((b) => [b.sequence, b.event, b.names]))}`;
}

/** A web client with CHANNELS open on the running platform; resolves once `created` reached both sinks. */
async function openChannels(): Promise<WebClient> {
  const localFrom = received.length;
  const adbFrom = adb.commands.length;
  const client = await connectWebClient({ gateway: platform!.gateway, token: TOKEN, channels: CHANNELS, openTimeoutMs: 60_000 });
  clients.add(client);
  await client.opened;
  for (const name of CHANNELS) {
    await waitFor(() => localNaming('created', name, localFrom).length > 0, `a local 'created' broadcast naming ${name}`, 20_000, diagnostics);
    await waitFor(() => adbNaming('created', name, adbFrom).length > 0, `an adb 'created' broadcast naming ${name}`, 20_000, diagnostics);
  }
  return client;
}

describe('kill -9 of the platform in mid-transfer', () => {
  it(`the proxy announces destroyed, the app sees EOF, the proxy keeps serving; a restarted platform comes back (${CYCLES} cycle(s))`, async () => {
    platform = await startPlatformProcess(join(dir, 'sockets'), TOKEN);
    let client = await openChannels();
    const proxyFdsAtStart = openFdCount(proxy.pid);

    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      // Data flowing both ways through a connection the proxy handed out.
      const app = new DataProxyClient({ servicePath: proxy.servicePath });
      apps.add(app);
      const socket = await app.connect('k1');
      const appPump = pumpSocket(socket);
      const clientPump = pumpChannel(client.channel('k1'));
      await waitFor(
        () => appPump.state.received >= BEFORE_KILL && clientPump.state.received >= BEFORE_KILL,
        `${BEFORE_KILL} bytes each way before the kill (cycle ${cycle})`,
        120_000,
        () => `app received ${appPump.state.received}, client received ${clientPump.state.received}\n${diagnostics()}`,
      );

      // kill -9 in mid-transfer: both pumps are still writing.
      const localFrom = received.length;
      const adbFrom = adb.commands.length;
      const receivedAtKill = appPump.state.received;
      platform.child.kill('SIGKILL');
      expect(await platform.exited).toBeNull(); // killed by the signal, not exited on its own
      appPump.stop();
      clientPump.stop();

      // The app's connection ends: EOF or an error (EPIPE/ECONNRESET), never a hang.
      await waitFor(() => appPump.state.ended || appPump.state.error !== undefined || appPump.state.closed, 'the app connection to end', 20_000);
      expect(appPump.state.received).toBeGreaterThanOrEqual(receivedAtKill);
      socket.destroy();

      // The proxy announces the channels gone, to the local receiver and to the device.
      for (const name of CHANNELS) {
        await waitFor(() => localNaming('destroyed', name, localFrom).length > 0, `a local 'destroyed' broadcast naming ${name}`, 20_000, diagnostics);
        await waitFor(() => adbNaming('destroyed', name, adbFrom).length > 0, `an adb 'destroyed' broadcast naming ${name}`, 30_000, diagnostics);
      }
      // Exactly once each: a stale file is not seen as a channel coming and going.
      for (const name of CHANNELS) expect(localNaming('destroyed', name, localFrom)).toHaveLength(1);
      expect(received.slice(localFrom).filter((b) => b.event === 'created')).toEqual([]);

      // SIGKILL left the socket files behind; the proxy does not count them as channels.
      for (const name of CHANNELS) expect(existsSync(join(proxy.socketDir, `webrtc_data_${name}`))).toBe(true);
      const status = await statusJson(proxy.servicePath);
      expect(status.channels).toEqual([]);

      // A connect to the dead channel is refused with a clear status, promptly.
      const refused = await app.connect('k2').then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(DataProxyError);
      expect((refused as DataProxyError).errorCode).toBe('CHANNEL_REFUSED');
      expect((refused as DataProxyError).message).toMatch(/nothing listens/);
      app.close();
      apps.delete(app);

      // The old web client is useless now; the browser would reconnect with a new session.
      await client.close({ flushTimeoutMs: 0 });
      clients.delete(client);
      await clientPump.done;

      // The platform again, on the same socket dir holding the stale files.
      platform = await startPlatformProcess(join(dir, 'sockets'), TOKEN);
      client = await openChannels();
      expect([...platform.events('channel.open_failed'), ...platform.events('channel.rejected')]).toEqual([]);
      expect((await statusJson(proxy.servicePath)).channels).toEqual(CHANNELS);

      // Data flows again, both ways, through the proxy.
      const again = new DataProxyClient({ servicePath: proxy.servicePath });
      apps.add(again);
      const socket2 = await again.connect('k1');
      const fromClient: Buffer[] = [];
      socket2.on('data', (chunk: Buffer) => fromClient.push(chunk));
      const fromApp: string[] = [];
      client.channel('k1').on('message', (m) => fromApp.push(typeof m === 'string' ? m : m.toString('utf8')));
      socket2.write(`hello from the app, cycle ${cycle}\n`);
      await client.channel('k1').send(`hello from the client, cycle ${cycle}\n`);
      await waitFor(() => fromApp.join('').includes(`hello from the app, cycle ${cycle}\n`), 'the app\'s line at the client', 20_000, diagnostics);
      await waitFor(() => Buffer.concat(fromClient).toString().includes(`hello from the client, cycle ${cycle}\n`), 'the client\'s line at the app', 20_000, diagnostics);
      client.channel('k1').removeAllListeners('message');
      socket2.destroy();
      again.close();
      apps.delete(again);
    }

    // The proxy never crashed and leaked no descriptor over the cycles (the adb runs' pipes come and go: wait).
    expect(proxy.child.exitCode).toBeNull();
    expect(proxy.logLines().filter((l) => l.event === 'daemon.uncaught_exception' || l.event === 'daemon.unhandled_rejection')).toEqual([]);
    await waitFor(() => openFdCount(proxy.pid) <= proxyFdsAtStart, `the proxy's descriptors back to ${proxyFdsAtStart}`, 20_000, () => `now ${openFdCount(proxy.pid)}`);
  }, CYCLES * 180_000);
});
