/**
 * The JSON bodies of the Stream Gateway subset the Anbox Streaming SDK's
 * AnboxStreamGatewayConnector uses. The SDK checks the HTTP status (201 for a new session, 200 for a
 * join), then `status === "success"`, then reads `metadata.id`, `metadata.url` and
 * `metadata.stun_servers` (which must be an array); on failure it shows `error`.
 */

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

const REASON_PHRASES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  426: 'Upgrade Required',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function reasonPhrase(statusCode: number): string {
  return REASON_PHRASES[statusCode] ?? 'Error';
}

export function syncResponse(statusCode: 200 | 201, metadata: GatewaySessionMetadata): GatewaySyncResponse {
  return { type: 'sync', status: 'success', status_code: statusCode, metadata };
}

export function errorResponse(statusCode: number, error: string): GatewayErrorResponse {
  return { type: 'error', status: reasonPhrase(statusCode), status_code: statusCode, error };
}
