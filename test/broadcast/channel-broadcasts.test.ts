import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdbSink } from '../../src/broadcast/adb/adb-sink.js';
import { ChannelBroadcasts } from '../../src/broadcast/channel-broadcasts.js';
import { CommandSink } from '../../src/broadcast/command-sink.js';
import type { ChannelBroadcast } from '../../src/broadcast/types.js';
import { FakeAdbServer } from '../helpers/fake-adb-server.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { captureLogger, killAllSocat, shellWords, startSocat, waitFor } from './helpers.js';

let root: string;
let fake: FakeAdbServer;
let broadcasts: ChannelBroadcasts | undefined;

beforeEach(async () => {
  root = makeTempDir('aoob-cb-');
  fake = await FakeAdbServer.start([{ serial: 'emulator-5554' }]);
});

afterEach(async () => {
  await broadcasts?.close();
  broadcasts = undefined;
  await killAllSocat();
  await fake.close();
  removeTempDir(root);
});

describe('ChannelBroadcasts: socket dir → batcher → adb and hook', () => {
  it('announces start-up channels together, then each change, to every sink in order', async () => {
    const dir = join(root, 'sockets');
    mkdirSync(dir);
    const hookLog = join(root, 'hook.log');
    const hook = join(root, 'hook');
    writeFileSync(hook, `#!/bin/sh\necho "$ANBOX_OOB_SEQUENCE $*" >> "${hookLog}"\n`);
    chmodSync(hook, 0o755);
    await startSocat(join(dir, 'webrtc_data_one'));
    await startSocat(join(dir, 'webrtc_data_two'));

    const { logger } = captureLogger();
    const formed: ChannelBroadcast[] = [];
    broadcasts = await ChannelBroadcasts.start({
      socketDir: dir,
      logger,
      batchWindowMs: 50,
      rescanIntervalMs: 100,
      onBroadcast: (b) => formed.push(b),
      sinks: [
        new AdbSink({ logger, adbPath: '/usr/bin/adb', serial: 'emulator-5554', env: { PATH: process.env.PATH, HOME: root, ...fake.env } }),
        new CommandSink({ logger, command: hook }),
      ],
    });
    expect(broadcasts.channels()).toEqual(['one', 'two']);
    await fake.waitForCommands(1);

    const three = await startSocat(join(dir, 'webrtc_data_three'));
    await fake.waitForCommands(2);
    await three.kill('SIGKILL'); // a dead socket file is left behind
    await fake.waitForCommands(3);
    await broadcasts.broadcaster.idle();

    const adbSeen = fake.commands.map((c) => shellWords(c.command)).map((w) => `${w[6]} ${w[9]}`);
    expect(adbSeen).toEqual(['created one,two', 'created three', 'destroyed three']);
    await waitFor(() => readFileSync(hookLog, 'utf8').trim().split('\n').length === 3, 'three hook runs');
    expect(readFileSync(hookLog, 'utf8').trim().split('\n')).toEqual(['1 created -- one two', '2 created -- three', '3 destroyed -- three']);
    expect(formed.map((b) => b.sequence)).toEqual([1, 2, 3]);
    const recent = broadcasts.recent();
    expect(recent.map((r) => r.results.map((x) => `${x.sink}:${x.ok}`).sort())).toEqual([
      ['adb:true', 'hook:true'],
      ['adb:true', 'hook:true'],
      ['adb:true', 'hook:true'],
    ]);
    expect(broadcasts.stats().sinks.map((s) => [s.sink, s.delivered])).toEqual([
      ['adb', 3],
      ['hook', 3],
    ]);
  });
});
