import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI, spawnCli } from './cli.js';

export interface DaemonHandle {
  child: ChildProcess;
  pid: number;
  servicePath: string;
  socketDir: string;
  /** Everything the daemon printed so far (JSON log lines). */
  output(): string;
  /** Parsed JSON log lines. */
  logLines(): Record<string, unknown>[];
  /** SIGTERM and wait; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `anbox-oob proxy` on sockets inside `dir` and waits until its service socket exists.
 * `shellPrefix` runs it under /bin/sh after that command (e.g. to lower `ulimit -n`).
 */
export async function startDaemon(
  dir: string,
  extraArgs: string[] = [],
  options: { shellPrefix?: string; env?: NodeJS.ProcessEnv; command?: 'proxy' | 'serve' } = {},
): Promise<DaemonHandle> {
  const servicePath = join(dir, 'svc.sock');
  const socketDir = join(dir, 'sockets');
  const command = options.command ?? 'proxy';
  // Receivers default to a directory of this test's own, never the user's.
  const receivers = extraArgs.includes('--receivers-dir') ? [] : ['--receivers-dir', join(dir, 'receivers')];
  const platformArgs = command === 'serve' && !extraArgs.includes('--listen') ? ['--listen', '127.0.0.1:0'] : [];
  const args = [command, '--socket-dir', socketDir, '--service-socket', servicePath, '--log-format', 'json', ...receivers, ...platformArgs, ...extraArgs];
  const readyEvent = command === 'serve' ? 'serve.ready' : 'daemon.started';
  const env = { ...process.env, ...options.env };
  let child: ChildProcess;
  if (options.shellPrefix) {
    const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    child = spawn('/bin/sh', ['-c', `${options.shellPrefix}; exec ${quoted}`], { stdio: ['ignore', 'pipe', 'pipe'], env });
  } else {
    child = spawnCli(args, { env });
  }
  live.add(child);
  child.on('exit', () => live.delete(child));
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 15_000;
  while (!existsSync(servicePath) || !output.includes(readyEvent)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`daemon did not start (exit ${child.exitCode}):\n${output}`);
    }
    await sleep(20);
  }
  return {
    child,
    pid: child.pid!,
    servicePath,
    socketDir,
    output: () => output,
    logLines: () =>
      output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Daemons still running; killed if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** The first JSON log line with this event, or undefined. */
export function logEvent(daemon: DaemonHandle, event: string): Record<string, unknown> | undefined {
  return daemon.logLines().find((line) => line.event === event);
}

/** Number of open descriptors of a process (Linux /proc). */
export function openFdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** What each open descriptor of `pid` points at (`3 -> socket:[123]`), to name a leak in a failure message. */
export function openFdTargets(pid: number): string[] {
  const targets: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      targets.push(`${fd} -> ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`);
    } catch {
      // closed between the listing and the readlink
    }
  }
  return targets;
}
