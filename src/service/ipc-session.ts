import { FdConnection } from '../io/fd-connection.js';
import * as native from '../native/addon.js';
import { FLAG_ONEWAY } from '../parcel/constants.js';
import { statusName } from '../parcel/status.js';
import type { Logger } from '../log/logger.js';
import type { RateLimitedLog } from '../log/rate-limited-log.js';
import { decodeFrame, ReplyMode, type TransactionMessage } from '../wire/envelope.js';
import { encodeOkReplyFrame, peekTransaction } from '../wire/envelope-fast.js';
import { FrameDecoder } from '../wire/framing.js';
import { WireError } from '../wire/wire-error.js';
import type { PeerCredentials, ServiceResult } from './binder-service.js';
import type { BufferBudget } from './buffer-budget.js';
import type { Dispatcher } from './dispatcher.js';
import { encodeErrorReplyFrame, toReplyError } from './reply-error.js';
import { ServiceError } from './service-error.js';
import { CONDEMNED_CLOSE_MS, OUTPUT_HIGH_WATER_BYTES } from './service-limits.js';
import { StreamBridge } from './stream-bridge.js';

export interface IpcSessionDeps {
  dispatcher: Dispatcher;
  log: Logger;
  maxFrameBytes: number;
  frameTimeoutMs: number;
  /** Bytes buffered by every session together. */
  budget: BufferBudget;
  /** Lines a peer causes go through this (keyed by event and peer uid). */
  limiter: RateLimitedLog;
  onStream(bridge: StreamBridge, channel: unknown): void;
  onClosed(session: IpcSession): void;
  onTransaction(outcome: 'served' | 'refused'): void;
}

/**
 * One client connection: bytes in, frames out of the decoder one at a time (so that stream mode
 * can take every byte after its transaction), each transaction dispatched and answered in order.
 *
 * Bounded: input is at most one frame (plus a read chunk), reading pauses while output is backed
 * up past OUTPUT_HIGH_WATER_BYTES or the daemon-wide budget is spent, and a frame begun or a reply
 * unread for frameTimeoutMs condemns the connection. A condemned connection (see condemn()) never
 * reads again and is closed within CONDEMNED_CLOSE_MS.
 */
/** Reads with descriptors remembered at once, at most (see IpcSession.descriptorMarks). */
const MAX_DESCRIPTOR_MARKS = 64;

export class IpcSession {
  private readonly connection: FdConnection;
  private readonly decoder: FrameDecoder;
  private readonly log: Logger;
  private busy = false;
  private draining = false;
  private condemned = false;
  private condemnTimer: NodeJS.Timeout | undefined;
  /** Armed while a frame is partly received or a reply is unread; cleared on progress. */
  private stallTimer: NodeJS.Timeout | undefined;
  private waitingForFlush = false;
  /** Bytes this session has reported to the budget. */
  private accountedBytes = 0;
  private readonly wake = () => this.pump();
  /**
   * Stream offsets (bytes received before it, plus one) of the last byte of each read that brought
   * descriptors, oldest first. The kernel ends a read with the message that carried them, so that
   * byte was sent with them: the frame holding it is the transaction refused. Bounded: past
   * MAX_DESCRIPTOR_MARKS the newest replaces the last (one refusal still follows).
   */
  private readonly descriptorMarks: number[] = [];
  private bytesReceived = 0;
  private idle: Promise<void> = Promise.resolve();
  private markIdle: () => void = () => {};

  constructor(
    fd: number,
    readonly peer: PeerCredentials,
    private readonly deps: IpcSessionDeps,
  ) {
    this.decoder = new FrameDecoder(deps.maxFrameBytes);
    this.log = deps.log.child({ peerPid: peer.pid, peerUid: peer.uid });
    this.connection = new FdConnection(fd, {
      onData: (bytes, fds) => this.onData(bytes, fds),
      onClose: (errno) => this.onConnectionClosed(errno),
    });
    // While the daemon-wide budget is spent, a new connection waits before its first read too.
    if (deps.budget.exhausted) {
      this.connection.pauseReading();
      deps.budget.waitForRoom(this.wake);
    }
    this.watchForStall();
  }

