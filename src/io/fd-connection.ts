import * as native from '../native/addon.js';
import { constants } from 'node:os';

const { errno } = constants;

export interface FdConnectionHandlers {
  /** Bytes read, with any descriptors that arrived with them; the handler owns those descriptors. */
  onData(bytes: Buffer, fds: number[]): void;
  /** The peer closed its side, or the connection failed (errno then set, negative). */
  onClose(errno: number): void;
}

export interface FdConnectionOptions {
  readChunkBytes?: number;
  /** A peer that stops reading makes writes queue up; past this bound the connection is closed. */
  maxPendingWriteBytes?: number;
}

interface PendingWrite {
  bytes: Buffer;
  /** Descriptors to attach to the first byte of `bytes`; owned by the connection until sent. */
  fds: number[];
}

const MAX_READS_PER_WAKEUP = 16;

/**
 * A connected Unix stream socket driven through the native addon, because net.Socket cannot carry
 * SCM_RIGHTS. The connection owns its descriptor: destroy() closes it, detach() hands it over.
 * Descriptors given to write() are owned by the connection from then on and closed once sent (the
 * kernel has its own copy in flight) or when the connection is destroyed.
 */
export class FdConnection {
  private poll: native.PollHandle | undefined;
  private readonly queue: PendingWrite[] = [];
  private queuedBytes = 0;
  private reading = true;
  /** The events the poll handle watches now, so that unchanged masks cost no epoll_ctl. */
  private watchedEvents: number = native.PollEvent.READABLE;
  private closed = false;
  private readonly readBuffer: Buffer;
  private readonly maxPendingWriteBytes: number;
  private flushWaiters: (() => void)[] = [];

  constructor(
    private fdValue: number,
    private readonly handlers: FdConnectionHandlers,
    options: FdConnectionOptions = {},
  ) {
    this.readBuffer = sharedReadBuffer(options.readChunkBytes ?? 64 * 1024);
    this.maxPendingWriteBytes = options.maxPendingWriteBytes ?? 4 * 1024 * 1024;
    const poll = native.pollStart(fdValue, native.PollEvent.READABLE, (status, events) => this.onPoll(status, events));
    if (typeof poll === 'number') throw new Error(`cannot watch descriptor ${fdValue}: ${native.errnoName(poll)}`);
    this.poll = poll;
  }

