// Shared by the service attack tests, the attack fuzz and the soak run: runs the hostile client
// (service-attacker.mjs) as a process of its own, as root or as another uid through setpriv, and
// samples the daemon's RSS and descriptors while it runs.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataProxyClient } from '../../../src/client/data-proxy-client.js';
import { assertBuilt } from '../../helpers/cli.js';
import { openFdCount } from '../../helpers/daemon.js';

const ATTACKER = fileURLToPath(new URL('./service-attacker.mjs', import.meta.url));
const SETPRIV = '/usr/bin/setpriv';
/** The second uid of these tests; group 0 so that it may open the daemon's 0660 socket (a group member). */
export const OTHER_UID = 65534;

export type AttackMode = 'flood' | 'pipeline' | 'partial' | 'noread';

/** Runs one attacker process to its end and returns the JSON it printed. */
export function runAttacker<T = Record<string, unknown>>(mode: AttackMode, servicePath: string, options: object = {}, as: { uid?: number } = {}): Promise<T> {
  assertBuilt();
  const node = process.execPath;
  let file = node;
  let args = [ATTACKER, mode, servicePath, JSON.stringify(options)];
  if (as.uid !== undefined) {
    if (process.getuid?.() !== 0) throw new Error(`this test runs an attacker as uid ${as.uid} and must run as root (CI does)`);
    if (!existsSync(SETPRIV)) throw new Error(`${SETPRIV} is missing (apt-get install util-linux)`);
    file = SETPRIV;
    args = ['--reuid', String(as.uid), '--regid', '0', '--clear-groups', node, ...args];
  }
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`attacker ${mode} failed: ${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop()!) as T);
    });
  });
}

export function rssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

export interface Peaks {
  rssKiB: number;
  fds: number;
}

/** Samples the daemon's RSS and descriptor count every 25 ms until `work` settles; returns the peaks with its result. */
export async function whileSampling<T>(pid: number, work: Promise<T>): Promise<{ result: T; peak: Peaks }> {
  const peak: Peaks = { rssKiB: rssKiB(pid), fds: openFdCount(pid) };
  let done = false;
  const sampler = (async () => {
    while (!done) {
      peak.rssKiB = Math.max(peak.rssKiB, rssKiB(pid));
      peak.fds = Math.max(peak.fds, openFdCount(pid));
      await sleep(25);
    }
  })();
  try {
    return { result: await work, peak };
  } finally {
    done = true;
    await sampler;
  }
}

/**
 * A legitimate client (this process's uid, allowed) connects to `channel` again and again while
 * `during` runs; resolves with how many connects were served and every failure's message.
 */
export async function legitimateClientDuring(servicePath: string, channel: string, during: Promise<unknown>): Promise<{ served: number; failures: string[] }> {
  let running = true;
  void during.finally(() => (running = false));
  let served = 0;
  const failures: string[] = [];
  do {
    const client = new DataProxyClient({ servicePath });
    try {
      const socket = await client.connect(channel);
      socket.destroy();
      served++;
    } catch (error) {
      failures.push((error as Error).message);
    } finally {
      client.close();
    }
    await sleep(50);
  } while (running);
  return { served, failures };
}

/** Log lines of these events in the daemon's output. */
export function countEvents(lines: Record<string, unknown>[], events: string[]): number {
  return lines.filter((line) => events.includes(String(line.event))).length;
}
