/**
 * The one Stream Gateway call the SDK's AnboxStreamGatewayConnector makes to start a session:
 * `POST {gateway}/1.0/sessions/` with `Authorization: Macaroon root=<token>`, expecting 201 and
 * `{type:'sync', status:'success', metadata:{id, url, stun_servers}}`.
 */
import { readAtMost } from '../io/read-at-most.js';

export interface GatewaySession {
  id: string;
  /** The signaling WebSocket URL, used unchanged. */
  url: string;
  stunServers: StunServer[];
}

export interface StunServer {
  urls: string[];
  username?: string;
  password?: string;
}

export type GatewayErrorKind = 'UNREACHABLE' | 'UNAUTHORIZED' | 'HTTP_STATUS' | 'BAD_RESPONSE' | 'SESSION_FAILED' | 'TIMEOUT';

/** A gateway answer is a few hundred bytes; a body above this is refused unread (a hostile or broken gateway). */
export const MAX_GATEWAY_RESPONSE_BYTES = 1024 * 1024;
/** The whole session request, body included, must be over within this unless told otherwise. */
export const DEFAULT_GATEWAY_TIMEOUT_MS = 30_000;

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  constructor(
    readonly kind: GatewayErrorKind,
    message: string,
    /** The HTTP status, when the gateway answered. */
    readonly status?: number,
    /** The server's own `error` text, when it gave one. */
    readonly serverMessage?: string,
    /** Its Retry-After header (seconds, or an HTTP date), when it asked to be retried. */
    readonly retryAfter?: string,
  ) {
    super(message);
  }
}

/**
 * Where the session should go, for a farm gateway (docs/farm.md "Placement"): fields of the
 * POST /1.0/sessions/ body beside the SDK's own. A single `serve` ignores them.
 */
export interface SessionPlacement {
  instance?: string;
  device?: string;
  labels?: Record<string, string>;
}

export interface CreateSessionOptions {
  gateway: string;
  token: string;
  placement?: SessionPlacement;
  /** `session.app` in the SDK; the emulator accepts any. */
  app?: string;
  signal?: AbortSignal;
  /** The request and its response body must complete within this; default DEFAULT_GATEWAY_TIMEOUT_MS. */
  timeoutMs?: number;
}

