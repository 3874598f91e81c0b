import { createRequire } from 'node:module';
import { constants } from 'node:os';

/**
 * A typed facade of the `unix-dgram` package (Unix datagram sockets; Node's core has none), and
 * the places where its behaviour needs care:
 *
 * - Errors carry the NEGATIVE errno number in `code` and `errno` (`-111`, not `'ECONNREFUSED'`);
 *   errnoName() turns them into names.
 * - send() on an unconnected socket calls its callback synchronously, inside the call; with no
 *   callback, failures become 'error' events. It never emits 'congestion' or 'writable' for
 *   unconnected sends: EAGAIN (the receiver's queue, net.unix.max_dgram_qlen, is full; or this
 *   socket's send buffer is) is an ordinary error.
 * - bind() reports failure as a synchronous 'error' event, which throws if nobody listens.
 * - Paths are copied into sun_path with strncpy and silently TRUNCATED beyond 107 bytes: callers
 *   must check the length first, or they bind or send to another path.
 * - Received datagrams are read into a 65536-byte buffer; longer ones are truncated silently.
 * - close() throws on failure, and closing twice reaches an assertion in the addon: close once.
 * - close() does not unlink the bound socket file.
 * - Every socket is watched on the main thread's libuv loop (not usable in worker threads) and
 *   keeps the process alive until closed.
 */

export interface UnixDgramError extends Error {
  /** Negative errno (e.g. -11 for EAGAIN), or 1 for a connected socket's "congestion". */
  code: number;
  errno: number;
  syscall: string;
}

export interface ReceiveInfo {
  size: number;
  /** The sender's bound path, if it has one. */
  path: string | null;
}

export interface UnixDgramSocket {
  fd: number;
  bind(path: string): void;
  send(buf: Buffer, offset: number, length: number, path: string, callback: (error?: UnixDgramError) => void): void;
  close(): void;
  on(event: 'message', listener: (buf: Buffer, info: ReceiveInfo) => void): this;
  on(event: 'error', listener: (error: UnixDgramError) => void): this;
  on(event: 'listening', listener: () => void): this;
  once(event: 'error', listener: (error: UnixDgramError) => void): this;
  once(event: 'listening', listener: () => void): this;
  off(event: 'error', listener: (error: UnixDgramError) => void): this;
  off(event: 'listening', listener: () => void): this;
  removeAllListeners(event?: string): this;
}

interface UnixDgramModule {
  createSocket(type: 'unix_dgram', listener?: (buf: Buffer, info: ReceiveInfo) => void): UnixDgramSocket;
}

const require = createRequire(import.meta.url);
const unixDgram = require('unix-dgram') as UnixDgramModule;

/** sun_path holds 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

/** A new unbound datagram socket (non-blocking, close-on-exec). Throws on socket(2) failure (EMFILE...). */
export function createDatagramSocket(): UnixDgramSocket {
  return unixDgram.createSocket('unix_dgram');
}

/** Whether `path` fits sun_path (unix-dgram would truncate it silently). */
export function fitsSocketPath(path: string): boolean {
  return Buffer.byteLength(path) <= MAX_SOCKET_PATH_BYTES;
}

/** "ECONNREFUSED" for -111 (or 111), "congestion" for 1, else "errno N". */
export function errnoName(code: number | string | undefined): string {
  if (typeof code === 'string') return code;
  if (code === undefined) return 'unknown error';
  if (code === 1) return 'congestion';
  const value = Math.abs(code);
  for (const [name, number] of Object.entries(constants.errno)) if (number === value) return name;
  return `errno ${value}`;
}

/**
 * sendto(2) of one datagram. Resolves with 0, or with the negative errno of the failure; never
 * rejects and never emits 'error' (the callback form reports every failure).
 */
export function sendDatagram(socket: UnixDgramSocket, buf: Buffer, path: string): Promise<number> {
  return new Promise((resolve) => {
    try {
      socket.send(buf, 0, buf.length, path, (error) => resolve(error ? negativeErrno(error) : 0));
    } catch (error) {
      resolve(negativeErrno(error as UnixDgramError));
    }
  });
}

/** bind(2) to `path`; resolves when bound, rejects with the UnixDgramError otherwise. */
export function bindDatagramSocket(socket: UnixDgramSocket, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: UnixDgramError) => {
      socket.off('listening', onListening);
      reject(error);
    };
    const onListening = () => {
      socket.off('error', onError);
      resolve();
    };
    socket.once('error', onError);
    socket.once('listening', onListening);
    socket.bind(path);
  });
}

/** Closes the socket, ignoring failures (the descriptor is gone either way). Call once. */
export function closeDatagramSocket(socket: UnixDgramSocket): void {
  try {
    socket.close();
  } catch {
    // EBADF/EIO from close(2): nothing left to do.
  }
}

function negativeErrno(error: UnixDgramError | Error): number {
  const code = (error as Partial<UnixDgramError>).code;
  if (typeof code === 'number') return code > 0 && code !== 1 ? -code : code;
  if (typeof code === 'string') {
    const value = (constants.errno as Record<string, number>)[code];
    if (value !== undefined) return -value;
  }
  return -(constants.errno.EIO ?? 5);
}
