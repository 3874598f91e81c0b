/**
 * `anbox-oob serve` with no path flags at all, as root (what CI runs as) and as an unprivileged
 * uid (65534, through setpriv), with no device and no adb: the default paths work, the
 * human-readable banner says everything a person needs, a page channel reaches
 * `anbox-oob connect foo` run by the same user with no flags, and Ctrl-C (SIGINT) exits 0 with
 * every socket serve created gone. With --adb and no adb installed it starts all the same.
 */
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { StreamClient } from '../platform/helpers/stream-client.js';
import { waitFor } from '../broadcast/helpers.js';
import { cleanEnv, socketFilesUnder, startDaemonProcess, stopAllDaemons } from './helpers/daemon-process.js';
import { isListening } from '../helpers/listening.js';

const NOBODY = 65534;
const SETPRIV = '/usr/bin/setpriv';

let dir: string;
let clients: StreamClient[];

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('this test runs serve as root and as uid 65534: run it as root (CI does)');
  const probe = spawnSync(SETPRIV, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) throw new Error(`${SETPRIV} is missing: install util-linux (apt-get install util-linux)`);
});

beforeEach(() => {
  dir = makeTempDir('aoob-usr-');
  // uid 65534 must reach its own directories inside.
  chmodSync(dir, 0o755);
  clients = [];
});

afterEach(async () => {
  for (const client of clients) client.close();
  await stopAllDaemons();
  removeTempDir(dir);
});

/** A directory owned by `uid`, mode 0700, as a user's home or runtime dir is. */
function ownedDir(name: string, uid: number, mode = 0o700): string {
  const path = join(dir, name);
  mkdirSync(path, { recursive: true });
  chownSync(path, uid, uid);
  chmodSync(path, mode);
  return path;
}

