import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReceivedBroadcast } from '../../../src/broadcast/local/intent-codec.js';
import { listenForBroadcasts, type BroadcastListener } from '../../../src/broadcast/local/receiver.js';
import type { ChannelBroadcast } from '../../../src/broadcast/types.js';
import { REPO_ROOT } from '../../helpers/cli.js';

export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export function broadcast(sequence: number, event: 'created' | 'destroyed' = 'created', names: string[] = [`ch${sequence}`]): ChannelBroadcast {
  return { sequence, event, names, timestamp: 1_700_000_000_000 + sequence };
}

export interface CollectingReceiver {
  listener: BroadcastListener;
  received: ReceivedBroadcast[];
  errors: Error[];
}

/** A receiver.ts listener that records what it gets. */
export async function collectingReceiver(dir: string, name?: string): Promise<CollectingReceiver> {
  const received: ReceivedBroadcast[] = [];
  const errors: Error[] = [];
  const listener = await listenForBroadcasts({ dir, name, onBroadcast: (b) => received.push(b), onError: (e) => errors.push(e) });
  return { listener, received, errors };
}

/** The Python receiver of docs/broadcasts.md, extracted from the document so that both stay the same. */
export function docsPythonReceiver(targetDir: string): string {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'broadcasts.md'), 'utf8');
  const match = /```python\n([\s\S]*?)```/.exec(doc);
  if (!match) throw new Error('docs/broadcasts.md has no python block');
  const file = join(targetDir, 'receiver.py');
  writeFileSync(file, match[1]!);
  return file;
}

export interface PythonReceiver {
  child: ChildProcess;
  /** `sequence event names timestamp` lines printed so far. */
  lines(): string[];
  socketPath: string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs the docs' Python receiver with ANBOX_OOB_RECEIVERS_DIR=dir; resolves once its socket is bound. */
export async function startPythonReceiver(script: string, dir: string): Promise<PythonReceiver> {
  const child = spawn('python3', [script], { env: { ...process.env, ANBOX_OOB_RECEIVERS_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const socketPath = join(dir, `${child.pid}.sock`);
  await waitFor(() => existsSync(socketPath) || child.exitCode !== null, 'the python receiver to bind');
  if (child.exitCode !== null) throw new Error(`python receiver exited: ${err}`);
  return {
    child,
    socketPath,
    lines: () => out.split('\n').filter((line) => line.length > 0),
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** A Python process that binds `count` datagram sockets in `dir` and never reads them. */
export async function startStuckReceivers(dir: string, count: number, prefix = 'stuck'): Promise<{ paths: string[]; kill(): Promise<void> }> {
  const code = [
    'import os, socket, sys, time',
    'd, n, p = sys.argv[1], int(sys.argv[2]), sys.argv[3]',
    'keep = []',
    'for i in range(n):',
    '    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    '    s.bind(os.path.join(d, "%s%03d.sock" % (p, i)))',
    '    keep.append(s)',
    'print("ready", flush=True)',
    'time.sleep(600)',
  ].join('\n');
  const child = spawn('python3', ['-c', code, dir, String(count), prefix], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`stuck receivers exited with ${code}`)));
  });
  return {
    paths: Array.from({ length: count }, (_, i) => join(dir, `${prefix}${String(i).padStart(3, '0')}.sock`)),
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
