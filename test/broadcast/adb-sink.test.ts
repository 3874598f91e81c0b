import { execFile } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADB_SINK_DEFAULTS, AdbSink, type AdbSinkOptions } from '../../src/broadcast/adb/adb-sink.js';
import { amBroadcastWords } from '../../src/broadcast/adb/am-broadcast.js';
import { ChangeBatcher } from '../../src/broadcast/batcher.js';
import { Broadcaster } from '../../src/broadcast/broadcaster.js';
import type { ChannelBroadcast } from '../../src/broadcast/types.js';
import { FakeAdbServer } from '../helpers/fake-adb-server.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { captureLogger, shellWords, waitFor } from './helpers.js';

const ADB = '/usr/bin/adb';
const SERIAL = 'emulator-5554';

let fake: FakeAdbServer;
let dir: string;
const sinks: AdbSink[] = [];

beforeEach(async () => {
  fake = await FakeAdbServer.start([{ serial: SERIAL }]);
  dir = makeTempDir('aoob-adb-');
});

afterEach(async () => {
  for (const sink of sinks.splice(0)) await sink.close();
  await fake.close();
  removeTempDir(dir);
});

/** Only what adb needs, plus the fake's address: never a real server, never the caller's ANDROID_SERIAL. */
function adbEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: dir, ...fake.env, ...extra };
}

function makeSink(options: Partial<AdbSinkOptions> = {}) {
  const capture = captureLogger();
  const sink = new AdbSink({ logger: capture.logger, adbPath: ADB, serial: SERIAL, env: adbEnv(), retryBaseMs: 10, retryMaxMs: 40, ...options });
  sinks.push(sink);
  return { sink, ...capture };
}

let sequence = 0;
function broadcast(event: 'created' | 'destroyed', names: string[]): ChannelBroadcast {
  return { sequence: ++sequence, event, names, timestamp: Date.now() };
}