  get fd(): number {
    return this.fdValue;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get pendingWriteBytes(): number {
    return this.queuedBytes;
  }

  /**
   * Sends at once when the socket has room, else queues. Returns false when the connection is
   * closed or the queue bound was exceeded (the connection is then closed with -ENOBUFS); the
   * descriptors are closed in every case.
   */
  write(bytes: Buffer, fds: number[] = []): boolean {
    if (this.closed) {
      closeAll(fds);
      return false;
    }
    if (this.queue.length === 0) {
      const sent = native.sendmsg(this.fdValue, bytes, fds);
      if (sent === bytes.length) {
        closeAll(fds);
        return true;
      }
      if (sent >= 0) {
        closeAll(fds);
        return this.enqueue({ bytes: bytes.subarray(sent), fds: [] });
      }
      if (sent !== -errno.EAGAIN) {
        closeAll(fds);
        this.fail(sent);
        return false;
      }
    }
    return this.enqueue({ bytes, fds });
  }

  /** Resolves once every queued byte has been handed to the kernel (at once when none is queued). */
  flushed(): Promise<void> {
    if (this.queue.length === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  pauseReading(): void {
    this.reading = false;
    this.updatePoll();
  }

  resumeReading(): void {
    this.reading = true;
    this.updatePoll();
  }

  /** Stops watching and gives the descriptor to the caller, who must close it. Nothing may be queued. */
  detach(): number {
    if (this.closed) throw new Error('detach() on a closed connection');
    if (this.queue.length > 0) throw new Error('detach() with writes still queued; await flushed() first');
    this.stopPolling();
    this.closed = true;
    return this.fdValue;
  }

  /** Closes the descriptor and any queued descriptors. Does not call onClose. Idempotent. */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopPolling();
    native.close(this.fdValue);
    for (const pending of this.queue) closeAll(pending.fds);
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.releaseFlushWaiters();
  }

  private enqueue(pending: PendingWrite): boolean {
    this.queue.push(pending);
    this.queuedBytes += pending.bytes.length;
    if (this.queuedBytes > this.maxPendingWriteBytes) {
      this.fail(-errno.ENOBUFS);
      return false;
    }
    this.updatePoll();
    return true;
  }

  private onPoll(status: number, events: number): void {
    if (this.closed) return;
    if (status < 0) {
      // A peer that answers and closes without reading what we sent leaves our socket with
      // ECONNRESET pending (EPOLLERR) while its answer still sits in our receive queue; recvmsg
      // returns queued bytes before the error, so read them out before reporting the failure.
      if (this.reading) this.readUntilError();
      if (!this.closed) this.fail(status);
      return;
    }
    if (events & native.PollEvent.WRITABLE) this.drainQueue();
    if (!this.closed && this.reading && events & native.PollEvent.READABLE) this.readAvailable();
  }

  private readAvailable(): void {
    for (let i = 0; i < MAX_READS_PER_WAKEUP && this.reading && !this.closed; i++) {
      const result = native.recvmsg(this.fdValue, this.readBuffer);
      if (typeof result === 'number') {
        if (result === -errno.EAGAIN) return;
        this.fail(result);
        return;
      }
      if (result.bytes === 0 && result.fds.length === 0) {
        this.fail(0);
        return;
      }
      this.handlers.onData(Buffer.from(this.readBuffer.subarray(0, result.bytes)), result.fds);
      // A short read usually means the socket is drained; polling is level-triggered, so if not,
      // the next loop turn comes back here. Saves an EAGAIN recvmsg per message.
      if (result.bytes < this.readBuffer.length) return;
    }
  }

  /** Reads until recvmsg fails or reports EOF (then the connection is closed); only on a poll error. */
  private readUntilError(): void {
    while (!this.closed) {
      const result = native.recvmsg(this.fdValue, this.readBuffer);
      if (typeof result === 'number') {
        // EAGAIN: nothing queued after all; the caller reports the poll error.
        if (result !== -errno.EAGAIN) this.fail(result);
        return;
      }
      if (result.bytes === 0 && result.fds.length === 0) {
        this.fail(0);
        return;
      }
      this.handlers.onData(Buffer.from(this.readBuffer.subarray(0, result.bytes)), result.fds);
    }
  }

  private drainQueue(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const sent = native.sendmsg(this.fdValue, head.bytes, head.fds);
      if (sent === -errno.EAGAIN) break;
      if (sent < 0) {
        this.fail(sent);
        return;
      }
      closeAll(head.fds);
      head.fds = [];
      this.queuedBytes -= sent;
      if (sent === head.bytes.length) this.queue.shift();
      else head.bytes = head.bytes.subarray(sent);
    }
    if (this.queue.length === 0) this.releaseFlushWaiters();
    this.updatePoll();
  }

  private releaseFlushWaiters(): void {
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private updatePoll(): void {
    if (!this.poll) return;
    const events = (this.reading ? native.PollEvent.READABLE : 0) | (this.queue.length > 0 ? native.PollEvent.WRITABLE : 0);
    if (events === this.watchedEvents) return;
    this.watchedEvents = events;
    native.pollUpdate(this.poll, events);
  }

  private stopPolling(): void {
    if (this.poll) native.pollClose(this.poll);
    this.poll = undefined;
  }

  /** errno 0 means an orderly close by the peer. */
  private fail(errno: number): void {
    if (this.closed) return;
    this.destroy();
    this.handlers.onClose(errno);
  }
}

const readBuffers = new Map<number, Buffer>();

/**
 * One read buffer per size for every connection: handlers get a copy of what was read, before
 * the next recvmsg can run (one thread), so a thousand idle connections do not pin 64 MiB.
 */
function sharedReadBuffer(bytes: number): Buffer {
  let buffer = readBuffers.get(bytes);
  if (!buffer) {
    buffer = Buffer.allocUnsafe(bytes);
    readBuffers.set(bytes, buffer);
  }
  return buffer;
}

function closeAll(fds: number[]): void {
  for (const fd of fds) native.close(fd);
}
