import { CHANNEL_SOCKET_PREFIX, channelSocketPath } from '../channels/channel-name.js';
import { FIRST_CALL_TRANSACTION } from '../parcel/constants.js';
import type { ParcelReader } from '../parcel/parcel-reader.js';
import { ParcelWriter } from '../parcel/parcel-writer.js';
import { ReplyMode } from '../wire/envelope.js';
import type { BinderService, ServiceResult, TransactionContext } from './binder-service.js';
import { connectChannelSocket } from './channel-connector.js';
import { unknownTransaction } from './dispatcher.js';
import { ServiceError } from './service-error.js';
import { TrustedSocketDir } from './trusted-socket-dir.js';

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

  /** Channel name → its socket path and entry name, for names already validated (bounded: cleared when full). */
  private readonly socketPaths = new Map<string, ChannelEntry>();
  /** Held open when the socket dir is trusted: the fast connect path (see TrustedSocketDir). */
  private trustedDir: TrustedSocketDir | undefined;

  /**
   * `trustedDir`: the socket dir passed the trusted-directory checks with no --allow-shared-dir
   * warning, so it may be held open for the fast connect path (TrustedSocketDir re-checks the
   * descriptor it opens). Otherwise every connect takes the pinned path.
   */
  constructor(
    private readonly socketDir: string,
    options: { trustedDir?: boolean } = {},
  ) {
    if (options.trustedDir) this.trustedDir = TrustedSocketDir.open(socketDir);
  }

  /** Whether connects take the trusted-directory fast path (for tests and the start-up line). */
  get fastPath(): boolean {
    return this.trustedDir !== undefined;
  }

  /** Lets go of the held socket dir; later connects take the pinned path. */
  close(): void {
    this.trustedDir?.close();
    this.trustedDir = undefined;
  }

  supportsStreamMode(code: number): boolean {
    return code === TRANSACTION_connect;
  }

  /** channelSocketPath (validation, join, length check) once per name, not once per connect. */
  private channelEntry(channel: string): ChannelEntry {
    let entry = this.socketPaths.get(channel);
    if (entry === undefined) {
      const path = channelSocketPath(this.socketDir, channel);
      entry = { path, trusted: { dirFd: -1, entry: CHANNEL_SOCKET_PREFIX + channel } };
      if (this.socketPaths.size >= MAX_CACHED_SOCKET_PATHS) this.socketPaths.clear();
      this.socketPaths.set(channel, entry);
    }
    return entry;
  }

  /** Synchronous while the channel accepts at once (the usual case); a promise while its backlog is full. */
  onTransact(code: number, data: ParcelReader, context: TransactionContext): ServiceResult | Promise<ServiceResult> {
    if (code !== TRANSACTION_connect) throw unknownTransaction(this, code, 'connect = 1');
    data.enforceInterface(DATA_PROXY_DESCRIPTOR);
    const channel = data.readString16();
    if (channel === null) throw new ServiceError('NULL_ARGUMENT', 'connect needs a channel name; got a null String16');
    const { path, trusted } = this.channelEntry(channel);
    const stream = context.replyMode === ReplyMode.STREAM;
    let fd: number | Promise<number>;
    if (this.trustedDir !== undefined) {
      trusted.dirFd = this.trustedDir.fd; // the cached object is reused: no allocation per connect
      fd = connectChannelSocket(channel, path, { blocking: !stream, trusted });
    } else {
      fd = connectChannelSocket(channel, path, { blocking: !stream });
    }
    return typeof fd === 'number' ? connectResult(channel, stream, fd) : fd.then((connected) => connectResult(channel, stream, connected));
  }
}

const MAX_CACHED_SOCKET_PATHS = 256;

interface ChannelEntry {
  path: string;
  /** For the fast path: `webrtc_data_<channel>` in the held socket dir (dirFd set per connect). */
  trusted: { dirFd: number; entry: string };
}

/** The reply to connect: a bare fd object at offset 0 (the same 24 bytes for every connect). */
const DESCRIPTOR_REPLY = new ParcelWriter().writeFileDescriptor(0);
const DESCRIPTOR_REPLY_DATA = Buffer.from(DESCRIPTOR_REPLY.toBuffer());
const DESCRIPTOR_REPLY_OFFSETS = [...DESCRIPTOR_REPLY.objectOffsets];

function connectResult(channel: string, stream: boolean, fd: number): ServiceResult {
  if (stream) return { data: Buffer.alloc(0), objectOffsets: [], fds: [], streamFd: fd, logFields: { channel, mode: 'stream' } };
  return { data: DESCRIPTOR_REPLY_DATA, objectOffsets: DESCRIPTOR_REPLY_OFFSETS, fds: [fd], logFields: { channel, mode: 'descriptor' } };
}