  /** Stops reading new requests; resolves once the transaction in flight has been answered. */
  async drain(): Promise<void> {
    this.draining = true;
    if (!this.connection.isClosed) this.connection.pauseReading();
    await this.idle;
    await this.connection.flushed();
    this.close();
  }

  close(): void {
    if (this.connection.isClosed) return;
    this.connection.destroy();
    this.released();
    this.deps.onClosed(this);
  }

  /**
   * No more reading, ever: bytes the peer writes from now on stay in the kernel's socket buffer
   * (then the peer blocks), and what is buffered is dropped. The replies already written get
   * CONDEMNED_CLOSE_MS to flush; the connection is closed then, or as soon as they have gone.
   */
  private condemn(): void {
    if (this.condemned || this.connection.isClosed) return;
    this.condemned = true;
    this.draining = true;
    this.connection.pauseReading();
    this.decoder.takeRemainder();
    clearTimeout(this.stallTimer);
    this.account();
    this.condemnTimer = setTimeout(() => this.close(), CONDEMNED_CLOSE_MS);
    void this.connection.flushed().then(() => this.close());
  }

  /** Timers and budget given back; the connection is closed or detached. */
  private released(): void {
    clearTimeout(this.condemnTimer);
    clearTimeout(this.stallTimer);
    this.deps.budget.cancel(this.wake);
    this.account();
  }

  private account(): void {
    const held = this.connection.isClosed ? 0 : this.decoder.bufferedBytes + this.connection.pendingWriteBytes;
    if (held !== this.accountedBytes) {
      this.deps.budget.change(held - this.accountedBytes);
      this.accountedBytes = held;
    }
  }

  /** A peer log line, unless this peer's lines of that event are being suppressed. */
  private logPeer(level: 'info' | 'warn' | 'error', fields: { event: string } & Record<string, unknown>, message: string): void {
    if (this.deps.limiter.allow(fields.event, this.peer.uid, level)) this.log[level](fields, message);
  }

  private onData(bytes: Buffer, fds: number[]): void {
    if (fds.length > 0) {
      // Clients cannot pass descriptors; close them at once and refuse the transaction they came with.
      for (const fd of fds) native.close(fd);
      const mark = this.bytesReceived + bytes.length;
      if (this.descriptorMarks.length < MAX_DESCRIPTOR_MARKS) this.descriptorMarks.push(mark);
      else this.descriptorMarks[this.descriptorMarks.length - 1] = mark;
    }
    this.bytesReceived += bytes.length;
    // A read already in hand when the connection was condemned is dropped, not buffered.
    if (this.condemned) return;
    // A new frame starts: its own frameTimeoutMs starts now, whatever an earlier stall armed.
    if (this.decoder.bufferedBytes === 0) {
      clearTimeout(this.stallTimer);
      this.stallTimer = undefined;
    }
    this.decoder.push(bytes);
    this.pump();
  }

  private pump(): void {
    while (!this.busy && !this.draining && !this.connection.isClosed) {
      let body: Buffer | null;
      try {
        body = this.decoder.next();
      } catch (error) {
        // FRAME_TOO_LARGE: the stream cannot be resynchronised. Say why, then hang up.
        this.sendError(0, error);
        this.logPeer('warn', { event: 'connection.frame_too_large', err: (error as Error).message }, 'closing a connection that sent an oversized frame');
        this.condemn();
        return;
      }
      if (body === null) break;
      const strayDescriptors = this.takeDescriptorMarks(this.bytesReceived - this.decoder.bufferedBytes);
      clearTimeout(this.stallTimer);
      this.stallTimer = undefined;
      this.busy = true;
      const pending = this.handleFrame(body, strayDescriptors);
      if (pending === undefined) {
        // Answered already: on to the next frame, with no promise in between.
        this.busy = false;
        continue;
      }
      this.idle = new Promise((resolve) => (this.markIdle = resolve));
      void pending.finally(() => {
        this.busy = false;
        this.markIdle();
        this.pump();
      });
    }
    if (this.connection.isClosed || this.condemned) return;
    this.account();
    this.watchForStall();
    if (this.draining) return;
    // While a transaction is in flight, stop reading once a frame's worth is waiting; stop while
    // the peer leaves its replies unread, or while the daemon-wide budget is spent: bounded memory.
    if (this.busy && this.decoder.bufferedBytes > this.deps.maxFrameBytes) {
      this.connection.pauseReading();
    } else if (this.connection.pendingWriteBytes > OUTPUT_HIGH_WATER_BYTES) {
      this.connection.pauseReading();
      if (!this.waitingForFlush) {
        this.waitingForFlush = true;
        void this.connection.flushed().then(() => {
          this.waitingForFlush = false;
          this.pump();
        });
      }
    } else if (this.deps.budget.exhausted) {
      this.connection.pauseReading();
      this.deps.budget.waitForRoom(this.wake);
    } else {
      this.connection.resumeReading();
    }
  }

