/**
 * Helpers of the security tests: a second uid through setpriv (as the existing permission tests
 * do), tools that must be there (a missing tool fails the test, never skips it), and the CLI run
 * as that uid.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { CLI, assertBuilt } from '../helpers/cli.js';

/** The other uid (nobody): the attacker, or an allowed client. */
export const NOBODY = 65534;
export const SETPRIV = '/usr/bin/setpriv';

/** Throws (the test fails) unless this runs as root with setpriv and each named tool present. */
export function requireRootAnd(...tools: string[]): void {
  if (process.getuid?.() !== 0) throw new Error('the security tests run processes as uid 65534 through setpriv: run them as root (CI does)');
  for (const tool of [SETPRIV, ...tools]) {
    const probe = spawnSync(tool, ['-V'], { encoding: 'utf8' });
    if (probe.error) throw new Error(`${tool} is missing: install it (apt-get install ${tool === SETPRIV ? 'util-linux' : tool})`);
  }
}

/** setpriv's argv prefix to run as `uid`, with gid `uid` and the supplementary groups given (none by default). */
export function asUid(uid: number, groups: number[] = []): string[] {
  const groupArgs = groups.length > 0 ? [`--groups=${groups.join(',')}`] : ['--clear-groups'];
  return [SETPRIV, `--reuid=${uid}`, `--regid=${uid}`, ...groupArgs];
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs argv to completion (at most timeoutMs). */
export function run(argv: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(argv[0]!, argv.slice(1), { env: options.env ?? process.env, timeout: options.timeoutMs ?? 20_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : null) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.on('error', () => undefined); // EPIPE when the process exits without reading
    child.stdin?.end(options.input ?? '');
  });
}

/** `anbox-oob ARGS` as argv (prefixed to run as another uid when `prefix` is given). */
export function cliArgv(args: string[], prefix: string[] = []): string[] {
  assertBuilt();
  return [...prefix, process.execPath, CLI, ...args];
}

const started = new Set<ChildProcess>();

/** A long-running process (socat, listen); killed by killStarted(). */
export function startProcess(argv: string[], env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; output(): string; exited: Promise<number | null> } {
  const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
  started.add(child);
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString('latin1')));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString('latin1')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    started.delete(child);
    resolve(code);
  }));
  return { child, output: () => output, exited };
}

export async function killStarted(): Promise<void> {
  await Promise.all(
    [...started].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  started.clear();
}
