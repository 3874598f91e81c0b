/**
 * A daemon command (`serve`, `proxy`, `platform`) as a child process with the exact environment a
 * test gives it: nothing inherited that would choose paths or options (ANBOX_OOB_*, XDG_*,
 * ANDROID_SERIAL, HOME), so that defaults are really the defaults. `prefix` runs it under another
 * program first (setpriv, to be another user).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, assertBuilt } from '../../helpers/cli.js';
import { waitFor } from '../../broadcast/helpers.js';

export interface DaemonProcess {
  child: ChildProcess;
  output(): string;
  /** Output with pino-pretty's colours removed. */
  plainOutput(): string;
  lines(): Record<string, unknown>[];
  /** The first JSON line with this event, waiting for it; throws if the process exits first. */
  line(event: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Waits until the output contains `text`; throws if the process exits first. */
  waitForText(text: string, timeoutMs?: number): Promise<void>;
  exit: Promise<number | null>;
  /** Sends `signal` (default SIGTERM) and waits for the exit code; SIGKILL after 20 s. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const live = new Set<DaemonProcess>();

/** The environment of the test process minus everything that would pick paths or options. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(ANBOX_OOB_|XDG_|ANDROID_)/.test(name) || name === 'HOME' || name === 'TMPDIR') continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

export function startDaemonProcess(args: string[], env: NodeJS.ProcessEnv, prefix: string[] = []): DaemonProcess {
  assertBuilt();
  const argv = [...prefix, process.execPath, CLI, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines = () =>
    output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const handle: DaemonProcess = {
    child,
    output: () => output,
    plainOutput: () => output.replace(/\x1b\[[0-9;]*m/g, ''),
    lines,
    exit,
    async line(event, timeoutMs = 30_000) {
      await waitFor(() => lines().some((l) => l.event === event) || exited(), `${event} in:\n${output}`, timeoutMs);
      const found = lines().find((l) => l.event === event);
      if (!found) throw new Error(`exited (${child.exitCode}) without ${event}:\n${output}`);
      return found;
    },
    async waitForText(text, timeoutMs = 30_000) {
      await waitFor(() => handle.plainOutput().includes(text) || exited(), `"${text}" in:\n${output}`, timeoutMs);
      if (!handle.plainOutput().includes(text)) throw new Error(`exited (${child.exitCode}) without printing "${text}":\n${output}`);
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!exited()) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exit;
      clearTimeout(timer);
      live.delete(handle);
      return code;
    },
  };
  live.add(handle);
  return handle;
}

/** Stops every daemon a test started and did not stop (afterEach). */
export async function stopAllDaemons(): Promise<void> {
  await Promise.all([...live].map((d) => d.stop('SIGKILL')));
}

/** Every Unix socket file below `dir`. */
export function socketFilesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...socketFilesUnder(path));
    else if (lstatSync(path).isSocket()) found.push(path);
  }
  return found;
}
