/**
 * What the benchmarks run against: the daemon as a child process, a fake channel listener in a
 * child process of its own, and the C floor (../shared/baselines/fdpass.c).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import * as native from '../src/native/addon.js';
import { BenchSetupError, type BenchContext, type TrackedChild } from './harness.js';

// ---------------------------------------------------------------------------------------------
// The daemon

export interface DaemonFixture {
  servicePath: string;
  socketDir: string;
  process: TrackedChild;
  stop(): Promise<void>;
}

/** `anbox-oob proxy` on sockets inside `dir`, plus `extraArgs` (broadcast options, say); resolves once it serves. */
export async function startDaemon(context: BenchContext, dir: string, extraArgs: readonly string[] = []): Promise<DaemonFixture> {
  const cli = join(context.repoRoot, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(cli)) throw new BenchSetupError(`${cli} is missing: run \`npm run build\` (\`npm run bench\` does it for you)`);
  const servicePath = join(dir, 'svc.sock');
  const socketDir = join(dir, 'sockets');
  const daemon = context.spawnChild('daemon', process.execPath, [
    cli,
    'proxy',
    '--socket-dir',
    socketDir,
    '--service-socket',
    servicePath,
    '--log-level',
    'warn',
    '--log-format',
    'json',
    ...extraArgs,
  ]);
  await waitUntil('the daemon', daemon, 15_000, () => daemon.output().includes('"event":"daemon.started"') || probe(servicePath));
  return { servicePath, socketDir, process: daemon, stop: () => daemon.stop('SIGTERM', 5000) };
}

function probe(path: string): boolean {
  const fd = native.connectUnix(path);
  if (fd < 0) return false;
  native.close(fd);
  return true;
}

// ---------------------------------------------------------------------------------------------
// The fake channel: accepts every connection on <socketDir>/webrtc_data_<name> and closes it

/**
 * A separate Node process (so the client process measures only the client) that accepts and closes
 * connections as fast as it can, through the project's native addon: no net.Socket per connection,
 * so it costs about what fdpass's C accept loop costs. Exits when its stdin closes (the bench died).
 */
const CHANNEL_SCRIPT = `
import { accept, close, errnoName, listenUnix, pollStart, PollEvent } from ${JSON.stringify('%ADDON%')};
const path = process.argv[1];
const fd = listenUnix(path, 4096);
if (fd < 0) { console.error('channel: cannot listen on ' + path + ': ' + errnoName(fd)); process.exit(1); }
pollStart(fd, PollEvent.READABLE, (status) => {
  if (status < 0) { console.error('channel: poll failed: ' + errnoName(status)); process.exit(1); }
  for (;;) { const c = accept(fd); if (c < 0) break; close(c); }
});
process.on('SIGTERM', () => process.exit(0));
process.stdin.on('end', () => process.exit(0)).resume();
process.stdout.write('ready\\n');
`;

export async function startChannelListener(context: BenchContext, socketDir: string, name: string): Promise<TrackedChild> {
  mkdirSync(socketDir, { recursive: true, mode: 0o750 });
  const addon = pathToFileURL(join(context.repoRoot, 'dist', 'src', 'native', 'addon.js')).href;
  const path = join(socketDir, `webrtc_data_${name}`);
  const channel = context.spawnChild('channel listener', process.execPath, ['--input-type=module', '-e', CHANNEL_SCRIPT.replace('%ADDON%', addon), path], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  await waitUntil('the channel listener', channel, 10_000, () => channel.output().includes('ready'));
  return channel;
}

export async function waitUntil(what: string, child: TrackedChild, timeoutMs: number, ready: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitedWith: number | string | undefined;
  void child.exited.then((code) => (exitedWith = code), (error: Error) => (exitedWith = error.message));
  while (!ready()) {
    if (exitedWith !== undefined) throw new Error(`${what} exited (${exitedWith}) before it was ready:\n${child.output()}`);
    if (Date.now() > deadline) throw new Error(`${what} was not ready after ${timeoutMs} ms:\n${child.output()}`);
    await sleep(20);
  }
}

// ---------------------------------------------------------------------------------------------
// The C floor

export interface FloorResult {
  persistentUs: number;
  persistentOpsPerS: number;
  reconnectUs: number;
}

/** Compiles ../shared/baselines/fdpass.c (relative to the package root) into `dir`; returns the binary. */
export function buildFloor(context: BenchContext, dir: string): string {
  const source = process.env.BENCH_FDPASS_SOURCE ?? resolve(context.repoRoot, '..', 'shared', 'baselines', 'fdpass.c');
  if (!existsSync(source)) {
    throw new BenchSetupError(
      `the C floor's source ${source} is missing: the benchmark expects the repository's parent to hold shared/baselines/fdpass.c ` +
        '(or set BENCH_FDPASS_SOURCE to its path)',
    );
  }
  const binary = join(dir, 'fdpass');
  const compiled = spawnSync('cc', ['-O2', '-o', binary, source], { encoding: 'utf8' });
  if (compiled.error) {
    const code = (compiled.error as NodeJS.ErrnoException).code;
    throw new BenchSetupError(
      code === 'ENOENT'
        ? 'no C compiler: `cc` is not on PATH, and the benchmark needs it to build the C floor (install gcc or clang, e.g. `apt-get install build-essential`)'
        : `cannot run cc: ${compiled.error.message}`,
    );
  }
  if (compiled.status !== 0) throw new BenchSetupError(`cc -O2 -o ${binary} ${source} failed (exit ${compiled.status}):\n${compiled.stderr}`);
  return binary;
}

/**
 * Runs `fdpass N DIR` in a process group of its own (it forks a channel and a service process,
 * which must die with it) and parses its two lines.
 */
export async function runFloor(context: BenchContext, binary: string, connects: number, dir: string): Promise<FloorResult> {
  mkdirSync(dir, { recursive: true });
  const fdpass = context.spawnChild('fdpass', binary, [String(connects), dir], { group: true });
  let timer: NodeJS.Timeout | undefined;
  const timeoutMs = 60_000 + connects * 5; // generous: 5 ms per op would be 30x this machine's floor
  const outcome = await Promise.race([
    fdpass.exited,
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
  ]).finally(() => clearTimeout(timer));
  await fdpass.stop('SIGKILL', 1000); // the group's helpers, whatever happened
  const out = fdpass.output();
  if (outcome === 'timeout') throw new Error(`fdpass did not finish within ${timeoutMs} ms:\n${out}`);
  if (outcome !== 0) throw new Error(`fdpass exited with ${outcome}:\n${out}`);
  const persistent = /fdpass persistent us_per_op=([\d.]+) ops_per_s=([\d.]+)/.exec(out);
  const reconnect = /fdpass reconnect\s+us_per_op=([\d.]+)/.exec(out);
  if (!persistent || !reconnect) throw new Error(`cannot parse fdpass output:\n${out}`);
  return { persistentUs: Number(persistent[1]), persistentOpsPerS: Number(persistent[2]), reconnectUs: Number(reconnect[1]) };
}
