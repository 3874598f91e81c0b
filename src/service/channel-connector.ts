import { closeSync, constants as fsConstants, existsSync, fstatSync, openSync } from 'node:fs';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { isChannelSocketEntry } from '../channels/channel-socket.js';
import * as native from '../native/addon.js';
import { ServiceError } from './service-error.js';

const { errno } = constants;

/** Delays between attempts while the channel's listen backlog is full (connect returns EAGAIN). */
const BUSY_RETRY_DELAYS_MS = [1, 5, 20, 50, 100, 200];

export interface ChannelConnectOptions {
  /** Android's readFileDescriptor users (FileInputStream) expect a blocking socket. */
  blocking: boolean;
}

/**
 * Connects to a channel socket and returns the connected descriptor, owned by the caller.
 * Every failure becomes a ServiceError whose message says what happened and what to do.
 */
export async function connectChannelSocket(channel: string, path: string, options: ChannelConnectOptions): Promise<number> {
  const pinned = pinChannelSocket(channel, path);
  try {
    return await connectPinned(channel, path, pinned.target, options);
  } finally {
    pinned.release();
  }
}

/** O_PATH (Linux): a descriptor that names a file without opening it; works on sockets. */
const O_PATH = 0o10000000;

interface PinnedSocket {
  /** What to connect to: /proc/self/fd/N (exactly the inode checked), or the path itself. */
  target: string;
  release(): void;
}

/**
 * Checks that `path` is what the socket-dir watcher counts as a channel (isChannelSocketEntry: a
 * socket, not a symlink) and pins that very inode, so that a file swapped in after the check is
 * not what gets connected: open(O_PATH | O_NOFOLLOW) gives a descriptor of the entry itself (of
 * the link, for a symlink), fstat checks it, and connect() goes to /proc/self/fd/N, which the
 * kernel resolves to that inode. Without /proc the path is connected after the check: an entry
 * swapped between the two could still be reached, which needs write access to the socket dir,
 * and that is the daemon's own (see docs/protocol.md, "connect"). Only the final component is
 * checked; the socket dir itself may be reached through symlinks the user set up.
 */
function pinChannelSocket(channel: string, path: string): PinnedSocket {
  let fd: number;
  try {
    fd = openSync(path, O_PATH | fsConstants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    throw connectError(channel, path, -((errno as Record<string, number>)[code] ?? errno.EIO));
  }
  try {
    const stats = fstatSync(fd);
    if (!isChannelSocketEntry(stats)) {
      const what = stats.isSymbolicLink() ? 'a symlink' : 'not a socket';
      throw new ServiceError(
        'CHANNEL_NOT_FOUND',
        `no data channel "${channel}": ${path} is ${what}, and only sockets the platform created there count as channels ` +
          `(the daemon never follows a symlink there); remove it, and open the channel from a browser`,
      );
    }
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  const viaProc = `/proc/self/fd/${fd}`;
  const target = existsSync(viaProc) ? viaProc : path;
  return { target, release: () => closeSync(fd) };
}

async function connectPinned(channel: string, path: string, target: string, options: ChannelConnectOptions): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const fd = native.connectUnix(target);
    if (fd >= 0) {
      const status = native.setBlocking(fd, options.blocking);
      if (status < 0) {
        native.close(fd);
        throw new ServiceError('INTERNAL_ERROR', `cannot set blocking mode on the channel socket: ${native.errnoName(status)}`);
      }
      return fd;
    }
    if (fd === -errno.EAGAIN && attempt < BUSY_RETRY_DELAYS_MS.length) {
      await sleep(BUSY_RETRY_DELAYS_MS[attempt]);
      continue;
    }
    throw connectError(channel, path, fd);
  }
}

function connectError(channel: string, path: string, negErrno: number): ServiceError {
  switch (-negErrno) {
    case errno.ENOENT:
      return new ServiceError(
        'CHANNEL_NOT_FOUND',
        `no data channel "${channel}": ${path} does not exist. A browser must open a data channel named "${channel}" first ` +
          `(the platform creates the socket when the channel opens), or check --socket-dir`,
      );
    case errno.ECONNREFUSED:
      return new ServiceError(
        'CHANNEL_REFUSED',
        `data channel "${channel}" refused the connection: ${path} exists but nothing listens on it ` +
          `(the platform exited or the file is not a socket); reconnect the browser session`,
      );
    case errno.EPROTOTYPE:
    case errno.ENOTSOCK:
      return new ServiceError('CHANNEL_NOT_A_STREAM_SOCKET', `${path} is not a Unix stream socket, so it cannot be data channel "${channel}"`);
    case errno.EACCES:
    case errno.EPERM:
      return new ServiceError('CHANNEL_ACCESS_DENIED', `the daemon may not connect to ${path} (${native.errnoName(negErrno)}); check the socket's owner and mode`);
    case errno.EAGAIN:
      return new ServiceError('CHANNEL_BUSY', `data channel "${channel}" is not accepting connections (listen backlog full); try again`);
    case errno.EMFILE:
    case errno.ENFILE:
    case errno.ENOBUFS:
    case errno.ENOMEM:
      return new ServiceError('OUT_OF_DESCRIPTORS', `the daemon is out of descriptors or memory (${native.errnoName(negErrno)}); close idle connections or raise the limit (ulimit -n)`);
    default:
      return new ServiceError('CHANNEL_REFUSED', `cannot connect to data channel "${channel}" at ${path}: ${native.errnoName(negErrno)}`);
  }
}
