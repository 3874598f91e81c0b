import { Socket } from 'node:net';
import { dirname } from 'node:path';
import { resolveRuntimePaths, resolveServicePath, SERVICE_SOCKET_ENV } from '../config/paths.js';
import { checkTrustedDirectory } from '../io/trusted-directory.js';
import * as native from '../native/addon.js';
import { INTERFACE_TRANSACTION, PING_TRANSACTION } from '../parcel/constants.js';
import { ParcelReader } from '../parcel/parcel-reader.js';
import { ParcelWriter } from '../parcel/parcel-writer.js';
import { Status } from '../parcel/status.js';
import { DATA_PROXY_DESCRIPTOR, DATA_PROXY_SERVICE_NAME, TRANSACTION_connect } from '../service/data-proxy-service.js';
import { encodeSendMessageRequest, PLATFORM_API_SERVICE_NAME, TRANSACTION_sendMessage } from '../service/platform-api-service.js';
import { SERVICE_MANAGER_DESCRIPTOR, SERVICE_MANAGER_NAME, SERVICE_MANAGER_TRANSACTIONS } from '../service/service-manager.js';
import { ReplyMode } from '../wire/envelope.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../wire/framing.js';
import { DataProxyError } from './data-proxy-error.js';
import { ServiceConnection, type TransactOptions, type TransactResult } from './service-connection.js';
import { SyncServiceConnection, transactSync } from './sync-transact.js';

export { DataProxyError };

export interface DataProxyClientOptions {
  /** Default: --service-socket's resolution: ANBOX_OOB_SERVICE_SOCKET, else the per-user default. */
  servicePath?: string;
}

/** The frame limit (1 MiB) less room for the envelope (service name, ids). */
export const MAX_SEND_MESSAGE_PARCEL_BYTES = DEFAULT_MAX_FRAME_BYTES - 4096;

/** What sendMessage returns: Java's boolean, and when false a stable code and a reason. */
export type SendMessageResult = { sent: true } | { sent: false; code: string; reason: string };

/** Blocking connects over one connection of their own (DataProxyClient.openSyncConnection). */
export interface SyncChannelConnection {
  /** connectFdSync on this connection: one sendmsg, poll and recvmsg; at most `timeoutMs` (default 10 s). */
  connectFd(channel: string, options?: { timeoutMs?: number }): number;
  close(): void;
}

export interface ChannelConnectOptions {
  /** Ask for stream mode: the IPC connection itself becomes the channel (no descriptor passing). */
  stream?: boolean;
}

/**
 * The TypeScript client of the data-proxy daemon. Keeps one connection for its transactions;
 * stream-mode connects each use a connection of their own, which becomes the channel.
 */
export class DataProxyClient {
  readonly servicePath: string;
  private connection: Promise<ServiceConnection> | undefined;

  /** Whether servicePath is the per-user default (checked before each connection: see openService). */
  private readonly defaultPath: boolean;

  constructor(options: DataProxyClientOptions = {}) {
    this.servicePath = options.servicePath ?? resolveServicePath(undefined);
    this.defaultPath = this.servicePath === resolveRuntimePaths({ env: { ...process.env, [SERVICE_SOCKET_ENV]: undefined } }).servicePath;
  }

  /**
   * connect(channel): the connected channel socket as a Duplex. In descriptor mode the socket is
   * the channel connection itself (the daemon is not in the data path).
   */
  async connect(channel: string, options: ChannelConnectOptions = {}): Promise<Socket> {
    if (options.stream) return this.connectStream(connectRequest(channel));
    return new Socket({ fd: await this.connectFd(channel), readable: true, writable: true });
  }

  /**
   * connect(channel) in descriptor mode: the channel socket's raw descriptor, yours to close
   * (fs.closeSync). It is what Android's readFileDescriptor gets: a connected Unix stream socket,
   * blocking, close-on-exec. For handing to a child process, a worker or another library.
   */
  async connectFd(channel: string): Promise<number> {
    return descriptorOf(await this.transactOk(DATA_PROXY_SERVICE_NAME, TRANSACTION_connect, connectRequest(channel)));
  }

  /**
   * connectFd without the event loop: a connection of its own, blocking waits, at most
   * `timeoutMs` (default 10 s). For command-line tools and scripts; it blocks the thread, so never
   * call it in a server. Throws DataProxyError as connect does.
   */
  connectFdSync(channel: string, options: { timeoutMs?: number } = {}): number {
    this.checkServicePath();
    const reply = transactSync(this.servicePath, DATA_PROXY_SERVICE_NAME, TRANSACTION_connect, connectRequest(channel), options.timeoutMs);
    return descriptorOf(okReply(reply));
  }

