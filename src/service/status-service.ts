import type { ChannelBroadcast, DeliveryResult } from '../broadcast/types.js';
import { FIRST_CALL_TRANSACTION } from '../parcel/constants.js';
import { ParcelReader } from '../parcel/parcel-reader.js';
import { ParcelWriter } from '../parcel/parcel-writer.js';
import type { BinderService, ServiceResult } from './binder-service.js';
import type { DataProxyStats } from './data-proxy-server.js';
import { unknownTransaction } from './dispatcher.js';
import { ServiceError } from './service-error.js';

export const STATUS_SERVICE_NAME = 'org.anbox.oob.IEmulatorStatus';
export const STATUS_DESCRIPTOR = 'org.anbox.oob.IEmulatorStatus@1.0';
/** getStatus() -> String (a JSON document, StatusDocument) */
export const TRANSACTION_getStatus = FIRST_CALL_TRANSACTION;

/** The version of the JSON document's layout; bumped only for incompatible changes. */
export const STATUS_FORMAT = 1;
/** At most this many recent broadcasts go into a reply (the newest). */
export const MAX_STATUS_BROADCASTS = 50;
/** The JSON is kept below this many UTF-16 units so that the reply stays far below the 1 MiB frame limit. */
export const MAX_STATUS_JSON_UNITS = 256 * 1024;

/** One broadcast and what became of it at each sink. */
export interface BroadcastRecord extends ChannelBroadcast {
  /** One result per sink that has finished with it (adb, hook, local), in the order they finished. */
  results: DeliveryResult[];
  /** Sinks still working on it (queued, or retrying). */
  pending?: string[];
}

export interface AdbStatus {
  /** Whether the adb hook is enabled (--adb). */
  configured: boolean;
  /** --adb-serial / ANDROID_SERIAL, or null for adb's own choice. */
  serial: string | null;
  /**
   * For people: "yes", "unknown (nothing sent yet)", "no: device 'emulator-5554' not found", "not configured".
   * The newest verdict of either the last broadcast through adb or the adb reverse's last check.
   */
  reachable: string;
  /**
   * The adb reverse that lets an app on the device reach the service socket: "in place",
   * "pending: <hint>" (not made yet, retried in the background) or "not configured" (no --adb, or
   * --no-adb-reverse). Absent in documents of older daemons.
   */
  reverse: string;
  /** What the reverse forwards, when configured: `localabstract:anbox-oob-data-proxy` → `localfilesystem:<service socket>`. */
  reverseSockets?: { device: string; host: string } | null;
}

export interface LocalReceiversStatus {
  /** The receivers directory the daemon sends to. */
  dir: string;
}

/** What the daemon reports about itself; built on demand by the provider the service is given. */
export interface StatusSnapshot {
  /** Data channels that exist now (the socket-dir watcher's view), in the watcher's order. */
  channels: string[];
  /**
   * Per channel in `channels`, how many app connections its socket has now (accepted connections in
   * /proc/net/unix; 0: no app attached). Absent when the table cannot be read.
   */
  appConnections?: Record<string, number>;
  /** The data-proxy server's counters (DataProxyServer.stats). */
  connections: DataProxyStats;
  /** Recent broadcasts, oldest first (the provider keeps a bounded list; the reply holds the newest MAX_STATUS_BROADCASTS). */
  broadcasts: BroadcastRecord[];
  adb: AdbStatus;
  /** The channel socket directory. */
  socketDir?: string;
  local?: LocalReceiversStatus;
  /** When the daemon started (Unix ms). */
  startedAt?: number;
  /** Free-form: the WebRTC platform emulator's state, when it runs in the daemon. */
  platform?: Record<string, unknown>;
}

/** The JSON document getStatus() returns. */
export interface StatusDocument extends StatusSnapshot {
  format: number;
  /** When this document was made (Unix ms). */
  generatedAt: number;
  /** The daemon's process id. */
  pid: number;
  /** Set when broadcasts or the platform section were left out to keep the reply small. */
  truncated?: boolean;
}

export type StatusProvider = () => StatusSnapshot;

export interface StatusServiceOptions {
  /** Injected for tests. */
  now?: () => number;
  pid?: number;
}

/**
 * org.anbox.oob.IEmulatorStatus: one method, getStatus() (code 1, interface token required),
 * whose reply is AIDL's layout for a String return: int32 0 (no exception), then a String16
 * holding a JSON StatusDocument. Used by `anbox-oob status`.
 */
export class StatusService implements BinderService {
  readonly name = STATUS_SERVICE_NAME;
  readonly descriptor = STATUS_DESCRIPTOR;
  private readonly now: () => number;
  private readonly pid: number;

  constructor(
    private readonly provider: StatusProvider,
    options: StatusServiceOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.pid = options.pid ?? process.pid;
  }

  supportsStreamMode(): boolean {
    return false;
  }

  onTransact(code: number, data: ParcelReader): ServiceResult {
    if (code !== TRANSACTION_getStatus) throw unknownTransaction(this, code, 'getStatus = 1');
    data.enforceInterface(STATUS_DESCRIPTOR);
    let snapshot: StatusSnapshot;
    try {
      snapshot = this.provider();
    } catch (error) {
      throw new ServiceError('INTERNAL_ERROR', `cannot collect the daemon's status: ${(error as Error).message}`);
    }
    const json = this.render(snapshot);
    const reply = new ParcelWriter().writeInt32(0).writeString16(json);
    return { data: reply.toBuffer(), objectOffsets: [], fds: [], logFields: { method: 'getStatus' } };
  }

  /** The JSON text of the document, trimmed to MAX_STATUS_JSON_UNITS. */
  private render(snapshot: StatusSnapshot): string {
    let document: StatusDocument = {
      format: STATUS_FORMAT,
      generatedAt: this.now(),
      pid: this.pid,
      ...snapshot,
      broadcasts: snapshot.broadcasts.slice(-MAX_STATUS_BROADCASTS),
    };
    let json = stringify(document);
    while (json.length > MAX_STATUS_JSON_UNITS && document.broadcasts.length > 0) {
      document = { ...document, broadcasts: document.broadcasts.slice(Math.ceil(document.broadcasts.length / 2)), truncated: true };
      json = stringify(document);
    }
    if (json.length > MAX_STATUS_JSON_UNITS && document.platform !== undefined) {
      document = { ...document, platform: undefined, truncated: true };
      json = stringify(document);
    }
    return json;
  }
}

function stringify(document: StatusDocument): string {
  try {
    return JSON.stringify(document);
  } catch (error) {
    throw new ServiceError('INTERNAL_ERROR', `cannot serialise the daemon's status: ${(error as Error).message}`);
  }
}

/** The request Parcel of getStatus(): the interface token alone. */
export function encodeStatusRequest(): Buffer {
  return new ParcelWriter().writeInterfaceToken(STATUS_DESCRIPTOR).toBuffer();
}

/** The JSON document from a getStatus() reply Parcel. Throws on a reply of another shape. */
export function decodeStatusReply(data: Uint8Array): StatusDocument {
  const reader = new ParcelReader(data);
  const exception = reader.readInt32();
  if (exception !== 0) throw new Error(`getStatus replied with exception code ${exception}`);
  const json = reader.readString16();
  if (json === null) throw new Error('getStatus replied with a null string');
  const document = JSON.parse(json) as unknown;
  if (typeof document !== 'object' || document === null || Array.isArray(document)) throw new Error('getStatus replied with JSON that is not an object');
  return document as StatusDocument;
}
