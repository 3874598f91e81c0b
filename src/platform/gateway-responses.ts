/**
 * The JSON bodies of the Stream Gateway subset the Anbox Streaming SDK's
 * AnboxStreamGatewayConnector uses. The SDK checks the HTTP status (201 for a new session, 200 for a
 * join), then `status === "success"`, then reads `metadata.id`, `metadata.url` and
 * `metadata.stun_servers` (which must be an array); on failure it shows `error`.
 */
import { STATUS_CODES } from 'node:http';

/** One ICE server as the SDK reads it: `{urls, username, password}` (it maps password to credential). */
export interface GatewayStunServer {
  urls: string[];
  username?: string;
  password?: string;
}

export interface GatewaySessionMetadata {
  /** The session id, used by POST /1.0/sessions/<id>/join. */
  id: string;
  /** The signaling WebSocket URL, used unchanged by the SDK. */
  url: string;
  stun_servers: GatewayStunServer[];
}

export interface GatewaySyncResponse {
  type: 'sync';
  status: 'success';
  status_code: number;
  metadata: GatewaySessionMetadata;
}

export interface GatewayErrorResponse {
  type: 'error';
  /** The HTTP reason phrase: "Unauthorized", "Not Found", … */
  status: string;
  status_code: number;
  error: string;
}

/**
 * The standard reason phrase for a status, from Node's table (RFC 9110 names: 200 OK, 201 Created,
 * 204 No Content, 413 Payload Too Large, …). Proxies and HTTP stacks log the status line, so a
 * success must never read "201 Error"; a code Node does not know gets the generic phrase of its class.
 */
export function reasonPhrase(statusCode: number): string {
  return STATUS_CODES[statusCode] ?? CLASS_PHRASES[Math.floor(statusCode / 100)] ?? 'Unknown';
}

const CLASS_PHRASES: Readonly<Record<number, string>> = { 1: 'Informational', 2: 'Success', 3: 'Redirection', 4: 'Client Error', 5: 'Server Error' };

export function syncResponse(statusCode: 200 | 201, metadata: GatewaySessionMetadata): GatewaySyncResponse {
  return { type: 'sync', status: 'success', status_code: statusCode, metadata };
}

export function errorResponse(statusCode: number, error: string): GatewayErrorResponse {
  return { type: 'error', status: reasonPhrase(statusCode), status_code: statusCode, error };
}
