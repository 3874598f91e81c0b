import type { Logger } from '../../log/logger.js';
import type { BroadcastSink, ChannelBroadcast, DeliveryResult } from '../types.js';
import { classifyAdbFailure, type AdbFailure, type AdbRun } from './adb-failure.js';
import { abortableSleep, runAdb } from './run-adb.js';
import { adbBroadcastArgs, parseAmBroadcastOutput, validateAmBroadcastTarget, type AmBroadcastTarget } from './am-broadcast.js';

export const ADB_SINK_DEFAULTS = {
  adbPath: 'adb',
  /** One adb run (connect, am broadcast, exit). */
  timeoutMs: 15_000,
  /** Attempts per broadcast, the first included; then the broadcast is a failure and the next one is tried. */
  maxAttempts: 6,
  /** Delay before the first retry; doubles after every consecutive failure… */
  retryBaseMs: 500,
  /** …up to this cap. */
  retryMaxMs: 30_000,
} as const;

export interface AdbSinkOptions {
  logger: Logger;
  /** The adb client (--adb-path); default `adb` on PATH. Run with execFile: no local shell. */
  adbPath?: string;
  /** The device (--adb-serial); default ANDROID_SERIAL from `env`; else adb's own choice (one device). */
  serial?: string;
  /** Who receives the broadcast on the device (-p / -n / --receiver-include-background / --user). */
  target?: AmBroadcastTarget;
  /** Environment of the adb client; default process.env. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  maxAttempts?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** The sink's name in results and logs; default 'adb'. */
  name?: string;
}

type Attempt = { ok: true; detail: string } | { ok: false; failure: AdbFailure; output: string };

/**
 * Delivers broadcasts to an Android device the way Anbox does:
 * `adb [-s SERIAL] shell am broadcast -a … --es event E --esa data-channel-names a,b …`, every
 * device-side word quoted for the device's shell.
 *
 * Failures (no adb, no device, unauthorized, offline, server down, am errors) are retried with
 * exponential backoff: 0.5 s, 1 s, 2 s, … doubling to a 30 s cap. The delay grows across broadcasts
 * while adb keeps failing and resets after a success; each broadcast gets at most 6 attempts, then its
 * result is a failure and the next broadcast is tried (its first attempt is immediate). A failure is
 * logged once (warn, with a hint) until it changes or adb works again ("adb delivering again").
 */
export class AdbSink implements BroadcastSink {
  readonly name: string;
  readonly #log: Logger;
  readonly #adbPath: string;
  readonly #serial: string | undefined;
  readonly #target: AmBroadcastTarget;
  readonly #env: NodeJS.ProcessEnv;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #retryBaseMs: number;
  readonly #retryMaxMs: number;
  readonly #abort = new AbortController();
  /** Consecutive failed attempts, across broadcasts; 0 when adb last worked. */
  #consecutiveFailures = 0;
  /** The failure last logged, so the same one is not logged on every retry. */
  #loggedFailure: string | undefined;

