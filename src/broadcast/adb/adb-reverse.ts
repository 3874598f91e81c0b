import { resolve as resolvePath } from 'node:path';
import type { Logger } from '../../log/logger.js';
import { classifyAdbFailure, type AdbFailure, type AdbRun } from './adb-failure.js';
import { abortableSleep, runAdb } from './run-adb.js';

/**
 * The abstract socket name on the device that `adb reverse` forwards to the daemon's service socket:
 * an app connects `new LocalSocketAddress(ADB_REVERSE_SOCKET_NAME, Namespace.ABSTRACT)` and speaks the
 * wire protocol in stream mode (descriptors cannot cross adb).
 */
export const ADB_REVERSE_SOCKET_NAME = 'anbox-oob-data-proxy';

/** Environment variable: how often (ms) the reverse is re-checked with `adb reverse --list`. */
export const ADB_REVERSE_RECHECK_ENV = 'ANBOX_OOB_ADB_RECHECK_MS';

export const ADB_REVERSE_DEFAULTS = {
  adbPath: 'adb',
  /** One adb run (connect, reverse, exit). */
  timeoutMs: 10_000,
  /** While in place: re-check this often with `adb reverse --list`; also the cap of the retry delay. */
  recheckMs: 5_000,
  /** While not in place: the first retry after this, doubling up to recheckMs. */
  retryBaseMs: 500,
  /** close(): the removal gets at most this long. */
  closeTimeoutMs: 3_000,
} as const;

/** What `anbox-oob status` shows: `in place`, `pending: <hint>` or `not configured`. */
export type AdbReverseState = 'in place' | `pending: ${string}` | 'not configured';

export const ADB_REVERSE_NOT_CONFIGURED: AdbReverseState = 'not configured';

/** The outcome of the last adb run against the device (for "is the device reachable"). */
export interface AdbReverseCheck {
  /** The device answered (the reverse was made or listed, or adbd itself refused it). */
  reachable: boolean;
  /** For people: "yes" or the hint. */
  detail: string;
  /** Unix ms. */
  at: number;
}

export interface AdbReverseOptions {
  logger: Logger;
  /** The host side: the daemon's service socket (made absolute: the adb server connects to it). */
  servicePath: string;
  /** The adb client (--adb-path); default `adb` on PATH. Run with execFile: no local shell. */
  adbPath?: string;
  /** The device (--adb-serial); default ANDROID_SERIAL from `env`; else adb's own choice (one device). */
  serial?: string;
  /** Environment of the adb client; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The device-side abstract name; default ADB_REVERSE_SOCKET_NAME. */
  socketName?: string;
  timeoutMs?: number;
  recheckMs?: number;
  retryBaseMs?: number;
  closeTimeoutMs?: number;
}

type Outcome = { ok: true; stdout: string } | { ok: false; failure: AdbFailure; output: string; definite: boolean };

/**
 * Keeps `adb [-s SERIAL] reverse localabstract:NAME localfilesystem:SERVICE_PATH` in place while the
 * daemon runs, so that an app on the device reaches the service socket through a LocalSocket.
 *
 * start() returns at once: the first attempt runs in the background. While the reverse is not in
 * place (no adb, no device, unauthorized, offline, adb server down, adbd refusing) it is retried
 * after 0.5 s, 1 s, 2 s, … doubling up to the re-check interval (5 s, or ANBOX_OOB_ADB_RECHECK_MS);
 * a failure is logged once (warn, with the adb sink's hints) until it changes. Once in place it is
 * re-checked every interval with `adb reverse --list` (one cheap host query); when the device lost it
 * (disconnected, rebooted, adb server restarted) or it points elsewhere, it is made again.
 * close() stops the loop and removes the reverse (`adb [-s SERIAL] reverse --remove localabstract:NAME`),
 * best effort, within closeTimeoutMs.
 */
