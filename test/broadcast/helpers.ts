import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Logger } from '../../src/log/logger.js';
import { listeningUnixSocketPaths } from '../../src/io/unix-socket-table.js';

export interface LogRecord {
  level: number;
  msg: string;
  event?: string;
  [field: string]: unknown;
}

/** A pino logger (level debug) whose lines are kept, parsed, in `records`. */
export function captureLogger(): { logger: Logger; records: LogRecord[]; events: (event: string) => LogRecord[] } {
  const records: LogRecord[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) records.push(JSON.parse(line) as LogRecord);
      callback();
    },
  });
  const logger = pino({ level: 'debug' }, stream);
  return { logger, records, events: (event) => records.filter((r) => r.event === event) };
}

/** Polls `predicate` every 10 ms until it holds; rejects with `what` after timeoutMs. No fixed sleeps. */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface SocatListener {
  path: string;
  child: ChildProcess;
  /** Resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const running = new Set<SocatListener>();

/** Real socat listening on `path` (`socat UNIX-LISTEN:<path>,fork -`), ready when this resolves. */
export async function startSocat(path: string): Promise<SocatListener> {
  const child = spawn('socat', [`UNIX-LISTEN:${path},fork`, '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const listener: SocatListener = {
    path,
    child,
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
      running.delete(listener);
    },
  };
  running.add(listener);
  try {
    await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`socat exited (${child.exitCode}): ${stderr}`);
      return listeningUnixSocketPaths().has(path);
    }, `socat listening on ${path}`);
  } catch (error) {
    await listener.kill('SIGKILL');
    throw error;
  }
  return listener;
}

/** Kills every socat still running (for afterEach). */
export async function killAllSocat(): Promise<void> {
  await Promise.all([...running].map((l) => l.kill('SIGKILL')));
}

/** A socket file nobody listens on: bound by a process that exits without unlinking it. */
export async function makeDeadSocketFile(path: string): Promise<void> {
  const child = spawn('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(sys.argv[1])', path], { stdio: 'ignore' });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  if (code !== 0) throw new Error(`python3 could not bind ${path} (exit ${code})`);
}

/** A deferred promise, for sinks whose deliveries a test completes by hand. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** What a POSIX sh (the local one, standing in for the device's) splits a command line into. */
export function shellWords(commandLine: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', `set -- ${commandLine}; for a in "$@"; do printf '%s\\0' "$a"; done`], { encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}
