import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { Platform, type PlatformEvent, type PlatformOptions } from '../../../src/platform/platform.js';
import { makeTempDir, removeTempDir } from '../../helpers/temp-dir.js';

export type LogLine = Record<string, unknown> & { msg?: string; level?: number; event?: string };

/** A pino logger whose JSON lines are kept for assertions (and printed when TEST_LOG_LEVEL is set). */
export function captureLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const echo = process.env.TEST_LOG_LEVEL !== undefined;
  const log = pino(
    { level: process.env.TEST_LOG_LEVEL ?? 'debug' },
    {
      write(line: string) {
        lines.push(JSON.parse(line) as LogLine);
        if (echo) process.stderr.write(line);
      },
    },
  );
  return { log, lines };
}

export interface Harness {
  platform: Platform;
  dir: string;
  socketDir: string;
  webDir: string;
  lines: LogLine[];
  /** Resolves with the first event (past or future, from `since`) matching. */
  waitForEvent<T extends PlatformEvent['type']>(type: T, match?: (event: Extract<PlatformEvent, { type: T }>) => boolean, timeoutMs?: number, since?: number): Promise<Extract<PlatformEvent, { type: T }>>;
  /** Number of events so far (a `since` mark for waitForEvent). */
  mark(): number;
  close(): Promise<void>;
}

export const TEST_TOKEN = 'test-token-0123456789';

export async function startHarness(options: Partial<PlatformOptions> = {}): Promise<Harness> {
  const dir = makeTempDir('aoob-pf-');
  const socketDir = join(dir, 'sockets');
  const webDir = options.webDir ?? join(dir, 'web');
  const { log, lines } = captureLogger();
  const platform = await Platform.start({ socketDir, listen: { host: '127.0.0.1', port: 0 }, token: TEST_TOKEN, log, webDir, ...options });
  const events: PlatformEvent[] = [];
  const listeners = new Set<() => void>();
  platform.onEvent((event) => {
    events.push(event);
    for (const l of listeners) l();
  });
  return {
    platform,
    dir,
    socketDir,
    webDir,
    lines,
    mark: () => events.length,
    waitForEvent(type, match = () => true, timeoutMs = 15_000, since = 0) {
      type E = Extract<PlatformEvent, { type: typeof type }>;
      return new Promise<E>((resolve, reject) => {
        const check = (): boolean => {
          const found = events.slice(since).find((e): e is E => e.type === type && match(e as E));
          if (found) {
            cleanup();
            resolve(found);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${type}; events: ${JSON.stringify(events)}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(onEvent);
        };
        const onEvent = () => void check();
        listeners.add(onEvent);
        check();
      });
    },
    async close() {
      await platform.close();
      removeTempDir(dir);
    },
  };
}

export async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface AppConnection {
  socket: Socket;
  data(): Buffer;
  ended: Promise<void>;
  /** Waits until what was read so far satisfies check. */
  until(check: (data: Buffer) => boolean, what: string, timeoutMs?: number): Promise<void>;
}

/** Connects to a channel socket the way socat or an app does. */
export async function connectApp(path: string): Promise<AppConnection> {
  const socket = createConnection(path);
  let received = Buffer.alloc(0);
  let resolveEnded!: () => void;
  const ended = new Promise<void>((r) => (resolveEnded = r));
  socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
  socket.on('end', () => resolveEnded());
  socket.on('close', () => resolveEnded());
  socket.on('error', () => resolveEnded());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return {
    socket,
    data: () => received,
    ended,
    until: (check, what, timeoutMs = 10_000) => waitFor(() => check(received), `${what} (read ${JSON.stringify(received.toString())})`, timeoutMs),
  };
}
