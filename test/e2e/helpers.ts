/**
 * Helpers of the end-to-end tests (test/e2e): the real platform in-process with its log kept for
 * failure reports, a tiny static server for the protocol page (another origin than the platform:
 * CORS for real), real `socat - UNIX-CONNECT:<path>` with pipes, and polling without fixed sleeps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { delimiter, extname, join, normalize, sep } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Platform, type PlatformEvent } from '../../src/platform/platform.js';

export const PAGES_DIR = fileURLToPath(new URL('./pages/', import.meta.url));

/** Polls `check` every 20 ms until it holds; rejects saying what was awaited (and `detail()`) after timeoutMs. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 15_000, detail?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `: ${detail()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Throws a clear error when `name` is not an executable on PATH (the test must fail, not skip). */
export function requireExecutable(name: string, install: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(`${name} is not installed (not on PATH): these end-to-end tests need the real ${name}. Install it (${install}); .ci/run does.`);
}

/** The channel sockets (`webrtc_data_*`) present in `socketDir`, sorted, as channel names. */
export function channelSockets(socketDir: string): string[] {
  return readdirSync(socketDir)
    .filter((f) => f.startsWith('webrtc_data_'))
    .map((f) => f.slice('webrtc_data_'.length))
    .sort();
}

export interface TestPlatform {
  platform: Platform;
  /** Every platform event, in order. */
  events: PlatformEvent[];
  /** The platform's log lines (level info and above), parsed; the last 2000 are kept. */
  logs: Record<string, unknown>[];
  /** The last `n` log lines, for a failure report. */
  tail(n?: number): string;
  close(): Promise<void>;
}

/** The real platform, in this process, on a free port of 127.0.0.1. */
export async function startTestPlatform(socketDir: string, token: string): Promise<TestPlatform> {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) {
        if (!line.trim()) continue;
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          logs.push({ msg: line });
        }
      }
      if (logs.length > 2000) logs.splice(0, logs.length - 2000);
      callback();
    },
  });
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'info' }, sink);
  const platform = await Platform.start({ socketDir, listen: { host: '127.0.0.1', port: 0 }, token, log });
  const events: PlatformEvent[] = [];
  platform.onEvent((event) => events.push(event));
  return {
    platform,
    events,
    logs,
    tail: (n = 80) =>
      logs
        .slice(-n)
        .map((r) => `${String(r.level)} ${String(r.event ?? '')} ${String(r.channel ?? '')} ${String(r.msg ?? '')}`)
        .join('\n'),
    close: () => platform.close(),
  };
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

export interface StaticServer {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  close(): Promise<void>;
}

/** Serves the files of `dir` (GET only), on its own port: another origin than the platform. */
export async function startStaticServer(dir: string): Promise<StaticServer> {
  const root = normalize(dir.endsWith(sep) ? dir : dir + sep);
  const server: Server = createServer((req, res) => {
    const path = normalize(join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    if (req.method !== 'GET' || !path.startsWith(root)) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = readFileSync(path);
      res.writeHead(200, { 'Content-Type': CONTENT_TYPES[extname(path)] ?? 'application/octet-stream', 'Cache-Control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Real `socat - UNIX-CONNECT:<path>`: what is written to `stdin` goes to the channel socket, what
 * the socket delivers accumulates in `output` (socat's stdout).
 */
export class Socat {
  private static readonly running = new Set<Socat>();
  readonly child: ChildProcess;
  private chunks: Buffer[] = [];
  private outputLength = 0;
  stderr = '';
  exitCode: number | null | undefined;
  readonly exited: Promise<void>;

  private constructor(readonly path: string) {
    this.child = spawn('socat', ['-', `UNIX-CONNECT:${path}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.outputLength += chunk.length;
    });
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.child.stdin!.on('error', () => undefined); // EPIPE once socat is gone: seen through exitCode
    this.exited = new Promise<void>((resolve) => {
      this.child.once('exit', (code) => {
        this.exitCode = code;
        Socat.running.delete(this);
        resolve();
      });
    });
    Socat.running.add(this);
  }

  /** Starts socat connected to `path` (the socket must exist). */
  static connect(path: string): Socat {
    return new Socat(path);
  }

  get output(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  write(data: string | Buffer): Promise<void> {
    if (!this.running) throw new Error(`socat (${this.path}) has exited (${String(this.exitCode)}): ${this.stderr}`);
    return new Promise<void>((resolve, reject) => this.child.stdin!.write(data, (error) => (error ? reject(error) : resolve())));
  }

  /** Waits until socat's stdout holds `length` bytes (from the start), and returns them. */
  async waitForOutput(length: number, what: string, timeoutMs = 15_000): Promise<Buffer> {
    await waitFor(() => this.outputLength >= length, what, timeoutMs, () => `socat stdout has ${this.outputLength} bytes: ${this.output.toString('hex')}; exit ${String(this.exitCode)} ${this.stderr}`);
    return this.output.subarray(0, length);
  }

  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Kills every socat still running (afterEach). */
  static async killAll(): Promise<void> {
    await Promise.all([...Socat.running].map((s) => s.kill()));
  }
}
