import { join } from 'node:path';
import protobuf from 'protobufjs';
import { packageRoot } from '../../config/package-root.js';
import { CHANNEL_STATUS_ACTION, type ChannelBroadcast, type ChannelEvent } from '../types.js';

/**
 * The largest datagram a receiver is guaranteed to read whole: unix-dgram (and the Python example
 * in docs/broadcasts.md) read into a 65536-byte buffer and would silently truncate a longer one.
 */
export const MAX_INTENT_BYTES = 65536;

export type IntentCodecErrorCode =
  /** The bytes are not a valid anbox.oob.v1.ChannelStatusIntent. */
  | 'MALFORMED_INTENT'
  /** `event` is neither "created" nor "destroyed". */
  | 'UNKNOWN_EVENT'
  /** `sequence` or `timestamp_ms` does not fit a JavaScript safe integer (or is negative when encoding). */
  | 'VALUE_OUT_OF_RANGE'
  /** Encoding: a name is not a string. */
  | 'INVALID_NAME'
  /** Encoding: the intent would exceed MAX_INTENT_BYTES. */
  | 'INTENT_TOO_LARGE';

/** A datagram that cannot be decoded, or a broadcast that cannot be encoded. */
export class IntentCodecError extends Error {
  override readonly name = 'IntentCodecError';
  constructor(
    readonly code: IntentCodecErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A decoded datagram: the broadcast plus the intent action it was sent under. */
export interface ReceivedBroadcast extends ChannelBroadcast {
  action: string;
}

const root = protobuf.loadSync(join(packageRoot(), 'proto', 'broadcast.proto'));
const IntentType = root.lookupType('anbox.oob.v1.ChannelStatusIntent');

/** uint64 decodes as a number, or as a Long when long.js is installed. */
type Uint64 = number | { toNumber(): number; toString(): string };

interface DecodedIntent {
  action: string;
  event: string;
  dataChannelNames: string[];
  sequence: Uint64;
  timestampMs: Uint64;
}

/**
 * One broadcast as the bytes of one datagram (an encoded ChannelStatusIntent, nothing else).
 * Throws IntentCodecError for values the format cannot carry, or when the result would exceed
 * MAX_INTENT_BYTES.
 */
export function encodeChannelStatusIntent(broadcast: ChannelBroadcast, action: string = CHANNEL_STATUS_ACTION): Buffer {
  if (broadcast.event !== 'created' && broadcast.event !== 'destroyed') {
    throw new IntentCodecError('UNKNOWN_EVENT', `event must be "created" or "destroyed", not ${JSON.stringify(broadcast.event)}`);
  }
  checkUint64(broadcast.sequence, 'sequence');
  checkUint64(broadcast.timestamp, 'timestamp');
  for (const name of broadcast.names) {
    if (typeof name !== 'string') throw new IntentCodecError('INVALID_NAME', `channel names must be strings, not ${typeof name}`);
  }
  const message = {
    action,
    event: broadcast.event,
    dataChannelNames: broadcast.names,
    sequence: broadcast.sequence,
    timestampMs: broadcast.timestamp,
  };
  const bytes = IntentType.encode(IntentType.create(message)).finish();
  if (bytes.byteLength > MAX_INTENT_BYTES) {
    throw new IntentCodecError(
      'INTENT_TOO_LARGE',
      `the intent for ${broadcast.names.length} channel names takes ${bytes.byteLength} bytes; a datagram may carry at most ${MAX_INTENT_BYTES}`,
    );
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The bytes of one datagram as a broadcast. Unknown fields are skipped (later versions may add
 * some); the action is returned as received, not checked. Throws IntentCodecError
 * MALFORMED_INTENT, UNKNOWN_EVENT or VALUE_OUT_OF_RANGE.
 */
export function decodeChannelStatusIntent(bytes: Uint8Array): ReceivedBroadcast {
  let decoded: DecodedIntent;
  try {
    decoded = IntentType.decode(bytes) as unknown as DecodedIntent;
  } catch (error) {
    throw new IntentCodecError('MALFORMED_INTENT', `datagram is not a valid anbox.oob.v1.ChannelStatusIntent: ${(error as Error).message}`);
  }
  const event = decoded.event;
  if (!isChannelEvent(event)) {
    throw new IntentCodecError('UNKNOWN_EVENT', `intent event must be "created" or "destroyed", not ${JSON.stringify(event)}`);
  }
  return {
    sequence: toSafeInteger(decoded.sequence, 'sequence'),
    event,
    names: [...decoded.dataChannelNames],
    timestamp: toSafeInteger(decoded.timestampMs, 'timestamp_ms'),
    action: decoded.action,
  };
}

function isChannelEvent(value: string): value is ChannelEvent {
  return value === 'created' || value === 'destroyed';
}

function checkUint64(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new IntentCodecError('VALUE_OUT_OF_RANGE', `${what} must be a non-negative safe integer, not ${value}`);
  }
}

function toSafeInteger(value: Uint64, what: string): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new IntentCodecError('VALUE_OUT_OF_RANGE', `${what} ${value} is not a safe integer`);
    return value;
  }
  const number = value.toNumber();
  if (!Number.isSafeInteger(number) || String(number) !== value.toString()) {
    throw new IntentCodecError('VALUE_OUT_OF_RANGE', `${what} ${value.toString()} does not fit a JavaScript safe integer`);
  }
  return number;
}
