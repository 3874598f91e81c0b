// Shared test helpers for the parcel codec.

import { expect } from 'vitest';
import { ParcelError, type ParcelErrorCode } from '../../src/parcel/index.js';
import type { ParcelReader } from '../../src/parcel/index.js';

export const DESCRIPTOR = 'org.anbox.webrtc.IDataProxyService@1.0';

/** Golden vectors from /work/shared/reference/binder-parcel.md, verbatim. */
export const GOLDEN = {
  api28:
    '00004000260000006f00720067002e0061006e0062006f0078002e007700650062007200740063002e0049004400610074006100500072006f00780079005300650072007600690063006500400031002e003000000000000300000066006f006f000000',
  api29:
    '00000080ffffffff260000006f00720067002e0061006e0062006f0078002e007700650062007200740063002e0049004400610074006100500072006f00780079005300650072007600690063006500400031002e003000000000000300000066006f006f000000',
  api30:
    '00000080ffffffff54535953260000006f00720067002e0061006e0062006f0078002e007700650062007200740063002e0049004400610074006100500072006f00780079005300650072007600690063006500400031002e003000000000000300000066006f006f000000',
  fdReply: '852a64667f01000005000000000000000000000000000000',
} as const;

export function fromHex(hex: string): Buffer {
  return Buffer.from(hex, 'hex');
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Runs `read`, requires a ParcelError with `code`, and requires the cursor not to have moved. */
export function expectParcelError(reader: ParcelReader, read: () => unknown, code?: ParcelErrorCode): ParcelError {
  const before = reader.position;
  let caught: unknown;
  try {
    read();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ParcelError);
  const error = caught as ParcelError;
  if (code !== undefined) expect(error.code).toBe(code);
  expect(reader.position).toBe(before);
  return error;
}
