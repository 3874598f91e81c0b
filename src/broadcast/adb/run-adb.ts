import { execFile, type ExecFileException } from 'node:child_process';
import type { AdbRun } from './adb-failure.js';

export interface RunAdbOptions {
  adbPath: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  maxBufferBytes: number;
  /** Aborting kills adb; the run then reads as failed with `aborted: <abortReason>` in stderr. */
  signal?: AbortSignal;
  abortReason: string;
}

/**
 * Runs the adb client once with execFile (never through a local shell), SIGKILL on timeout, stdin
 * closed, and reports what happened as an AdbRun for classifyAdbFailure. Never rejects.
 */
export function runAdb(args: readonly string[], options: RunAdbOptions): Promise<AdbRun> {
  const { signal } = options;
  return new Promise((resolve) => {
    const child = execFile(
      options.adbPath,
      args,
      {
        env: options.env,
        timeout: options.timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: options.maxBufferBytes,
        windowsHide: true,
        ...(signal ? { signal } : {}),
      },
      (error: ExecFileException | null, stdout: string, stderr: string) => {
        if (!error) return resolve({ exitCode: 0, timedOut: false, stdout, stderr });
        const code = error.code;
        if (typeof code === 'string' && code !== 'ABORT_ERR' && code !== 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
          return resolve({ spawnErrorCode: code, exitCode: null, timedOut: false, stdout, stderr });
        }
        const aborted = signal?.aborted === true;
        resolve({
          exitCode: typeof code === 'number' ? code : null,
          timedOut: !aborted && error.killed === true && typeof code !== 'number',
          stdout,
          stderr: aborted ? `${stderr}\naborted: ${options.abortReason}` : stderr,
        });
      },
    );
    // Nothing to send: without this adb would forward our (never-ending) stdin to the device.
    child.stdin?.end();
    child.stdin?.on('error', () => undefined);
  });
}

/** Waits `ms`, or less if `signal` aborts first. Never rejects. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
