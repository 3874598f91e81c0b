import { DataProxyError } from '../client/data-proxy-client.js';
import { Status } from '../parcel/status.js';

/** "NAME_NOT_FOUND (CHANNEL_NOT_FOUND): no data channel ..." for a DataProxyError, else the message; with a hint for the CLI user when there is one. */
export function describeClientError(error: unknown): string {
  if (error instanceof DataProxyError) {
    const text = `${error.statusName} (${error.errorCode || 'no code'}): ${error.message}`;
    return `${text}${hintFor(error, text)}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** What the user can do about a refusal the daemon's own message may not spell out from this side. */
function hintFor(error: DataProxyError, text: string): string {
  if (error.status === Status.PERMISSION_DENIED && error.errorCode !== 'CHANNEL_ACCESS_DENIED' && !text.includes('--allow-uid')) {
    const uid = process.getuid?.();
    const socketNote = error.errorCode === 'SERVICE_UNAVAILABLE' ? ' (its socket is mode 0660, so you must also be able to open it: its owner, or its group)' : '';
    return `\nhint: the daemon serves its own uid and root only; whoever runs it can let you in with \`--allow-uid ${uid ?? '<your uid>'}\`${socketNote}`;
  }
  return '';
}
