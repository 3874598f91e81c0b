/**
 * Out-of-band data v1 (Anbox Cloud before 1.16): `PlatformAPISkeleton.sendMessage(type, data)` on
 * Android reaches the Streaming SDK's `messageReceived(type, data)` as one text message on the
 * WebRTC `control` data channel. Pure: limits, the SDK's own types and the message's JSON form.
 * Everything here is documented in docs/protocol.md ("Out-of-band data v1").
 */

/** Anbox: "type is limited to 256 KB". Counted here as UTF-8 bytes, 256 KiB. */
export const MAX_V1_TYPE_BYTES = 256 * 1024;
/** Anbox: "data is limited to 1 MB". Counted here as UTF-8 bytes, 1 MiB. */
export const MAX_V1_DATA_BYTES = 1024 * 1024;

/**
 * Control-channel types the SDK (anbox-stream-sdk.js 1.31, `_onControlMessageReceived`) handles
 * itself; every other type goes to `messageReceived(type, data)`. A v1 message of one of these
 * would never reach the app's callback (and would make the SDK open the camera, parse `data` as
 * JSON and throw, ...), so they are refused.
 */
export const SDK_HANDLED_CONTROL_TYPES: readonly string[] = [
  'open-camera',
  'close-camera',
  'enable-microphone',
  'disable-microphone',
  'show-ime',
  'hide-ime',
  'vhal-prop-configs',
  'vhal-get-answer',
  'vhal-set-answer',
  'activate-sensor',
  'deactivate-sensor',
];

/**
 * Why a v1 message was not sent: stable codes, in the service's reply (docs/protocol.md), the CLI's
 * error, the TypeScript client's result and the `sendmessage.refused` log line.
 */
export const V1_REFUSAL_CODES = [
  'NULL_ARGUMENT',
  'EMPTY_TYPE',
  'TYPE_TOO_LARGE',
  'DATA_TOO_LARGE',
  'RESERVED_TYPE',
  'NO_PLATFORM',
  'NO_SESSION',
  'TOO_LARGE_FOR_CLIENT',
  'CLIENT_NOT_READING',
  'QUEUE_FULL',
  'SEND_FAILED',
  'TRANSACTION_TOO_LARGE',
] as const;

export type V1RefusalCode = (typeof V1_REFUSAL_CODES)[number];

export type V1SendResult = { readonly sent: true } | { readonly sent: false; readonly code: V1RefusalCode; readonly reason: string };

export function refused(code: V1RefusalCode, reason: string): V1SendResult {
  return { sent: false, code, reason };
}

export const SENT: V1SendResult = { sent: true };

/** Why (type, data) may never be sent whatever the session, or undefined when it may. */
export function checkV1Message(type: string | null, data: string | null): V1SendResult | undefined {
  if (type === null || data === null) return refused('NULL_ARGUMENT', `sendMessage needs a type and data; got a null ${type === null ? 'type' : 'data'}`);
  if (type.length === 0) return refused('EMPTY_TYPE', 'the type is empty; the SDK would call messageReceived("", data), which no client can route');
  const typeBytes = Buffer.byteLength(type, 'utf8');
  if (typeBytes > MAX_V1_TYPE_BYTES) return refused('TYPE_TOO_LARGE', `the type is ${typeBytes} bytes (UTF-8); the limit is ${MAX_V1_TYPE_BYTES} (256 KiB, as on Anbox)`);
  const dataBytes = Buffer.byteLength(data, 'utf8');
  if (dataBytes > MAX_V1_DATA_BYTES) return refused('DATA_TOO_LARGE', `the data is ${dataBytes} bytes (UTF-8); the limit is ${MAX_V1_DATA_BYTES} (1 MiB, as on Anbox)`);
  if (SDK_HANDLED_CONTROL_TYPES.includes(type)) {
    return refused('RESERVED_TYPE', `type "${type}" is handled by the Streaming SDK itself and never reaches messageReceived; pick another type`);
  }
  return undefined;
}

/**
 * The control-channel message: exactly the JSON text the SDK parses, `{"type":T,"data":D}`, both
 * strings. Sent as a text (string) message, never binary: the SDK calls JSON.parse(event.data).
 */
export function encodeV1ControlMessage(type: string, data: string): string {
  return JSON.stringify({ type, data });
}
