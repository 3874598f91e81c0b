import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { FdConnection } from '../io/fd-connection.js';
import * as native from '../native/addon.js';
import { Status } from '../parcel/status.js';
import { ReplyMode, type ReplyMessage, type ReplyModeValue } from '../wire/envelope.js';
import { encodeTransactionFrame } from '../wire/envelope-fast.js';
import { FrameDecoder } from '../wire/framing.js';
import { DataProxyError } from './data-proxy-error.js';
import { readReply, toTransactResult, type TransactResult } from './transact-result.js';

export type { TransactResult } from './transact-result.js';

const NO_OFFSETS: number[] = [];

const { errno } = constants;

export interface TransactOptions {
  flags?: number;
  replyMode?: ReplyModeValue;
}

interface Pending {
  id: number;
  resolve(result: TransactResult): void;
  reject(error: Error): void;
  stream: boolean;
}

/**
 * One connection to the daemon's service socket. Transactions may be pipelined; replies come back
 * in order. Descriptors are matched to replies in arrival order by each reply's fd_count.
 */
export class ServiceConnection {
  private readonly connection: FdConnection;
  private readonly decoder = new FrameDecoder();
  private readonly pending: Pending[] = [];
  private readonly receivedFds: number[] = [];
  private nextId = 1;
  private lost: DataProxyError | undefined;
  private streamHandover: ((fd: number, alreadyReceived: Buffer) => void) | undefined;

  private constructor(fd: number) {
    this.connection = new FdConnection(fd, {
      onData: (bytes, fds) => this.onData(bytes, fds),
      onClose: (errnoValue) => this.onClosed(errnoValue),
    });
  }

  /** Connects to the daemon, retrying briefly while its backlog is full. */
  static async open(servicePath: string): Promise<ServiceConnection> {
    for (let attempt = 0; ; attempt++) {
      const fd = native.connectUnix(servicePath);
      if (fd >= 0) return new ServiceConnection(fd);
      if (fd === -errno.EAGAIN && attempt < 50) {
        await sleep(Math.min(2 ** attempt, 50));
        continue;
      }
      throw unreachable(servicePath, fd);
    }
  }

  transact(service: string, code: number, data: Uint8Array, options: TransactOptions = {}): Promise<TransactResult> {
    if (this.lost) return Promise.reject(this.lost);
    const id = this.nextId++;
    const replyMode = options.replyMode ?? ReplyMode.DESCRIPTOR;
    const frame = encodeTransactionFrame({ id, service, code, flags: options.flags ?? 0, data, objectOffsets: NO_OFFSETS, replyMode });
    return new Promise<TransactResult>((resolve, reject) => {
      this.pending.push({ id, resolve, reject, stream: replyMode === ReplyMode.STREAM });
      this.connection.write(frame);
    });
  }

  /**
   * Stream mode: after an OK reply to a stream transaction the connection is the channel. The
   * descriptor and any channel bytes that arrived with the reply go to `handover`, which owns them.
   */
  onStreamHandover(handover: (fd: number, alreadyReceived: Buffer) => void): void {
    this.streamHandover = handover;
  }

  /** True once the connection failed or was closed; transactions then reject at once. */
  get isLost(): boolean {
    return this.lost !== undefined;
  }

  close(): void {
    this.connection.destroy();
    this.failPending(new DataProxyError(Status.DEAD_OBJECT, 'CONNECTION_CLOSED', 'the connection to the daemon was closed'));
  }

  private onData(bytes: Buffer, fds: number[]): void {
    this.receivedFds.push(...fds);
    this.decoder.push(bytes);
    for (;;) {
      let reply: ReplyMessage;
      try {
        const body = this.decoder.next();
        if (!body) return;
        const read = readReply(body);
        if (read === null) throw new Error('the daemon sent a transaction frame');
        reply = read;
      } catch (error) {
        this.fail(new DataProxyError(Status.BAD_VALUE, 'PROTOCOL_ERROR', `the daemon sent something this client cannot read: ${(error as Error).message}`));
        return;
      }
      const pending = this.pending.shift();
      if (!pending || (pending.id !== reply.id && reply.id !== 0)) {
        this.fail(new DataProxyError(Status.BAD_VALUE, 'PROTOCOL_ERROR', `unexpected reply id ${reply.id}`));
        return;
      }
      const replyFds = this.receivedFds.splice(0, reply.fdCount);
      pending.resolve(toTransactResult(reply, replyFds));
      if (pending.stream && reply.status === Status.OK) {
        this.handOver();
        return;
      }
    }
  }

  private handOver(): void {
    const handover = this.streamHandover;
    const alreadyReceived = this.decoder.takeRemainder();
    const fd = this.connection.detach();
    if (handover) handover(fd, alreadyReceived);
    else native.close(fd);
  }

  private onClosed(errnoValue: number): void {
    const detail = errnoValue < 0 ? ` (${native.errnoName(errnoValue)})` : '';
    this.failPending(new DataProxyError(Status.DEAD_OBJECT, 'CONNECTION_LOST', `the daemon closed the connection${detail}`));
  }

  private fail(error: DataProxyError): void {
    this.connection.destroy();
    this.failPending(error);
  }

  private failPending(error: DataProxyError): void {
    this.lost ??= error;
    for (const fd of this.receivedFds.splice(0)) native.close(fd);
    for (const pending of this.pending.splice(0)) pending.reject(error);
  }
}

/** The error for a failed connect to the service socket, saying what to do. */
export function unreachable(servicePath: string, negErrno: number): DataProxyError {
  switch (-negErrno) {
    case errno.ENOENT:
      return new DataProxyError(
        Status.DEAD_OBJECT,
        'SERVICE_UNAVAILABLE',
        `no data-proxy daemon at ${servicePath}: start one with \`anbox-oob serve\`, or point to it with --service-socket or ANBOX_OOB_SERVICE_SOCKET`,
      );
    case errno.ECONNREFUSED:
      return new DataProxyError(Status.DEAD_OBJECT, 'SERVICE_UNAVAILABLE', `${servicePath} exists but no daemon is listening on it (it may have crashed): start \`anbox-oob serve\` again`);
    case errno.EACCES:
    case errno.EPERM:
      return new DataProxyError(
        Status.PERMISSION_DENIED,
        'SERVICE_UNAVAILABLE',
        `permission denied opening ${servicePath}: the socket is mode 0660, so run as its owner or a member of its group`,
      );
    default:
      return new DataProxyError(Status.DEAD_OBJECT, 'SERVICE_UNAVAILABLE', `cannot connect to ${servicePath}: ${native.errnoName(negErrno)}`);
  }
}
