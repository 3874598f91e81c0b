/**
 * Issue 9 item 3: directories the daemons trust must be trustworthy. Each case is the attack as a
 * second uid (65534, through setpriv) makes it, against the real CLI:
 *  - a root-owned sticky world-writable socket dir (as /tmp or /dev/shm) in which the other uid has
 *    planted a listening webrtc_data_foo: `proxy` and `platform` refuse to start, naming the path
 *    and the fix; `--allow-shared-dir` is the explicit, logged way past;
 *  - the default runtime dir <tmp>/anbox-oob-<uid> pre-planted as the other uid's symlink to a
 *    world-writable dir: `proxy`, `serve`, `listen` and `connect` refuse, nothing is made through
 *    the link and nothing is sent to a fake daemon behind it;
 *  - a 0777 receivers dir of the other uid, in which it listens: the daemon refuses to start (it
 *    would send it every broadcast), and so does `listen`;
 *  - the socket dir deleted under a running `serve` and made again by the other uid: the next
 *    channel is refused rather than put in the other uid's directory.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectWebClient, type WebClient } from '../../src/headless-client/web-client.js';
import { waitFor } from '../broadcast/helpers.js';
import { cleanEnv } from '../cli/helpers/daemon-process.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { asUid, cliArgv, killStarted, NOBODY, requireRootAnd, run, startProcess } from './helpers.js';

let root: string;
let n = 0;

beforeAll(() => {
  requireRootAnd('socat');
  root = makeTempDir('aoob-sec-');
  chmodSync(root, 0o755); // uid 65534 must reach its own directories inside
});

afterEach(async () => {
  await killStarted();
});

afterAll(() => {
  if (root) removeTempDir(root);
});

/** A fresh directory under the test's root: owner, mode. */
function dirOf(owner: number, mode: number): string {
  const path = join(root, `d${++n}`);
  mkdirSync(path);
  chownSync(path, owner, owner);
  chmodSync(path, mode);
  return path;
}

/** A daemon start that must be refused: it exits 1 at once (an old build would serve until killed). */
async function refusedStart(args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const result = await run(cliArgv([...args, '--log-format', 'json']), { env, timeoutMs: 10_000 });
  const output = result.stdout + result.stderr;
  expect(result.code, `the start was not refused:\n${output}`).toBe(1);
  return output;
}

/** The other uid plants a listening socket at `path` (real socat) and waits until it is there. */
async function plantSocket(path: string): Promise<void> {
  const socat = startProcess([...asUid(NOBODY), 'socat', `UNIX-LISTEN:${path},fork`, 'SYSTEM:echo attacker']);
  await waitFor(() => existsSync(path) || socat.child.exitCode !== null, `socat as ${NOBODY} to listen on ${path}`);
  if (!existsSync(path)) throw new Error(`socat as uid ${NOBODY} could not listen on ${path}:\n${socat.output()}`);
}

describe('a sticky world-writable socket dir (as /tmp), another uid\'s webrtc_data_foo planted in it', () => {
  let shared: string;

  beforeAll(async () => {
    shared = dirOf(0, 0o1777);
    await plantSocket(join(shared, 'webrtc_data_foo'));
  });

  it('proxy refuses to start, naming the directory, why and the fix', async () => {
    const output = await refusedStart(['proxy', '--socket-dir', shared, '--service-socket', join(dirOf(0, 0o700), 'svc.sock'), '--receivers-dir', join(root, 'r-proxy')]);
    expect(output).toContain(`refusing to use ${shared} as the socket dir`);
    expect(output).toContain('writable by group and others (mode 1777; the sticky bit stops others deleting entries, not creating them)');
    expect(output).toContain('--allow-shared-dir');
    expect(output).toContain('"event":"daemon.start_failed"');
  });

  it('platform refuses to start too', async () => {
    const output = await refusedStart(['platform', '--socket-dir', shared, '--listen', '127.0.0.1:0', '--token', 'sticky-dir-token']);
    expect(output).toContain(`refusing to use ${shared} as the socket dir`);
    expect(output).toContain('"event":"platform.start_failed"');
  });

  it('--allow-shared-dir starts anyway and says so at warn level', async () => {
    const own = dirOf(0, 0o700);
    let daemon: DaemonHandle | undefined;
    try {
      daemon = await startDaemon(own, ['--allow-shared-dir', '--socket-dir', shared]);
      const warning = daemon.logLines().find((l) => l.event === 'daemon.insecure_directory');
      expect(warning).toMatchObject({ level: 40, dir: shared, problem: 'WRITABLE_BY_OTHERS' });
      expect(String(warning?.msg)).toContain('allowed by --allow-shared-dir');
    } finally {
      await daemon?.stop();
    }
  });
});

