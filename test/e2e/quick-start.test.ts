/**
 * The README's Quick start, followed word for word, as a newcomer would: a fresh `git clone` of this
 * repository, `npm install` (as `npm ci --prefer-offline` with `npm_config_nodedir=/usr`, the
 * README's advice for machines without access to nodejs.org), `npm start`, the page it prints opened
 * in Chromium with channel `foo` connected, then — with the commands exactly as the start-up banner
 * spells them — `connect foo` (a line each way), `listen` (the broadcasts), `status` (foo has an
 * app), and Ctrl-C (SIGINT to the whole process group, as a terminal sends it): the daemon
 * announces `destroyed`, `connect` says why it ended, and every socket is gone.
 *
 * As root, and as an unprivileged user (uid 65534 through setpriv, with a HOME and XDG_RUNTIME_DIR
 * of its own in the test's temp dir). The install runs once, as root; the clone is then given to
 * uid 65534 for its run (`npm start` builds again, as that user). Only departures from the README:
 * the environment (ANBOX_OOB_LISTEN=127.0.0.1:0 rather than the default port 8777, which another
 * test or a developer's own serve may hold).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../broadcast/helpers.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { launchChromium } from '../web/helpers/browser.js';
import { cleanEnv } from '../cli/helpers/daemon-process.js';

const NOBODY = 65534;
const SETPRIV = '/usr/bin/setpriv';

let dir: string;
let clone: string;
let browser: Browser | undefined;
const running = new Set<ChildProcess>();

/** A process with its output kept, started (as `uid`) with `cwd` = the clone. */
interface Proc {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exit: Promise<number | null>;
}

