import { INTERFACE_TRANSACTION, PING_TRANSACTION } from '../parcel/constants.js';
import { isBuiltinTransaction } from '../parcel/index.js';
import { ParcelReader } from '../parcel/parcel-reader.js';
import { ParcelWriter } from '../parcel/parcel-writer.js';
import { rememberServiceName } from '../wire/envelope-fast.js';
import { ReplyMode, type ReplyModeValue, type TransactionMessage } from '../wire/envelope.js';
import type { BinderService, PeerCredentials, ServiceResult } from './binder-service.js';
import { ServiceError } from './service-error.js';

/**
 * Routes a decoded transaction to its service, like BBinder::transact: permission first, then the
 * built-in codes every binder answers, then the service's own codes.
 */
export class Dispatcher {
  private readonly services = new Map<string, BinderService>();

  constructor(private readonly allowedUids: ReadonlySet<number>) {}

  register(service: BinderService): void {
    if (this.services.has(service.name)) throw new Error(`service ${service.name} registered twice`);
    this.services.set(service.name, service);
    rememberServiceName(service.name);
  }

  /** Registered names, sorted, as `service list` shows them. */
  serviceNames(): string[] {
    return [...this.services.keys()].sort();
  }

  lookup(name: string): BinderService | undefined {
    return this.services.get(name);
  }

  isAllowed(peer: PeerCredentials): boolean {
    return this.allowedUids.has(peer.uid);
  }

  /**
   * The service's answer to `transaction`. No promise hop: refusals throw at once, a synchronous
   * service answers at once (IpcSession sends connect's reply in the same turn as the request).
   */
  dispatchNow(transaction: TransactionMessage, peer: PeerCredentials): ServiceResult | Promise<ServiceResult> {
    if (!this.isAllowed(peer)) {
      throw new ServiceError(
        'PERMISSION_DENIED',
        // The allowed uids are not listed: a refused peer learns nothing about who may.
        `uid ${peer.uid} (pid ${peer.pid}) may not use this service; the daemon's owner can allow it with --allow-uid ${peer.uid}`,
      );
    }
    if (transaction.objectOffsets.length > 0) {
      throw new ServiceError('DESCRIPTORS_NOT_ACCEPTED', 'transactions may not carry objects or descriptors; send plain Parcel data');
    }
    if (transaction.replyMode !== ReplyMode.DESCRIPTOR && transaction.replyMode !== ReplyMode.STREAM) {
      throw new ServiceError('UNKNOWN_REPLY_MODE', `reply_mode ${transaction.replyMode} is unknown; use 0 (descriptor) or 1 (stream)`);
    }
    const service = this.services.get(transaction.service);
    if (!service) {
      throw new ServiceError(
        'UNKNOWN_SERVICE',
        `no service named ${JSON.stringify(transaction.service)}; this daemon serves: ${['manager', ...this.serviceNames()].filter(unique).join(', ')}`,
      );
    }
    if (transaction.replyMode === ReplyMode.STREAM && !service.supportsStreamMode(transaction.code)) {
      throw new ServiceError('STREAM_NOT_SUPPORTED', `stream mode applies only to connect (code 1) of org.anbox.webrtc.IDataProxyService`);
    }
    if (transaction.code === PING_TRANSACTION) return result(new ParcelWriter().writeInt32(0));
    if (transaction.code === INTERFACE_TRANSACTION) return result(new ParcelWriter().writeString16(service.descriptor));
    if (isBuiltinTransaction(transaction.code)) {
      throw new ServiceError('UNKNOWN_TRANSACTION', `${service.name} does not implement built-in transaction 0x${hex(transaction.code)}`);
    }
    const data = new ParcelReader(transaction.data);
    return service.onTransact(transaction.code, data, { peer, replyMode: transaction.replyMode as ReplyModeValue });
  }
}

/** The error for a code a service does not implement; `known` lists what it does, e.g. "connect = 1". */
export function unknownTransaction(service: BinderService, code: number, known: string): ServiceError {
  return new ServiceError('UNKNOWN_TRANSACTION', `${service.name} has no transaction code ${code} (0x${hex(code)}); it implements ${known}`);
}

function result(writer: ParcelWriter): ServiceResult {
  return { data: writer.toBuffer(), objectOffsets: writer.objectOffsets, fds: [] };
}

function hex(code: number): string {
  return (code >>> 0).toString(16).padStart(8, '0');
}

function unique<T>(value: T, index: number, all: T[]): boolean {
  return all.indexOf(value) === index;
}
