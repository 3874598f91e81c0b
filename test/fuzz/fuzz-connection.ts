// A client connection for the fuzzer, on the native socket calls (net.Socket cannot receive
// SCM_RIGHTS). It keeps every reply with the descriptors that came with it (the FIFO rule of
// docs/protocol.md section 3), switches to raw bytes when a stream-mode connect succeeds, and
// records a reply frame it cannot decode instead of throwing.
//
// It reads until EOF or an error even after the poll reports one: when the daemon hangs up while
// bytes we sent are still unread on its side, the kernel flags our socket with ECONNRESET
// (EPOLLERR, which libuv reports as an error without reading), yet the reply the daemon sent
// before hanging up is still queued for us and must be read.

import { constants } from 'node:os';
import { setImmediate as turn } from 'node:timers/promises';
import * as native from '../../src/native/addon.js';
import { decodeFrame, type ReplyMessage } from '../../src/wire/envelope.js';
import { FrameDecoder } from '../../src/wire/framing.js';

export interface ReceivedReply {
  reply: ReplyMessage;
  /** The descriptors taken from the FIFO for this reply (fd_count of them, or fewer if missing). */
  fds: number[];
  /** The frame body as received, for reports. */
  body: Buffer;
}

export class FuzzConnection {
  readonly replies: ReceivedReply[] = [];
  /** Protocol violations seen while reading (undecodable frames, lost descriptors...). */
  readonly problems: string[] = [];
  /** Channel bytes after a stream-mode connect succeeded. */
  raw: Buffer = Buffer.alloc(0);
  closed = false;
  /** Ids of stream-mode transactions sent: an OK reply to one turns the connection into the channel. */
  readonly streamIds = new Set<number>();
  private streaming = false;
  private readonly fifo: number[] = [];
  private readonly decoder = new FrameDecoder();
  private readonly fd: number;
  private poll: native.PollHandle | undefined;
  private fdOpen = true;
  private readonly readBuffer = Buffer.allocUnsafe(256 * 1024);
  private waiters: (() => void)[] = [];

  private constructor(fd: number) {
    this.fd = fd;
    const poll = native.pollStart(fd, native.PollEvent.READABLE, (status) => this.readAll(status));
    if (typeof poll === 'number') {
      native.close(fd);
      throw native.errnoException(poll, 'poll');
    }
    this.poll = poll;
  }

  /** Connects, retrying while the daemon's backlog is full (EAGAIN); other errors throw. */
  static async open(path: string, timeoutMs: number): Promise<FuzzConnection> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const fd = native.connectUnix(path);
      if (fd >= 0) return new FuzzConnection(fd);
      if (fd !== -constants.errno.EAGAIN || Date.now() > deadline) throw native.errnoException(fd, 'connect', path);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Descriptors received but not claimed by any reply. */
  get unclaimedFds(): number {
    return this.fifo.length;
  }

  /**
   * Sends everything, waiting while the socket buffer is full. The descriptors go with the first
   * byte and are closed here once sent (the kernel has its own copies in flight), or if sending fails.
   */
  async write(bytes: Buffer, fds: number[] = []): Promise<void> {
    let offset = 0;
    try {
      while (offset < bytes.length && this.fdOpen && !this.closed) {
        const sent = native.sendmsg(this.fd, bytes.subarray(offset), offset === 0 ? fds : []);
        if (sent >= 0) offset += sent;
        else if (sent === -constants.errno.EAGAIN) await turn();
        else return; // EPIPE, ECONNRESET: the daemon hung up; reading tells the rest
      }
    } finally {
      for (const fd of fds) native.close(fd);
    }
  }

  shutdownWrite(): void {
    if (this.fdOpen) native.shutdown(this.fd, native.ShutdownHow.WRITE);
  }

  /** Closes the connection and every descriptor received and not yet closed. */
  destroy(): void {
    this.stopPolling();
    if (this.fdOpen) native.close(this.fd);
    this.fdOpen = false;
    this.closed = true;
    for (const fd of this.fifo.splice(0)) native.close(fd);
    for (const r of this.replies) for (const fd of r.fds.splice(0)) native.close(fd);
    this.wake();
  }

  /** Resolves once `done()` holds (checked after every read and on close), or rejects after `timeoutMs`. */
  waitFor(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`no ${what} within ${timeoutMs} ms (${this.replies.length} replies, closed: ${this.closed})`));
      }, timeoutMs);
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  /** Reads until EAGAIN (more later), EOF or an error (closed). Runs on every poll wake-up, error or not. */
  private readAll(status: number): void {
    while (this.fdOpen && !this.closed) {
      const result = native.recvmsg(this.fd, this.readBuffer);
      if (typeof result === 'number') {
        // After a poll error the watcher is stopped: nothing would wake us again.
        if (result === -constants.errno.EAGAIN && status >= 0) return;
        break; // ECONNRESET and friends, after everything queued was read
      }
      if (result.truncated) this.problems.push('MSG_CTRUNC: descriptors were dropped by the kernel');
      if (result.bytes === 0 && result.fds.length === 0) break;
      this.onData(Buffer.from(this.readBuffer.subarray(0, result.bytes)), result.fds);
    }
    this.stopPolling();
    this.closed = true;
    this.wake();
  }

  private stopPolling(): void {
    if (this.poll) native.pollClose(this.poll);
    this.poll = undefined;
  }

  private onData(bytes: Buffer, fds: number[]): void {
    this.fifo.push(...fds);
    if (this.streaming) this.raw = Buffer.concat([this.raw, bytes]);
    else this.decoder.push(bytes);
    while (!this.streaming) {
      let body: Buffer | null;
      try {
        body = this.decoder.next();
      } catch (error) {
        this.problems.push(`daemon sent an oversized frame header: ${(error as Error).message}`);
        this.closed = true;
        break;
      }
      if (body === null) break;
      this.onFrame(body);
    }
    this.wake();
  }

  private onFrame(body: Buffer): void {
    let reply: ReplyMessage;
    try {
      const frame = decodeFrame(body);
      if (frame.kind !== 'reply') {
        this.problems.push(`daemon sent a transaction frame: ${body.toString('hex')}`);
        return;
      }
      reply = frame.reply;
    } catch (error) {
      this.problems.push(`daemon sent an undecodable frame (${(error as Error).message}): ${body.toString('hex')}`);
      return;
    }
    const fds = this.fifo.splice(0, reply.fdCount);
    this.replies.push({ reply, fds, body });
    if (reply.status === 0 && this.streamIds.has(reply.id)) {
      this.streaming = true;
      this.raw = this.decoder.takeRemainder();
    }
  }

  private wake(): void {
    for (const check of this.waiters.slice()) check();
  }
}
