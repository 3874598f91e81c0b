import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log/logger.js';
import { readAtMost } from '../io/read-at-most.js';
import { checkAuthorization } from './auth.js';
import type { AuthRateLimiter } from './gateway-limits.js';
import { errorResponse, reasonPhrase, syncResponse, type GatewaySessionMetadata } from './gateway-responses.js';
import { BadPathError, type StaticFiles } from './static-files.js';

/** Request bodies above this are refused with 413 (the SDK's bodies are a few hundred bytes). */
export const MAX_BODY_BYTES = 64 * 1024;

/** What the gateway routes need from the platform. */
export interface GatewayHost {
  readonly token: string;
  readonly log: Logger;
  /** Origins allowed by CORS (`--allow-origin`); undefined: every origin (`*`). */
  readonly allowOrigins: readonly string[] | undefined;
  /** Failed token checks, rate-limited per source address and overall. */
  readonly authLimiter: AuthRateLimiter;
  /** Told about each failed token check; the host logs them as a periodic summary. */
  onAuthFailure(remote: string, reason: string, path: string): void;
  readonly staticFiles: StaticFiles;
  /**
   * A new session; `origin` is "host:port" as the client reached the server. May wait (the farm
   * gateway asks an instance); a GatewayHttpError becomes the error response.
   */
  createSession(origin: string, request: Record<string, unknown>): GatewaySessionMetadata | Promise<GatewaySessionMetadata>;
  /** A new signaling URL for an existing session, or undefined when the id is unknown. May wait, as createSession. */
  joinSession(id: string, origin: string, request: Record<string, unknown>): GatewaySessionMetadata | undefined | Promise<GatewaySessionMetadata | undefined>;
  /** "host:port" to put in URLs when the request's Host header is missing or unusable. */
  fallbackOrigin(): string;
  /** More token-protected GET endpoints under /1.0/ (the farm's /1.0/instances); answered as `{"type":"sync",…,"metadata":…}`. */
  readonly extraRoutes?: readonly GatewayGetRoute[];
}

/** A token-protected `GET` endpoint whose answer is the sync response's metadata. */
export interface GatewayGetRoute {
  readonly path: RegExp;
  respond(): unknown;
  /** Fields beside `metadata` at the top of the answer (the farm gateway's `nats` state). */
  fields?(): Record<string, string>;
}

/**
 * An error the client should see as a JSON error response: the gateway's own (401, 405, 413, …) and
 * what a host's createSession/joinSession throws (503 "no free instance", 404 "no instance named
 * …"), with Retry-After when it may retry. Expected answers: not logged here.
 */
export class GatewayHttpError extends Error {
  override readonly name = 'GatewayHttpError';
  readonly retryAfterSeconds: number | undefined;
  /** Response headers: `extraHeaders` and Retry-After. */
  readonly headers: Record<string, string>;
  constructor(
    readonly status: number,
    message: string,
    options: { retryAfterSeconds?: number; extraHeaders?: Record<string, string> } = {},
  ) {
    super(message);
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.headers = { ...options.extraHeaders, ...(options.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(options.retryAfterSeconds) }) };
  }
}

const CORS_ALLOW_METHODS = 'GET, HEAD, POST, OPTIONS';
const CORS_ALLOW_HEADERS = 'Authorization, Content-Type, Accept';
const CORS_EXPOSE_HEADERS = 'Retry-After';
const SESSIONS = /^\/1\.0\/sessions\/?$/;
const JOIN = /^\/1\.0\/sessions\/([^/]+)\/join\/?$/;
const SIGNALING = /^\/1\.0\/sessions\/([^/]+)\/signaling\/?$/;

