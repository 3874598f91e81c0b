/**
 * The benchmark's side of a ./bridge-peer.ts child process: JSON-line commands out, answers and
 * signaling in, every wait bounded, a dead child failing whatever waits on it.
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { builtFile } from './fixtures.js';
import type { BenchContext, TrackedChild } from './harness.js';

export type PeerRole = 'raw-platform' | 'raw-peer' | 'web-peer';


export interface WorkerMessage {
  type: string;
  id?: number;
  [key: string]: unknown;
}

export class Worker {
  readonly tracked: TrackedChild;
  onSignal: (signal: Record<string, unknown>) => void = () => undefined;
  private readonly inbox: WorkerMessage[] = [];
  private readonly waiters = new Set<{ match: (m: WorkerMessage) => boolean; resolve: (m: WorkerMessage) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;
  private nextId = 1;

  /** `node dist/bench/bridge-peer.js ROLE ...args`. */
  constructor(context: BenchContext, label: string, role: PeerRole, args: readonly string[] = []) {
    const script = builtFile(context, 'bench', 'bridge-peer.js');
    this.tracked = context.spawnChild(label, process.execPath, [script, role, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const child = this.tracked.child;
    child.stdin?.on('error', () => undefined); // EPIPE once it is gone: reported through exit
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let message: WorkerMessage;
      try {
        message = JSON.parse(line) as WorkerMessage;
      } catch {
        return; // not ours
      }
      if (message.type === 'signal') {
        const { type: _type, ...signal } = message;
        this.onSignal(signal);
        return;
      }
      if (message.type === 'error') {
        this.fail(new Error(`${label}: ${String(message.message)}`));
        return;
      }
      for (const waiter of this.waiters) {
        if (waiter.match(message)) {
          this.waiters.delete(waiter);
          waiter.resolve(message);
          return;
        }
      }
      this.inbox.push(message);
    });
    void this.tracked.exited.then(
      (code) => this.fail(new Error(`${label} exited (${code})`)),
      (error: Error) => this.fail(error),
    );
  }

  send(command: Record<string, unknown>): void {
    if (this.failure) throw this.failure;
    this.tracked.child.stdin?.write(`${JSON.stringify(command)}\n`);
  }

  /** Sends a command with a fresh id; resolves with the answer of type `answer`. */
  async request(command: Record<string, unknown>, answer: string, timeoutMs: number): Promise<WorkerMessage> {
    const id = this.nextId++;
    const reply = this.next(answer, timeoutMs, id);
    this.send({ ...command, id });
    return reply;
  }

  /** Starts a command; `reply(type)` waits for one of its answers. */
  start(command: Record<string, unknown>): { id: number; reply(type: string, timeoutMs: number): Promise<WorkerMessage> } {
    const id = this.nextId++;
    this.send({ ...command, id });
    return { id, reply: (type, timeoutMs) => this.next(type, timeoutMs, id) };
  }

  next(type: string, timeoutMs: number, id?: number): Promise<WorkerMessage> {
    const match = (m: WorkerMessage) => m.type === type && (id === undefined || m.id === id);
    const index = this.inbox.findIndex(match);
    if (index >= 0) return Promise.resolve(this.inbox.splice(index, 1)[0]!);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<WorkerMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${this.tracked.label}: no "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (m: WorkerMessage) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.add(waiter);
    });
  }

  async quit(): Promise<void> {
    if (!this.failure) {
      try {
        this.tracked.child.stdin?.end(`${JSON.stringify({ cmd: 'quit' })}\n`);
      } catch {
        // gone
      }
      const timer = sleep(3000).then(() => 'timeout');
      if ((await Promise.race([this.tracked.exited.catch(() => 'error'), timer])) !== 'timeout') return;
    }
    await this.tracked.stop('SIGTERM', 2000);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiters) waiter.reject(this.failure);
    this.waiters.clear();
  }
}
