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
}

/**
 * Connects to a channel socket and returns the connected descriptor, owned by the caller.
 * Every failure becomes a ServiceError whose message says what happened and what to do.
 */
export async function connectChannelSocket(channel: string, path: string, options: ChannelConnectOptions): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const fd = native.connectUnix(path);
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