  /**
   * For tools that connect many times in a row without an event loop: one blocking connection to
   * the service, and each connectFd on it a sendmsg, poll and recvmsg, as fdpass's C client does
   * (connectFdSync opens a connection per call). A failed transaction (not a refusal) closes it.
   */
  openSyncConnection(): SyncChannelConnection {
    this.checkServicePath();
    const connection = SyncServiceConnection.open(this.servicePath);
    return {
      connectFd: (channel, options = {}) =>
        descriptorOf(okReply(connection.transact(DATA_PROXY_SERVICE_NAME, TRANSACTION_connect, connectRequest(channel), options.timeoutMs))),
      close: () => connection.close(),
    };
  }

  /**
   * Out-of-band data v1, as PlatformAPISkeleton.sendMessage(type, data): `sent` is its boolean;
   * when false, `code` and `reason` say why (no session, limits, a type the SDK handles itself...).
   * Throws DataProxyError only when the transaction itself fails (permission, daemon too old).
   */
  async sendMessage(type: string, data: string): Promise<SendMessageResult> {
    const request = encodeSendMessageRequest(type, data);
    // A String16 takes 2 bytes per UTF-16 unit: 1 MiB of ASCII data is a 2 MiB Parcel, above the
    // daemon's 1 MiB frame (binder's own transaction buffer is 1 MiB too). Said here, before the
    // daemon would hang up on the frame.
    if (request.length > MAX_SEND_MESSAGE_PARCEL_BYTES) {
      return {
        sent: false,
        code: 'TRANSACTION_TOO_LARGE',
        reason: `the request is ${request.length} bytes as a Parcel (String16: 2 bytes per UTF-16 unit); a transaction carries at most ${MAX_SEND_MESSAGE_PARCEL_BYTES}`,
      };
    }
    const reply = new ParcelReader((await this.transactOk(PLATFORM_API_SERVICE_NAME, TRANSACTION_sendMessage, request)).data);
    try {
      const exception = reply.readInt32();
      if (exception !== 0) throw new Error(`exception code ${exception}`);
      if (reply.readInt32() !== 0) return { sent: true };
      return { sent: false, code: reply.readString16() ?? 'UNKNOWN', reason: reply.readString16() ?? 'not sent (no reason given)' };
    } catch (error) {
      throw new DataProxyError(Status.BAD_TYPE, 'PROTOCOL_ERROR', `sendMessage reply is not (int32 0, int32 boolean, String16, String16): ${(error as Error).message}`);
    }
  }

  /** PING_TRANSACTION to the data-proxy service; resolves when the daemon answers OK. */
  async ping(service: string = DATA_PROXY_SERVICE_NAME): Promise<void> {
    await this.transactOk(service, PING_TRANSACTION, Buffer.alloc(0));
  }

  /** INTERFACE_TRANSACTION: the service's interface descriptor. */
  async interfaceDescriptor(service: string = DATA_PROXY_SERVICE_NAME): Promise<string> {
    const reply = await this.transactOk(service, INTERFACE_TRANSACTION, Buffer.alloc(0));
    return new ParcelReader(reply.data).readString16() ?? '';
  }

  /** The service manager's listServices: names of the services this daemon serves. */
  async listServices(): Promise<string[]> {
    const request = new ParcelWriter().writeInterfaceToken(SERVICE_MANAGER_DESCRIPTOR).writeInt32(15).toBuffer();
    const reply = new ParcelReader((await this.transactOk(SERVICE_MANAGER_NAME, SERVICE_MANAGER_TRANSACTIONS.listServices, request)).data);
    reply.readInt32();
    return reply.readString16Array() ?? [];
  }

  /** The service manager's checkService: the service's descriptor, or null if there is none. */
  async checkService(name: string): Promise<string | null> {
    const request = new ParcelWriter().writeInterfaceToken(SERVICE_MANAGER_DESCRIPTOR).writeString16(name).toBuffer();
    const reply = new ParcelReader((await this.transactOk(SERVICE_MANAGER_NAME, SERVICE_MANAGER_TRANSACTIONS.checkService, request)).data);
    reply.readInt32();
    return reply.readString16();
  }

