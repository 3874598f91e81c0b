import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADB_REVERSE_SOCKET_NAME, AdbReverse, type AdbReverseOptions } from '../../src/broadcast/adb/adb-reverse.js';
import { FakeAdbServer } from '../helpers/fake-adb-server.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { captureLogger, waitFor } from './helpers.js';

// AdbReverse with the REAL adb client (29.0.6) against the fake adb server: what it asks the device
// for, how it waits for a device that is not there, how it notices a reverse that went away, and
// that it removes the reverse on close.

const ADB = '/usr/bin/adb';
const SERIAL = 'emulator-5554';
const DEVICE_SIDE = `localabstract:${ADB_REVERSE_SOCKET_NAME}`;

let fake: FakeAdbServer;
let dir: string;
let servicePath: string;
const reverses: AdbReverse[] = [];

beforeEach(async () => {
  fake = await FakeAdbServer.start([{ serial: SERIAL }]);
  dir = makeTempDir('aoob-rev-');
  servicePath = join(dir, 'svc.sock');
});

afterEach(async () => {
  for (const reverse of reverses.splice(0)) await reverse.close();
  await fake.close();
  removeTempDir(dir);
});

/** Only what adb needs, plus the fake's address: never a real server, never the caller's ANDROID_SERIAL. */
function adbEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: dir, ...fake.env, ...extra };
}

function makeReverse(options: Partial<AdbReverseOptions> = {}) {
  const capture = captureLogger();
  const reverse = new AdbReverse({ logger: capture.logger, adbPath: ADB, serial: SERIAL, servicePath, env: adbEnv(), recheckMs: 100, retryBaseMs: 20, ...options });
  reverses.push(reverse);
  return { reverse, ...capture };
}

