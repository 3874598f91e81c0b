/**
 * Typed facade over the `anbox_oob_native` addon (native/anbox_oob_native.c): the
 * Unix-socket calls Node lacks (SCM_RIGHTS descriptor passing, SO_PEERCRED) and a
 * libuv readiness watcher for raw descriptors.
 *
 * Conventions shared by every function here:
 * - Failures of the system return a negative errno (`-ENOENT` is -2); use
 *   {@link errnoName} / {@link errnoException} to report them. Wrong argument types
 *   (programmer errors) throw a TypeError instead.
 * - Nothing blocks: sockets are non-blocking and every send/recv uses MSG_DONTWAIT, so
 *   "try again later" is `-EAGAIN`; wait for it with {@link pollStart}.
 * - Every descriptor created or received here is close-on-exec.
 * - Ownership: a descriptor *returned* to you (listenUnix, connectUnix, accept, the fds of
 *   a {@link RecvResult}) is yours and must be closed exactly once with {@link close}.
 *   A descriptor you *pass in* stays yours; nothing here closes it behind your back.
 *
 * The addon is loaded lazily on first use, so importing this module never fails; call
 * {@link loadNative} at startup to fail early with the build instructions.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The kernel's limit of descriptors in one SCM_RIGHTS message (SCM_MAX_FD). */
export const MAX_FDS_PER_MESSAGE = 253;

/** Readiness bits for {@link pollStart} / {@link pollUpdate} and the watcher callback. */
export const PollEvent = { READABLE: 1, WRITABLE: 2, DISCONNECT: 4 } as const;

/** `how` values for {@link shutdown}. */
export const ShutdownHow = { READ: 0, WRITE: 1, BOTH: 2 } as const;
export type ShutdownHow = (typeof ShutdownHow)[keyof typeof ShutdownHow];

/** One recvmsg: `bytes` read into the buffer (0 = end of stream) and the descriptors
 * that came with them. The descriptors are yours: close each one exactly once.
 * `truncated` (MSG_CTRUNC) means the kernel dropped descriptors: treat the stream as broken. */
export interface RecvResult {
  bytes: number;
  fds: number[];
  truncated: boolean;
}

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

declare const pollHandleBrand: unique symbol;
/** Opaque watcher handle from {@link pollStart}; only good for pollUpdate/pollClose. */
export type PollHandle = { readonly [pollHandleBrand]: true };

/** Watcher callback: `status` is 0 or a negative (libuv = -errno) error code, after which
 * the watcher is stopped; `events` is a mask of {@link PollEvent} bits that are ready. */
export type PollCallback = (status: number, events: number) => void;

/** The raw addon, exactly as native/anbox_oob_native.c exports it. */
interface RawAddon {
  listenUnix(path: string, backlog: number): number;
  connectUnix(path: string): number;
  connectChannel(path: string, blocking: boolean, out: Int32Array): number;
  connectChannelAt(dirFd: number, name: string, path: string, blocking: boolean, out: Int32Array): number;
  openDirectory(path: string, out: Int32Array): number;
  waitFd(fd: number, events: number, timeoutMs: number): number;
  accept(listenFd: number): number;
  setBlocking(fd: number, blocking: boolean): number;
  sendmsg(fd: number, data: Uint8Array, fds: readonly number[]): number;
  recvmsg(fd: number, buf: Uint8Array, fdsOut: Int32Array): number;
  close(fd: number): number;
  shutdown(fd: number, how: number): number;
  peerCredentials(fd: number, out: Int32Array): number;
  pollStart(fd: number, events: number, callback: PollCallback): PollHandle | number;
  pollUpdate(handle: PollHandle, events: number): number;
  pollClose(handle: PollHandle): number;
}

const PACKAGE_NAME = 'anbox-oob-emulator';
const ADDON_PATH = ['build', 'Release', 'anbox_oob_native.node'];