  /**
   * What may not last longer than frameTimeoutMs: a frame partly received, replies the peer has not
   * read, and, from a uid that may not transact, silence before its first byte (it holds a connection
   * slot of its uid and of the daemon, and will get nothing but one refusal).
   */
  private isStalled(): boolean {
    if (!this.busy && this.decoder.bufferedBytes > 0) return true;
    if (this.connection.pendingWriteBytes > 0) return true;
    return this.bytesReceived === 0 && !this.deps.dispatcher.isAllowed(this.peer);
  }

  /**
   * A frame partly received, or replies the peer has not read, must not stay so for longer than
   * frameTimeoutMs (a peer holding half a frame, or never reading, would hold its buffers for ever).
   */
  private watchForStall(): void {
    if (!this.isStalled()) {
      clearTimeout(this.stallTimer);
      this.stallTimer = undefined;
      return;
    }
    this.stallTimer ??= setTimeout(() => {
      this.stallTimer = undefined;
      if (this.connection.isClosed || this.condemned) return;
      if (!this.isStalled()) return;
      const partialBytes = this.decoder.bufferedBytes;
      const unreadBytes = this.connection.pendingWriteBytes;
      this.logPeer(
        'warn',
        { event: 'connection.timeout', partialBytes, unreadBytes, timeoutMs: this.deps.frameTimeoutMs },
        'closing a connection that held a partial frame or left replies unread for too long',
      );
      this.sendError(
        0,
        new ServiceError(
          'PEER_TIMEOUT',
          `no complete frame or unread replies for ${this.deps.frameTimeoutMs} ms (${partialBytes} bytes of a frame held, ${unreadBytes} bytes of replies unread); closing`,
        ),
      );
      this.condemn();
    }, this.deps.frameTimeoutMs);
  }

  /**
   * One frame: decoded (peekTransaction for the usual shape, protobufjs for the rest), dispatched
   * and answered. Synchronous (undefined) when the service answers at once, as connect does when
   * the channel accepts: no promise hop between reading the request and sending the reply.
   */
  /** Whether descriptors came with a byte of the frame that ends at `frameEnd` (marks up to it are used up). */
  private takeDescriptorMarks(frameEnd: number): boolean {
    let taken = 0;
    while (taken < this.descriptorMarks.length && this.descriptorMarks[taken]! <= frameEnd) taken++;
    this.descriptorMarks.splice(0, taken);
    return taken > 0;
  }

