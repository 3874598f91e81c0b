import type { ParcelReader } from '../parcel/parcel-reader.js';
import type { ReplyModeValue } from '../wire/envelope.js';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

export interface TransactionContext {
  peer: PeerCredentials;
  replyMode: ReplyModeValue;
}

/** What a service answers with. Descriptors in `fds` are owned by the result until sent. */
export interface ServiceResult {
  data: Buffer;
  objectOffsets: readonly number[];
  fds: number[];
  /** Stream mode only: the descriptor the IPC connection turns into a byte pipe with. */
  streamFd?: number;
  /** A few fields for the daemon's log line (channel name, ...). */
  logFields?: Record<string, unknown>;
}

/** A binder service as the dispatcher sees it; the built-in codes are handled before onTransact. */
export interface BinderService {
  /** The name it is registered under in the service manager. */
  readonly name: string;
  /** The interface descriptor (what INTERFACE_TRANSACTION returns and the token must name). */
  readonly descriptor: string;
  /** Whether a transaction may ask for REPLY_MODE_STREAM. */
  supportsStreamMode(code: number): boolean;
  onTransact(code: number, data: ParcelReader, context: TransactionContext): ServiceResult | Promise<ServiceResult>;
}

export function emptyResult(): ServiceResult {
  return { data: Buffer.alloc(0), objectOffsets: [], fds: [] };
}
