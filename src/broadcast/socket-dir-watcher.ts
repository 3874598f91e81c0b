import { watch, type FSWatcher } from 'node:fs';
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { CHANNEL_SOCKET_PREFIX, validateChannelName } from '../channels/channel-name.js';
import { isChannelSocketEntry } from '../channels/channel-socket.js';
import type { Logger } from '../log/logger.js';
import { listeningUnixSockets } from '../io/unix-socket-table.js';

export const SOCKET_DIR_WATCHER_DEFAULTS = {
  /** Full rescan period: fs.watch misses events (and a dying listener makes none). */
  rescanIntervalMs: 1_000,
  /** Delay between an fs.watch event and the scan it triggers (coalesces bursts). */
  watchDelayMs: 20,
  /** A socket file seen before its listener called listen() is rechecked after this long… */
  settleRecheckMs: 50,
  /** …at most this many times per fs.watch event (then the periodic rescan takes over). */
  settleRechecks: 10,
} as const;

export type ChannelPresenceEvent = 'appeared' | 'disappeared';
export type ChannelPresenceListener = (name: string) => void;

export interface SocketDirWatcherOptions {
  socketDir: string;
  logger: Logger;
  rescanIntervalMs?: number;
  watchDelayMs?: number;
  settleRecheckMs?: number;
  /** Listening Unix stream sockets, path → socket inode; default: read /proc/net/unix. Injectable for tests. */
  listeningSockets?: () => Map<string, number>;
}

/** Which listener a channel is: its socket inode from the table (or, without a table, the file's identity). */
type Identity = string;

/**
 * Watches a socket dir for channels: entries `webrtc_data_<name>` (valid name) that are Unix sockets
 * with a live listener. Regular files, directories, symlinks, dead socket files (nobody listening:
 * a listener killed without unlinking) and invalid names are ignored. Liveness is read from
 * /proc/net/unix (see ../io/unix-socket-table.ts), never by connecting.
 *
 * Events: 'appeared'(name) when a channel starts to exist, 'disappeared'(name) when it stops; a
 * listener replaced by a new one between two scans (a new socket inode in the table) yields
 * disappeared then appeared. start() scans once and
 * reports the channels present at start-up as 'appeared' (once, in name order).
 *
 * fs.watch on the directory triggers a scan (after watchDelayMs); a timer rescans every
 * rescanIntervalMs (default 1 s) regardless. A missing directory is logged once and looked for on every
 * rescan; a directory deleted and recreated is noticed by its identity (dev, inode) and watched anew.
 * Every scan is timer-driven and at most one runs at a time: nothing here can spin.
 */
export class SocketDirWatcher {
  readonly socketDir: string;
  readonly #log: Logger;
  readonly #rescanIntervalMs: number;
  readonly #watchDelayMs: number;
  readonly #settleRecheckMs: number;
  readonly #listeningSockets: () => Map<string, number>;
  readonly #listeners: Record<ChannelPresenceEvent, Set<ChannelPresenceListener>> = { appeared: new Set(), disappeared: new Set() };
  readonly #present = new Map<string, Identity>();
  #watcher: FSWatcher | undefined;
  #watchedIdentity: string | undefined;
  #interval: ReturnType<typeof setInterval> | undefined;
  #scanTimer: ReturnType<typeof setTimeout> | undefined;
  #scanning: Promise<void> | undefined;
  #rescanRequested = false;
  #settleBudget = 0;
  #started = false;
  #closed = false;
  /** What the log has been told about the directory, so each state is reported once. */
  #dirState: 'unknown' | 'present' | 'missing' | 'unreadable' = 'unknown';
  #tableWarned = false;
  #watchWarned = false;
  #scans = 0;

