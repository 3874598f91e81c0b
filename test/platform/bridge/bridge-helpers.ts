import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Logger } from '../../../src/log/logger.js';
import type { DataChannelPort } from '../../../src/platform/bridge/data-channel-port.js';

export type SentMessage = { type: 'text'; text: string } | { type: 'binary'; data: Buffer };

/** A DataChannelPort that records messages; the test controls bufferedAmount, maxMessageSize and failures. */
export class FakePort implements DataChannelPort {
  readonly label = 'fake';
  readonly messages: SentMessage[] = [];
  buffered = 0;
  /** Each send adds its size to `buffered`, like a channel whose peer reads nothing until drained. */
  autoBuffer = false;
  max = 65536;
  threshold: number | undefined;
  failWith: Error | undefined;
  /** What send returns (false = queued; not a failure). */
  sendResult = true;
  receivedBytes = 0;

  sendText(text: string): boolean {
    return this.record({ type: 'text', text }, Buffer.byteLength(text));
  }

  sendBinary(data: Buffer): boolean {
    return this.record({ type: 'binary', data: Buffer.from(data) }, data.length);
  }

  bufferedAmount(): number {
    return this.buffered;
  }

  maxMessageSize(): number {
    return this.max;
  }

  setBufferedAmountLowThreshold(bytes: number): void {
    this.threshold = bytes;
  }

  /** Everything received, as the browser would rebuild it. */
  bytes(): Buffer {
    return Buffer.concat(this.messages.map((m) => (m.type === 'text' ? Buffer.from(m.text, 'utf8') : m.data)));
  }

  private record(message: SentMessage, size: number): boolean {
    if (this.failWith) throw this.failWith;
    this.messages.push(message);
    this.receivedBytes += size;
    if (this.autoBuffer) this.buffered += size;
    return this.sendResult;
  }
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A debug-level pino logger whose JSON lines are kept for assertions. */
export function captureLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { log, lines };
}

export function makeDir(): string {
  return mkdtempSync(join(tmpdir(), 'aoob-br-'));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** What a client socket received and whether it saw EOF / close. */
export interface AppClient {
  socket: Socket;
  received: () => Buffer;
  ended: boolean;
  closed: boolean;
  error: Error | undefined;
}

export async function connectApp(path: string, options: { allowHalfOpen?: boolean } = {}): Promise<AppClient> {
  const socket = createConnection({ path, allowHalfOpen: options.allowHalfOpen ?? false });
  const chunks: Buffer[] = [];
  const client: AppClient = { socket, received: () => Buffer.concat(chunks), ended: false, closed: false, error: undefined };
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('end', () => (client.ended = true));
  socket.on('close', () => (client.closed = true));
  socket.on('error', (error) => (client.error = error));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return client;
}

/** Polls `predicate` every 5 ms; rejects with `what` after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