/** Walks up from this module's directory (src/native or dist/src/native) to the package root. */
function findPackageRoot(start: string): string | undefined {
  for (let dir = start; ; dir = dirname(dir)) {
    try {
      const pkg: any = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      if (pkg?.name === PACKAGE_NAME) return dir;
    } catch {
      // no (readable) package.json here: keep walking up
    }
    if (dirname(dir) === dir) return undefined;
  }
}

let addon: RawAddon | undefined;

/** Loads the addon now (idempotent); throws an Error that says how to build it. */
export function loadNative(): void {
  getAddon();
}

function getAddon(): RawAddon {
  if (addon !== undefined) return addon;
  const here = dirname(fileURLToPath(import.meta.url));
  const root = findPackageRoot(here);
  const file = root === undefined ? undefined : join(root, ...ADDON_PATH);
  try {
    if (file === undefined) throw new Error(`no package.json named "${PACKAGE_NAME}" above ${here}`);
    const loaded: any = createRequire(import.meta.url)(file);
    addon = loaded as RawAddon;
    return addon;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new Error(
      `anbox-oob-emulator: cannot load the native addon ${file ?? join('<package root>', ...ADDON_PATH)} (${reason}). ` +
        `Build it by running \`npm install\` in ${root ?? 'the package root'} ` +
        '(to rebuild only the addon: `npm run install` or `npx node-gyp rebuild`); building needs g++, make and python3.',
      { cause },
    );
  }
}

/** Creates a non-blocking AF_UNIX stream socket bound to `path` and listening.
 * Returns the listening fd (yours to close) or -errno (-ENAMETOOLONG if `path` exceeds 107
 * bytes, -EADDRINUSE if the path exists). Never unlinks or chmods `path`: you do that. */
export function listenUnix(path: string, backlog: number): number {
  return getAddon().listenUnix(path, backlog);
}

/** Accepts one pending connection on `listenFd` (stays yours). Returns a new non-blocking
 * connected fd (yours to close) or -errno (-EAGAIN when nothing is pending, -EMFILE...). */
export function accept(listenFd: number): number {
  return getAddon().accept(listenFd);
}

/** Connects a new non-blocking socket to the Unix socket at `path`; completes at once or
 * fails. Returns the connected fd (yours to close) or -errno (-ENOENT, -ECONNREFUSED,
 * -EAGAIN when the listener's backlog is full, -ENAMETOOLONG...); on failure nothing is left open. */
export function connectUnix(path: string): number {
  return getAddon().connectUnix(path);
}

/** Where connectChannel failed: opening the entry, the entry not being a socket, connect, or clearing O_NONBLOCK. */
export const ChannelConnectStage = { OPEN: 0, NOT_A_SOCKET: 1, CONNECT: 2, BLOCKING_MODE: 3 } as const;

export interface ChannelConnectFailure {
  stage: (typeof ChannelConnectStage)[keyof typeof ChannelConnectStage];
  /** NOT_A_SOCKET only: the entry is a symlink (never followed). */
  symlink: boolean;
}

const channelOut = new Int32Array(2);

/** The last connectChannel failure's stage (valid right after it returned < 0). */
export const lastChannelConnectFailure: ChannelConnectFailure = { stage: 0, symlink: false };

/** One step for the daemon's connect: open(`path`, O_PATH | O_NOFOLLOW) pins the entry, fstat
 * checks that it is a socket (never a symlink), connect() goes to /proc/self/fd/N (that very
 * inode; to `path` when /proc is absent), O_NONBLOCK is cleared when `blocking`, the pin is
 * closed. Returns the connected fd (yours to close) or -errno, with the failing stage in
 * {@link lastChannelConnectFailure} (-EAGAIN at CONNECT: the listener's backlog is full). */
export function connectChannel(path: string, blocking: boolean): number {
  const fd = getAddon().connectChannel(path, blocking, channelOut);
  if (fd < 0) {
    lastChannelConnectFailure.stage = channelOut[0] as ChannelConnectFailure['stage'];
    lastChannelConnectFailure.symlink = channelOut[1] === 1;
  }
  return fd;
}

