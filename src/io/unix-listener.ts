import { chmodSync, lstatSync, statSync, unlinkSync } from 'node:fs';
import { constants } from 'node:os';
import * as native from '../native/addon.js';
import { listeningUnixSocketPaths } from './unix-socket-table.js';

const { errno } = constants;

export type ListenErrorCode = 'ADDRESS_IN_USE' | 'NOT_A_SOCKET' | 'PATH_TOO_LONG' | 'LISTEN_FAILED';

/** Why a listening socket could not be created; the message says what to do. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(
    readonly code: ListenErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface UnixListenerOptions {
  path: string;
  /** File mode of the socket; set through umask before bind so no wider mode is ever visible. */
  mode: number;
  backlog?: number;
  /** A new connection; the callee owns the descriptor. */
  onConnection(fd: number): void;
  /**
   * accept(2) failed with something other than EAGAIN. On EMFILE/ENFILE the listener pauses and
   * retries every 100 ms; this is called once when that starts, and onAcceptResumed when it ends.
   */
  onAcceptError(errnoValue: number): void;
  onAcceptResumed?(): void;
}

const DESCRIPTOR_EXHAUSTION_PAUSE_MS = 100;

/**
 * A listening Unix stream socket. A stale socket file from a crashed run is replaced; a live
 * listener at the same path is never stolen.
 */
export class UnixListener {
  private fd: number;
  private poll: native.PollHandle | undefined;
  private inode: number;
  private resumeTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private exhausted = false;

  constructor(private readonly options: UnixListenerOptions) {
    removeStaleSocket(options.path);
    const previousUmask = process.umask(0o777 & ~options.mode);
    let fd: number;
    try {
      fd = native.listenUnix(options.path, options.backlog ?? 511);
    } finally {
      process.umask(previousUmask);
    }
    if (fd < 0) throw listenError(options.path, fd);
    this.fd = fd;
    chmodSync(options.path, options.mode);
    this.inode = statSync(options.path).ino;
    const poll = native.pollStart(fd, native.PollEvent.READABLE, (status) => this.acceptPending(status));
    if (typeof poll === 'number') {
      native.close(fd);
      throw new ListenError('LISTEN_FAILED', `cannot watch ${options.path}: ${native.errnoName(poll)}`);
    }
    this.poll = poll;
  }

  get path(): string {
    return this.options.path;
  }

  /** Stops accepting, closes the socket and removes the file if it is still ours. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.resumeTimer);
    if (this.poll) native.pollClose(this.poll);
    this.poll = undefined;
    native.close(this.fd);
    try {
      if (statSync(this.options.path).ino === this.inode) unlinkSync(this.options.path);
    } catch {
      // Already removed by someone else: nothing of ours to clean.
    }
  }

  private acceptPending(status: number): void {
    if (this.closed || status < 0) return;
    for (let i = 0; i < 64; i++) {
      const fd = native.accept(this.fd);
      if (fd >= 0) {
        if (this.exhausted) {
          this.exhausted = false;
          this.options.onAcceptResumed?.();
        }
        this.options.onConnection(fd);
        continue;
      }
      if (fd === -errno.EAGAIN) return;
      const outOfDescriptors = fd === -errno.EMFILE || fd === -errno.ENFILE || fd === -errno.ENOBUFS || fd === -errno.ENOMEM;
      if (!outOfDescriptors || !this.exhausted) this.options.onAcceptError(fd);
      if (outOfDescriptors) {
        // The pending connection stays in the backlog; polling again at once would spin. The timer
        // is not unref'd: while paused it is what keeps the daemon's event loop alive.
        this.exhausted = true;
        if (this.poll) native.pollUpdate(this.poll, 0);
        this.resumeTimer = setTimeout(() => {
          if (this.poll && !this.closed) native.pollUpdate(this.poll, native.PollEvent.READABLE);
        }, DESCRIPTOR_EXHAUSTION_PAUSE_MS);
      }
      return;
    }
  }
}

/** Unlinks `path` if it is a socket nobody listens on; throws ListenError if it is live or not a socket. */
export function removeStaleSocket(path: string): void {
  let stats;
  try {
    stats = lstatSync(path);
  } catch {
    return;
  }
  if (!stats.isSocket()) {
    throw new ListenError('NOT_A_SOCKET', `${path} exists and is not a socket; remove it or choose another path`);
  }
  // A listener the kernel's table shows is live: never probe it by connecting, since a channel
  // socket's platform takes any connection for an app (and replaces the real app with it).
  if (listedAsListening(path)) {
    throw new ListenError('ADDRESS_IN_USE', `another process is already listening on ${path}; stop it first or choose another path`);
  }
  // Not in the table (or no table): a connect tells a stale file (ECONNREFUSED) from a listener
  // the table spells differently (bound by a relative path, say).
  const probe = native.connectUnix(path);
  if (probe >= 0 || probe === -errno.EAGAIN) {
    if (probe >= 0) native.close(probe);
    throw new ListenError('ADDRESS_IN_USE', `another process is already listening on ${path}; stop it first or choose another path`);
  }
  if (probe === -errno.ECONNREFUSED) {
    unlinkSync(path);
    return;
  }
  throw listenError(path, probe);
}

/** Whether /proc/net/unix lists a listening stream socket bound at `path`; false when it cannot be read. */
function listedAsListening(path: string): boolean {
  try {
    return listeningUnixSocketPaths().has(path);
  } catch {
    return false;
  }
}

function listenError(path: string, negErrno: number): ListenError {
  if (negErrno === -errno.ENAMETOOLONG) {
    return new ListenError('PATH_TOO_LONG', `${path} is longer than a Unix socket path may be (107 bytes); choose a shorter path`);
  }
  if (negErrno === -errno.EADDRINUSE) {
    return new ListenError('ADDRESS_IN_USE', `${path} is in use; stop the process using it or choose another path`);
  }
  return new ListenError('LISTEN_FAILED', `cannot listen on ${path}: ${native.errnoName(negErrno)}`);
}