describe('the default runtime dir <tmp>/anbox-oob-0 pre-planted by another uid as a symlink', () => {
  let tmp: string;
  let target: string;
  let env: NodeJS.ProcessEnv;
  let planted: string;

  beforeAll(async () => {
    tmp = dirOf(0, 0o1777); // the machine's /tmp
    target = dirOf(0, 0o1777); // e.g. /dev/shm: root's, so a check of the link's target alone passes
    planted = join(tmp, 'anbox-oob-0');
    const ln = await run([...asUid(NOBODY), 'ln', '-s', target, planted]);
    expect(ln.code, ln.stderr).toBe(0);
    env = cleanEnv({ TMPDIR: tmp, HOME: dirOf(0, 0o700) });
  });

  it('proxy with no path flags refuses it and makes nothing through the link', async () => {
    const output = await refusedStart(['proxy'], env);
    expect(output).toContain(`refusing to use ${planted} as the service socket's directory: it is a symbolic link (to ${target}, owned by uid ${NOBODY})`);
    expect(output).toContain(`rm ${planted}`);
    expect(readdirSync(target)).toEqual([]);
  });

  it('serve refuses it as well', async () => {
    const output = await refusedStart(['serve', '--listen', '127.0.0.1:0'], env);
    expect(output).toContain(`refusing to use ${planted}`);
    expect(readdirSync(target)).toEqual([]);
  });

  it('a client with no path flags refuses it rather than talk to the other uid\'s fake daemon behind it', async () => {
    const fake = join(target, 'data-proxy.sock');
    const attacker = startProcess([...asUid(NOBODY), 'socat', `UNIX-LISTEN:${fake},fork`, '-']);
    try {
      await waitFor(() => existsSync(fake) || attacker.child.exitCode !== null, 'the fake service socket');
      const result = await run(cliArgv(['connect', 'foo']), { env, timeoutMs: 10_000, input: 'secret data\n' });
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toContain(`refusing to use ${planted} as the service socket's directory: it is a symbolic link`);
      expect(attacker.output()).toBe('');
    } finally {
      attacker.child.kill('SIGKILL');
      await attacker.exited;
      rmSync(fake, { force: true });
    }
  });

  it('listen refuses the default receivers dir under it', async () => {
    const result = await run(cliArgv(['listen', '--count', '1']), { env, timeoutMs: 10_000 });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain(`its parent ${planted} is a symbolic link (to ${target}) owned by uid ${NOBODY}`);
    expect(readdirSync(target)).toEqual([]);
  });
});

describe('a 0777 receivers dir of another uid, who listens in it', () => {
  let receivers: string;
  let attacker: ReturnType<typeof startProcess>;

  beforeAll(async () => {
    receivers = dirOf(NOBODY, 0o777);
    const path = join(receivers, 'evil.sock');
    attacker = startProcess([...asUid(NOBODY), 'socat', '-u', `UNIX-RECV:${path}`, '-']);
    await waitFor(() => existsSync(path) || attacker.child.exitCode !== null, 'the other uid\'s receiver socket');
  });

  it('the daemon refuses to start, so it never sends that uid a broadcast', async () => {
    const own = dirOf(0, 0o700);
    const socketDir = join(own, 'sockets');
    mkdirSync(socketDir, { mode: 0o750 });
    // A channel exists from the start: an old build would announce it at once.
    const channel = startProcess(['socat', `UNIX-LISTEN:${join(socketDir, 'webrtc_data_secret')},fork`, '-']);
    await waitFor(() => existsSync(join(socketDir, 'webrtc_data_secret')) || channel.child.exitCode !== null, 'the channel socket');
    const output = await refusedStart(['proxy', '--socket-dir', socketDir, '--service-socket', join(own, 'svc.sock'), '--receivers-dir', receivers]);
    expect(output).toContain(`refusing to use ${receivers} as the receivers dir: it belongs to uid ${NOBODY}, not to this user (uid 0) or root`);
    expect(output).toContain('"event":"broadcasts.start_failed"');
    expect(attacker.output()).not.toContain('secret');
  });

  it('listen refuses it too', async () => {
    const result = await run(cliArgv(['listen', '--receivers-dir', receivers, '--count', '1']), { timeoutMs: 10_000 });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain(`refusing to use ${receivers} as the receivers dir`);
  });
});

describe('the socket dir deleted under a running serve and made again by another uid', () => {
  const TOKEN = 'recreated-dir-token';
  let clients: WebClient[] = [];
  let daemon: DaemonHandle | undefined;

  afterAll(async () => {
    for (const client of clients) client.close();
    clients = [];
    await daemon?.stop();
  });

  it('the next channel is refused (logged, naming the directory), never made in that uid\'s directory', async () => {
    const own = dirOf(0, 0o700);
    const parent = dirOf(0, 0o1777); // sticky and world-writable: fine as a parent, not as the socket dir
    const socketDir = join(parent, 'sockets');
    daemon = await startDaemon(own, ['--socket-dir', socketDir, '--broadcast-window', '0'], { command: 'serve', env: { ANBOX_OOB_TOKEN: TOKEN } });
    const gateway = String(daemon.logLines().find((l) => l.event === 'serve.ready')?.gateway);

    rmSync(socketDir, { recursive: true, force: true }); // a tmp cleaner
    const mk = await run([...asUid(NOBODY), 'mkdir', '-m', '0777', socketDir]);
    expect(mk.code, mk.stderr).toBe(0);

    const client = await connectWebClient({ gateway, token: TOKEN, channels: ['foo'], openTimeoutMs: 60_000 });
    clients.push(client);
    const rejected = () => daemon!.logLines().find((l) => l.event === 'channel.rejected' && l.channel === 'foo');
    await waitFor(() => rejected() !== undefined, 'channel.rejected for foo', 60_000);
    expect(String(rejected()?.reason)).toContain(`refusing to use ${socketDir} as the socket dir: it belongs to uid ${NOBODY}`);
    expect(readdirSync(socketDir)).toEqual([]);
  }, 120_000);
});
