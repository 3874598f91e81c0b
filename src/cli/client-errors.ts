import { DataProxyError } from '../client/data-proxy-client.js';

/** "NAME_NOT_FOUND (CHANNEL_NOT_FOUND): no data channel ..." for a DataProxyError, else the message. */
export function describeClientError(error: unknown): string {
  if (error instanceof DataProxyError) return `${error.statusName} (${error.errorCode || 'no code'}): ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
