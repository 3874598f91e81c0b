import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADB_REVERSE_RECHECK_ENV, ADB_REVERSE_SOCKET_NAME } from '../../src/broadcast/adb/adb-reverse.js';
import { listenForBroadcasts, type BroadcastListener } from '../../src/broadcast/local/receiver.js';
import type { ReceivedBroadcast } from '../../src/broadcast/local/intent-codec.js';
import { connectWebClient, type WebClient } from '../../src/headless-client/web-client.js';
import { runCli, type CliResult } from '../helpers/cli.js';
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
    env: { ...adb.env, ANBOX_OOB_TOKEN: 'test-token-0123456789' },
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
      client = await connectWebClient({ gateway, token: 'test-token-0123456789', channels: ['alpha', 'beta'] });
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

const DEVICE_SIDE = `localabstract:${ADB_REVERSE_SOCKET_NAME}`;

interface AdbStatusJson {
  configured: boolean;
  serial: string | null;
  reachable: string;
  reverse: string;
  reverseSockets: { device: string; host: string } | null;
}

/** `anbox-oob status --json`'s adb section, retried until the daemon's status service answers. */
async function adbStatusOf(handle: DaemonHandle): Promise<AdbStatusJson> {
  let result: CliResult | undefined;
  for (let tries = 0; tries < 50; tries++) {
    result = await runCli(['status', '--json', '--service-socket', handle.servicePath]);
    if (result.code === 0) return (JSON.parse(result.stdout) as { adb: AdbStatusJson }).adb;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`status failed: ${result?.stderr}`);
}

describe('the adb reverse to the service socket', () => {
  it('is in place while the daemon runs, for the configured device, and shown by `anbox-oob status`', async () => {
    const host = `localfilesystem:${daemon.servicePath}`;
    await adb.waitFor(() => adb.reverses('emulator-5554').length === 1, 'the reverse on the device');
    expect(adb.reverses('emulator-5554')).toEqual([{ remote: DEVICE_SIDE, local: host }]);
    expect(adb.reverseRequests.filter((r) => r.kind === 'forward')).toEqual([
      { serial: 'emulator-5554', service: `reverse:forward:${DEVICE_SIDE};${host}`, kind: 'forward', remote: DEVICE_SIDE, local: host, norebind: false },
    ]);
    await waitFor(() => logEvent(daemon, 'adb.reverse.established') !== undefined, 'the log line');
    const status = await adbStatusOf(daemon);
    expect(status).toMatchObject({ configured: true, serial: 'emulator-5554', reachable: 'yes', reverse: 'in place', reverseSockets: { device: DEVICE_SIDE, host } });
    const human = await runCli(['status', '--service-socket', daemon.servicePath]);
    expect(human.stdout).toContain(`adb reverse: in place (${DEVICE_SIDE} -> ${host}): apps on the device can connect`);
  });
});