  /**
   * A raw transaction; non-OK replies are returned, not thrown. The caller owns the reply's fds.
   * A stream-mode transaction goes over a connection of its own, closed after the reply (the
   * daemon hangs up after refusing one, and an accepted one turns the connection into a channel).
   */
  async transact(service: string, code: number, data: Uint8Array, options: TransactOptions = {}): Promise<TransactResult> {
    if (options.replyMode === ReplyMode.STREAM) {
      const own = await this.openService();
      try {
        return await own.transact(service, code, data, options);
      } finally {
        own.close();
      }
    }
    const connection = await this.open();
    return connection.transact(service, code, data, options);
  }

  close(): void {
    const connection = this.connection;
    this.connection = undefined;
    void connection?.then((c) => c.close(), () => undefined);
  }

  private async transactOk(service: string, code: number, data: Uint8Array): Promise<TransactResult> {
    return okReply(await this.transact(service, code, data));
  }

  /** Throws DataProxyError UNTRUSTED_DIRECTORY when the default path's directory is not safe (see openService). */
  private checkServicePath(): void {
    if (!this.defaultPath) return;
    try {
      checkTrustedDirectory(dirname(this.servicePath), { what: "service socket's directory", flag: '--service-socket' });
    } catch (error) {
      throw new DataProxyError(Status.PERMISSION_DENIED, 'UNTRUSTED_DIRECTORY', (error as Error).message);
    }
  }

  /**
   * A new connection to the service. The default path lives in a per-user directory that, under
   * /tmp, another uid may have planted first (a symlink or a directory of theirs, with a fake
   * daemon that would get everything the app sends): the same checks as the daemon's
   * (src/io/trusted-directory.ts) before connecting. A path given explicitly (option, flag,
   * environment, config) is the caller's choice and may be another uid's daemon: not checked.
   */
  private openService(): Promise<ServiceConnection> {
    try {
      this.checkServicePath();
    } catch (error) {
      return Promise.reject(error);
    }
    return ServiceConnection.open(this.servicePath);
  }

  /** The shared connection; a new one when the last failed (daemon restarted, or it hung up). */
  private async open(): Promise<ServiceConnection> {
    const current = this.connection;
    if (current) {
      const connection = await current.catch(() => undefined);
      if (connection && !connection.isLost) return connection;
      if (this.connection !== current) return this.open();
    }
    const opening = this.openService();
    this.connection = opening;
    // A failed open must not poison later calls.
    opening.catch(() => {
      if (this.connection === opening) this.connection = undefined;
    });
    return opening;
  }

  private async connectStream(request: Buffer): Promise<Socket> {
    const connection = await this.openService();
    let socket: Socket | undefined;
    connection.onStreamHandover((fd, alreadyReceived) => {
      socket = new Socket({ fd, readable: true, writable: true });
      if (alreadyReceived.length > 0) socket.unshift(alreadyReceived);
    });
    let reply: TransactResult;
    try {
      reply = await connection.transact(DATA_PROXY_SERVICE_NAME, TRANSACTION_connect, request, { replyMode: ReplyMode.STREAM });
    } catch (error) {
      connection.close();
      throw error;
    }
    if (reply.status !== Status.OK || !socket) {
      connection.close();
      throw new DataProxyError(reply.status, reply.errorCode, reply.message || `stream connect failed with status ${reply.status}`);
    }
    return socket;
  }
}

function connectRequest(channel: string): Buffer {
  return new ParcelWriter().writeInterfaceToken(DATA_PROXY_DESCRIPTOR).writeString16(channel).toBuffer();
}

/** The reply itself when OK; else its descriptors closed and a DataProxyError thrown. */
function okReply(reply: TransactResult): TransactResult {
  if (reply.status !== Status.OK) {
    for (const fd of reply.fds) native.close(fd);
    throw new DataProxyError(reply.status, reply.errorCode, reply.message || `transaction failed with status ${reply.status}`);
  }
  return reply;
}

/** The descriptor a connect reply's fd object names; every other descriptor closed. */
function descriptorOf(reply: TransactResult): number {
  let fd: number;
  try {
    const index = new ParcelReader(reply.data, reply.objectOffsets).readFileDescriptor().fd;
    const received = reply.fds[index];
    if (received === undefined) throw new Error(`reply names descriptor #${index} but ${reply.fds.length} arrived`);
    fd = received;
  } catch (error) {
    for (const received of reply.fds) native.close(received);
    throw new DataProxyError(Status.BAD_TYPE, 'PROTOCOL_ERROR', `connect reply carries no usable descriptor: ${(error as Error).message}`);
  }
  for (const other of reply.fds) if (other !== fd) native.close(other);
  return fd;
}
