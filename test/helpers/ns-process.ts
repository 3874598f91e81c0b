/**
 * A process inside a lab host's network namespace (`ip netns exec NS …`), in a process group of
 * its own so that stop() takes everything it started with it (chromium's helpers, a shell's
 * children). Output is captured (bounded) and can be waited on line by line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { IP } from './netns.js';

/** Captured output kept per stream; older text is dropped past it. */
const MAX_CAPTURE = 2 * 1024 * 1024;

export interface NsProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** What to write to stdin, then close it; default: stdin is /dev/null. */
  stdin?: string | Buffer;
  /** Keep stdin open as a pipe (write to `child.stdin`). */
  stdinPipe?: boolean;
  /** Extra fds (e.g. chromium's --remote-debugging-pipe on fds 3 and 4). */
  extraPipes?: number;
}

export interface NsProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr, interleaved as they arrived. */
  output(): string;
  /** Resolves with the first match in one of the lines (past or future) of stdout or stderr. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited(): Promise<number | NodeJS.Signals>;
  /** SIGTERM to the whole group, SIGKILL after graceMs; resolves once the leader has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `argv` in namespace `ns` (or in this namespace when ns is undefined). */
export function spawnInNamespace(ns: string | undefined, argv: string[], options: NsProcessOptions = {}): NsProcess {
  const command = ns === undefined ? argv : [IP, 'netns', 'exec', ns, ...argv];
  const pipes = Array.from({ length: options.extraPipes ?? 0 }, () => 'pipe' as const);
  const child = spawn(command[0]!, command.slice(1), {
    env: options.env ?? process.env,
    cwd: options.cwd,
    detached: true,
    stdio: [options.stdin !== undefined || options.stdinPipe ? 'pipe' : 'ignore', 'pipe', 'pipe', ...pipes],
  });
  if (child.pid === undefined) throw new Error(`cannot start ${command.join(' ')}`);
  const pid = child.pid;
  if (options.stdin !== undefined) child.stdin!.end(options.stdin);
  let out = '';
  let err = '';
  let all = '';
  const waiters = new Set<() => void>();
  const append = (which: 'out' | 'err', chunk: Buffer) => {
    const text = chunk.toString('utf8');
    if (which === 'out') out = trim(out + text);
    else err = trim(err + text);
    all = trim(all + text);
    for (const wake of [...waiters]) wake();
  };
  child.stdout!.on('data', (chunk: Buffer) => append('out', chunk));
  child.stderr!.on('data', (chunk: Buffer) => append('err', chunk));
  let exitValue: number | NodeJS.Signals | undefined;
  const exitedPromise = new Promise<number | NodeJS.Signals>((resolve) => {
    child.once('exit', (code, signal) => {
      exitValue = code ?? signal ?? 0;
      resolve(exitValue);
      for (const wake of [...waiters]) wake();
    });
    child.once('error', () => {
      exitValue = 'SIGKILL';
      resolve(exitValue);
    });
  });
  let stopping: Promise<void> | undefined;
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is gone
    }
  };
  return {
    child,
    pid,
    stdout: () => out,
    stderr: () => err,
    output: () => all,
    exited: () => exitedPromise,
    waitForLine(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (const line of all.split('\n')) {
            const match = pattern.exec(line);
            if (match) {
              done();
              resolve(match);
              return;
            }
          }
          if (exitValue !== undefined) {
            done();
            reject(new Error(`${argv[0]} exited (${exitValue}) before printing a line matching ${pattern}:\n${all.slice(-4000)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${argv[0]} printed no line matching ${pattern} within ${timeoutMs} ms:\n${all.slice(-4000)}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    stop(graceMs = 3000) {
      stopping ??= (async () => {
        if (exitValue === undefined) {
          killGroup('SIGTERM');
          const timer = setTimeout(() => killGroup('SIGKILL'), graceMs);
          await exitedPromise;
          clearTimeout(timer);
        }
        // Children the leader left behind (same group) go too.
        killGroup('SIGKILL');
        if (child.stdout && !child.stdout.destroyed) await Promise.race([once(child.stdout, 'close'), new Promise((r) => setTimeout(r, 500))]);
      })();
      return stopping;
    },
  };
}

function trim(text: string): string {
  return text.length > MAX_CAPTURE ? text.slice(-MAX_CAPTURE / 2) : text;
}