function start(uid: number, argv: string[], env: NodeJS.ProcessEnv, options: { group?: boolean; stdin?: boolean } = {}): Proc {
  const full = uid === 0 ? argv : [SETPRIV, `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', ...argv];
  const child = spawn(full[0]!, full.slice(1), { cwd: clone, env, detached: options.group ?? false, stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  return { child, stdout: () => out, stderr: () => err, exit };
}

function run(argv: string[], env: NodeJS.ProcessEnv, cwd = clone): void {
  const result = spawnSync(argv[0]!, argv.slice(1), { cwd, env, encoding: 'utf8', timeout: 600_000 });
  if (result.error) throw new Error(`${argv.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${argv.join(' ')} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
}

beforeAll(async () => {
  for (const tool of [['git', '--version'], ['npm', '--version'], [SETPRIV, '--version']]) {
    const probe = spawnSync(tool[0]!, tool.slice(1));
    if (probe.error || probe.status !== 0) throw new Error(`${tool[0]} is missing: the Quick start test needs it (.ci/run installs git, npm and util-linux)`);
  }
  dir = makeTempDir('aoob-qs-');
  chmodSync(dir, 0o755); // uid 65534 must reach its clone and its own dirs inside
  clone = join(dir, 'anbox-oob-emulator');
  // The clone is of the committed HEAD of this checkout, as a newcomer gets it.
  run(['git', 'clone', '--quiet', REPO_ROOT, clone], process.env, dir);
  // `npm install`, offline-friendly: the packages from npm's cache, node-gyp's headers from /usr.
  run(['npm', 'ci', '--prefer-offline', '--no-audit', '--no-fund'], { ...process.env, npm_config_nodedir: '/usr' });
  browser = await launchChromium();
}, 900_000);

afterAll(async () => {
  for (const child of running) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }
  await browser?.close();
  if (dir) removeTempDir(dir);
});

/** The banner `serve` prints: the page URL and the commands as it spells them for this user. */
function parseBanner(stderr: string): { pageUrl: string; cli: string[] } {
  const page = /^ {2}page +(\S+)/m.exec(stderr);
  const next = /^ {2}next .*\n +(.+) connect foo$/m.exec(stderr);
  if (!page || !next) throw new Error(`no banner in:\n${stderr}`);
  return { pageUrl: page[1]!, cli: next[1]!.split(' ') };
}

describe.sequential.each([
  { name: 'root', uid: 0 },
  { name: 'uid 65534 (setpriv)', uid: NOBODY },
])('README Quick start, word for word, as $name', ({ uid }) => {
  it('npm start, the page, connect, listen, status, Ctrl-C', { timeout: 600_000 }, async () => {
    const home = join(dir, `home-${uid}`);
    const runtime = join(dir, `run-${uid}`);
    for (const d of [home, runtime]) {
      mkdirSync(d, { mode: 0o700 });
      chownSync(d, uid, uid);
    }
    if (uid !== 0) spawnSync('chown', ['-R', `${uid}:${uid}`, clone]);
    const env = cleanEnv({ HOME: home, XDG_RUNTIME_DIR: runtime, ANBOX_OOB_LISTEN: '127.0.0.1:0', npm_config_update_notifier: 'false' });

    // npm start (it builds first: prestart).
    const serve = start(uid, ['npm', 'start'], env, { group: true });
    await waitFor(() => serve.stderr().includes('Ctrl-C stops') || serve.child.exitCode !== null, `the banner in:\n${serve.stdout()}${serve.stderr()}`, 300_000);
    const banner = parseBanner(serve.stderr());
    // In a clone, the banner says how to run the CLI from here (not `anbox-oob`, which is not on PATH).
    expect(banner.cli).toEqual(['node', 'dist/src/cli/main.js']);
    expect(serve.stderr().split('anbox-oob serve is ready.').length).toBe(2); // the banner, once

    // listen, started first so that it sees the `created` broadcast.
    const receivers = join(runtime, 'anbox', 'receivers');
    const listen = start(uid, [...banner.cli, 'listen'], env);
    await waitFor(() => existsSync(receivers) && readdirSync(receivers).some((f) => f.endsWith('.sock')), 'the listen socket');

    // 1. Open the page, type a channel name (foo) and press Connect.
    const page = await browser!.newPage();
    await page.goto(banner.pageUrl);
    await page.waitForSelector('html[data-ready="true"]');
    await page.getByTestId('channels').fill('foo');
    await page.getByTestId('connect').click();
    await page.getByTestId('state-foo').filter({ hasText: 'open' }).waitFor({ timeout: 30_000 });
    await waitFor(() => listen.stdout().includes('"event":"created","names":["foo"]'), `created in: ${listen.stdout()}`);

    // 2. connect foo: a line typed there appears in the page, text sent from the page in the terminal.
    const connect = start(uid, [...banner.cli, 'connect', 'foo'], env, { stdin: true });
    await waitFor(() => connect.stderr().includes('connected to channel "foo"'), `connected in: ${connect.stderr()}`);
    connect.child.stdin!.write('typed in the terminal\n');
    await page.getByTestId('log').filter({ hasText: '← [foo] text (22 bytes): typed in the terminal' }).waitFor({ timeout: 15_000 });
    await page.getByTestId('message-input').fill('sent from the page');
    await page.getByTestId('send').click();
    await waitFor(() => connect.stdout() === 'sent from the page\n', `the page's line on connect's stdout: ${JSON.stringify(connect.stdout())}`);

    // 3. status: the channel, with an app attached.
    const status = start(uid, [...banner.cli, 'status'], env);
    expect(await status.exit).toBe(0);
    expect(status.stdout()).toMatch(/^ {2}foo {2}app attached$/m);
    expect(status.stdout()).toContain('open (including this status request)');
    expect(status.stdout()).not.toContain('{"');

    // Ctrl-C: SIGINT to the foreground process group.
    process.kill(-serve.child.pid!, 'SIGINT');
    await serve.exit;
    expect(serve.stdout()).toContain('data-proxy daemon stopped');
    await waitFor(() => listen.stdout().includes('"event":"destroyed","names":["foo"]'), `destroyed in: ${listen.stdout()}`);
    expect(await connect.exit).toBe(0);
    expect(connect.stderr()).toContain('disconnected: the daemon stopped');
    const anbox = join(runtime, 'anbox');
    const left = existsSync(join(anbox, 'sockets')) ? readdirSync(join(anbox, 'sockets')).filter((f) => f.startsWith('webrtc_data_')) : [];
    expect(left).toEqual([]);
    expect(existsSync(join(anbox, 'data-proxy.sock'))).toBe(false);
    listen.child.kill('SIGINT');
    expect(await listen.exit).toBe(0);
    await page.close();
  });
});
