/**
 * What the benchmarks run against, in one place: the built CLI as a child (daemon, platform, serve),
 * small inline Node children (a fake channel listener, a socket echo), waiting for them, reading
 * their logs and /proc, and the C floor (bench/fdpass.c).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import * as native from '../src/native/addon.js';
import { BenchSetupError, type BenchContext, type TrackedChild } from './harness.js';

// ---------------------------------------------------------------------------------------------
// The build

/** A file under dist/ (`parts` relative to it); a BenchSetupError saying what to run if it is missing. */
export function builtFile(context: BenchContext, ...parts: string[]): string {
  const file = join(context.repoRoot, 'dist', ...parts);
  if (!existsSync(file)) throw new BenchSetupError(`${file} is missing: run \`npm run build\` (\`npm run bench\` does it for you)`);
  return file;
}

/**
 * `node dist/src/cli/main.js <command> --log-level warn --log-format json ...args`: quiet enough not
 * to cost anything, JSON so that the announcements (always printed) can be parsed.
 */
export function spawnCli(context: BenchContext, label: string, command: string, args: readonly string[]): TrackedChild {
  const cli = builtFile(context, 'src', 'cli', 'main.js');
  return context.spawnChild(label, process.execPath, [cli, command, '--log-level', 'warn', '--log-format', 'json', ...args]);
}

/** The first JSON log line of `output` with this `event`, parsed; undefined until it is complete. */
export function logRecord(output: string, event: string): Record<string, unknown> | undefined {
  for (const line of output.split('\n')) {
    if (!line.includes(`"${event}"`)) continue;
    try {
      const record = JSON.parse(line) as Record<string, unknown>;
      if (record.event === event) return record;
    } catch {
      // a partial line: wait for the rest
    }
  }
  return undefined;
}

/** Error text with the last lines each child wrote (at --log-level warn they print only trouble). */
export function withOutputTails(error: unknown, children: readonly (TrackedChild | undefined)[]): Error {
  const said = children
    .filter((c): c is TrackedChild => c !== undefined)
    .map((c) => {
      const tail = c
        .output()
        .trim()
        .split('\n')
        .slice(-15)
        .map((line) => (line.length > 400 ? `${line.slice(0, 400)}…` : line))
        .join('\n');
      return tail ? `--- ${c.label}'s last output ---\n${tail}` : '';
    })
    .filter(Boolean)
    .join('\n');
  const message = error instanceof Error ? error.message : String(error);
  return said ? new Error(`${message}\n${said}`, { cause: error }) : error instanceof Error ? error : new Error(message);
}

// ---------------------------------------------------------------------------------------------
// The daemon and the platform

export interface DaemonFixture {
  servicePath: string;
  socketDir: string;
  process: TrackedChild;
  stop(): Promise<void>;
}

/** `anbox-oob proxy` on sockets inside `dir`, plus `extraArgs` (broadcast options, say); resolves once it serves. */
export async function startDaemon(context: BenchContext, dir: string, extraArgs: readonly string[] = []): Promise<DaemonFixture> {
  const servicePath = join(dir, 'svc.sock');
  const socketDir = join(dir, 'sockets');
  const daemon = spawnCli(context, 'daemon', 'proxy', ['--socket-dir', socketDir, '--service-socket', servicePath, ...extraArgs]);
  await waitUntil('the daemon', daemon, 15_000, () => daemon.output().includes('"event":"daemon.started"') || probe(servicePath));
  return { servicePath, socketDir, process: daemon, stop: () => daemon.stop('SIGTERM', 5000) };
}

export interface PlatformFixture {
  gateway: string;
  token: string;
  socketDir: string;
  /** `serve` only: the data-proxy service socket. */
  servicePath: string | undefined;
  process: TrackedChild;
  stop(): Promise<void>;
}

/**
 * `anbox-oob platform` (the WebRTC platform alone) or `anbox-oob serve` (platform + daemon, its
 * receivers dir inside `dir` too, so that no real `anbox-oob listen` is disturbed) on 127.0.0.1:0
 * with sockets inside `dir`; resolves once it announced itself ready.
 */
export async function startPlatform(context: BenchContext, dir: string, command: 'platform' | 'serve', label = command): Promise<PlatformFixture> {
  const socketDir = join(dir, 'sockets');
  const token = randomBytes(12).toString('hex');
  const servicePath = command === 'serve' ? join(dir, 'svc.sock') : undefined;
  const args = ['--socket-dir', socketDir, '--listen', '127.0.0.1:0', '--token', token];
  if (servicePath) args.push('--service-socket', servicePath, '--receivers-dir', join(dir, 'receivers'));
  const child = spawnCli(context, label, command, args);
  const readyEvent = command === 'serve' ? 'serve.ready' : 'platform.started';
  let ready: Record<string, unknown> | undefined;
  await waitUntil(`the ${label}`, child, 20_000, () => (ready = logRecord(child.output(), readyEvent)) !== undefined);
  const gateway = ready!.gateway;
  if (typeof gateway !== 'string') throw new Error(`the ${label}'s ${readyEvent} line has no gateway:\n${child.output()}`);
  return { gateway, token, socketDir, servicePath, process: child, stop: () => child.stop('SIGTERM', 5000) };
}

