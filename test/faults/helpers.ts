/**
 * Helpers of the fault tests (test/faults): the platform as a process of its own (so that it can be
 * SIGKILLed), CPU time of a process from /proc (the spin check), `anbox-oob status --json`, and data
 * pumps that keep bytes flowing both ways until the connection dies.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { WebClientChannel } from '../../src/headless-client/web-client.js';
import { runCli, spawnCli } from '../helpers/cli.js';

/** `ANBOX_OOB_SOAK=1` (npm run soak): the long versions, more cycles and bigger transfers. */
export const SOAK = process.env.ANBOX_OOB_SOAK === '1';

/** Polls `check` every 20 ms; rejects saying what was awaited (and `detail()`) after timeoutMs. No fixed sleeps. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 20_000, detail?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface LoggedProcess {
  child: ChildProcess;
  pid: number;
  output(): string;
  logLines(): Record<string, unknown>[];
  /** Lines with this `event`. */
  events(event: string): Record<string, unknown>[];
  /** Resolves with the exit code (null when killed by a signal) once the process has exited. */
  exited: Promise<number | null>;
  /** Sends `signal` (default SIGTERM; SIGKILL after 10 s) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Wraps a spawned CLI process: keeps its output, parses its JSON log lines. */
export function track(child: ChildProcess): LoggedProcess {
  live.add(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
  void exited.then(() => live.delete(child));
  const logLines = () =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return []; // a line still being written
        }
      });
  return {
    child,
    pid: child.pid!,
    output: () => output,
    logLines,
    events: (event) => logLines().filter((line) => line.event === event),
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export interface PlatformProcess extends LoggedProcess {
  /** The gateway URL, e.g. http://127.0.0.1:40123 */
  gateway: string;
  token: string;
}

/** `anbox-oob platform` on a free loopback port, as a process of its own; resolves once it listens. */
export async function startPlatformProcess(socketDir: string, token: string): Promise<PlatformProcess> {
  const proc = track(spawnCli(['platform', '--socket-dir', socketDir, '--listen', '127.0.0.1:0', '--token', token, '--log-format', 'json']));
  let gateway: string | undefined;
  await waitFor(
    () => {
      if (proc.child.exitCode !== null) throw new Error(`anbox-oob platform exited (${proc.child.exitCode}):\n${proc.output()}`);
      const started = proc.events('platform.started')[0];
      gateway = typeof started?.gateway === 'string' ? started.gateway : undefined;
      return gateway !== undefined;
    },
    'anbox-oob platform to start',
    30_000,
    proc.output,
  );
  return { ...proc, gateway: gateway!, token };
}

/** User + system CPU time of a process so far, in clock ticks (/proc/<pid>/stat fields 14 and 15). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Clock ticks per second as /proc reports them (USER_HZ: 100 on every Linux architecture Node supports). */
export const CLOCK_TICKS_PER_SECOND = 100;

/** `anbox-oob status --json` against a daemon; throws with the CLI's output when it fails. */
export async function statusJson(servicePath: string): Promise<Record<string, unknown> & { channels: string[] }> {
  const result = await runCli(['status', '--json', '--service-socket', servicePath], { timeoutMs: 30_000 });
  if (result.code !== 0) throw new Error(`anbox-oob status failed (${result.code}): ${result.stderr}${result.stdout}`);
  return JSON.parse(result.stdout) as Record<string, unknown> & { channels: string[] };
}

/** Counts bytes an app connection received, and how it ended. */
export interface AppEnd {
  received: number;
  ended: boolean;
  closed: boolean;
  error: string | undefined;
}

/**
 * Writes random bytes to `socket` as fast as it takes them (pacing on 'drain') until it closes or
 * fails, and counts what it reads. Returns the live counters and a stop function.
 */
export function pumpSocket(socket: Socket, chunkBytes = 64 * 1024): { state: AppEnd & { sent: number }; stop(): void } {
  const state = { received: 0, sent: 0, ended: false, closed: false, error: undefined as string | undefined };
  let stopped = false;
  socket.on('data', (chunk: Buffer) => (state.received += chunk.length));
  socket.on('end', () => (state.ended = true));
  socket.on('close', () => (state.closed = true));
  socket.on('error', (error) => (state.error = (error as NodeJS.ErrnoException).code ?? error.message));
  const chunk = randomBytes(chunkBytes);
  const write = (): void => {
    while (!stopped && !socket.destroyed && socket.writable) {
      state.sent += chunk.length;
      if (!socket.write(chunk)) {
        socket.once('drain', write);
        return;
      }
    }
  };
  write();
  return {
    state,
    stop: () => {
      stopped = true;
    },
  };
}

/**
 * Sends random bytes on a web client channel (each send waits for the buffered amount to fall under
 * the high-water mark) until stopped or the channel closes, and counts what it receives.
 */
export function pumpChannel(channel: WebClientChannel, chunkBytes = 64 * 1024): { state: { received: number; sent: number }; stop(): void; done: Promise<void> } {
  const state = { received: 0, sent: 0 };
  let stopped = false;
  channel.on('message', (message) => (state.received += typeof message === 'string' ? Buffer.byteLength(message, 'utf8') : message.length));
  const chunk = randomBytes(chunkBytes);
  const done = (async () => {
    while (!stopped && channel.state === 'open') {
      try {
        await channel.send(chunk);
        state.sent += chunk.length;
      } catch {
        return; // the channel closed: the pump is over
      }
    }
  })();
  return {
    state,
    stop: () => {
      stopped = true;
    },
    done,
  };
}

/** What a process's descriptors point to (for failure reports of descriptor checks). */
export function describeFds(pid: number): string {
  return readdirSync(`/proc/${pid}/fd`)
    .map((fd) => {
      try {
        return `${fd} -> ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`;
      } catch {
        return `${fd} -> (gone)`;
      }
    })
    .join('\n');
}
