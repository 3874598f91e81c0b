import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** A child with its output kept, for waiting on what it prints and for error messages. */
export interface Proc {
  readonly label: string;
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export function startProc(label: string, argv: string[], options: SpawnOptions = {}): Proc {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let out = '';
  let err = '';
  const cap = (text: string) => (text.length > 1_000_000 ? text.slice(-500_000) : text);
  child.stdout?.on('data', (chunk: Buffer) => (out = cap(out + chunk.toString())));
  child.stderr?.on('data', (chunk: Buffer) => (err = cap(err + chunk.toString())));
  const exited = new Promise<number | string>((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`${label}: cannot start ${argv[0]}: ${error.message}`)));
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  exited.catch(() => undefined);
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    label,
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop(graceMs = 5000) {
      if (!running()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => running() && child.kill('SIGKILL'), graceMs);
      await exited.catch(() => undefined);
      clearTimeout(timer);
    },
  };
}