  constructor(options: SocketDirWatcherOptions) {
    this.socketDir = resolve(options.socketDir);
    this.#log = options.logger;
    this.#rescanIntervalMs = options.rescanIntervalMs ?? SOCKET_DIR_WATCHER_DEFAULTS.rescanIntervalMs;
    this.#watchDelayMs = options.watchDelayMs ?? SOCKET_DIR_WATCHER_DEFAULTS.watchDelayMs;
    this.#settleRecheckMs = options.settleRecheckMs ?? SOCKET_DIR_WATCHER_DEFAULTS.settleRecheckMs;
    this.#listeningSockets = options.listeningSockets ?? (() => listeningUnixSockets());
    if (!(this.#rescanIntervalMs > 0)) throw new Error(`rescan interval must be > 0 ms, not ${this.#rescanIntervalMs}`);
  }

  /** Subscribes; returns the function that unsubscribes. Listener exceptions are logged, not thrown. */
  on(event: ChannelPresenceEvent, listener: ChannelPresenceListener): () => void {
    this.#listeners[event].add(listener);
    return () => this.#listeners[event].delete(listener);
  }

  /** Scans once (reporting channels present now as 'appeared'), then keeps watching. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('the watcher is already started');
    this.#started = true;
    await this.rescan();
    if (this.#closed) return;
    this.#interval = setInterval(() => void this.rescan(), this.#rescanIntervalMs);
    this.#interval.unref();
  }

  /** The channels that exist now (as of the last scan), sorted. */
  channels(): string[] {
    return [...this.#present.keys()].sort();
  }

  /** Completed scans so far (for tests and status). */
  get scans(): number {
    return this.#scans;
  }

  /** Scans now (or right after the scan in progress); resolves when that scan is done. */
  rescan(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#scanning) {
      this.#rescanRequested = true;
      return this.#scanning;
    }
    this.#scanning = (async () => {
      try {
        do {
          this.#rescanRequested = false;
          await this.#scan();
          this.#scans++;
        } while (this.#rescanRequested && !this.#closed);
      } finally {
        this.#scanning = undefined;
      }
    })();
    return this.#scanning;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#interval) clearInterval(this.#interval);
    if (this.#scanTimer) clearTimeout(this.#scanTimer);
    this.#interval = undefined;
    this.#scanTimer = undefined;
    this.#unwatch();
  }

  /** Schedules a scan after `ms` unless one is already scheduled. */
  #scheduleScan(ms: number): void {
    if (this.#closed || this.#scanTimer) return;
    this.#scanTimer = setTimeout(() => {
      this.#scanTimer = undefined;
      void this.rescan();
    }, ms);
    this.#scanTimer.unref();
  }

