import { execFile, type ExecFileException } from 'node:child_process';
import type { Logger } from '../log/logger.js';
import { CHANNEL_STATUS_ACTION, type BroadcastSink, type ChannelBroadcast, type DeliveryResult } from './types.js';

export const COMMAND_SINK_DEFAULTS = {
  timeoutMs: 10_000,
} as const;

export interface CommandSinkOptions {
  logger: Logger;
  /** The executable (--broadcast-hook): a path, or a name looked up on PATH. Never run through a shell. */
  command: string;
  /** Fixed arguments placed before the event, "--" and the names. */
  args?: readonly string[];
  /** Kill the hook (SIGKILL) after this long; the broadcast is then a failure. */
  timeoutMs?: number;
  /** Base environment of the hook; default process.env. The ANBOX_OOB_* variables are added to it. */
  env?: NodeJS.ProcessEnv;
  /** The sink's name in results and logs; default 'hook'. */
  name?: string;
}

/**
 * The broadcast hook: for people who deliver broadcasts some other way than adb.
 *
 * For every broadcast it runs, without a shell,
 *   COMMAND [ARGS…] <created|destroyed> -- <name>…
 * ("--" ends the options: a channel name may start with "-", e.g. "-rf" or "--help", and must
 * reach the hook as an operand, never as an option; getopt, argparse and most tools honour it)
 * with these environment variables added:
 *   ANBOX_OOB_ACTION     com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS
 *   ANBOX_OOB_EVENT      created | destroyed
 *   ANBOX_OOB_CHANNELS   the names joined with "," (names never contain commas)
 *   ANBOX_OOB_SEQUENCE   1, 2, 3, … per daemon run
 *   ANBOX_OOB_TIMESTAMP  Unix time in milliseconds when the broadcast was formed
 * and the broadcast as one JSON line on stdin ({"action","event","names","sequence","timestamp"}),
 * which the hook may ignore. Exit code 0 means delivered; any other exit code, a signal or the timeout
 * (default 10 s) is a failure whose detail carries the end of stderr. No retries: the next broadcast
 * runs the hook again. Hooks run one at a time, in order (the broadcaster's queue).
 * To use shell syntax, make the shell the command: COMMAND=/bin/sh ARGS=['-c', 'script "$@"', 'hook'].
 */
export class CommandSink implements BroadcastSink {
  readonly name: string;
  readonly #log: Logger;
  readonly #command: string;
  readonly #args: readonly string[];
  readonly #timeoutMs: number;
  readonly #env: NodeJS.ProcessEnv;
  readonly #abort = new AbortController();

  constructor(options: CommandSinkOptions) {
    if (options.command.length === 0) throw new Error('the broadcast hook command is empty');
    this.name = options.name ?? 'hook';
    this.#log = options.logger.child({ sink: this.name });
    this.#command = options.command;
    this.#args = [...(options.args ?? [])];
    this.#timeoutMs = options.timeoutMs ?? COMMAND_SINK_DEFAULTS.timeoutMs;
    this.#env = options.env ?? process.env;
  }

  deliver(broadcast: ChannelBroadcast): Promise<DeliveryResult> {
    const args = [...this.#args, broadcast.event, '--', ...broadcast.names];
    const env: NodeJS.ProcessEnv = {
      ...this.#env,
      ANBOX_OOB_ACTION: CHANNEL_STATUS_ACTION,
      ANBOX_OOB_EVENT: broadcast.event,
      ANBOX_OOB_CHANNELS: broadcast.names.join(','),
      ANBOX_OOB_SEQUENCE: String(broadcast.sequence),
      ANBOX_OOB_TIMESTAMP: String(broadcast.timestamp),
    };
    const result = (ok: boolean, detail: string): DeliveryResult => ({ sink: this.name, ok, detail, attempts: 1 });
    if (this.#abort.signal.aborted) return Promise.resolve({ ...result(false, 'sink closed'), attempts: 0 });
    return new Promise((resolve) => {
      let child: ReturnType<typeof execFile>;
      try {
        child = execFile(
          this.#command,
          args,
          { env, timeout: this.#timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024, signal: this.#abort.signal, windowsHide: true },
          (error: ExecFileException | null, _stdout: string, stderr: string) => {
            if (!error) return resolve(result(true, 'delivered'));
            const tail = lastLines(stderr);
            const code = error.code;
            let detail: string;
            if (code === 'ENOENT') detail = `hook not found: ${this.#command}`;
            else if (code === 'EACCES') detail = `hook not executable: ${this.#command}`;
            else if (code === 'ABORT_ERR' || this.#abort.signal.aborted) detail = 'sink closed while the hook ran';
            else if (typeof code === 'number') detail = `hook exited with code ${code}`;
            else if (error.killed && error.signal === 'SIGKILL') detail = `hook timed out after ${this.#timeoutMs} ms`;
            else if (error.signal) detail = `hook killed by ${error.signal}`;
            else detail = `hook failed: ${error.message}`;
            resolve(result(false, tail ? `${detail}: ${tail}` : detail));
          },
        );
      } catch (error) {
        resolve(result(false, `cannot run hook ${this.#command}: ${(error as Error).message}`));
        return;
      }
      const line = JSON.stringify({ action: CHANNEL_STATUS_ACTION, event: broadcast.event, names: broadcast.names, sequence: broadcast.sequence, timestamp: broadcast.timestamp });
      child.stdin?.on('error', () => undefined); // the hook need not read stdin (EPIPE)
      child.stdin?.end(`${line}\n`);
      this.#log.debug({ event: 'hook.run', pid: child.pid, sequence: broadcast.sequence }, 'broadcast hook started');
    });
  }

  /** Kills a running hook. */
  async close(): Promise<void> {
    this.#abort.abort();
  }
}

function lastLines(text: string, maxChars = 500): string {
  const trimmed = text.trim();
  if (trimmed.length <= maxChars) return trimmed;
  return `…${trimmed.slice(-maxChars)}`;
}
