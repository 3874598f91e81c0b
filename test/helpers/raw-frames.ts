// Hand-made request frames for tests that speak to the daemon below the client library.
import { PING_TRANSACTION } from '../../src/parcel/constants.js';
import { ParcelWriter } from '../../src/parcel/parcel-writer.js';
import { DATA_PROXY_DESCRIPTOR, DATA_PROXY_SERVICE_NAME } from '../../src/service/data-proxy-service.js';
import { encodeTransaction, ReplyMode } from '../../src/wire/envelope.js';
import { encodeFrame } from '../../src/wire/framing.js';

/** Binder's PING_TRANSACTION ('_PNG'): every service answers it. */
export const PING = PING_TRANSACTION;

export interface FrameFields {
  id: number;
  /** Default: the data-proxy service. */
  service?: string;
  code: number;
  data?: Buffer;
  flags?: number;
  replyMode?: number;
}

/** A whole transaction frame (header included), encoded by protobufjs as a client would. */
export function transactionFrame(f: FrameFields): Buffer {
  return encodeFrame(
    encodeTransaction({
      id: f.id,
      service: f.service ?? DATA_PROXY_SERVICE_NAME,
      code: f.code,
      flags: f.flags ?? 0,
      data: f.data ?? Buffer.alloc(0),
      objectOffsets: [],
      replyMode: f.replyMode ?? ReplyMode.DESCRIPTOR,
    }),
  );
}

/** connect's Parcel: interface token, then the channel name as String16. */
export function connectRequest(name = 'foo', descriptor = DATA_PROXY_DESCRIPTOR): Buffer {
  return new ParcelWriter().writeInterfaceToken(descriptor).writeString16(name).toBuffer();
}