/** setpriv's arguments to become `uid` with no supplementary groups; none for root. */
function asUser(uid: number): string[] {
  return uid === 0 ? [] : [SETPRIV, `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
}

/** Runs `anbox-oob ARGS` as `uid` to completion. */
function cliAs(uid: number, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const argv = [...asUser(uid), process.execPath, CLI, ...args];
  return new Promise((resolve) => {
    const child = execFile(argv[0]!, argv.slice(1), { env, timeout: 30_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : null) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

/** The pretty banner: `ready: page URL ; token T ; channel sockets in DIR ; service socket PATH ; …`. */
function parseBanner(text: string): { pageUrl: string; token: string; socketDir: string; servicePath: string; rest: string } {
  const match = /anbox-oob serve is ready\.\n {2}page +(\S+).*\n {2}token +(\S+).*\n {2}socket dir +(\S+)\n {2}service socket +(\S+)\n((?:.*\n)*?) {2}Ctrl-C stops/.exec(text);
  if (!match) throw new Error(`no ready banner in:\n${text}`);
  return { pageUrl: match[1]!, token: match[2]!, socketDir: match[3]!, servicePath: match[4]!, rest: `${match[5]!}  Ctrl-C stops` };
}

interface Case {
  name: string;
  uid: number;
  /** The environment, and where the defaults must then put the runtime directory. */
  setup(): { env: NodeJS.ProcessEnv; runtime: string; home: string };
}

const cases: Case[] = [
  {
    name: 'root, $XDG_RUNTIME_DIR set',
    uid: 0,
    setup: () => {
      const runtime = ownedDir('run-0', 0);
      return { env: { HOME: ownedDir('home-0', 0), XDG_RUNTIME_DIR: runtime }, runtime: join(runtime, 'anbox'), home: join(dir, 'home-0') };
    },
  },
  {
    name: 'uid 65534, $XDG_RUNTIME_DIR set',
    uid: NOBODY,
    setup: () => {
      const runtime = ownedDir('run-65534', NOBODY);
      return { env: { HOME: ownedDir('home-65534', NOBODY), XDG_RUNTIME_DIR: runtime }, runtime: join(runtime, 'anbox'), home: join(dir, 'home-65534') };
    },
  },
  {
    name: 'uid 65534, no $XDG_RUNTIME_DIR (the temp-dir fallback)',
    uid: NOBODY,
    setup: () => {
      if (existsSync(`/run/user/${NOBODY}`)) throw new Error(`/run/user/${NOBODY} exists on this machine: the fallback this case checks does not apply`);
      const tmp = ownedDir('tmp', 0, 0o1777);
      return { env: { HOME: ownedDir('home-65534', NOBODY), TMPDIR: tmp }, runtime: join(tmp, `anbox-oob-${NOBODY}`), home: join(dir, 'home-65534') };
    },
  },
];

describe.each(cases)('serve with default paths: $name', ({ uid, setup }) => {
  it('starts with no device, prints everything needed, serves connect, and Ctrl-C removes every socket', async () => {
    const { env: extra, runtime } = setup();
    const env = cleanEnv(extra);
    const serve = startDaemonProcess(['serve', '--listen', '127.0.0.1:0', '--log-format', 'pretty'], env, asUser(uid));
    await serve.waitForText('Ctrl-C stops');
    const text = serve.plainOutput();
    const banner = parseBanner(text);

    // The banner, as a person reads it: page URL (with the token), token, socket dir, service
    // socket, config file, and the next command.
    const socketDir = join(runtime, 'sockets');
    const servicePath = join(runtime, 'data-proxy.sock');
    expect(banner.socketDir).toBe(socketDir);
    expect(banner.servicePath).toBe(servicePath);
    expect(banner.pageUrl).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*\/\?token=/);
    expect(banner.pageUrl.endsWith(`?token=${banner.token}`)).toBe(true);
    expect(banner.rest).toContain('config file     none');
    expect(banner.rest).toMatch(/^ +node \S+main\.js connect foo$/m);
    expect(banner.rest).toContain('Ctrl-C stops');

    // The files are the user's, with the modes the README promises.
    expect(statSync(servicePath).uid).toBe(uid);
    expect(statSync(servicePath).mode & 0o777).toBe(0o660);
    expect(statSync(socketDir).uid).toBe(uid);
    expect(statSync(runtime).mode & 0o022).toBe(0);

    // The printed URL and token work.
    const gateway = new URL(banner.pageUrl).origin;
    const client = await StreamClient.start({ gateway, token: banner.token, channels: ['foo'] });
    clients.push(client);
    await client.channel('foo').opened;
    await waitFor(() => isListening(join(socketDir, 'webrtc_data_foo')), 'the channel socket', 30_000);

    // What the banner says to type next, as the same user with no flags, finds the daemon.
    const connect = await cliAs(uid, ['connect', 'foo'], env, 'typed in the terminal');
    expect(connect.stderr).toBe('anbox-oob connect: connected to channel "foo"; stdin goes to it, its data to stdout\n');
    expect(connect.code).toBe(0);
    const foo = client.channel('foo');
    await foo.until(() => foo.bytes().toString() === 'typed in the terminal', 'the bytes `anbox-oob connect foo` sent', 30_000);
    const status = await cliAs(uid, ['status', '--json'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('"foo"');

    const sockets = socketFilesUnder(runtime);
    expect(sockets).toEqual(expect.arrayContaining([servicePath, join(socketDir, 'webrtc_data_foo')]));

    // Ctrl-C: exit 0, and no socket left anywhere under the runtime directory.
    expect(await serve.stop('SIGINT')).toBe(0);
    expect(socketFilesUnder(runtime)).toEqual([]);
    expect(serve.plainOutput()).toContain('stopping');
    expect(serve.plainOutput()).not.toMatch(/\b(ERROR|FATAL)\b/);
  });
});

describe('serve --adb with no adb installed, as uid 65534', () => {
  it('starts anyway, says why adb reverse is pending, and stops cleanly', async () => {
    const runtime = ownedDir('run-65534', NOBODY);
    const env = cleanEnv({ HOME: ownedDir('home-65534', NOBODY), XDG_RUNTIME_DIR: runtime });
    const missingAdb = join(dir, 'no-platform-tools', 'adb');
    const serve = startDaemonProcess(['serve', '--adb', '--adb-path', missingAdb, '--listen', '127.0.0.1:0', '--log-format', 'json'], env, asUser(NOBODY));
    const ready = await serve.line('serve.ready');
    expect(ready.servicePath).toBe(join(runtime, 'anbox', 'data-proxy.sock'));
    expect(await serve.line('adb.reverse.failure')).toMatchObject({ kind: 'adb-missing' });
    const status = await cliAs(NOBODY, ['status'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/adb reverse: pending: adb not found/);
    expect(await serve.stop('SIGINT')).toBe(0);
    expect(socketFilesUnder(runtime)).toEqual([]);
  });
});