function probe(path: string): boolean {
  const fd = native.connectUnix(path);
  if (fd < 0) return false;
  native.close(fd);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Small Node children: an inline ES module that prints "ready" and exits when its stdin closes

/**
 * `node --input-type=module -e SCRIPT ...args` in the package root (so `import 'node-datachannel'`
 * resolves). The script must print `ready` when it is, and exit when its stdin ends (then a dead
 * benchmark leaves nothing behind).
 */
export async function startScript(context: BenchContext, label: string, script: string, args: readonly string[] = []): Promise<TrackedChild> {
  const child = context.spawnChild(label, process.execPath, ['--input-type=module', '-e', script, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd: context.repoRoot,
  });
  child.child.stdin?.on('error', () => undefined); // EPIPE once it is gone: reported through exit
  await waitUntil(label, child, 15_000, () => child.output().includes('ready'));
  return child;
}

/**
 * The fake channel: accepts every connection on <socketDir>/webrtc_data_<name> and closes it. A
 * separate Node process (so the client process measures only the client) that accepts and closes
 * as fast as it can, through the project's native addon: no net.Socket per connection, so it costs
 * about what fdpass's C accept loop costs.
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
  const addon = pathToFileURL(builtFile(context, 'src', 'native', 'addon.js')).href;
  return startScript(context, 'channel listener', CHANNEL_SCRIPT.replace('%ADDON%', addon), [join(socketDir, `webrtc_data_${name}`)]);
}

/**
 * The two hops a socket bridge adds, alone: a Node process echoing on a Unix socket (net.Server,
 * as the bridge uses).
 */
const SOCKET_ECHO_SCRIPT = `
import { createServer } from 'node:net';
const server = createServer((socket) => {
  socket.on('data', (chunk) => socket.write(chunk));
  socket.on('error', () => undefined);
});
server.listen(process.argv[1], () => process.stdout.write('ready\\n'));
process.on('SIGTERM', () => process.exit(0));
process.stdin.on('end', () => process.exit(0)).resume();
`;

export function startSocketEcho(context: BenchContext, path: string): Promise<TrackedChild> {
  return startScript(context, 'socket echo', SOCKET_ECHO_SCRIPT, [path]);
}

// ---------------------------------------------------------------------------------------------
// Waiting

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

/** Until `path` exists (`present`) or is gone (`!present`). */
export async function waitForPath(path: string, present: boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (existsSync(path) !== present) {
    if (Date.now() > deadline) throw new Error(`${path} did not ${present ? 'appear' : 'go away'} within ${timeoutMs} ms`);
    await sleep(10);
  }
}

// ---------------------------------------------------------------------------------------------
// /proc (Linux)

const CLOCK_TICKS_PER_S = 100; // USER_HZ: what /proc/<pid>/stat counts in on Linux

/** Cumulative CPU time (all threads) of a process, ms, user and system apart (fields 14 and 15 of /proc/<pid>/stat); NaN when it cannot be read. */
export function processCpuTimesMs(pid: number | undefined): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const toMs = (ticks: string | undefined) => (Number(ticks) * 1000) / CLOCK_TICKS_PER_S;
    return { user: toMs(fields[11]), system: toMs(fields[12]) };
  } catch {
    return { user: Number.NaN, system: Number.NaN }; // not Linux, or gone
  }
}

/** Cumulative CPU time (user + system, all threads) of a process, ms; NaN when it cannot be read. */
export function processCpuMs(pid: number | undefined): number {
  const { user, system } = processCpuTimesMs(pid);
  return user + system;
}

/** A `kB` field of /proc/<pid>/status (VmRSS, RssAnon, …) in KiB; NaN when it cannot be read. */
export function processStatusKiB(pid: number | undefined, field: string): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    return match ? Number(match[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

// ---------------------------------------------------------------------------------------------
// The C floor

/** Where the C floor's source lives in the repository. */
export function floorSourcePath(repoRoot: string): string {
  return resolve(repoRoot, 'bench', 'fdpass.c');
}

export interface FloorResult {
  persistentUs: number;
  persistentOpsPerS: number;
  reconnectUs: number;
}

/**
 * Compiles the C floor, bench/fdpass.c (a copy of the shared baseline, kept in the repository so
 * that `npm run bench` works in a clone; test/bench/fdpass-source.test.ts keeps the two equal),
 * into `dir`; returns the binary. BENCH_FDPASS_SOURCE names another source.
 */
export function buildFloor(context: BenchContext, dir: string): string {
  const source = process.env.BENCH_FDPASS_SOURCE ?? floorSourcePath(context.repoRoot);
  if (!existsSync(source)) {
    throw new BenchSetupError(`the C floor's source ${source} is missing (it ships in bench/; or set BENCH_FDPASS_SOURCE to its path)`);
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
