// Shared test helpers for the parcel codec.

import { expect } from 'vitest';
import { ParcelError, type ParcelErrorCode } from '../../src/parcel/index.js';
import type { ParcelReader } from '../../src/parcel/index.js';

export const DESCRIPTOR = 'org.anbox.webrtc.IDataProxyService@1.0';

export { GOLDEN } from '../helpers/golden.js';

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