export class AdbReverse {
  /** `localabstract:NAME`: what the app connects to. */
  readonly deviceSide: string;
  /** `localfilesystem:PATH`: the daemon's service socket. */
  readonly hostSide: string;
  readonly serial: string | undefined;
  readonly #log: Logger;
  readonly #adbPath: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #timeoutMs: number;
  readonly #recheckMs: number;
  readonly #retryBaseMs: number;
  readonly #closeTimeoutMs: number;
  readonly #abort = new AbortController();
  /** Set when the reverse cannot work at all (a path adb cannot carry): no loop runs. */
  readonly #unusable: string | undefined;
  #state: AdbReverseState = 'pending: not tried yet';
  #lastCheck: AdbReverseCheck | undefined;
  /** The reverse may exist on the device (made, listed, or an attempt that ended ambiguously): remove it on close. */
  #mayBeInPlace = false;
  #loggedFailure: string | undefined;
  #loop: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: AdbReverseOptions) {
    this.#log = options.logger.child({ component: 'adb-reverse' });
    this.#adbPath = options.adbPath ?? ADB_REVERSE_DEFAULTS.adbPath;
    this.#env = options.env ?? process.env;
    const serial = options.serial ?? this.#env.ANDROID_SERIAL;
    this.serial = serial !== undefined && serial.length > 0 ? serial : undefined;
    const servicePath = resolvePath(options.servicePath);
    this.deviceSide = `localabstract:${options.socketName ?? ADB_REVERSE_SOCKET_NAME}`;
    this.hostSide = `localfilesystem:${servicePath}`;
    this.#timeoutMs = options.timeoutMs ?? ADB_REVERSE_DEFAULTS.timeoutMs;
    this.#recheckMs = Math.max(1, options.recheckMs ?? ADB_REVERSE_DEFAULTS.recheckMs);
    this.#retryBaseMs = Math.max(1, options.retryBaseMs ?? ADB_REVERSE_DEFAULTS.retryBaseMs);
    this.#closeTimeoutMs = options.closeTimeoutMs ?? ADB_REVERSE_DEFAULTS.closeTimeoutMs;
    // adb's forward spec is "<device-side>;<host-side>": a ';' in the path would split it.
    if (servicePath.includes(';') || /[\r\n]/.test(servicePath)) {
      this.#unusable = `the service socket path ${JSON.stringify(servicePath)} cannot be forwarded by adb (';' or a line break): choose another --service-socket`;
    }
  }

  /** `[-s SERIAL] reverse localabstract:NAME localfilesystem:PATH` */
  establishArgs(): string[] {
    return [...this.#serialArgs(), 'reverse', this.deviceSide, this.hostSide];
  }

  /** `[-s SERIAL] reverse --list` */
  listArgs(): string[] {
    return [...this.#serialArgs(), 'reverse', '--list'];
  }

  /** `[-s SERIAL] reverse --remove localabstract:NAME` */
  removeArgs(): string[] {
    return [...this.#serialArgs(), 'reverse', '--remove', this.deviceSide];
  }

  /** `in place` or `pending: <hint>`. */
  get state(): AdbReverseState {
    return this.#state;
  }

  /** The last adb run's verdict on the device, or undefined before the first one ended. */
  get lastCheck(): AdbReverseCheck | undefined {
    return this.#lastCheck ? { ...this.#lastCheck } : undefined;
  }

  /** Starts the background loop (once); never waits for adb. */
  start(): this {
    if (this.#loop || this.#abort.signal.aborted) return this;
    if (this.#unusable !== undefined) {
      this.#state = `pending: ${this.#unusable}`;
      this.#log.error({ event: 'adb.reverse.unusable', hostSide: this.hostSide }, `adb reverse impossible: ${this.#unusable}`);
      return this;
    }
    this.#loop = this.#run().catch((error: unknown) => {
      this.#state = `pending: internal error: ${(error as Error).message}`;
      this.#log.error({ event: 'adb.reverse.crashed', err: error }, 'adb reverse loop failed; no longer maintained');
    });
    return this;
  }

  /** Stops re-checking and removes the reverse when it may be in place (best effort, bounded). Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
    if (!this.#mayBeInPlace) return;
    const run = await this.#exec(this.removeArgs(), this.#closeTimeoutMs, undefined);
    const outcome = this.#outcome(run, this.#closeTimeoutMs);
    this.#mayBeInPlace = false;
    this.#state = 'pending: removed (daemon stopping)';
    if (outcome.ok) {
      this.#log.info({ event: 'adb.reverse.removed', serial: this.serial, deviceSide: this.deviceSide }, `adb reverse removed: ${this.deviceSide}`);
    } else {
      this.#log.warn(
        { event: 'adb.reverse.remove_failed', serial: this.serial, kind: outcome.failure.kind, hint: outcome.failure.detail, output: outcome.output },
        `could not remove adb reverse ${this.deviceSide}: ${outcome.failure.detail} (remove it by hand: adb ${this.removeArgs().join(' ')})`,
      );
    }
  }

  async #run(): Promise<void> {
    let inPlace = false;
    let failures = 0;
    let established = false;
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      if (!inPlace) {
        const outcome = await this.#attempt(this.establishArgs());
        if (signal.aborted) {
          // Cut short by close(): adbd may have made it all the same.
          if (outcome.ok || !outcome.definite) this.#mayBeInPlace = true;
          return;
        }
        if (!outcome.ok) {
          failures++;
          this.#failed(outcome, 'establish');
          await this.#sleep(Math.min(this.#retryBaseMs * 2 ** Math.min(failures - 1, 30), this.#recheckMs));
          continue;
        }
        inPlace = true;
        failures = 0;
        this.#succeeded();
        this.#log.info(
          { event: established ? 'adb.reverse.reestablished' : 'adb.reverse.established', serial: this.serial, deviceSide: this.deviceSide, hostSide: this.hostSide },
          `adb reverse in place: an app on the device reaches the service through a LocalSocket to the abstract name ` +
            `"${this.deviceSide.slice('localabstract:'.length)}" (stream mode) -> ${this.hostSide}`,
        );
        established = true;
      } else {
        const outcome = await this.#attempt(this.listArgs());
        if (signal.aborted) return;
        if (!outcome.ok) {
          inPlace = false;
          failures = 1;
          this.#failed(outcome, 'check');
          await this.#sleep(Math.min(this.#retryBaseMs, this.#recheckMs));
          continue;
        }
        const found = this.#findInList(outcome.stdout);
        if (found !== this.hostSide) {
          inPlace = false;
          this.#mayBeInPlace = false;
          const why =
            found === undefined
              ? 'the device no longer has it (reconnected, rebooted, or adb restarted)'
              : `it now points to ${found} (another daemon, or adb reverse by hand)`;
          this.#state = `pending: ${why}; making it again`;
          this.#lastCheck = { reachable: true, detail: 'yes', at: Date.now() };
          this.#log.warn({ event: 'adb.reverse.lost', serial: this.serial, deviceSide: this.deviceSide, found }, `adb reverse ${this.deviceSide} lost: ${why}; making it again`);
          continue; // at once; the next check is an interval away
        }
        this.#succeeded();
      }
      await this.#sleep(this.#recheckMs);
    }
  }

  /** The host side the device forwards our abstract name to, per `adb reverse --list`, or undefined. */
  #findInList(stdout: string): string | undefined {
    // adbd's lines: "<transport> <device-side> <host-side>" (the host side may contain spaces).
    for (const line of stdout.split(/\r?\n/)) {
      const rest = line.slice(line.indexOf(' ') + 1);
      if (line.includes(' ') && rest.startsWith(`${this.deviceSide} `)) return rest.slice(this.deviceSide.length + 1).trim();
    }
    return undefined;
  }

  #succeeded(): void {
    this.#state = 'in place';
    this.#mayBeInPlace = true;
    this.#lastCheck = { reachable: true, detail: 'yes', at: Date.now() };
    if (this.#loggedFailure !== undefined) {
      this.#log.info({ event: 'adb.reverse.recovered', after: this.#loggedFailure }, 'adb reverse works again');
      this.#loggedFailure = undefined;
    }
  }

  #failed(outcome: Extract<Outcome, { ok: false }>, step: 'establish' | 'check'): void {
    if (outcome.definite) this.#mayBeInPlace = false;
    else this.#mayBeInPlace ||= step === 'establish';
    const refused = outcome.failure.kind === 'adb-error' && /cannot (re)?bind listener|not found|malformed forward spec/i.test(outcome.output);
    this.#state = `pending: ${outcome.failure.detail}`;
    this.#lastCheck = { reachable: refused, detail: refused ? 'yes' : outcome.failure.detail, at: Date.now() };
    const key = `${outcome.failure.kind}:${outcome.failure.detail}`;
    if (key === this.#loggedFailure) {
      this.#log.debug({ event: 'adb.reverse.retry_failed', kind: outcome.failure.kind, step }, 'adb reverse still not in place');
      return;
    }
    this.#loggedFailure = key;
    this.#log.warn(
      { event: 'adb.reverse.failure', kind: outcome.failure.kind, hint: outcome.failure.detail, output: outcome.output, serial: this.serial, step },
      `adb reverse ${this.deviceSide} not in place: ${outcome.failure.detail} (retrying in the background; logged once until it changes)`,
    );
  }

  async #attempt(args: string[]): Promise<Outcome> {
    return this.#outcome(await this.#exec(args, this.#timeoutMs, this.#abort.signal), this.#timeoutMs);
  }

  #outcome(run: AdbRun, timeoutMs: number): Outcome {
    if (run.spawnErrorCode === undefined && !run.timedOut && run.exitCode === 0) return { ok: true, stdout: run.stdout };
    const failure = classifyAdbFailure(run, { adbPath: this.#adbPath, serial: this.serial, timeoutMs });
    const output = `${run.stdout}${run.stderr}`.trim().slice(-2000);
    // A timeout or a kill leaves it open whether adbd made the reverse; an exit code is an answer.
    const definite = run.spawnErrorCode !== undefined || (!run.timedOut && run.exitCode !== null);
    return { ok: false, failure, output, definite };
  }

  #serialArgs(): string[] {
    return this.serial !== undefined ? ['-s', this.serial] : [];
  }

  #sleep(ms: number): Promise<void> {
    return abortableSleep(ms, this.#abort.signal);
  }

  #exec(args: string[], timeoutMs: number, signal: AbortSignal | undefined): Promise<AdbRun> {
    return runAdb(args, { adbPath: this.#adbPath, env: this.#env, timeoutMs, maxBufferBytes: 256 * 1024, signal, abortReason: 'daemon stopping' });
  }
}