/**
 * The Stream Gateway subset the SDK's AnboxStreamGatewayConnector uses, and the page's files:
 *
 * - `OPTIONS *` → 204 with the CORS headers a browser's preflight needs;
 * - `POST /1.0/sessions/` → 201 `{"type":"sync","status":"success","status_code":201,"metadata":{id,url,stun_servers}}`;
 * - `POST /1.0/sessions/<id>/join` → 200, same shape;
 * - `GET|HEAD /…` → the files of the web directory (index.html at `/`);
 * - everything else → a JSON error `{"type":"error","status":…,"status_code":…,"error":…}`.
 *
 * Every response carries `Access-Control-Allow-Origin: *`, or, with `--allow-origin`, the request's
 * Origin when it is one of those (and no CORS header otherwise, so a browser keeps other pages out),
 * with `Access-Control-Expose-Headers: Retry-After` so that a page can read it.
 * Failed token checks are rate-limited (429 with Retry-After, see gateway-limits.ts).
 */
export function createGatewayHandler(host: GatewayHost): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(host, req, res).catch((error: unknown) => {
      if (error instanceof GatewayHttpError) {
        // An expected answer (a bad request, no capacity, nothing matches): the host logs its own.
        sendJson(res, error.status, errorResponse(error.status, error.message), error.headers);
        return;
      }
      host.log.error({ event: 'gateway.failed', method: req.method, path: pathOf(req), err: error }, 'gateway request failed');
      sendJson(res, 500, errorResponse(500, 'internal error'));
    });
  };
}

