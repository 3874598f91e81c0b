import { statusName } from '../parcel/status.js';

/** A non-OK reply, or a failure to reach the daemon; carries the status and the daemon's message. */
export class DataProxyError extends Error {
  override readonly name = 'DataProxyError';
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }

  get statusName(): string {
    return statusName(this.status);
  }
}