  constructor(options: AdbSinkOptions) {
    this.name = options.name ?? 'adb';
    this.#log = options.logger.child({ sink: this.name });
    this.#adbPath = options.adbPath ?? ADB_SINK_DEFAULTS.adbPath;
    this.#env = options.env ?? process.env;
    const serial = options.serial ?? this.#env.ANDROID_SERIAL;
    this.#serial = serial !== undefined && serial.length > 0 ? serial : undefined;
    this.#target = { ...(options.target ?? {}) };
    validateAmBroadcastTarget(this.#target);
    this.#timeoutMs = options.timeoutMs ?? ADB_SINK_DEFAULTS.timeoutMs;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? ADB_SINK_DEFAULTS.maxAttempts);
    this.#retryBaseMs = options.retryBaseMs ?? ADB_SINK_DEFAULTS.retryBaseMs;
    this.#retryMaxMs = options.retryMaxMs ?? ADB_SINK_DEFAULTS.retryMaxMs;
  }

  /** The adb argv for a broadcast (what deliver runs; for logs and dry runs). */
  argsFor(broadcast: Pick<ChannelBroadcast, 'event' | 'names'>): string[] {
    return adbBroadcastArgs(broadcast, { ...this.#target, serial: this.#serial });
  }

  async deliver(broadcast: ChannelBroadcast): Promise<DeliveryResult> {
    let args: string[];
    try {
      args = this.argsFor(broadcast);
    } catch (error) {
      return { sink: this.name, ok: false, detail: `cannot broadcast: ${(error as Error).message}`, attempts: 0 };
    }
    let lastDetail = 'not attempted';
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      if (this.#abort.signal.aborted) return { sink: this.name, ok: false, detail: `sink closed (${lastDetail})`, attempts: attempt - 1 };
      const outcome = await this.#attempt(args);
      if (outcome.ok) {
        if (this.#consecutiveFailures > 0) {
          this.#log.info({ event: 'adb.recovered', sequence: broadcast.sequence, after: this.#loggedFailure }, 'adb delivering again');
        }
        this.#consecutiveFailures = 0;
        this.#loggedFailure = undefined;
        return { sink: this.name, ok: true, detail: outcome.detail, attempts: attempt };
      }
      lastDetail = outcome.failure.detail;
      this.#consecutiveFailures++;
      const key = `${outcome.failure.kind}:${outcome.failure.detail}`;
      if (key !== this.#loggedFailure) {
        this.#loggedFailure = key;
        this.#log.warn(
          { event: 'adb.failure', kind: outcome.failure.kind, hint: outcome.failure.detail, output: outcome.output, serial: this.#serial, sequence: broadcast.sequence },
          `adb broadcast failed: ${outcome.failure.detail} (retrying with backoff; logged once until it changes)`,
        );
      } else {
        this.#log.debug({ event: 'adb.retry_failed', kind: outcome.failure.kind, sequence: broadcast.sequence, attempt }, 'adb still failing');
      }
      if (attempt < this.#maxAttempts) await this.#sleep(this.#retryDelay());
    }
    return { sink: this.name, ok: false, detail: lastDetail, attempts: this.#maxAttempts };
  }

  /** Aborts a running adb and any backoff wait; pending deliveries end as failures. */
  async close(): Promise<void> {
    this.#abort.abort();
  }

  #retryDelay(): number {
    const exponent = Math.min(this.#consecutiveFailures - 1, 30);
    return Math.min(this.#retryBaseMs * 2 ** exponent, this.#retryMaxMs);
  }

  #sleep(ms: number): Promise<void> {
    return abortableSleep(ms, this.#abort.signal);
  }

  async #attempt(args: string[]): Promise<Attempt> {
    const run = await this.#run(args);
    const output = `${run.stdout}${run.stderr}`.trim().slice(-2000);
    const failed = run.spawnErrorCode !== undefined || run.timedOut || run.exitCode !== 0;
    if (failed) {
      // am's own complaints come with exit code 0 on old builds and non-zero on new ones: prefer them.
      const am = parseAmBroadcastOutput(run.stdout, run.stderr);
      if (run.spawnErrorCode === undefined && !run.timedOut && !am.ok && /^am: (Error|.*Exception)/.test(am.detail)) {
        return { ok: false, failure: { kind: 'am-error', detail: am.detail }, output };
      }
      return { ok: false, failure: classifyAdbFailure(run, { adbPath: this.#adbPath, serial: this.#serial, timeoutMs: this.#timeoutMs }), output };
    }
    const am = parseAmBroadcastOutput(run.stdout, run.stderr);
    if (am.ok) return { ok: true, detail: am.detail };
    return { ok: false, failure: { kind: 'am-error', detail: am.detail }, output };
  }

  #run(args: string[]): Promise<AdbRun> {
    return runAdb(args, {
      adbPath: this.#adbPath,
      env: this.#env,
      timeoutMs: this.#timeoutMs,
      maxBufferBytes: 1024 * 1024,
      signal: this.#abort.signal,
      abortReason: 'sink closed',
    });
  }
}
