import { constants } from 'node:os';
import * as native from '../native/addon.js';
import { Status } from '../parcel/status.js';
import { ReplyMode } from '../wire/envelope.js';
import { encodeTransactionFrame } from '../wire/envelope-fast.js';
import { FrameDecoder } from '../wire/framing.js';
import { DataProxyError } from './data-proxy-error.js';
import { unreachable } from './service-connection.js';
import { readReply, toTransactResult, type TransactResult } from './transact-result.js';

const { errno } = constants;

/** Default bound on a synchronous transaction, connect to reply. */
export const DEFAULT_SYNC_TIMEOUT_MS = 10_000;

const readBuffer = Buffer.allocUnsafe(64 * 1024);

/**
 * One transaction on a connection of its own, with blocking waits (poll(2) through the addon):
 * for tools and scripts that want a descriptor without an event loop turn. Blocks the thread for
 * at most `timeoutMs` (then DEAD_OBJECT / TIMED_OUT), never in a daemon. The reply's descriptors
 * are the caller's; the connection is closed before returning, whatever happens.
 */
export function transactSync(servicePath: string, service: string, code: number, data: Uint8Array, timeoutMs = DEFAULT_SYNC_TIMEOUT_MS): TransactResult {
  const deadline = Date.now() + timeoutMs;
  const fd = native.connectUnix(servicePath);
  if (fd < 0) throw unreachable(servicePath, fd);
  const received: number[] = [];
  try {
    const frame = encodeTransactionFrame({ id: 1, service, code, flags: 0, data, objectOffsets: [], replyMode: ReplyMode.DESCRIPTOR });
    for (let sent = 0; sent < frame.length; ) {
      const n = native.sendmsg(fd, frame.subarray(sent));
      if (n >= 0) sent += n;
      else if (n === -errno.EAGAIN) wait(fd, native.WaitEvent.WRITABLE, deadline, servicePath);
      else throw lost(servicePath, n);
    }
    const decoder = new FrameDecoder();
    for (;;) {
      const body = decoder.next();
      if (body !== null) {
        const reply = readReply(body);
        if (reply === null || (reply.id !== 1 && reply.id !== 0)) {
          throw new DataProxyError(Status.BAD_VALUE, 'PROTOCOL_ERROR', 'the daemon sent something other than the reply to this transaction');
        }
        const fds = received.splice(0, reply.fdCount);
        for (const extra of received.splice(0)) native.close(extra);
        return toTransactResult(reply, fds);
      }
      const result = native.recvmsg(fd, readBuffer);
      if (typeof result === 'number') {
        if (result !== -errno.EAGAIN) throw lost(servicePath, result);
        wait(fd, native.WaitEvent.READABLE, deadline, servicePath);
        continue;
      }
      received.push(...result.fds);
      if (result.bytes === 0 && result.fds.length === 0) throw lost(servicePath, 0);
      decoder.push(readBuffer.subarray(0, result.bytes));
    }
  } catch (error) {
    for (const extra of received) native.close(extra);
    if (error instanceof DataProxyError) throw error;
    throw new DataProxyError(Status.BAD_VALUE, 'PROTOCOL_ERROR', `the daemon sent something this client cannot read: ${(error as Error).message}`);
  } finally {
    native.close(fd);
  }
}

function wait(fd: number, events: number, deadline: number, servicePath: string): void {
  const left = deadline - Date.now();
  const ready = left > 0 ? native.waitFd(fd, events, Math.min(left, 0x7fffffff)) : 0;
  if (ready === 0) throw new DataProxyError(Status.DEAD_OBJECT, 'TIMED_OUT', `no reply from the daemon at ${servicePath} in time`);
  if (ready < 0) throw lost(servicePath, ready);
}

function lost(servicePath: string, negErrno: number): DataProxyError {
  const detail = negErrno < 0 ? ` (${native.errnoName(negErrno)})` : '';
  return new DataProxyError(Status.DEAD_OBJECT, 'CONNECTION_LOST', `the daemon at ${servicePath} closed the connection${detail}`);
}