/** The gateway's base URL without a trailing slash; throws GatewayError for a non-http(s) URL. */
export function normalizeGatewayUrl(gateway: string): string {
  let url: URL;
  try {
    url = new URL(gateway);
  } catch {
    throw new GatewayError('UNREACHABLE', `gateway URL ${JSON.stringify(gateway)} is not a URL (expected e.g. http://127.0.0.1:8777)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new GatewayError('UNREACHABLE', `gateway URL ${gateway} must use http or https`);
  }
  return gateway.replace(/\/+$/, '');
}

export async function createGatewaySession(options: CreateSessionOptions): Promise<GatewaySession> {
  const base = normalizeGatewayUrl(options.gateway);
  const body = {
    app: options.app ?? 'anbox-oob-client',
    region: '',
    joinable: false,
    screen: { width: 1280, height: 720, fps: 60, density: 240 },
    extra_data: null,
    ...placementFields(options.placement),
  };
  const timeoutMs = options.timeoutMs ?? DEFAULT_GATEWAY_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const timedOut = () => new GatewayError('TIMEOUT', `the gateway at ${base} did not answer within ${timeoutMs} ms`);
  let response: Response;
  try {
    response = await fetch(`${base}/1.0/sessions/`, {
      method: 'POST',
      headers: {
        Accept: 'application/json, text/plain, */*',
        Authorization: `Macaroon root=${options.token}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (timeout.aborted) throw timedOut();
    const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
    const detail = typeof cause?.code === 'string' ? cause.code : error instanceof Error ? error.message : String(error);
    throw new GatewayError('UNREACHABLE', `cannot reach the gateway at ${base}: ${detail}`);
  }
  let text: string;
  try {
    text = await readBoundedText(response, MAX_GATEWAY_RESPONSE_BYTES);
  } catch (error) {
    if (timeout.aborted) throw timedOut();
    if (error instanceof GatewayError) throw error;
    text = '';
  }
  let json: unknown;
  try {
    json = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  const record = typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : undefined;
  const serverError = typeof record?.error === 'string' && record.error.length > 0 ? record.error : undefined;
  if (response.status === 401 || response.status === 403) {
    throw new GatewayError('UNAUTHORIZED', `the gateway refused the token (${response.status}${serverError ? `: ${serverError}` : ''})`, response.status);
  }
  if (response.status !== 201) {
    const retryAfter = boundedHeader(response.headers.get('retry-after'));
    throw new GatewayError(
      'HTTP_STATUS',
      `the gateway answered ${response.status} ${response.statusText} instead of 201${serverError ? `: ${serverError}` : ''}${retryAfter === undefined ? '' : ` (Retry-After: ${retryAfter}${/^\d+$/.test(retryAfter) ? ' s' : ''})`}`,
      response.status,
      serverError,
      retryAfter,
    );
  }
  if (!record) throw new GatewayError('BAD_RESPONSE', 'the gateway answered 201 without a JSON body', 201);
  if (record.status !== 'success') {
    throw new GatewayError('SESSION_FAILED', `the gateway failed to create a session: ${serverError ?? `status ${JSON.stringify(record.status)}`}`, 201);
  }
  const metadata = record.metadata;
  if (typeof metadata !== 'object' || metadata === null) throw new GatewayError('BAD_RESPONSE', 'the gateway response has no metadata', 201);
  const { id, url, stun_servers: stun } = metadata as Record<string, unknown>;
  if (typeof url !== 'string' || url.length === 0) throw new GatewayError('BAD_RESPONSE', 'the gateway response has no signaling url', 201);
  if (stun !== undefined && !Array.isArray(stun)) throw new GatewayError('BAD_RESPONSE', 'metadata.stun_servers is not an array', 201);
  const stunServers: StunServer[] = [];
  for (const entry of stun ?? []) {
    if (typeof entry !== 'object' || entry === null) continue;
    const e = entry as Record<string, unknown>;
    const urls = Array.isArray(e.urls) ? e.urls.filter((u): u is string => typeof u === 'string') : typeof e.urls === 'string' ? [e.urls] : [];
    stunServers.push({
      urls,
      username: typeof e.username === 'string' ? e.username : undefined,
      password: typeof e.password === 'string' ? e.password : undefined,
    });
  }
  return { id: typeof id === 'string' ? id : String(id ?? ''), url, stunServers };
}

function placementFields(placement: SessionPlacement | undefined): Record<string, unknown> {
  if (placement === undefined) return {};
  const fields: Record<string, unknown> = {};
  if (placement.instance !== undefined) fields.instance = placement.instance;
  if (placement.device !== undefined) fields.device = placement.device;
  if (placement.labels !== undefined && Object.keys(placement.labels).length > 0) fields.labels = { ...placement.labels };
  return fields;
}

/** A header value fit for a one-line message: printable, at most 64 characters, else left out. */
function boundedHeader(value: string | null): string | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  return text.length > 0 && text.length <= 64 && /^[\x20-\x7e]+$/.test(text) ? text : undefined;
}

/**
 * The body as text, at most `limit` bytes: a declared Content-Length above it is refused before
 * reading, and a body that grows past it is cancelled (the connection closed) at once.
 */
async function readBoundedText(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  const tooBig = () => new GatewayError('BAD_RESPONSE', `the gateway's answer exceeds ${limit} bytes (a gateway answers a few hundred); refused`, response.status);
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw tooBig();
  }
  if (!response.body) return '';
  const bytes = await readAtMost(response.body, limit);
  if (bytes === undefined) throw tooBig();
  return bytes.toString('utf8');
}

/**
 * STUN/TURN server entries as libdatachannel's RtcConfig.iceServers strings
 * ("stun:host:port", "turn:user:pass@host:port"). Unparseable entries are skipped.
 */
export function toLibdatachannelIceServers(servers: StunServer[]): string[] {
  const result: string[] = [];
  for (const server of servers) {
    for (const url of server.urls) {
      const match = /^(stuns?|turns?):([^?]+)(\?.*)?$/.exec(url);
      if (!match) continue;
      const [, scheme, hostPort, query] = match;
      const credentials = server.username !== undefined ? `${encodeURIComponent(server.username)}:${encodeURIComponent(server.password ?? '')}@` : '';
      result.push(`${scheme}:${scheme!.startsWith('turn') ? credentials : ''}${hostPort}${query ?? ''}`);
    }
  }
  return result;
}
