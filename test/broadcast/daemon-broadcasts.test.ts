import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listenForBroadcasts, type BroadcastListener } from '../../src/broadcast/local/receiver.js';
import type { ReceivedBroadcast } from '../../src/broadcast/local/intent-codec.js';
import { connectWebClient, type WebClient } from '../../src/headless-client/web-client.js';
import { runCli } from '../helpers/cli.js';
import { logEvent, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { FakeAdbServer } from '../helpers/fake-adb-server.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { killAllSocat, shellWords, startSocat, waitFor } from './helpers.js';

// The whole broadcast path of a running daemon: real sockets appear in the socket dir (by hand with
// socat, and through the WebRTC platform), the REAL adb client delivers `am broadcast` to a fake
// adb server, a local receiver gets the same broadcasts, and `anbox-oob status` reports them.

let dir: string;
let adb: FakeAdbServer;
let daemon: DaemonHandle;
let listener: BroadcastListener;
const received: ReceivedBroadcast[] = [];

beforeAll(async () => {
  dir = makeTempDir();
  adb = await FakeAdbServer.start([{ serial: 'emulator-5554' }]);
  daemon = await startDaemon(dir, ['--adb', '--adb-serial', 'emulator-5554', '--broadcast-package', 'com.example.oob', '--broadcast-window', '150'], {
    command: 'serve',
    env: { ...adb.env, ANBOX_OOB_TOKEN: 'test-token' },
  });
  listener = await listenForBroadcasts({ dir: join(dir, 'receivers'), onBroadcast: (b) => received.push(b) });
});

afterEach(async () => {
  await killAllSocat();
});

afterAll(async () => {
  await listener?.close();
  await daemon?.stop();
  await adb?.close();
  removeTempDir(dir);
});

function amWords(index: number): string[] {
  // The device's shell parses the command line again: parse it the same way to see its words.
  return shellWords(adb.commands[index]!.command);
}

/** The words of every `am broadcast` the device received that names `channel`. */
function broadcastsNaming(channel: string): string[][] {
  return adb.commands
    .map((c) => shellWords(c.command))
    .filter((words) => (words[words.indexOf('data-channel-names') + 1] ?? '').split(',').includes(channel));
}

describe('channel broadcasts of a running daemon', () => {
  it('announces a socket made by hand to the device through adb and to local receivers', async () => {
    const before = adb.commands.length;
    const socat = await startSocat(join(daemon.socketDir, 'webrtc_data_by-hand'));
    await adb.waitForCommands(before + 1);
    expect(amWords(before)).toEqual([
      'am',
      'broadcast',
      '-a',
      'com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS',
      '--es',
      'event',
      'created',
      '--esa',
      'data-channel-names',
      'by-hand',
      '-p',
      'com.example.oob',
    ]);
    await waitFor(() => received.some((b) => b.event === 'created' && b.names.includes('by-hand')), 'local created broadcast');
    await socat.kill();
    await adb.waitForCommands(before + 2);
    expect(amWords(before + 1)).toContain('destroyed');
    await waitFor(() => received.some((b) => b.event === 'destroyed' && b.names.includes('by-hand')), 'local destroyed broadcast');
    expect(adb.commands.slice(before).map((c) => c.serial)).toEqual(['emulator-5554', 'emulator-5554']);
  });

  it('announces the channels of a browser session together, and their end', async () => {
    const gateway = String(logEvent(daemon, 'platform.started')?.gateway);
    const seenBefore = received.length;
    let client: WebClient | undefined;
    try {
      client = await connectWebClient({ gateway, token: 'test-token', channels: ['alpha', 'beta'] });
      await client.opened;
      await waitFor(() => broadcastsNaming('alpha').length === 1, 'created broadcast on the device');
      const created = broadcastsNaming('alpha')[0]!;
      expect(created).toContain('created');
      expect(created[created.indexOf('data-channel-names') + 1]!.split(',').sort()).toEqual(['alpha', 'beta']);
      await client.close();
      client = undefined;
      await waitFor(() => broadcastsNaming('alpha').length === 2, 'destroyed broadcast on the device');
      const destroyed = broadcastsNaming('alpha')[1]!;
      expect(destroyed).toContain('destroyed');
      expect(destroyed[destroyed.indexOf('data-channel-names') + 1]!.split(',').sort()).toEqual(['alpha', 'beta']);
      await waitFor(() => received.filter((b) => b.names.includes('alpha')).length >= 2, 'both local broadcasts');
      const local = received.slice(seenBefore).filter((b) => b.names.includes('alpha'));
      expect(local.map((b) => b.event)).toEqual(['created', 'destroyed']);
      expect(local[1]!.sequence).toBe(local[0]!.sequence + 1);
    } finally {
      await client?.close();
    }
  });

  it('reports channels, counters and deliveries through `anbox-oob status`', async () => {
    const socat = await startSocat(join(daemon.socketDir, 'webrtc_data_shown'));
    await waitFor(() => received.some((b) => b.names.includes('shown')), 'broadcast of "shown"');
    const result = await runCli(['status', '--json', '--service-socket', daemon.servicePath]);
    expect(result.code, result.stderr).toBe(0);
    const status = JSON.parse(result.stdout) as {
      channels: string[];
      adb: { configured: boolean; serial: string; reachable: string };
      broadcasts: { names: string[]; results: { sink: string; ok: boolean }[] }[];
    };
    expect(status.channels).toContain('shown');
    expect(status.adb).toMatchObject({ configured: true, serial: 'emulator-5554', reachable: 'yes' });
    const last = status.broadcasts.at(-1)!;
    expect(last.names).toEqual(['shown']);
    expect(last.results.map((r) => r.sink).sort()).toEqual(expect.arrayContaining(['local']));
    const human = await runCli(['status', '--service-socket', daemon.servicePath]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('shown');
    await socat.kill();
  });

  it('keeps serving when adb fails, and delivers again once it works', async () => {
    const before = adb.commands.length;
    adb.script({ stdout: 'Error: Bad component name: nope\n', exitCode: 0 });
    const socat = await startSocat(join(daemon.socketDir, 'webrtc_data_retry'));
    // The first attempt is refused by `am` (exit code 0, but an Error: line); the retry succeeds.
    await adb.waitForCommands(before + 2, 20_000);
    expect(amWords(before)).toEqual(amWords(before + 1));
    await waitFor(() => daemon.logLines().some((l) => l.event === 'broadcast.delivered' && String(l.channels).includes('retry')), 'delivery after retry', 20_000);
    await socat.kill();
  });
});
