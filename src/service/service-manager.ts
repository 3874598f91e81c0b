import { FIRST_CALL_TRANSACTION } from '../parcel/constants.js';
import type { ParcelReader } from '../parcel/parcel-reader.js';
import { ParcelWriter } from '../parcel/parcel-writer.js';
import type { BinderService, ServiceResult } from './binder-service.js';
import { unknownTransaction, type Dispatcher } from './dispatcher.js';
import { ServiceError } from './service-error.js';

export const SERVICE_MANAGER_NAME = 'manager';
export const SERVICE_MANAGER_DESCRIPTOR = 'android.os.IServiceManager';

/** Codes in the order of IServiceManager (the same in the native and the AIDL versions). */
export const SERVICE_MANAGER_TRANSACTIONS = {
  getService: FIRST_CALL_TRANSACTION,
  checkService: FIRST_CALL_TRANSACTION + 1,
  addService: FIRST_CALL_TRANSACTION + 2,
  listServices: FIRST_CALL_TRANSACTION + 3,
} as const;

/**
 * The service-manager role on the daemon's socket, for `service check` / `service list` look-alikes.
 * Replies use AIDL's layout (int32 exception code 0, then the value). A binder object cannot
 * cross this socket, so getService/checkService return the service's interface descriptor as a
 * String16, or a null String16 (-1) when there is no such service. As Android 11+'s
 * servicemanager registers itself as "manager", getService("manager") answers its own descriptor
 * and listServices lists it.
 */
export class ServiceManager implements BinderService {
  readonly name = SERVICE_MANAGER_NAME;
  readonly descriptor = SERVICE_MANAGER_DESCRIPTOR;

  constructor(private readonly dispatcher: Dispatcher) {}

  supportsStreamMode(): boolean {
    return false;
  }

  onTransact(code: number, data: ParcelReader): ServiceResult {
    const reply = new ParcelWriter();
    switch (code) {
      case SERVICE_MANAGER_TRANSACTIONS.getService:
      case SERVICE_MANAGER_TRANSACTIONS.checkService: {
        data.enforceInterface(SERVICE_MANAGER_DESCRIPTOR);
        const name = data.readString16();
        if (name === null) throw new ServiceError('NULL_ARGUMENT', 'checkService needs a service name; got a null String16');
        const service = name === SERVICE_MANAGER_NAME ? this : this.dispatcher.lookup(name);
        reply.writeInt32(0).writeString16(service ? service.descriptor : null);
        break;
      }
      case SERVICE_MANAGER_TRANSACTIONS.listServices:
        // The dump-priority argument (int32, Android 9+) filters nothing here: every service is
        // listed. It is not read, so the argument-less call of Android 8 and earlier works too.
        data.enforceInterface(SERVICE_MANAGER_DESCRIPTOR);
        reply.writeInt32(0).writeString16Array([SERVICE_MANAGER_NAME, ...this.dispatcher.serviceNames()].filter(unique).sort());
        break;
      case SERVICE_MANAGER_TRANSACTIONS.addService:
        // Token first, as every code of an AIDL stub; the arguments (name, binder, ...) are not read.
        data.enforceInterface(SERVICE_MANAGER_DESCRIPTOR);
        throw new ServiceError('PERMISSION_DENIED', 'addService is not available: this daemon serves a fixed set of services');
      default:
        throw unknownTransaction(this, code, 'getService = 1, checkService = 2, listServices = 4');
    }
    return { data: reply.toBuffer(), objectOffsets: [], fds: [] };
  }
}

function unique<T>(value: T, index: number, all: T[]): boolean {
  return all.indexOf(value) === index;
}