function runAdb(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(ADB, args, { env: adbEnv(), timeout: 10_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}

const forwards = () => fake.reverseRequests.filter((r) => r.kind === 'forward');
const lists = () => fake.reverseRequests.filter((r) => r.kind === 'list-forward');
const kills = () => fake.reverseRequests.filter((r) => r.kind === 'killforward');

describe('the fake adb server answers `adb reverse` as adbd does', () => {
  it('makes, lists and removes reverses; the client exits 0 and prints only the list', async () => {
    const made = await runAdb(['-s', SERIAL, 'reverse', 'localabstract:x', 'localfilesystem:/tmp/y']);
    expect(made).toEqual({ code: 0, stdout: '', stderr: '' });
    // host:version, then the transport, then the service on the same connection (no features query).
    expect(fake.requests).toEqual(['host:version', `host:tport:serial:${SERIAL}`]);
    expect(fake.reverseRequests).toEqual([
      { serial: SERIAL, service: 'reverse:forward:localabstract:x;localfilesystem:/tmp/y', kind: 'forward', remote: 'localabstract:x', local: 'localfilesystem:/tmp/y', norebind: false },
    ]);
    const listed = await runAdb(['-s', SERIAL, 'reverse', '--list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout.split('\n').filter((l) => l.length > 0)).toEqual(['UsbFfs localabstract:x localfilesystem:/tmp/y']);
    const refused = await runAdb(['-s', SERIAL, 'reverse', '--no-rebind', 'localabstract:x', 'localfilesystem:/tmp/z']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^adb: error: cannot rebind listener/);
    expect(fake.reverseRequests.at(-1)).toMatchObject({ service: 'reverse:forward:norebind:localabstract:x;localfilesystem:/tmp/z', norebind: true });
    expect(await runAdb(['-s', SERIAL, 'reverse', '--remove', 'localabstract:x'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(fake.reverses(SERIAL)).toEqual([]);
    const again = await runAdb(['-s', SERIAL, 'reverse', '--remove', 'localabstract:x']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("listener 'localabstract:x' not found");
    expect(await runAdb(['-s', SERIAL, 'reverse', '--remove-all'])).toEqual({ code: 0, stdout: '', stderr: '' });
    const absent = await runAdb(['-s', 'nope', 'reverse', 'localabstract:x', 'localfilesystem:/tmp/y']);
    expect(absent.code).toBe(1);
    expect(absent.stderr).toContain("device 'nope' not found");
  });

  it('forgets the reverses of a device that goes away', async () => {
    await runAdb(['-s', SERIAL, 'reverse', 'localabstract:x', 'localfilesystem:/tmp/y']);
    expect(fake.reverses(SERIAL)).toEqual([{ remote: 'localabstract:x', local: 'localfilesystem:/tmp/y' }]);
    fake.setDevices([]);
    fake.setDevices([{ serial: SERIAL }]);
    expect(fake.reverses(SERIAL)).toEqual([]);
  });
});

describe('AdbReverse', () => {
  it('asks for localabstract:anbox-oob-data-proxy -> localfilesystem:<service socket> on the configured device', async () => {
    const { reverse, events } = makeReverse();
    expect(reverse.establishArgs()).toEqual(['-s', SERIAL, 'reverse', DEVICE_SIDE, `localfilesystem:${servicePath}`]);
    expect(reverse.listArgs()).toEqual(['-s', SERIAL, 'reverse', '--list']);
    expect(reverse.removeArgs()).toEqual(['-s', SERIAL, 'reverse', '--remove', DEVICE_SIDE]);
    expect(reverse.state).toBe('pending: not tried yet');
    reverse.start();
    await waitFor(() => reverse.state === 'in place', 'the reverse in place');
    expect(forwards()).toEqual([
      { serial: SERIAL, service: `reverse:forward:${DEVICE_SIDE};localfilesystem:${servicePath}`, kind: 'forward', remote: DEVICE_SIDE, local: `localfilesystem:${servicePath}`, norebind: false },
    ]);
    expect(fake.reverses(SERIAL)).toEqual([{ remote: DEVICE_SIDE, local: `localfilesystem:${servicePath}` }]);
    expect(reverse.lastCheck).toMatchObject({ reachable: true, detail: 'yes' });
    expect(events('adb.reverse.established')).toHaveLength(1);
    // Then it only checks, with `adb reverse --list`.
    await fake.waitFor(() => lists().length >= 2, 'two checks');
    expect(forwards()).toHaveLength(1);
  });

  it('removes the reverse on close, and asks nothing after', async () => {
    const { reverse, events } = makeReverse();
    reverse.start();
    await waitFor(() => reverse.state === 'in place', 'the reverse in place');
    await reverse.close();
    expect(kills()).toEqual([{ serial: SERIAL, service: `reverse:killforward:${DEVICE_SIDE}`, kind: 'killforward', remote: DEVICE_SIDE }]);
    expect(fake.reverses(SERIAL)).toEqual([]);
    expect(events('adb.reverse.removed')).toHaveLength(1);
    const count = fake.reverseRequests.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(fake.reverseRequests.length).toBe(count);
    await reverse.close(); // idempotent
    expect(kills()).toHaveLength(1);
  });

  it('waits for a device that is not there yet, logging the hint once, then makes the reverse', async () => {
    fake.setDevices([]);
    const { reverse, events } = makeReverse();
    reverse.start();
    await waitFor(() => reverse.state.startsWith('pending: no device'), 'pending with a hint');
    expect(reverse.state).toBe(`pending: no device '${SERIAL}': is it connected? (adb devices; --adb-serial or ANDROID_SERIAL)`);
    expect(reverse.lastCheck).toMatchObject({ reachable: false });
    // Retried in the background: several attempts, one warning.
    await waitFor(() => fake.requests.filter((r) => r === `host:tport:serial:${SERIAL}`).length >= 3, 'retries');
    expect(events('adb.reverse.failure')).toHaveLength(1);
    expect(events('adb.reverse.failure')[0]).toMatchObject({ kind: 'device-not-found', level: 40 });
    fake.setDevices([{ serial: SERIAL }]);
    await waitFor(() => reverse.state === 'in place', 'the reverse in place once the device is there');
    expect(fake.reverses(SERIAL)).toEqual([{ remote: DEVICE_SIDE, local: `localfilesystem:${servicePath}` }]);
    expect(events('adb.reverse.recovered')).toHaveLength(1);
  });

  it('makes it again when the device comes back without it', async () => {
    const { reverse, events } = makeReverse();
    reverse.start();
    await waitFor(() => reverse.state === 'in place', 'the reverse in place');
    fake.setDevices([]); // unplugged: adbd drops its reverses
    await waitFor(() => reverse.state.startsWith('pending:'), 'pending after the device went away');
    expect(reverse.lastCheck).toMatchObject({ reachable: false });
    fake.setDevices([{ serial: SERIAL }]);
    await waitFor(() => reverse.state === 'in place' && fake.reverses(SERIAL).length === 1, 'the reverse made again');
    expect(forwards().length).toBeGreaterThanOrEqual(2);
    expect(events('adb.reverse.reestablished').length).toBeGreaterThanOrEqual(1);
  });

  it('notices a reverse removed or repointed behind its back, and makes it again', async () => {
    const { reverse, events } = makeReverse();
    reverse.start();
    await waitFor(() => reverse.state === 'in place', 'the reverse in place');
    expect((await runAdb(['-s', SERIAL, 'reverse', DEVICE_SIDE, 'localfilesystem:/elsewhere'])).code).toBe(0);
    await waitFor(() => events('adb.reverse.lost').length === 1, 'the repointed reverse noticed');
    expect(events('adb.reverse.lost')[0]).toMatchObject({ found: 'localfilesystem:/elsewhere' });
    await waitFor(() => fake.reverses(SERIAL)[0]?.local === `localfilesystem:${servicePath}`, 'our reverse back');
    expect((await runAdb(['-s', SERIAL, 'reverse', '--remove-all'])).code).toBe(0);
    await waitFor(() => events('adb.reverse.lost').length === 2 && reverse.state === 'in place', 'the removed reverse made again');
    expect(fake.reverses(SERIAL)).toEqual([{ remote: DEVICE_SIDE, local: `localfilesystem:${servicePath}` }]);
  });

  it('says what is wrong when the device is unauthorized or adb is missing', async () => {
    fake.setDevices([{ serial: SERIAL, state: 'unauthorized' }]);
    const unauthorized = makeReverse().reverse.start();
    await waitFor(() => unauthorized.state !== 'pending: not tried yet', 'a verdict');
    expect(unauthorized.state).toBe(`pending: device '${SERIAL}' unauthorized: accept the "Allow USB debugging?" RSA key prompt on the device`);
    const missing = makeReverse({ adbPath: join(dir, 'no-adb-here') }).reverse.start();
    await waitFor(() => missing.state !== 'pending: not tried yet', 'a verdict');
    expect(missing.state).toMatch(/^pending: adb not found \(.*no-adb-here\): install Android platform-tools or pass --adb-path$/);
    // Nothing was ever made: close asks for no removal.
    await unauthorized.close();
    await missing.close();
    expect(kills()).toEqual([]);
  });

  it('uses adb\'s only device without a serial', async () => {
    const { reverse } = makeReverse({ serial: undefined, env: adbEnv() });
    expect(reverse.establishArgs()).toEqual(['reverse', DEVICE_SIDE, `localfilesystem:${servicePath}`]);
    reverse.start();
    await waitFor(() => reverse.state === 'in place', 'the reverse in place');
    expect(fake.requests).toContain('host:tport:any');
  });

  it('refuses a service socket path adb cannot carry, without running adb', async () => {
    const { reverse, events } = makeReverse({ servicePath: join(dir, 'a;b.sock') });
    reverse.start();
    expect(reverse.state).toMatch(/^pending: the service socket path .* cannot be forwarded by adb/);
    expect(events('adb.reverse.unusable')).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(fake.reverseRequests).toEqual([]);
  });

  it('closes promptly while adb hangs, without waiting for its timeout', async () => {
    // A server that accepts and never answers: adb blocks on host:version.
    const { createServer } = await import('node:net');
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const port = (silent.address() as { port: number }).port;
    try {
      const { reverse, events } = makeReverse({ env: adbEnv({ ANDROID_ADB_SERVER_PORT: String(port) }), timeoutMs: 30_000, closeTimeoutMs: 1_000 });
      reverse.start();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = Date.now();
      await reverse.close();
      // The attempt was cut short (adbd might have made the reverse), so the removal is tried, bounded by closeTimeoutMs.
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(events('adb.reverse.remove_failed')).toHaveLength(1);
      expect(events('adb.reverse.remove_failed')[0]).toMatchObject({ kind: 'timeout' });
    } finally {
      silent.close();
    }
  });
});
