import { join } from 'node:path';
import { encodeFrame } from '../wire/framing.js';
import { MAX_V1_DATA_BYTES, MAX_V1_TYPE_BYTES, V1_REFUSAL_CODES, type V1RefusalCode, type V1SendResult } from './v1-message.js';

/**
 * The platform link: how `anbox-oob proxy` hands a v1 message to a separately running
 * `anbox-oob platform` (with `serve` both live in one process and no link is used). Pure codec;
 * link-server.ts and link-client.ts do the I/O. Documented in docs/protocol.md.
 *
 * The platform listens on `<socket-dir>/.platform-api` (mode 0600, peers of the platform's own uid
 * only, checked with SO_PEERCRED). One request per connection, each a frame of the daemon's own
 * framing ([u32 LE body length][body]):
 *
 *   request body:  [u32 LE T = UTF-8 byte length of type][type: T bytes UTF-8][data: the rest, UTF-8]
 *   reply body:    UTF-8 JSON {"sent":true} or {"sent":false,"code":"NO_SESSION","reason":"…"}
 */
export const PLATFORM_API_SOCKET_NAME = '.platform-api';
/** The largest request body: the length word, a type and data at their limits. */
export const MAX_LINK_REQUEST_BYTES = 4 + MAX_V1_TYPE_BYTES + MAX_V1_DATA_BYTES;
/** Replies are a short JSON object; anything longer is not our platform. */
export const MAX_LINK_REPLY_BYTES = 16 * 1024;

export function platformApiSocketPath(socketDir: string): string {
  return join(socketDir, PLATFORM_API_SOCKET_NAME);
}

/** Request frame, header included. The caller has checked the limits (checkV1Message). */
export function encodeLinkRequest(type: string, data: string): Buffer {
  const typeBytes = Buffer.from(type, 'utf8');
  const dataBytes = Buffer.from(data, 'utf8');
  const body = Buffer.allocUnsafe(4 + typeBytes.length + dataBytes.length);
  body.writeUInt32LE(typeBytes.length, 0);
  typeBytes.copy(body, 4);
  dataBytes.copy(body, 4 + typeBytes.length);
  return encodeFrame(body);
}

/** A request body back to (type, data); throws LinkCodecError on a body of another shape. */
export function decodeLinkRequest(body: Buffer): { type: string; data: string } {
  if (body.length < 4) throw new LinkCodecError(`request body of ${body.length} bytes is shorter than its length word`);
  const typeLength = body.readUInt32LE(0);
  if (typeLength > body.length - 4) throw new LinkCodecError(`request announces a ${typeLength}-byte type in a ${body.length}-byte body`);
  return { type: body.toString('utf8', 4, 4 + typeLength), data: body.toString('utf8', 4 + typeLength) };
}

export function encodeLinkReply(result: V1SendResult): Buffer {
  return encodeFrame(Buffer.from(JSON.stringify(result), 'utf8'));
}

/** A reply body back to a result; throws LinkCodecError on anything but the two documented shapes. */
export function decodeLinkReply(body: Buffer): V1SendResult {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new LinkCodecError('reply is not JSON');
  }
  const reply = value as { sent?: unknown; code?: unknown; reason?: unknown } | null;
  if (reply?.sent === true) return { sent: true };
  if (reply?.sent === false && V1_REFUSAL_CODES.includes(reply.code as V1RefusalCode) && typeof reply.reason === 'string') {
    return { sent: false, code: reply.code as V1RefusalCode, reason: reply.reason };
  }
  throw new LinkCodecError('reply is not {"sent":true} or {"sent":false,"code","reason"}');
}

export class LinkCodecError extends Error {
  override readonly name = 'LinkCodecError';
}