/** connectChannel's trusted-directory fast path: fstatat(`dirFd`, `name`, AT_SYMLINK_NOFOLLOW) checks
 * that the entry is a socket (never a symlink), then `path` (the same entry, by path) is connected
 * and O_NONBLOCK cleared when `blocking`. No pin: only for a socket dir nobody but this uid or root
 * can write (see DataProxyService). Returns and failure stages as {@link connectChannel} (OPEN is the
 * fstatat). */
export function connectChannelAt(dirFd: number, name: string, path: string, blocking: boolean): number {
  const fd = getAddon().connectChannelAt(dirFd, name, path, blocking, channelOut);
  if (fd < 0) {
    lastChannelConnectFailure.stage = channelOut[0] as ChannelConnectFailure['stage'];
    lastChannelConnectFailure.symlink = channelOut[1] === 1;
  }
  return fd;
}

export interface OpenedDirectory {
  fd: number;
  uid: number;
  /** Permission bits (07777). */
  mode: number;
}

const directoryOut = new Int32Array(2);

/** open(`path`, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) and fstat of it: the fd (yours to close) with
 * its owner and mode, or -errno (-ENOTDIR for a symlink or a file, -ENOENT...). */
export function openDirectory(path: string): OpenedDirectory | number {
  const fd = getAddon().openDirectory(path, directoryOut);
  if (fd < 0) return fd;
  return { fd, uid: directoryOut[0]! >>> 0, mode: directoryOut[1]! };
}

/** poll(2) events for {@link waitFd}. */
export const WaitEvent = { READABLE: 0x001, WRITABLE: 0x004 } as const;

/** Blocks the thread until `fd` (stays yours) has one of `events` or `timeoutMs` passes (-1: no
 * limit). Returns the poll revents (> 0; may include POLLERR 0x8 / POLLHUP 0x10), 0 on timeout,
 * or -errno. For synchronous tools only: never call it in a daemon. */
export function waitFd(fd: number, events: number, timeoutMs: number): number {
  return getAddon().waitFd(fd, events, timeoutMs);
}

/** Clears (`blocking` true) or sets O_NONBLOCK on `fd` (stays yours). 0 or -errno.
 * Make a descriptor blocking only before handing it to another process. */
export function setBlocking(fd: number, blocking: boolean): number {
  return getAddon().setBlocking(fd, blocking);
}

/** One non-blocking sendmsg of `data` on `fd`, with `fds` attached as one SCM_RIGHTS message
 * (at most {@link MAX_FDS_PER_MESSAGE}; `data` must then be non-empty, else TypeError).
 * Returns bytes sent, possibly fewer than `data.length` (when > 0 the descriptors went with
 * the first byte), or -errno (-EAGAIN: socket buffer full, nothing sent; -EPIPE...).
 * `fd` and `fds` stay yours: the kernel duplicates the descriptors in flight, so you may close
 * yours as soon as this returns > 0. */
export function sendmsg(fd: number, data: Uint8Array, fds: readonly number[] = []): number {
  return getAddon().sendmsg(fd, data, fds);
}

const recvFds = new Int32Array(2 + MAX_FDS_PER_MESSAGE);

/** One non-blocking recvmsg on `fd` (stays yours) into `buf` (length >= 1). Returns the bytes
 * read (0 = peer closed its writing side) with the descriptors that came with them, or -errno
 * (-EAGAIN: nothing to read). Received descriptors are close-on-exec and yours to close. */
export function recvmsg(fd: number, buf: Uint8Array): RecvResult | number {
  const bytes = getAddon().recvmsg(fd, buf, recvFds);
  if (bytes < 0) return bytes;
  const count = recvFds[0];
  return { bytes, fds: Array.from(recvFds.subarray(2, 2 + count)), truncated: recvFds[1] === 1 };
}

/** Closes `fd`, ending your ownership. 0 or -errno (-EBADF). Never retry: on Linux the
 * descriptor is gone even when close reports an error. */
