import { INSTANCE_NAME, RELAY_ID } from './subjects.js';

/**
 * The farm's NATS messages (docs/farm.md), as pure encoders and decoders. A decoder either returns
 * a fully checked message or throws FarmMessageError; nothing half-checked reaches the gateway or
 * an instance. Any NATS peer can publish these, so every field is bounded.
 */

export const FARM_MESSAGE_VERSION = 1;
/** Any farm message but a relay frame. */
export const MAX_FARM_MESSAGE_BYTES = 64 * 1024;
/** A relayed signaling frame (below nats-server's default max_payload of 1 MiB). */
export const MAX_RELAY_FRAME_BYTES = 512 * 1024;
/** A relay message: the frame plus its JSON wrapping (quotes escaped at worst ×6). */
export const MAX_RELAY_MESSAGE_BYTES = MAX_RELAY_FRAME_BYTES + 1024;
export const MAX_LABELS = 16;
export const MAX_LABEL_CHARS = 64;
export const MAX_CHANNELS = 64;
export const MAX_FIELD_CHARS = 128;
export const MIN_HEARTBEAT_INTERVAL_MS = 200;
export const MAX_HEARTBEAT_INTERVAL_MS = 60_000;

export type FarmMessageErrorCode = 'TOO_LARGE' | 'NOT_JSON' | 'NOT_OBJECT' | 'WRONG_VERSION' | 'BAD_FIELD';

