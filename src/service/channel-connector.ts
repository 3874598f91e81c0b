import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import * as native from '../native/addon.js';
import { ServiceError } from './service-error.js';

const { errno } = constants;

/** Delays between attempts while the channel's listen backlog is full (connect returns EAGAIN). */
const BUSY_RETRY_DELAYS_MS = [1, 5, 20, 50, 100, 200];

export interface ChannelConnectOptions {
  /** Android's readFileDescriptor users (FileInputStream) expect a blocking socket. */
  blocking: boolean;
  /**
   * The socket dir held open (see TrustedSocketDir), when it is trusted: the fast path
   * (connectChannelAt) is tried first; `entry` is `webrtc_data_<channel>` inside it.
   */
  trusted?: { dirFd: number; entry: string };
}

/**
 * Connects to a channel socket and returns the connected descriptor, owned by the caller: at
 * once (no promise) when the channel accepts, a promise while its listen backlog is full.
 * Every failure becomes a ServiceError whose message says what happened and what to do.
 *
 * Each attempt is one native call (connectChannel): open(O_PATH | O_NOFOLLOW) pins the entry
 * itself (the link, for a symlink), fstat checks that it is what the socket-dir watcher counts as
 * a channel (isChannelSocketEntry: a socket, not a symlink), and connect() goes to
 * /proc/self/fd/N, which the kernel resolves to that very inode, so that a file swapped in after
 * the check is not what gets connected. Without /proc the path is connected after the check: an
 * entry swapped between the two could still be reached, which needs write access to the socket
 * dir, and that is the daemon's own (see docs/protocol.md, "connect"). Only the final component
 * is checked; the socket dir itself may be reached through symlinks the user set up.
 *
 * With options.trusted (a socket dir only this uid or root can write, held open), the first attempt
 * is the fast path instead: fstatat on the held directory (AT_SYMLINK_NOFOLLOW, the same socket test)
 * and connect by path, no pin: nobody else can swap the entry between the two. Retries (a full
 * backlog) and a missing entry go through the pinned path.
 */
export function connectChannelSocket(channel: string, path: string, options: ChannelConnectOptions): number | Promise<number> {
  if (options.trusted !== undefined) {
    const fd = native.connectChannelAt(options.trusted.dirFd, options.trusted.entry, path, options.blocking);
    if (fd >= 0) return fd;
    // ENOENT in the held directory: the socket dir may have been removed and made again since the
    // daemon opened it (the held one is then empty for ever); the pinned path below looks the path
    // up afresh. A full backlog is retried on the pinned path too. Anything else is the answer.
    const stage = native.lastChannelConnectFailure.stage;
    const missing = fd === -errno.ENOENT && stage === native.ChannelConnectStage.OPEN;
    const busy = fd === -errno.EAGAIN && stage === native.ChannelConnectStage.CONNECT;
    if (busy) return retryWhileBusy(channel, path, options);
    if (!missing) throw channelConnectError(channel, path, fd);
  }
  const fd = native.connectChannel(path, options.blocking);
  if (fd >= 0) return fd;
  if (fd === -errno.EAGAIN && native.lastChannelConnectFailure.stage === native.ChannelConnectStage.CONNECT) {
    return retryWhileBusy(channel, path, options);
  }
  throw channelConnectError(channel, path, fd);
}

async function retryWhileBusy(channel: string, path: string, options: ChannelConnectOptions): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    await sleep(BUSY_RETRY_DELAYS_MS[attempt]);
    const fd = native.connectChannel(path, options.blocking);
    if (fd >= 0) return fd;
    const busy = fd === -errno.EAGAIN && native.lastChannelConnectFailure.stage === native.ChannelConnectStage.CONNECT;
    if (!busy || attempt + 1 >= BUSY_RETRY_DELAYS_MS.length) throw channelConnectError(channel, path, fd);
  }
}

/** The ServiceError for a failed connectChannel (its stage read from lastChannelConnectFailure). */
function channelConnectError(channel: string, path: string, negErrno: number): ServiceError {
  const failure = native.lastChannelConnectFailure;
  if (failure.stage === native.ChannelConnectStage.NOT_A_SOCKET) {
    const what = failure.symlink ? 'a symlink' : 'not a socket';
    return new ServiceError(
      'CHANNEL_NOT_FOUND',
      `no data channel "${channel}": ${path} is ${what}, and only sockets the platform created there count as channels ` +
        `(the daemon never follows a symlink there); remove it, and open the channel from a browser`,
    );
  }
  if (failure.stage === native.ChannelConnectStage.BLOCKING_MODE) {
    return new ServiceError('INTERNAL_ERROR', `cannot set blocking mode on the channel socket: ${native.errnoName(negErrno)}`);
  }
  return connectError(channel, path, negErrno);
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