export function close(fd: number): number {
  return getAddon().close(fd);
}

/** shutdown(2) on `fd` (stays yours and open: still close it). 0 or -errno (-ENOTCONN...). */
export function shutdown(fd: number, how: ShutdownHow): number {
  return getAddon().shutdown(fd, how);
}

const credBuf = new Int32Array(3);

/** SO_PEERCRED of connected Unix socket `fd` (stays yours): the peer's pid/uid/gid at
 * connect() time, or -errno. */
export function peerCredentials(fd: number): PeerCredentials | number {
  const rc = getAddon().peerCredentials(fd, credBuf);
  if (rc < 0) return rc;
  return { pid: credBuf[0], uid: credBuf[1] >>> 0, gid: credBuf[2] >>> 0 };
}

/** Watches `fd` for the {@link PollEvent} bits in `events` (0 = created paused) on Node's event
 * loop; `callback` runs like any Node callback (nextTick/promise jobs run after it; a throw
 * becomes an uncaught exception). Level-triggered: it fires on every loop turn while the
 * condition holds, so read until -EAGAIN or pause it. Returns a handle or -errno (-EEXIST if
 * `fd` is already watched, -EPERM for regular files). libuv sets O_NONBLOCK on `fd`.
 * DISCONNECT (EPOLLRDHUP) is reported only when asked for. The watcher never closes `fd`; you must
 * {@link pollClose} it before closing `fd`, and must not drop the handle without pollClose
 * (an unclosed watcher keeps running, and an active one keeps the process alive). */
export function pollStart(fd: number, events: number, callback: PollCallback): PollHandle | number {
  return getAddon().pollStart(fd, events, callback);
}

/** Changes the watched bits: 0 pauses the watcher (the loop may then exit), any other mask
 * resumes it with that mask. 0 or -errno (-EBADF after pollClose). */
export function pollUpdate(handle: PollHandle, events: number): number {
  return getAddon().pollUpdate(handle, events);
}

/** Stops the watcher at once (no callback runs after this, even when called from inside the
 * callback) and frees it. Repeated calls are no-ops returning 0. Does not close the fd. */
export function pollClose(handle: PollHandle): number {
  return getAddon().pollClose(handle);
}

/** Every function above, as one object (handy to inject or mock). */
export interface NativeSocketApi {
  listenUnix: typeof listenUnix;
  accept: typeof accept;
  connectUnix: typeof connectUnix;
  setBlocking: typeof setBlocking;
  sendmsg: typeof sendmsg;
  recvmsg: typeof recvmsg;
  close: typeof close;
  shutdown: typeof shutdown;
  peerCredentials: typeof peerCredentials;
  pollStart: typeof pollStart;
  pollUpdate: typeof pollUpdate;
  pollClose: typeof pollClose;
}

export const native: NativeSocketApi = {
  listenUnix,
  accept,
  connectUnix,
  setBlocking,
  sendmsg,
  recvmsg,
  close,
  shutdown,
  peerCredentials,
  pollStart,
  pollUpdate,
  pollClose,
};

let errnoNames: Map<number, string> | undefined;

/** Name of a negative errno or libuv status: -2 → 'ENOENT', -11 → 'EAGAIN'. Anything else → 'E?<n>'. */
export function errnoName(negErrno: number): string {
  if (errnoNames === undefined) {
    errnoNames = new Map();
    for (const [name, value] of Object.entries(osConstants.errno)) {
      if (!errnoNames.has(value)) errnoNames.set(value, name); // first wins: EAGAIN over EWOULDBLOCK
    }
  }
  return errnoNames.get(-negErrno) ?? `E?${negErrno}`;
}

/** An Error shaped like Node's own system errors (`code`, `errno`, `syscall`) for a -errno result. */
export function errnoException(negErrno: number, syscall: string, path?: string): NodeJS.ErrnoException {
  const code = errnoName(negErrno);
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code}${path === undefined ? '' : ` ${path}`}`);
  err.code = code;
  err.errno = negErrno;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  return err;
}
