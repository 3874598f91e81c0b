/**
 * Helpers of the load tests (test/load). `npm test` runs them at small sizes; `npm run soak` sets
 * ANBOX_OOB_SOAK=1 and they run at the sizes of the issue (20 MB per direction per channel,
 * 1,000 concurrent connects, 100,000 sequential connects), with timeouts to match.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openFdCount } from '../helpers/daemon.js';

/** True under `npm run soak` (test/faults reads the same variable). */
export const SOAK = process.env.ANBOX_OOB_SOAK === '1';

/** Picks the soak size or the `npm test` size. */
export function size<T>(short: T, long: T): T {
  return SOAK ? long : short;
}

/** Polls `check` every 20 ms until it holds; rejects saying what was awaited (and `detail()`) after timeoutMs. */
export async function waitFor(check: () => boolean, what: string, timeoutMs: number, detail?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `: ${detail()}` : ''}`);
    await sleep(20);
  }
}

/** VmRSS of a process in bytes (Linux /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** The soft RLIMIT_NOFILE of a process (Linux /proc/<pid>/limits); Infinity when unlimited. */
export function openFileLimit(pid: number | 'self' = 'self'): number {
  const match = /^Max open files\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  if (!match) throw new Error(`no "Max open files" in /proc/${pid}/limits`);
  return match[1] === 'unlimited' ? Infinity : Number(match[1]);
}

/**
 * A process's descriptor count once closing has settled (both sides close asynchronously): waits
 * up to `timeoutMs` for it to come down to `atMost`, then returns it whatever it is.
 */
export async function settledFdCount(pid: number, atMost: number, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let count = openFdCount(pid);
  while (count > atMost && Date.now() < deadline) {
    await sleep(50);
    count = openFdCount(pid);
  }
  return count;
}

/** Samples the descriptor count until two readings 200 ms apart agree (a baseline after warm-up). */
export async function stableFdCount(pid: number): Promise<number> {
  let previous = openFdCount(pid);
  for (let i = 0; i < 100; i++) {
    await sleep(200);
    const now = openFdCount(pid);
    if (now === previous) return now;
    previous = now;
  }
  return previous;
}

export const MB = 1e6;
export const MiB = 1024 * 1024;

export function mb(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/**
 * A lean stand-in for a platform channel socket (test/helpers/echo-platform.ts keeps every
 * connection, which 100,000 connects would turn into a memory problem of the test process):
 * listens on `<socketDir>/webrtc_data_<name>`, answers each chunk with `<name>:` + chunk, closes
 * its side at EOF and forgets the connection.
 */
export interface LeanChannel {
  readonly name: string;
  readonly path: string;
  /** Connections accepted so far. */
  accepted: number;
  /** Connections open right now. */
  open: number;
  close(): Promise<void>;
}

export async function startLeanChannel(socketDir: string, name: string): Promise<LeanChannel> {
  const path = join(socketDir, `webrtc_data_${name}`);
  const live = new Set<Socket>();
  const channel: LeanChannel = {
    name,
    path,
    accepted: 0,
    open: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of live) socket.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer({ allowHalfOpen: false }, (socket) => {
    channel.accepted++;
    channel.open++;
    live.add(socket);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => socket.write(Buffer.concat([Buffer.from(`${name}:`), chunk])));
    socket.on('close', () => {
      channel.open--;
      live.delete(socket);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // The kernel caps the backlog at net.core.somaxconn; a large one keeps 1,000 concurrent connects
    // from hitting a full backlog while this (busy) test process is slow to accept.
    server.listen({ path, backlog: 4096 }, () => resolve());
  });
  return channel;
}

/** Writes `line` to a channel connection and resolves with the first `expected.length` bytes it answers. */
export function roundTrip(socket: Socket, line: string, expected: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms; got ${JSON.stringify(data)}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      data += chunk.toString();
      if (data.length >= expected) finish();
    };
    const onEnd = () => finish(new Error(`EOF before the answer; got ${JSON.stringify(data)}`));
    const onError = (error: Error) => finish(error);
    const finish = (error?: Error) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      if (error) reject(error);
      else resolve(data);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.write(line);
  });
}