/** A peer's message that breaks docs/farm.md. */
export class FarmMessageError extends Error {
  override readonly name = 'FarmMessageError';
  constructor(
    readonly code: FarmMessageErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type InstanceState = 'free' | 'reserved' | 'streaming';
const INSTANCE_STATES: readonly InstanceState[] = ['free', 'reserved', 'streaming'];

export interface InstanceStatus {
  v: 1;
  instance: string;
  boot: string;
  host: string;
  device: string | null;
  labels: Record<string, string>;
  state: InstanceState;
  session: string | null;
  channels: string[];
  seq: number;
  intervalMs: number;
  startedAt: string;
}

/** The session request's placement fields (the SDK's own fields, e.g. `app`, pass through as `app`). */
export interface PlacementRequest {
  app?: string;
  instance?: string;
  device?: string;
  labels?: Record<string, string>;
}

export interface PlaceRequest {
  v: 1;
  gateway: string;
  request: PlacementRequest;
}

export interface JoinRequest {
  v: 1;
  gateway: string;
  session: string;
}

/** As the gateway's metadata.stun_servers (src/platform/gateway-responses.ts GatewayStunServer). */
export interface FarmStunServer {
  urls: string[];
  username?: string;
  password?: string;
}

export type PlaceFailureCode = 'BUSY' | 'UNKNOWN_SESSION' | 'STOPPING' | 'BAD_REQUEST';

export type PlaceReply =
  | { v: 1; ok: true; session: string; secret: string; stunServers: FarmStunServer[] }
  | { v: 1; ok: false; code: PlaceFailureCode; message: string };

export interface SignalOpen {
  v: 1;
  gateway: string;
  session: string;
  secret: string;
  relay: string;
}

export type SignalReply = { v: 1; ok: true } | { v: 1; ok: false; status: 400 | 401 | 404 | 503; message: string };

export interface SessionEnded {
  v: 1;
  instance: string;
  session: string;
  reason: string;
}

export type RelayMessage = { t: 'frame'; data: string } | { t: 'close'; code: number; reason: string } | { t: 'ping' };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Any farm message as NATS payload bytes. */
export function encodeFarmMessage(message: object): Uint8Array {
  return encoder.encode(JSON.stringify(message));
}

// ---- decoders --------------------------------------------------------------------------------

export function decodeInstanceStatus(bytes: Uint8Array): InstanceStatus {
  const o = versioned(parseObject(bytes, MAX_FARM_MESSAGE_BYTES));
  const intervalMs = integer(o, 'intervalMs', MIN_HEARTBEAT_INTERVAL_MS, MAX_HEARTBEAT_INTERVAL_MS);
  const state = o.state;
  if (typeof state !== 'string' || !INSTANCE_STATES.includes(state as InstanceState)) bad('state', 'must be "free", "reserved" or "streaming"');
  const channels = o.channels;
  if (!Array.isArray(channels) || channels.length > MAX_CHANNELS || !channels.every((c) => typeof c === 'string' && c.length <= MAX_FIELD_CHARS)) {
    bad('channels', `must be at most ${MAX_CHANNELS} strings of at most ${MAX_FIELD_CHARS} characters`);
  }
  return {
    v: 1,
    instance: instanceName(o, 'instance'),
    boot: text(o, 'boot'),
    host: text(o, 'host'),
    device: nullableText(o, 'device'),
    labels: labels(o.labels, 'labels') ?? {},
    state: state as InstanceState,
    session: nullableText(o, 'session'),
    channels: channels as string[],
    seq: integer(o, 'seq', 0, Number.MAX_SAFE_INTEGER),
    intervalMs,
    startedAt: text(o, 'startedAt'),
  };
}

export function decodePlaceRequest(bytes: Uint8Array): PlaceRequest {
  const o = versioned(parseObject(bytes, MAX_FARM_MESSAGE_BYTES));
  return { v: 1, gateway: text(o, 'gateway'), request: decodePlacementRequest(o.request) };
}

/**
 * The placement fields of a session request body (also used by the gateway on the HTTP body):
 * absent fields stay absent; present ones must have the documented shape.
 */
export function decodePlacementRequest(value: unknown): PlacementRequest {
  if (value === undefined) return {};
  if (!isObject(value)) bad('request', 'must be an object');
  const out: PlacementRequest = {};
  if (typeof value.app === 'string') out.app = value.app.slice(0, MAX_FIELD_CHARS);
  if (value.instance !== undefined) out.instance = instanceName(value, 'instance');
  if (value.device !== undefined) out.device = text(value, 'device');
  const l = labels(value.labels, 'labels');
  if (l !== undefined) out.labels = l;
  return out;
}

export function decodeJoinRequest(bytes: Uint8Array): JoinRequest {
  const o = versioned(parseObject(bytes, MAX_FARM_MESSAGE_BYTES));
  return { v: 1, gateway: text(o, 'gateway'), session: text(o, 'session') };
}

const PLACE_FAILURES: readonly PlaceFailureCode[] = ['BUSY', 'UNKNOWN_SESSION', 'STOPPING', 'BAD_REQUEST'];

export function decodePlaceReply(bytes: Uint8Array): PlaceReply {
  const o = versioned(parseObject(bytes, MAX_FARM_MESSAGE_BYTES));
  if (o.ok === true) {
    return { v: 1, ok: true, session: text(o, 'session'), secret: text(o, 'secret'), stunServers: stunServers(o.stunServers) };
  }
  if (o.ok !== false) bad('ok', 'must be true or false');
  const code = o.code;
  if (typeof code !== 'string' || !PLACE_FAILURES.includes(code as PlaceFailureCode)) bad('code', `must be one of ${PLACE_FAILURES.join(', ')}`);
  return { v: 1, ok: false, code: code as PlaceFailureCode, message: message(o) };
}

export function decodeSignalOpen(bytes: Uint8Array): SignalOpen {
  const o = versioned(parseObject(bytes, MAX_FARM_MESSAGE_BYTES));
  const relay = o.relay;
  if (typeof relay !== 'string' || !RELAY_ID.test(relay)) bad('relay', 'must be 32 lowercase hex digits');
  return { v: 1, gateway: text(o, 'gateway'), session: text(o, 'session'), secret: text(o, 'secret'), relay: relay as string };
}

const SIGNAL_STATUSES = [400, 401, 404, 503] as const;

export function decodeSignalReply(bytes: Uint8Array): SignalReply {
  const o = versioned(parseObject(bytes, MAX_FARM_MESSAGE_BYTES));
  if (o.ok === true) return { v: 1, ok: true };
  if (o.ok !== false) bad('ok', 'must be true or false');
  const status = o.status;
  if (!SIGNAL_STATUSES.includes(status as (typeof SIGNAL_STATUSES)[number])) bad('status', `must be one of ${SIGNAL_STATUSES.join(', ')}`);
  return { v: 1, ok: false, status: status as (typeof SIGNAL_STATUSES)[number], message: message(o) };
}

export function decodeSessionEnded(bytes: Uint8Array): SessionEnded {
  const o = versioned(parseObject(bytes, MAX_FARM_MESSAGE_BYTES));
  return { v: 1, instance: instanceName(o, 'instance'), session: text(o, 'session'), reason: message(o, 'reason') };
}

/** A relay message (no `v`: relays live only as long as one gateway and one instance agree). */
export function decodeRelayMessage(bytes: Uint8Array): RelayMessage {
  const o = parseObject(bytes, MAX_RELAY_MESSAGE_BYTES);
  switch (o.t) {
    case 'frame': {
      const data = o.data;
      if (typeof data !== 'string') bad('data', 'must be a string');
      const bytes = Buffer.byteLength(data as string);
      if (bytes > MAX_RELAY_FRAME_BYTES) throw new FarmMessageError('TOO_LARGE', `relay frame of ${bytes} bytes; at most ${MAX_RELAY_FRAME_BYTES} are accepted`);
      return { t: 'frame', data: data as string };
    }
    case 'close':
      return { t: 'close', code: integer(o, 'code', 1000, 4999), reason: message(o, 'reason').slice(0, 123) };
    case 'ping':
      return { t: 'ping' };
    default:
      return bad('t', 'must be "frame", "close" or "ping"');
  }
}

// ---- field checks ----------------------------------------------------------------------------

type JsonObject = Record<string, unknown>;

function parseObject(bytes: Uint8Array, maxBytes: number): JsonObject {
  if (bytes.length > maxBytes) throw new FarmMessageError('TOO_LARGE', `message of ${bytes.length} bytes; at most ${maxBytes} are accepted`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new FarmMessageError('NOT_JSON', `not UTF-8 JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!isObject(parsed)) throw new FarmMessageError('NOT_OBJECT', 'not a JSON object');
  return parsed;
}

function versioned(o: JsonObject): JsonObject {
  if (o.v !== FARM_MESSAGE_VERSION) throw new FarmMessageError('WRONG_VERSION', `"v" is ${JSON.stringify(o.v)}; this side speaks ${FARM_MESSAGE_VERSION}`);
  return o;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function bad(field: string, why: string): never {
  throw new FarmMessageError('BAD_FIELD', `"${field}" ${why}`);
}

function text(o: JsonObject, field: string): string {
  const value = o[field];
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_FIELD_CHARS) bad(field, `must be a string of 1–${MAX_FIELD_CHARS} characters`);
  return value as string;
}

function nullableText(o: JsonObject, field: string): string | null {
  return o[field] === null || o[field] === undefined ? null : text(o, field);
}

/** A human-readable reason: any string, cut to 1,000 characters. */
function message(o: JsonObject, field = 'message'): string {
  const value = o[field];
  if (typeof value !== 'string') bad(field, 'must be a string');
  return (value as string).slice(0, 1000);
}

function instanceName(o: JsonObject, field: string): string {
  const value = o[field];
  if (typeof value !== 'string' || !INSTANCE_NAME.test(value)) bad(field, 'must be 1–64 of A-Z a-z 0-9 _ -');
  return value as string;
}

function integer(o: JsonObject, field: string, min: number, max: number): number {
  const value = o[field];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) bad(field, `must be an integer from ${min} to ${max}`);
  return value as number;
}

function labels(value: unknown, field: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) bad(field, 'must be an object of strings');
  const entries = Object.entries(value);
  if (entries.length > MAX_LABELS) bad(field, `has ${entries.length} labels; at most ${MAX_LABELS}`);
  const out: Record<string, string> = {};
  for (const [key, v] of entries) {
    if (key.length === 0 || key.length > MAX_LABEL_CHARS || typeof v !== 'string' || v.length > MAX_LABEL_CHARS) {
      bad(field, `keys and values must be strings of at most ${MAX_LABEL_CHARS} characters`);
    }
    out[key] = v;
  }
  return out;
}

function stunServers(value: unknown): FarmStunServer[] {
  if (!Array.isArray(value) || value.length > 16) bad('stunServers', 'must be an array of at most 16 servers');
  return (value as unknown[]).map((entry) => {
    if (!isObject(entry) || !Array.isArray(entry.urls) || entry.urls.length > 8 || !entry.urls.every((u) => typeof u === 'string' && u.length <= 512)) {
      bad('stunServers', 'entries must be {urls: string[], username?, password?}');
    }
    const server: FarmStunServer = { urls: [...(entry.urls as string[])] };
    if (typeof entry.username === 'string') server.username = entry.username.slice(0, 512);
    if (typeof entry.password === 'string') server.password = entry.password.slice(0, 512);
    return server;
  });
}