  async #scan(): Promise<void> {
    const dir = this.socketDir;
    let identity: string;
    try {
      const info = await stat(dir);
      if (!info.isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
      identity = `${info.dev}:${info.ino}`;
    } catch (error) {
      if (this.#closed) return;
      this.#unwatch();
      if (this.#dirState !== 'missing') {
        this.#dirState = 'missing';
        this.#log.warn(
          { event: 'watcher.dir_missing', socketDir: dir, error: errorCode(error) },
          `socket dir ${dir} does not exist (yet); looking for it every ${this.#rescanIntervalMs} ms`,
        );
      }
      this.#update(new Map());
      return;
    }
    if (this.#closed) return;
    if (identity !== this.#watchedIdentity || !this.#watcher) this.#watch(identity);

    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch (error) {
      if (this.#dirState !== 'unreadable') {
        this.#dirState = 'unreadable';
        this.#log.warn({ event: 'watcher.dir_unreadable', socketDir: dir, error: errorCode(error) }, `cannot read socket dir ${dir}`);
      }
      return; // state unknown: keep what we had
    }
    if (this.#dirState !== 'present') {
      if (this.#dirState === 'missing' || this.#dirState === 'unreadable') {
        this.#log.info({ event: 'watcher.dir_present', socketDir: dir }, `socket dir ${dir} is there: watching it`);
      }
      this.#dirState = 'present';
    }

    const candidates = new Map<string, { entry: string; file: Identity }>();
    for (const entry of entries.sort()) {
      if (!entry.startsWith(CHANNEL_SOCKET_PREFIX)) continue;
      const name = entry.slice(CHANNEL_SOCKET_PREFIX.length);
      try {
        validateChannelName(name);
      } catch {
        continue;
      }
      try {
        const info = await lstat(join(dir, entry));
        if (isChannelSocketEntry(info)) candidates.set(name, { entry, file: `file:${info.dev}:${info.ino}:${info.birthtimeMs}` });
      } catch {
        // removed between readdir and lstat
      }
    }
    if (this.#closed) return;

    const next = new Map<string, Identity>();
    let notListening = 0;
    if (candidates.size > 0) {
      const listener = await this.#listenerMatcher(dir);
      for (const [name, candidate] of candidates) {
        const identity = listener(candidate.entry, candidate.file);
        if (identity !== undefined) next.set(name, identity);
        else notListening++;
      }
    }
    if (this.#closed) return;
    this.#update(next);
    // bind() creates the file before listen(): recheck soon rather than wait for the next rescan.
    if (notListening > 0 && this.#settleBudget > 0) {
      this.#settleBudget--;
      this.#scheduleScan(this.#settleRecheckMs);
    }
  }

  /**
   * The listener of `<dir>/<entry>`, or undefined when nobody listens. The table holds paths as bound:
   * absolute through the directory as given or as resolved (symlinks), or relative (a listener that
   * bound from inside the directory) — a relative path is matched by its last component. Without a
   * readable table (not Linux), every socket file counts as listening, with one warning.
   */
  async #listenerMatcher(dir: string): Promise<(entry: string, file: Identity) => Identity | undefined> {
    let table: Map<string, number>;
    try {
      table = this.#listeningSockets();
    } catch (error) {
      if (!this.#tableWarned) {
        this.#tableWarned = true;
        this.#log.warn(
          { event: 'watcher.no_socket_table', error: errorCode(error) },
          'cannot read /proc/net/unix: every socket file counts as a live channel (dead ones included)',
        );
      }
      return (_entry, file) => file;
    }
    const real = await realpath(dir).catch(() => dir);
    const relative = new Map<string, number>();
    for (const [path, inode] of table) if (!path.startsWith('/')) relative.set(basename(path), Math.max(inode, relative.get(basename(path)) ?? 0));
    return (entry) => {
      const inode = table.get(join(dir, entry)) ?? table.get(join(real, entry)) ?? relative.get(entry);
      return inode === undefined ? undefined : `sock:${inode}`;
    };
  }

  #update(next: Map<string, Identity>): void {
    const gone: string[] = [];
    const came: string[] = [];
    for (const [name, was] of this.#present) if (next.get(name) !== was) gone.push(name);
    for (const [name, now] of next) if (this.#present.get(name) !== now) came.push(name);
    for (const name of gone) {
      this.#present.delete(name);
      this.#emit('disappeared', name);
    }
    for (const name of came) {
      this.#present.set(name, next.get(name) ?? '');
      this.#emit('appeared', name);
    }
  }

  #emit(event: ChannelPresenceEvent, name: string): void {
    this.#log.debug({ event: `watcher.${event}`, channel: name }, `channel ${name} ${event}`);
    for (const listener of [...this.#listeners[event]]) {
      try {
        listener(name);
      } catch (error) {
        this.#log.error({ event: 'watcher.listener_failed', channel: name, error: errorCode(error) }, `a '${event}' listener threw`);
      }
    }
  }

  #watch(identity: string): void {
    this.#unwatch();
    this.#watchedIdentity = identity;
    try {
      const watcher = watch(this.socketDir, { persistent: false }, () => {
        this.#settleBudget = SOCKET_DIR_WATCHER_DEFAULTS.settleRechecks;
        this.#scheduleScan(this.#watchDelayMs);
      });
      watcher.on('error', () => {
        // e.g. the directory was deleted: drop the watch; the next rescan makes a new one.
        if (this.#watcher === watcher) this.#unwatch();
      });
      this.#watcher = watcher;
    } catch (error) {
      if (!this.#watchWarned) {
        this.#watchWarned = true;
        this.#log.warn(
          { event: 'watcher.watch_failed', socketDir: this.socketDir, error: errorCode(error) },
          `cannot watch ${this.socketDir}; relying on the rescan every ${this.#rescanIntervalMs} ms`,
        );
      }
    }
  }

  #unwatch(): void {
    const watcher = this.#watcher;
    this.#watcher = undefined;
    this.#watchedIdentity = undefined;
    watcher?.close();
  }
}

function errorCode(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string') return error.code;
  return error instanceof Error ? error.message : String(error);
}
