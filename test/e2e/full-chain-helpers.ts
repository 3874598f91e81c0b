/**
 * Helpers of the full-chain test (test/e2e/full-chain.test.ts): spawned CLI processes whose output
 * is kept and awaited, the served page's controls, and the checks that nothing is left behind
 * (socket files, processes marked through their environment).
 */
import type { ChildProcess } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { spawnCli } from '../helpers/cli.js';
import { waitFor } from './helpers.js';

/**
 * Every process this test starts carries MARKER_ENV=<its temp dir> in its environment, and so do
 * their children (adb clients inherit the daemon's environment). Scanning /proc for it at the end
 * finds any process left behind, even one that was reparented after its parent died.
 */
export const MARKER_ENV = 'AOOB_FULL_CHAIN_MARKER';

/** Generous: two noisy cores, other engineers' tests running at the same time. */
export const STEP_TIMEOUT_MS = 30_000;

/** A spawned `anbox-oob …` whose stdout and stderr are kept. */
export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (null when killed by a signal) once the process has exited. */
  exited: Promise<number | null>;
  /** Waits until stdout satisfies `check`, failing with the output seen so far. */
  waitForStdout(check: (stdout: string) => boolean, what: string): Promise<void>;
  /** Waits for the exit, failing with the output seen so far; returns the exit code. */
  waitForExit(what: string): Promise<number | null>;
  /** Sends `signal` (if still running) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const started = new Set<CliProcess>();

/** Spawns `anbox-oob ARGS` with stdin piped, the marker and `env` in its environment. */
export function startCli(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  const child = spawnCli(args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  // A process that exits while the test still writes to it must not fail the test with EPIPE.
  child.stdin?.on('error', () => undefined);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const describe = () => `\n--- stdout ---\n${out}\n--- stderr ---\n${err}`;
  const cli: CliProcess = {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForStdout: (check, what) => waitFor(() => check(out), what, STEP_TIMEOUT_MS, describe),
    async waitForExit(what) {
      await waitFor(() => child.exitCode !== null || child.signalCode !== null, what, STEP_TIMEOUT_MS, describe);
      return exited;
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  started.add(cli);
  void exited.then(() => started.delete(cli));
  return cli;
}

/** SIGKILLs every CLI process still running (for afterAll after a failure). */
export async function killAllCli(): Promise<void> {
  await Promise.all([...started].map((cli) => cli.stop('SIGKILL')));
}

/** The pids and command lines of the processes whose environment holds MARKER_ENV=marker. */
export function markedProcesses(marker: string): { pid: number; cmdline: string }[] {
  const needle = Buffer.from(`${MARKER_ENV}=${marker}\0`);
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Zombies and other users' processes have no readable environment: not ours to count.
      if (!readFileSync(`/proc/${entry}/environ`).includes(needle)) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`).toString().split('\0').join(' ').trim();
      found.push({ pid: Number(entry), cmdline });
    } catch {
      // gone meanwhile, or not readable
    }
  }
  return found;
}

/** Every socket file under `dir`, recursively, sorted. */
export function socketFilesUnder(dir: string): string[] {
  const found: string[] = [];
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const child = join(path, name);
      const stat = lstatSync(child);
      if (stat.isSocket()) found.push(child);
      else if (stat.isDirectory()) walk(child);
    }
  };
  walk(dir);
  return found.sort();
}

/** Sends `text` on `channel` from the served page, as a person would: select, type, Send. */
export async function sendFromPage(page: Page, channel: string, text: string): Promise<void> {
  await page.getByTestId('channel-select').selectOption(channel);
  await page.getByTestId('message-input').fill(text);
  await page.getByTestId('send').click();
  // The page logs what it sent once every piece went out.
  await page.locator(`[data-testid="log"] li[data-kind="out"][data-channel="${channel}"]`, { hasText: text }).first().waitFor({ timeout: STEP_TIMEOUT_MS });
}

/** Waits until the page logged a message received on `channel` containing `text`. */
export async function pageReceived(page: Page, channel: string, text: string): Promise<void> {
  await page.locator(`[data-testid="log"] li[data-kind="in"][data-channel="${channel}"]`, { hasText: text }).first().waitFor({ timeout: STEP_TIMEOUT_MS });
}

/** The JSON lines `anbox-oob listen` printed so far. */
export interface ListenedBroadcast {
  sequence: number;
  event: string;
  names: string[];
  action: string;
}

export function listenedBroadcasts(listen: CliProcess): ListenedBroadcast[] {
  return listen
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as ListenedBroadcast);
}
