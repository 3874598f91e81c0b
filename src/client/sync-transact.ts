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
  const connection = SyncServiceConnection.open(servicePath);
  try {
    return connection.transact(service, code, data, Math.max(0, deadline - Date.now()));
  } finally {
    connection.close();
  }
}

/**
 * A connection to the service whose transactions block the thread (sendmsg, poll, recvmsg through
 * the addon): what fdpass's C client does, for tools that make many transactions in a row without
 * an event loop. One transaction at a time; after any failure the connection is closed (its
 * stream may hold half a reply) and further transactions throw CONNECTION_LOST.
 */
export class SyncServiceConnection {
  private readonly decoder = new FrameDecoder();
  private nextId = 1;

  private constructor(
    private fd: number,
    readonly servicePath: string,
  ) {}

  /** Connects (DataProxyError UNREACHABLE-style when nothing listens). */
  static open(servicePath: string): SyncServiceConnection {
    const fd = native.connectUnix(servicePath);
    if (fd < 0) throw unreachable(servicePath, fd);
    return new SyncServiceConnection(fd, servicePath);
  }

  /** One transaction, reply mode DESCRIPTOR; blocks for at most `timeoutMs`. The reply's descriptors are the caller's. */
  transact(service: string, code: number, data: Uint8Array, timeoutMs = DEFAULT_SYNC_TIMEOUT_MS): TransactResult {
    if (this.fd < 0) throw lost(this.servicePath, 0);
    const deadline = Date.now() + timeoutMs;
    const id = this.nextId;
    this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
    const received: number[] = [];
    try {
      const frame = encodeTransactionFrame({ id, service, code, flags: 0, data, objectOffsets: [], replyMode: ReplyMode.DESCRIPTOR });
      for (let sent = 0; sent < frame.length; ) {
        const n = native.sendmsg(this.fd, frame.subarray(sent));
        if (n >= 0) sent += n;
        else if (n === -errno.EAGAIN) wait(this.fd, native.WaitEvent.WRITABLE, deadline, this.servicePath);
        else throw lost(this.servicePath, n);
      }
      for (;;) {
        const body = this.decoder.next();
        if (body !== null) {
          const reply = readReply(body);
          // id 0: the daemon's reply to a frame it could not attribute (docs/protocol.md).
          if (reply === null || (reply.id !== id && reply.id !== 0)) {
            throw new DataProxyError(Status.BAD_VALUE, 'PROTOCOL_ERROR', 'the daemon sent something other than the reply to this transaction');
          }
          const fds = received.splice(0, reply.fdCount);
          for (const extra of received.splice(0)) native.close(extra);
          return toTransactResult(reply, fds);
        }
        const result = native.recvmsg(this.fd, readBuffer);
        if (typeof result === 'number') {
          if (result !== -errno.EAGAIN) throw lost(this.servicePath, result);
          wait(this.fd, native.WaitEvent.READABLE, deadline, this.servicePath);
          continue;
        }
        received.push(...result.fds);
        if (result.bytes === 0 && result.fds.length === 0) throw lost(this.servicePath, 0);
        this.decoder.push(readBuffer.subarray(0, result.bytes));
      }
    } catch (error) {
      for (const extra of received) native.close(extra);
      this.close();
      if (error instanceof DataProxyError) throw error;
      throw new DataProxyError(Status.BAD_VALUE, 'PROTOCOL_ERROR', `the daemon sent something this client cannot read: ${(error as Error).message}`);
    }
  }

  close(): void {
    if (this.fd < 0) return;
    native.close(this.fd);
    this.fd = -1;
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
