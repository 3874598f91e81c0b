import { FdConnection } from '../io/fd-connection.js';
import * as native from '../native/addon.js';
import { FLAG_ONEWAY } from '../parcel/constants.js';
import { statusName } from '../parcel/status.js';
import type { Logger } from '../log/logger.js';
import { decodeFrame, encodeReply, ReplyMode, type ReplyMessage, type TransactionMessage } from '../wire/envelope.js';
import { encodeFrame, FrameDecoder } from '../wire/framing.js';
import { WireError } from '../wire/wire-error.js';
import type { PeerCredentials, ServiceResult } from './binder-service.js';
import type { Dispatcher } from './dispatcher.js';
import { toReplyError } from './reply-error.js';
import { ServiceError } from './service-error.js';
import { StreamBridge } from './stream-bridge.js';

export interface IpcSessionDeps {
  dispatcher: Dispatcher;
  log: Logger;
  maxFrameBytes: number;
  onStream(bridge: StreamBridge, channel: unknown): void;
  onClosed(session: IpcSession): void;
  onTransaction(outcome: 'served' | 'refused'): void;
}

/**
 * One client connection: bytes in, frames out of the decoder one at a time (so that stream mode
 * can take every byte after its transaction), each transaction dispatched and answered in order.
 */
export class IpcSession {
  private readonly connection: FdConnection;
  private readonly decoder: FrameDecoder;
  private readonly log: Logger;
  private busy = false;
  private draining = false;
  private descriptorsReceived = 0;
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
    this.deps.onClosed(this);
  }

  private onData(bytes: Buffer, fds: number[]): void {
    if (fds.length > 0) {
      // Clients cannot pass descriptors; close them at once and refuse the transaction they came with.
      for (const fd of fds) native.close(fd);
      this.descriptorsReceived += fds.length;
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
        this.log.warn({ event: 'connection.frame_too_large', err: (error as Error).message }, 'closing a connection that sent an oversized frame');
        void this.connection.flushed().then(() => this.close());
        return;
      }
      if (body === null) break;
      this.busy = true;
      this.idle = new Promise((resolve) => (this.markIdle = resolve));
      void this.handleFrame(body).finally(() => {
        this.busy = false;
        this.markIdle();
        this.pump();
      });
    }
    // While a transaction is in flight, stop reading once a frame's worth is waiting: bounded memory.
    if (this.connection.isClosed) return;
    if (this.busy && this.decoder.bufferedBytes > this.deps.maxFrameBytes) this.connection.pauseReading();
    else if (!this.draining) this.connection.resumeReading();
  }

  private async handleFrame(body: Buffer): Promise<void> {
    let transaction: TransactionMessage;
    try {
      const frame = decodeFrame(body);
      if (frame.kind !== 'transaction') throw new WireError('UNEXPECTED_FRAME', 'the daemon only accepts transactions; a reply frame was sent to it');
      transaction = frame.transaction;
    } catch (error) {
      this.log.warn({ event: 'transaction.malformed', err: (error as Error).message }, 'malformed frame');
      this.sendError(0, error);
      return;
    }
    const fields = { service: transaction.service, code: transaction.code, id: transaction.id };
    let result: ServiceResult;
    try {
      if (this.descriptorsReceived > 0) {
        this.descriptorsReceived = 0;
        throw new ServiceError('DESCRIPTORS_NOT_ACCEPTED', 'descriptors sent to the daemon are closed unread; send plain Parcel data');
      }
      result = await this.deps.dispatcher.dispatch(transaction, this.peer);
    } catch (error) {
      const replyError = toReplyError(error);
      this.deps.onTransaction('refused');
      const logFields = { event: 'transaction.refused', ...fields, status: statusName(replyError.status), errorCode: replyError.errorCode, reason: replyError.message };
      if (replyError.internal) this.log.error({ ...logFields, err: error }, 'transaction failed');
      else this.log.info(logFields, 'transaction refused');
      if (!(transaction.flags & FLAG_ONEWAY)) this.sendError(transaction.id, error);
      if (transaction.replyMode === ReplyMode.STREAM) {
        // Whatever the client sent behind a stream-mode connect was meant for the channel, not
        // frames to execute: answer, then hang up.
        this.draining = true;
        void this.connection.flushed().then(() => this.close());
      }
      return;
    }
    this.deps.onTransaction('served');
    this.log.info({ event: 'transaction.served', ...fields, ...result.logFields, fds: result.fds.length }, 'transaction served');
    if (this.connection.isClosed || transaction.flags & FLAG_ONEWAY) {
      releaseResult(result);
      return;
    }
    const reply: ReplyMessage = {
      id: transaction.id,
      status: 0,
      data: result.data,
      objectOffsets: [...result.objectOffsets],
      fdCount: result.fds.length,
      message: '',
      errorCode: '',
    };
    this.connection.write(encodeFrame(encodeReply(reply)), result.fds);
    if (result.streamFd !== undefined) await this.startStream(result.streamFd, result.logFields?.channel);
  }

  private async startStream(channelFd: number, channel: unknown): Promise<void> {
    await this.connection.flushed();
    if (this.connection.isClosed) {
      native.close(channelFd);
      return;
    }
    const alreadyReceived = this.decoder.takeRemainder();
    const ipcFd = this.connection.detach();
    this.deps.onClosed(this);
    const bridge = new StreamBridge(ipcFd, channelFd, alreadyReceived);
    this.deps.onStream(bridge, channel);
  }

  private sendError(id: number, error: unknown): void {
    const { status, errorCode, message } = toReplyError(error);
    const reply: ReplyMessage = { id, status, data: Buffer.alloc(0), objectOffsets: [], fdCount: 0, message, errorCode };
    this.connection.write(encodeFrame(encodeReply(reply)));
  }

  private onConnectionClosed(errno: number): void {
    if (errno < 0) this.log.debug({ event: 'connection.error', errno: native.errnoName(errno) }, 'connection failed');
    this.deps.onClosed(this);
  }
}

function releaseResult(result: ServiceResult): void {
  for (const fd of result.fds) native.close(fd);
  if (result.streamFd !== undefined) native.close(result.streamFd);
}