async function handle(host: GatewayHost, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const allowedOrigin = corsOrigin(host, req);
  if (allowedOrigin !== undefined) {
    res.setHeader('Access-Control-Allow-Origin', allowedOrigin);
    // Retry-After is no CORS-safelisted header: without this a page (the SDK) cannot read when
    // to retry a 503 "no free instance" or a 429.
    res.setHeader('Access-Control-Expose-Headers', CORS_EXPOSE_HEADERS);
  }
  if (host.allowOrigins !== undefined) res.setHeader('Vary', 'Origin');
  const method = req.method ?? 'GET';
  const path = pathOf(req);
  if (method === 'OPTIONS') {
    res.setHeader('Access-Control-Allow-Methods', CORS_ALLOW_METHODS);
    res.setHeader('Access-Control-Allow-Headers', CORS_ALLOW_HEADERS);
    res.setHeader('Access-Control-Max-Age', '600');
    // Chromium's Private Network Access: a public page may call this local server.
    if (req.headers['access-control-request-private-network'] === 'true' && allowedOrigin !== undefined) res.setHeader('Access-Control-Allow-Private-Network', 'true');
    res.setHeader('Content-Length', '0');
    res.writeHead(204).end();
    drain(req);
    return;
  }
  if (SESSIONS.test(path)) {
    requireMethod(method, 'POST');
    authorize(host, req);
    const body = await readJsonBody(req);
    const metadata = await host.createSession(originOf(host, req), body);
    sendJson(res, 201, syncResponse(201, metadata));
    return;
  }
  const join = JOIN.exec(path);
  if (join) {
    requireMethod(method, 'POST');
    authorize(host, req);
    const body = await readJsonBody(req);
    const id = safeDecode(join[1]!);
    const metadata = id === undefined ? undefined : await host.joinSession(id, originOf(host, req), body);
    if (!metadata) throw new GatewayHttpError(404, `session ${JSON.stringify(id ?? join[1])} not found`);
    sendJson(res, 200, syncResponse(200, metadata));
    return;
  }
  const route = host.extraRoutes?.find((r) => r.path.test(path));
  if (route) {
    if (method !== 'GET' && method !== 'HEAD') {
      drain(req);
      throw new GatewayHttpError(405, 'use GET', { extraHeaders: { Allow: 'GET, HEAD, OPTIONS' } });
    }
    authorize(host, req);
    drain(req);
    sendJson(res, 200, { type: 'sync', status: 'success', status_code: 200, ...route.fields?.(), metadata: route.respond() });
    return;
  }
  if (SIGNALING.test(path)) throw new GatewayHttpError(426, 'this is the signaling WebSocket: connect with a WebSocket client', { extraHeaders: { Upgrade: 'websocket' } });
  if (path.startsWith('/1.0/') || path === '/1.0') throw new GatewayHttpError(404, `no such endpoint: ${method} ${path}`);
  if (method !== 'GET' && method !== 'HEAD') {
    drain(req);
    throw new GatewayHttpError(405, `${method} is not allowed here`, { extraHeaders: { Allow: 'GET, HEAD, OPTIONS' } });
  }
  let file;
  try {
    file = await host.staticFiles.lookup(path);
  } catch (error) {
    if (error instanceof BadPathError) throw new GatewayHttpError(400, error.message);
    throw error;
  }
  if (!file) throw new GatewayHttpError(404, `not found: ${path}`);
  res.writeHead(200, {
    'Content-Type': file.contentType,
    'Content-Length': String(file.body.length),
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(method === 'HEAD' ? undefined : file.body);
}

function requireMethod(method: string, allowed: 'POST'): void {
  if (method !== allowed) throw new GatewayHttpError(405, `use ${allowed}`, { extraHeaders: { Allow: `${allowed}, OPTIONS` } });
}

function authorize(host: GatewayHost, req: IncomingMessage): void {
  const remote = req.socket.remoteAddress ?? 'unknown';
  // Before the token is looked at: while the limit holds, guesses are not even compared.
  const admission = host.authLimiter.admit(remote);
  if (!admission.allowed) {
    drain(req);
    const who = admission.scope === 'address' ? `from ${remote}` : 'from all addresses';
    throw new GatewayHttpError(429, `too many failed token checks ${who}; retry after ${admission.retryAfterSeconds} s`, { retryAfterSeconds: admission.retryAfterSeconds });
  }
  const result = checkAuthorization(req.headers.authorization, host.token);
  if (!result.ok) {
    drain(req);
    host.authLimiter.fail(remote);
    host.onAuthFailure(remote, result.reason, pathOf(req));
    throw new GatewayHttpError(401, result.reason, { extraHeaders: { 'WWW-Authenticate': 'Macaroon' } });
  }
}

/** The Access-Control-Allow-Origin value for this request, or undefined for none. */
function corsOrigin(host: GatewayHost, req: IncomingMessage): string | undefined {
  if (host.allowOrigins === undefined) return '*';
  const origin = req.headers.origin;
  return origin !== undefined && host.allowOrigins.includes(origin) ? origin : undefined;
}

/** Reads and parses the body: empty → {}; otherwise a JSON object, at most MAX_BODY_BYTES. */
async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
    throw new GatewayHttpError(413, `request body is ${declared} bytes; at most ${MAX_BODY_BYTES} are accepted`, { extraHeaders: { Connection: 'close' } });
  }
  const bytes = await readAtMost(req, MAX_BODY_BYTES);
  if (bytes === undefined) throw new GatewayHttpError(413, `request body exceeds ${MAX_BODY_BYTES} bytes`, { extraHeaders: { Connection: 'close' } });
  const text = bytes.toString('utf8').trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new GatewayHttpError(400, `malformed JSON body: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new GatewayHttpError(400, 'the request body must be a JSON object');
  return parsed as Record<string, unknown>;
}

function sendJson(res: ServerResponse, statusCode: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(statusCode, reasonPhrase(statusCode), {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(text);
}

/** The path of the request URL, without query or fragment. */
function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const end = url.search(/[?#]/);
  return end < 0 ? url : url.slice(0, end);
}

const HOST_HEADER = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** host:port as the client reached us (the Host header), so the signaling URL works from where it called. */
function originOf(host: GatewayHost, req: IncomingMessage): string {
  const header = req.headers.host;
  return header !== undefined && HOST_HEADER.test(header) ? header : host.fallbackOrigin();
}

function safeDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/** Discards a request body we will not read, so the connection can be reused. */
function drain(req: IncomingMessage): void {
  if (!req.readableEnded) req.resume();
}
