import type { Logger } from '../log/logger.js';
import { FIRST_CALL_TRANSACTION } from '../parcel/constants.js';
import type { ParcelReader } from '../parcel/parcel-reader.js';
import { ParcelWriter } from '../parcel/parcel-writer.js';
import { checkV1Message, refused, type V1SendResult } from '../v1/v1-message.js';
import type { BinderService, ServiceResult, TransactionContext } from './binder-service.js';
import { unknownTransaction } from './dispatcher.js';

/**
 * Ours: Anbox's real binder names for PlatformAPISkeleton are not documented. The Java
 * `com.canonical.anbox.PlatformAPISkeleton` in android-sample uses these.
 */
export const PLATFORM_API_SERVICE_NAME = 'org.anbox.platform.IPlatformAPI';
export const PLATFORM_API_DESCRIPTOR = 'org.anbox.platform.IPlatformAPI@1.0';
/** sendMessage(String type, String data) -> boolean */
export const TRANSACTION_sendMessage = FIRST_CALL_TRANSACTION;
/** Messages waiting for the ones before them to be handed to the platform; more are refused. */
export const MAX_QUEUED_MESSAGES = 64;

/** Hands a checked v1 message to the live session: in process (`serve`) or over the platform link. */
export type V1MessageSender = (type: string, data: string) => V1SendResult | Promise<V1SendResult>;

/**
 * org.anbox.platform.IPlatformAPI: sendMessage (code 1, interface token, String16 type, String16
 * data). The reply is AIDL's layout for a boolean return, what PlatformAPISkeleton.sendMessage
 * reads: int32 0 (no exception), int32 1 (sent) or 0 (not sent); then, an extension AIDL readers
 * never look at, a String16 pair (refusal code, reason), both null when sent.
 *
 * Permission: Anbox lets only apps holding android.permission.ANBOX_SEND_MESSAGE call it; here
 * the dispatcher lets only the daemon's allowed uids (--allow-uid, own uid, root) transact.
 *
 * Messages are handed on one at a time in arrival order (at most MAX_QUEUED_MESSAGES waiting), so
 * the client receives them in the order the daemon received them.
 */
export class PlatformApiService implements BinderService {
  readonly name = PLATFORM_API_SERVICE_NAME;
  readonly descriptor = PLATFORM_API_DESCRIPTOR;
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;

  constructor(
    private readonly sender: V1MessageSender,
    private readonly log: Logger,
  ) {}

  /** Messages accepted and not yet answered by the sender (at most MAX_QUEUED_MESSAGES). */
  get waiting(): number {
    return this.queued;
  }

  supportsStreamMode(): boolean {
    return false;
  }

  async onTransact(code: number, data: ParcelReader, context: TransactionContext): Promise<ServiceResult> {
    if (code !== TRANSACTION_sendMessage) throw unknownTransaction(this, code, 'sendMessage = 1');
    data.enforceInterface(PLATFORM_API_DESCRIPTOR);
    const type = data.readString16();
    const body = data.readString16();
    const result = checkV1Message(type, body) ?? (await this.enqueue(type!, body!));
    const fields = { method: 'sendMessage', typeBytes: type === null ? null : Buffer.byteLength(type), dataBytes: body === null ? null : Buffer.byteLength(body) };
    if (!result.sent) {
      this.log.warn(
        { event: 'sendmessage.refused', ...fields, code: result.code, reason: result.reason, peerUid: context.peer.uid, peerPid: context.peer.pid },
        `v1 message not sent (sendMessage returns false): ${result.reason}`,
      );
    }
    const reply = new ParcelWriter().writeInt32(0).writeInt32(result.sent ? 1 : 0);
    reply.writeString16(result.sent ? null : result.code).writeString16(result.sent ? null : result.reason);
    return { data: reply.toBuffer(), objectOffsets: [], fds: [], logFields: { ...fields, sent: result.sent } };
  }

  private enqueue(type: string, data: string): Promise<V1SendResult> {
    if (this.queued >= MAX_QUEUED_MESSAGES) {
      return Promise.resolve(refused('QUEUE_FULL', `${MAX_QUEUED_MESSAGES} messages are already waiting to be sent; try again`));
    }
    this.queued++;
    const run = async (): Promise<V1SendResult> => {
      try {
        return await this.sender(type, data);
      } catch (error) {
        return refused('SEND_FAILED', `internal error: ${(error as Error).message}`);
      } finally {
        this.queued--;
      }
    };
    const result = this.tail.then(run);
    this.tail = result;
    return result;
  }
}

/** The request Parcel of sendMessage(type, data). */
export function encodeSendMessageRequest(type: string | null, data: string | null): Buffer {
  return new ParcelWriter().writeInterfaceToken(PLATFORM_API_DESCRIPTOR).writeString16(type).writeString16(data).toBuffer();
}
