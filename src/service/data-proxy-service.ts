import { channelSocketPath } from '../channels/channel-name.js';
import { FIRST_CALL_TRANSACTION } from '../parcel/constants.js';
import type { ParcelReader } from '../parcel/parcel-reader.js';
import { ParcelWriter } from '../parcel/parcel-writer.js';
import { ReplyMode } from '../wire/envelope.js';
import type { BinderService, ServiceResult, TransactionContext } from './binder-service.js';
import { connectChannelSocket } from './channel-connector.js';
import { unknownTransaction } from './dispatcher.js';
import { ServiceError } from './service-error.js';

/** The names Anbox uses; the Android sample app and docs/protocol.md use the same. */
export const DATA_PROXY_SERVICE_NAME = 'org.anbox.webrtc.IDataProxyService';
export const DATA_PROXY_DESCRIPTOR = 'org.anbox.webrtc.IDataProxyService@1.0';
/** connect(String channel) -> ParcelFileDescriptor */
export const TRANSACTION_connect = FIRST_CALL_TRANSACTION;

/**
 * org.anbox.webrtc.IDataProxyService. connect: token, String16 channel name; the reply is a bare fd
 * object at offset 0 (what Parcel.readFileDescriptor reads; no status word in front). Over this
 * socket the object's fd field holds the descriptor's index among the frame's SCM_RIGHTS
 * descriptors (always 0 here).
 */
export class DataProxyService implements BinderService {
  readonly name = DATA_PROXY_SERVICE_NAME;
  readonly descriptor = DATA_PROXY_DESCRIPTOR;

  /** Channel name → its socket path, for names already validated (bounded: cleared when full). */
  private readonly socketPaths = new Map<string, string>();

  constructor(private readonly socketDir: string) {}

  supportsStreamMode(code: number): boolean {
    return code === TRANSACTION_connect;
  }

  /** channelSocketPath (validation, join, length check) once per name, not once per connect. */
  private socketPath(channel: string): string {
    let path = this.socketPaths.get(channel);
    if (path === undefined) {
      path = channelSocketPath(this.socketDir, channel);
      if (this.socketPaths.size >= MAX_CACHED_SOCKET_PATHS) this.socketPaths.clear();
      this.socketPaths.set(channel, path);
    }
    return path;
  }

  /** Synchronous while the channel accepts at once (the usual case); a promise while its backlog is full. */
  onTransact(code: number, data: ParcelReader, context: TransactionContext): ServiceResult | Promise<ServiceResult> {
    if (code !== TRANSACTION_connect) throw unknownTransaction(this, code, 'connect = 1');
    data.enforceInterface(DATA_PROXY_DESCRIPTOR);
    const channel = data.readString16();
    if (channel === null) throw new ServiceError('NULL_ARGUMENT', 'connect needs a channel name; got a null String16');
    const path = this.socketPath(channel);
    const stream = context.replyMode === ReplyMode.STREAM;
    const fd = connectChannelSocket(channel, path, { blocking: !stream });
    return typeof fd === 'number' ? connectResult(channel, stream, fd) : fd.then((connected) => connectResult(channel, stream, connected));
  }
}

const MAX_CACHED_SOCKET_PATHS = 256;

/** The reply to connect: a bare fd object at offset 0 (the same 24 bytes for every connect). */
const DESCRIPTOR_REPLY = new ParcelWriter().writeFileDescriptor(0);
const DESCRIPTOR_REPLY_DATA = Buffer.from(DESCRIPTOR_REPLY.toBuffer());
const DESCRIPTOR_REPLY_OFFSETS = [...DESCRIPTOR_REPLY.objectOffsets];

function connectResult(channel: string, stream: boolean, fd: number): ServiceResult {
  if (stream) return { data: Buffer.alloc(0), objectOffsets: [], fds: [], streamFd: fd, logFields: { channel, mode: 'stream' } };
  return { data: DESCRIPTOR_REPLY_DATA, objectOffsets: DESCRIPTOR_REPLY_OFFSETS, fds: [fd], logFields: { channel, mode: 'descriptor' } };
}
