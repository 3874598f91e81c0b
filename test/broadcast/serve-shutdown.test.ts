/**
 * Ctrl-C on `serve` with channels open: the platform removes its channel sockets, and the daemon
 * announces `destroyed` for them before it exits, to local receivers and (through the real adb
 * client and a fake adb server) to the device, so that no listener believes the channels still exist.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenForBroadcasts, type BroadcastListener } from '../../src/broadcast/local/receiver.js';
import type { ReceivedBroadcast } from '../../src/broadcast/local/intent-codec.js';
import { connectWebClient, type WebClient } from '../../src/headless-client/web-client.js';
import { logEvent, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { FakeAdbServer } from '../helpers/fake-adb-server.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { shellWords, waitFor } from './helpers.js';

let dir: string;
let adb: FakeAdbServer;
let daemon: DaemonHandle | undefined;
let listener: BroadcastListener | undefined;
let client: WebClient | undefined;
const received: ReceivedBroadcast[] = [];

beforeAll(async () => {
  dir = makeTempDir();
  adb = await FakeAdbServer.start([{ serial: 'emulator-5554' }]);
});

afterAll(async () => {
  await client?.close({ flushTimeoutMs: 0 }).catch(() => undefined);
  await listener?.close();
  await daemon?.stop('SIGKILL');
  await adb?.close();
  removeTempDir(dir);
});

/** The channel names of every `am broadcast` with this event the device received. */
function deviceNames(event: 'created' | 'destroyed'): string[] {
  return adb.commands
    .map((c) => shellWords(c.command))
    .filter((words) => words[words.indexOf('event') + 1] === event)
    .flatMap((words) => (words[words.indexOf('data-channel-names') + 1] ?? '').split(','));
}

describe('serve shutting down with channels open', () => {
  it('announces destroyed for every open channel to local receivers and the device, then exits 0', async () => {
    daemon = await startDaemon(dir, ['--adb', '--adb-serial', 'emulator-5554', '--no-adb-reverse', '--broadcast-window', '100'], {
      command: 'serve',
      env: { ...adb.env, ANBOX_OOB_TOKEN: 'test-token-0123456789' },
    });
    listener = await listenForBroadcasts({ dir: join(dir, 'receivers'), onBroadcast: (b) => received.push(b) });
    const gateway = String(logEvent(daemon, 'platform.started')?.gateway);
    client = await connectWebClient({ gateway, token: 'test-token-0123456789', channels: ['alpha', 'beta'] });
    await client.opened;
    await waitFor(() => deviceNames('created').includes('alpha') && deviceNames('created').includes('beta'), 'created on the device');
    await waitFor(() => received.some((b) => b.event === 'created' && b.names.includes('beta')), 'created at the local receiver');
    expect(deviceNames('destroyed')).toEqual([]);

    // Ctrl-C, with the browser side still connected.
    expect(await daemon.stop('SIGINT')).toBe(0);

    expect(deviceNames('destroyed').sort()).toEqual(['alpha', 'beta']);
    await waitFor(() => received.filter((b) => b.event === 'destroyed').flatMap((b) => b.names).length >= 2, 'destroyed at the local receiver');
    expect(received.filter((b) => b.event === 'destroyed').flatMap((b) => b.names).sort()).toEqual(['alpha', 'beta']);
  });
});