describe('a daemon whose device is missing at start', () => {
  let ownDir: string;
  let ownAdb: FakeAdbServer;
  let own: DaemonHandle | undefined;

  beforeAll(async () => {
    ownDir = makeTempDir();
    ownAdb = await FakeAdbServer.start([]);
  });

  afterAll(async () => {
    await own?.stop();
    await ownAdb?.close();
    removeTempDir(ownDir);
  });

  it('serves anyway, says the reverse is pending and why, makes it once the device is there, and removes it on SIGTERM', async () => {
    own = await startDaemon(ownDir, ['--adb', '--adb-serial', 'emulator-5556'], { env: { ...ownAdb.env, [ADB_REVERSE_RECHECK_ENV]: '200' } });
    const host = `localfilesystem:${own.servicePath}`;
    await waitFor(() => logEvent(own!, 'adb.reverse.failure') !== undefined, 'the failure logged');
    expect(logEvent(own, 'adb.reverse.failure')).toMatchObject({ kind: 'device-not-found', level: 40 });
    const pending = await adbStatusOf(own);
    expect(pending.reverse).toBe("pending: no device 'emulator-5556': is it connected? (adb devices; --adb-serial or ANDROID_SERIAL)");
    expect(pending.reachable).toBe("no: no device 'emulator-5556': is it connected? (adb devices; --adb-serial or ANDROID_SERIAL)");
    const human = await runCli(['status', '--service-socket', own.servicePath]);
    expect(human.stdout).toContain("adb reverse: pending: no device 'emulator-5556'");
    // Retried in the background, logged once.
    await waitFor(() => ownAdb.requests.filter((r) => r === 'host:tport:serial:emulator-5556').length >= 3, 'retries');
    expect(own.logLines().filter((l) => l.event === 'adb.reverse.failure')).toHaveLength(1);

    ownAdb.setDevices([{ serial: 'emulator-5556' }]);
    await ownAdb.waitFor(() => ownAdb.reverses('emulator-5556').length === 1, 'the reverse once the device is there');
    expect(ownAdb.reverses('emulator-5556')).toEqual([{ remote: DEVICE_SIDE, local: host }]);
    await waitFor(() => own!.logLines().some((l) => l.event === 'adb.reverse.established'), 'established');
    const ready = await adbStatusOf(own);
    expect(ready).toMatchObject({ reverse: 'in place', reachable: 'yes' });

    // Unplugged and plugged in again: made again after the next check.
    ownAdb.setDevices([]);
    await waitFor(() => own!.logLines().filter((l) => l.event === 'adb.reverse.failure').length === 2, 'the loss noticed');
    ownAdb.setDevices([{ serial: 'emulator-5556' }]);
    await ownAdb.waitFor(() => ownAdb.reverses('emulator-5556').length === 1, 'the reverse made again');

    const started = Date.now();
    expect(await own.stop('SIGTERM')).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    own = undefined;
    expect(ownAdb.reverseRequests.filter((r) => r.kind === 'killforward')).toEqual([
      { serial: 'emulator-5556', service: `reverse:killforward:${DEVICE_SIDE}`, kind: 'killforward', remote: DEVICE_SIDE },
    ]);
    expect(ownAdb.reverses('emulator-5556')).toEqual([]);
  });
});

describe('--no-adb-reverse', () => {
  let ownDir: string;
  let ownAdb: FakeAdbServer;
  let own: DaemonHandle | undefined;

  beforeAll(async () => {
    ownDir = makeTempDir();
    ownAdb = await FakeAdbServer.start([{ serial: 'emulator-5554' }]);
  });

  afterAll(async () => {
    await killAllSocat();
    await own?.stop();
    await ownAdb?.close();
    removeTempDir(ownDir);
  });

  it('broadcasts through adb but asks for no reverse', async () => {
    own = await startDaemon(ownDir, ['--adb', '--adb-serial', 'emulator-5554', '--no-adb-reverse', '--broadcast-window', '50'], {
      env: { ...ownAdb.env, [ADB_REVERSE_RECHECK_ENV]: '100' },
    });
    const socat = await startSocat(join(own.socketDir, 'webrtc_data_plain'));
    await ownAdb.waitForCommands(1);
    const status = await adbStatusOf(own);
    expect(status).toMatchObject({ configured: true, reverse: 'not configured', reverseSockets: null, reachable: 'yes' });
    const human = await runCli(['status', '--service-socket', own.servicePath]);
    expect(human.stdout).toContain('adb reverse: not configured (--no-adb-reverse)');
    await socat.kill();
    expect(await own.stop()).toBe(0);
    own = undefined;
    expect(ownAdb.reverseRequests).toEqual([]);
    expect(ownAdb.requests.some((r) => r.startsWith('reverse:'))).toBe(false);
  });

  it('is refused without --adb', async () => {
    const result = await runCli(['proxy', '--no-adb-reverse', '--service-socket', join(ownDir, 'x.sock'), '--socket-dir', join(ownDir, 's')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--no-adb-reverse configures the adb hook: add --adb to enable it');
    for (const command of ['proxy', 'serve']) {
      const help = await runCli([command, '--help']);
      expect(help.stdout).toContain('--no-adb-reverse');
      expect(help.stdout).toContain(`localabstract:${ADB_REVERSE_SOCKET_NAME}`);
      expect(help.stdout).toContain(ADB_REVERSE_RECHECK_ENV);
    }
  });
});