  private handleFrame(body: Buffer, strayDescriptors: boolean): Promise<void> | undefined {
    let transaction = peekTransaction(body);
    if (transaction === null) {
      try {
        const frame = decodeFrame(body);
        if (frame.kind !== 'transaction') throw new WireError('UNEXPECTED_FRAME', 'the daemon only accepts transactions; a reply frame was sent to it');
        transaction = frame.transaction;
      } catch (error) {
        this.logPeer('warn', { event: 'transaction.malformed', err: (error as Error).message }, 'malformed frame');
        this.sendError(0, error);
        // A uid that may not transact gets one answer to its first frame, whatever it holds.
        if (!this.deps.dispatcher.isAllowed(this.peer)) this.condemn();
        return undefined;
      }
    }
    let outcome: ServiceResult | Promise<ServiceResult>;
    try {
      if (strayDescriptors) {
        throw new ServiceError('DESCRIPTORS_NOT_ACCEPTED', 'descriptors sent to the daemon are closed unread; send plain Parcel data');
      }
      outcome = this.deps.dispatcher.dispatchNow(transaction, this.peer);
    } catch (error) {
      this.refused(transaction, error);
      return undefined;
    }
    if (!(outcome instanceof Promise)) return this.served(transaction, outcome);
    const asked = transaction;
    return outcome.then(
      (result) => this.served(asked, result),
      (error: unknown) => this.refused(asked, error),
    );
  }

  private refused(transaction: TransactionMessage, error: unknown): void {
    const replyError = toReplyError(error);
    this.deps.onTransaction('refused');
    const logFields = {
      event: 'transaction.refused',
      service: transaction.service,
      code: transaction.code,
      id: transaction.id,
      status: statusName(replyError.status),
      errorCode: replyError.errorCode,
      reason: replyError.message,
    };
    if (replyError.internal) this.logPeer('error', { ...logFields, err: error }, 'transaction failed');
    else this.logPeer('info', logFields, 'transaction refused');
    if (!(transaction.flags & FLAG_ONEWAY)) this.sendError(transaction.id, error);
    // Whatever the client sent behind a stream-mode connect (or a mode this daemon does not know)
    // was perhaps meant for the channel, not frames to execute; a uid that may not transact gets
    // one answer, not a session: hang up. (addService's PERMISSION_DENIED to an allowed peer is
    // an ordinary refusal.)
    if (transaction.replyMode !== ReplyMode.DESCRIPTOR || !this.deps.dispatcher.isAllowed(this.peer)) this.condemn();
  }

  private served(transaction: TransactionMessage, result: ServiceResult): Promise<void> | undefined {
    this.deps.onTransaction('served');
    const fdCount = result.fds.length;
    const replying = !this.connection.isClosed && !(transaction.flags & FLAG_ONEWAY);
    // The reply first (Parcel, envelope and frame header in one buffer, sent with its descriptors
    // in one sendmsg), then the log line: its serialization and write are not on the client's wait.
    if (replying) this.connection.write(encodeOkReplyFrame(transaction.id, result.data, result.objectOffsets, fdCount), result.fds);
    // Built only when the line can be written: info is the default level, but not the only one.
    if (this.log.isLevelEnabled('info')) {
      this.logPeer(
        'info',
        { event: 'transaction.served', service: transaction.service, code: transaction.code, id: transaction.id, ...result.logFields, fds: fdCount },
        'transaction served',
      );
    }
    if (!replying) {
      releaseResult(result);
      return undefined;
    }
    if (result.streamFd !== undefined) return this.startStream(result.streamFd, result.logFields?.channel);
    return undefined;
  }

  private async startStream(channelFd: number, channel: unknown): Promise<void> {
    await this.connection.flushed();
    if (this.connection.isClosed || this.condemned) {
      native.close(channelFd);
      return;
    }
    const alreadyReceived = this.decoder.takeRemainder();
    const ipcFd = this.connection.detach();
    this.released();
    this.deps.onClosed(this);
    const bridge = new StreamBridge(ipcFd, channelFd, alreadyReceived);
    this.deps.onStream(bridge, channel);
  }

  private sendError(id: number, error: unknown): void {
    this.connection.write(encodeErrorReplyFrame(id, error));
  }

  private onConnectionClosed(errno: number): void {
    if (errno < 0 && this.deps.limiter.allow('connection.error', this.peer.uid, 'debug')) {
      this.log.debug({ event: 'connection.error', errno: native.errnoName(errno) }, 'connection failed');
    }
    this.released();
    this.deps.onClosed(this);
  }
}

function releaseResult(result: ServiceResult): void {
  for (const fd of result.fds) native.close(fd);
  if (result.streamFd !== undefined) native.close(result.streamFd);
}