function runAdb(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(ADB, args, { env, timeout: 10_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}

describe('the fake adb server with the real adb client', () => {
  it('answers adb devices and adb devices -l', async () => {
    fake.setDevices([{ serial: SERIAL }, { serial: '192.168.1.7:5555', state: 'unauthorized' }]);
    const plain = await runAdb(['devices'], adbEnv());
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain(`${SERIAL}\tdevice\n`);
    expect(plain.stdout).toContain('192.168.1.7:5555\tunauthorized\n');
    const long = await runAdb(['devices', '-l'], adbEnv());
    expect(long.stdout).toMatch(new RegExp(`${SERIAL}\\s+device product:fake model:Fake_Device`));
    expect(fake.requests).toEqual(['host:version', 'host:devices', 'host:version', 'host:devices-l']);
  });

  it('speaks shell v2 with -s and without, and the legacy shell service', async () => {
    const withSerial = await runAdb(['-s', SERIAL, 'shell', 'echo', 'hi'], adbEnv());
    expect(withSerial.code).toBe(0);
    fake.script({ stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
    const any = await runAdb(['shell', 'false'], adbEnv());
    expect(any).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    fake.setDevices([{ serial: 'old', features: ['cmd'] }]);
    const legacy = await runAdb(['-s', 'old', 'shell', 'echo', 'x'], adbEnv());
    expect(legacy.code).toBe(0);
    expect(fake.commands.map((c) => [c.protocol, c.command])).toEqual([
      ['shell_v2', 'echo hi'],
      ['shell_v2', 'false'],
      ['shell', 'echo x'],
    ]);
    expect(fake.requests).toContain(`host:tport:serial:${SERIAL}`);
    expect(fake.requests).toContain('host:tport:any');
  });
});

describe('AdbSink', () => {
  it('documents its retry schedule', () => {
    expect(ADB_SINK_DEFAULTS).toMatchObject({ adbPath: 'adb', maxAttempts: 6, retryBaseMs: 500, retryMaxMs: 30_000 });
  });

  it('sends the exact command line, every word quoted, to the chosen device', async () => {
    const { sink } = makeSink({ target: { package: 'com.example.oob', includeBackground: true } });
    const result = await sink.deliver(broadcast('created', ['foo.bar', 'baz-1', 'under_score']));
    expect(result).toMatchObject({ sink: 'adb', ok: true, attempts: 1 });
    expect(result.detail).toMatch(/Broadcast completed: result=0/);
    expect(fake.commands).toHaveLength(1);
    expect(fake.commands[0]).toMatchObject({ serial: SERIAL, protocol: 'shell_v2' });
    expect(fake.commands[0].command).toBe(
      "'am' 'broadcast' '-a' 'com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS' '--es' 'event' 'created' " +
        "'--esa' 'data-channel-names' 'foo.bar,baz-1,under_score' '-p' 'com.example.oob' '--receiver-include-background'",
    );
    expect(fake.requests).toContain(`host:tport:serial:${SERIAL}`);
  });

  it('hostile strings arrive so that the device shell sees the original words', async () => {
    const names = ['a b', '$(reboot)', "it's", ';', '*', '`id`', '"q"', '\\'];
    const { sink } = makeSink({ target: { user: 'current' } });
    const result = await sink.deliver(broadcast('destroyed', names));
    expect(result.ok).toBe(true);
    const received = fake.commands[0].command;
    expect(shellWords(received)).toEqual(amBroadcastWords('destroyed', names, { user: 'current' }));
    expect(received).toContain(`'a b,$(reboot),it'\\''s,;,*,\`id\`,"q",\\'`);
  });

  it('uses ANDROID_SERIAL when no serial is given, and no -s when there is neither', async () => {
    fake.setDevices([{ serial: 'from-env' }]);
    const { sink } = makeSink({ serial: undefined, env: adbEnv({ ANDROID_SERIAL: 'from-env' }) });
    expect(sink.argsFor({ event: 'created', names: ['x'] }).slice(0, 2)).toEqual(['-s', 'from-env']);
    expect((await sink.deliver(broadcast('created', ['x']))).ok).toBe(true);
    const { sink: anyDevice } = makeSink({ serial: undefined });
    expect(anyDevice.argsFor({ event: 'created', names: ['x'] })[0]).toBe('shell');
    expect((await anyDevice.deliver(broadcast('created', ['y']))).ok).toBe(true);
    expect(fake.commands.map((c) => c.serial)).toEqual(['from-env', 'from-env']);
    expect(fake.requests).toContain('host:tport:any');
  });

  it('retries after "device not found", logs the failure once with its hint, and says when it recovers', async () => {
    const { sink, events } = makeSink();
    fake.script({ fail: `device '${SERIAL}' not found` }, { fail: `device '${SERIAL}' not found` }, { fail: `device '${SERIAL}' not found` });
    const result = await sink.deliver(broadcast('created', ['a']));
    expect(result).toMatchObject({ ok: true, attempts: 4 });
    const failures = events('adb.failure');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ kind: 'device-not-found' });
    expect(String(failures[0].hint)).toContain(`no device '${SERIAL}': is it connected? (adb devices`);
    expect(events('adb.recovered')).toHaveLength(1);
    expect(events('adb.recovered')[0].msg).toBe('adb delivering again');
    expect(fake.commands).toHaveLength(1);
  });

  it('an am "Error:" with exit code 0 is a failure; after the attempts the next broadcast is tried', async () => {
    const { sink, events } = makeSink({ maxAttempts: 3 });
    const error = { stdout: 'Error: Bad component name: com.example/.Nope\n', exitCode: 0 };
    fake.script(error, error, error);
    const failed = await sink.deliver(broadcast('created', ['a']));
    expect(failed).toEqual({ sink: 'adb', ok: false, detail: 'am: Error: Bad component name: com.example/.Nope', attempts: 3 });
    expect(events('adb.failure')).toHaveLength(1);
    expect(events('adb.failure')[0]).toMatchObject({ kind: 'am-error' });
    const next = await sink.deliver(broadcast('destroyed', ['a']));
    expect(next).toMatchObject({ ok: true, attempts: 1 });
    expect(fake.commands.map((c) => shellWords(c.command)[6])).toEqual(['created', 'created', 'created', 'destroyed']);
  });

  it('an am exception on stderr with a non-zero exit code is an am failure', async () => {
    const { sink } = makeSink({ maxAttempts: 1 });
    fake.script({ stderr: "Exception occurred while executing 'broadcast':\njava.lang.SecurityException: Permission Denial\n", exitCode: 255 });
    const result = await sink.deliver(broadcast('created', ['a']));
    expect(result).toMatchObject({ ok: false, detail: "am: Exception occurred while executing 'broadcast':" });
  });

  it.each([
    ['no device', [], undefined, /^no device: start an emulator or connect a device/],
    ['unauthorized', [{ serial: SERIAL, state: 'unauthorized' as const }], SERIAL, /unauthorized: accept the "Allow USB debugging\?" RSA key prompt/],
    ['offline', [{ serial: SERIAL, state: 'offline' as const }], SERIAL, /offline: reconnect it, or restart adb/],
    ['more than one', [{ serial: 'a' }, { serial: 'b' }], undefined, /more than one device: choose one with --adb-serial or ANDROID_SERIAL/],
  ])('maps "%s" to a hint', async (_label, devices, serial, hint) => {
    fake.setDevices(devices);
    const { sink } = makeSink({ serial, maxAttempts: 1 });
    const result = await sink.deliver(broadcast('created', ['a']));
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(hint);
    expect(fake.commands).toHaveLength(0);
  });

  it('an unreachable adb server is a failure with a hint (and adb does not start a server)', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { sink } = makeSink({ maxAttempts: 2, env: adbEnv({ ANDROID_ADB_SERVER_PORT: String(port) }) });
    const result = await sink.deliver(broadcast('created', ['a']));
    expect(result).toMatchObject({ ok: false, attempts: 2 });
    expect(result.detail).toMatch(/^adb server not reachable: run `adb start-server`/);
  });

  it('a missing adb binary is a failure with the hint; the sink works once adb is there', async () => {
    const adbPath = join(dir, 'bin-adb');
    const { sink, events } = makeSink({ adbPath, maxAttempts: 2 });
    const missing = await sink.deliver(broadcast('created', ['a']));
    expect(missing).toMatchObject({ ok: false, attempts: 2 });
    expect(missing.detail).toBe(`adb not found (${adbPath}): install Android platform-tools or pass --adb-path`);
    const again = await sink.deliver(broadcast('created', ['b']));
    expect(again.ok).toBe(false);
    expect(events('adb.failure')).toHaveLength(1); // the same failure, not logged again
    symlinkSync(ADB, adbPath);
    const works = await sink.deliver(broadcast('created', ['c']));
    expect(works).toMatchObject({ ok: true, attempts: 1 });
    expect(events('adb.recovered')).toHaveLength(1);
    expect(fake.commands).toHaveLength(1);
  });

  it('close() ends a delivery waiting in backoff', async () => {
    fake.setDevices([]);
    const { sink, events } = makeSink({ retryBaseMs: 60_000, retryMaxMs: 60_000 });
    const pending = sink.deliver(broadcast('created', ['a']));
    await waitFor(() => events('adb.failure').length === 1, 'the first attempt to fail');
    await sink.close();
    const result = await pending;
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^sink closed/);
    expect(result.attempts).toBe(1);
  });
});

describe('watcher-side pipeline into adb: batcher → broadcaster → AdbSink', () => {
  it('batches several channels into one --esa broadcast and keeps created before destroyed', async () => {
    const { logger, events } = captureLogger();
    const sink = new AdbSink({ logger, adbPath: ADB, serial: SERIAL, env: adbEnv() });
    const broadcaster = new Broadcaster({ logger, sinks: [sink] });
    const batcher = new ChangeBatcher({ windowMs: 50, onBroadcast: (b) => broadcaster.publish(b) });
    batcher.appeared('a');
    batcher.appeared('b.1');
    batcher.appeared('c-2');
    await waitFor(() => fake.commands.length === 1, 'the created broadcast');
    batcher.appeared('x');
    batcher.disappeared('x');
    batcher.disappeared('a');
    await fake.waitForCommands(3);
    await broadcaster.idle();
    const seen = fake.commands.map((c) => shellWords(c.command));
    expect(seen.map((w) => `${w[6]} ${w[9]}`)).toEqual(['created a,b.1,c-2', 'created x', 'destroyed x,a']);
    expect(events('broadcast.delivered').map((r) => r.sequence)).toEqual([1, 2, 3]);
    batcher.close();
    await broadcaster.close();
  });
});
