import { describe, it, expect } from 'vitest';
import {
  DUMP_TRANSACTION,
  FIRST_BUILTIN_TRANSACTION,
  FIRST_CALL_TRANSACTION,
  INTERFACE_TRANSACTION,
  LAST_CALL_TRANSACTION,
  PING_TRANSACTION,
  ParcelError,
  SHELL_COMMAND_TRANSACTION,
  Status,
  isBuiltinTransaction,
  parcelErrorStatus,
  type ParcelErrorCode,
} from '../../src/parcel/index.js';

describe('ParcelError', () => {
  it('is an Error with a code and an offset', () => {
    const error = new ParcelError('TRUNCATED', 12, 'int32 at offset 12 needs 4 bytes but only 0 remain');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ParcelError');
    expect(error.code).toBe('TRUNCATED');
    expect(error.offset).toBe(12);
    expect(error.message).toContain('offset 12');
  });

  it('maps every code to the libbinder status a server answers with', () => {
    const expected: Record<ParcelErrorCode, number> = {
      TRUNCATED: Status.NOT_ENOUGH_DATA,
      NEGATIVE_LENGTH: Status.BAD_VALUE,
      LENGTH_TOO_LARGE: Status.BAD_VALUE,
      MISSING_TERMINATOR: Status.BAD_VALUE,
      BAD_OBJECT: Status.BAD_TYPE,
      OBJECT_NOT_LISTED: Status.BAD_TYPE,
      BAD_INTERFACE_TOKEN: Status.BAD_TYPE,
      WRONG_INTERFACE: Status.PERMISSION_DENIED,
    };
    for (const [code, status] of Object.entries(expected) as [ParcelErrorCode, number][]) {
      expect(parcelErrorStatus(code), code).toBe(status);
    }
    expect(parcelErrorStatus('WRONG_INTERFACE')).toBe(-1);
    expect(parcelErrorStatus('TRUNCATED')).toBe(-61);
  });
});

describe('isBuiltinTransaction', () => {
  it('user calls carry a token', () => {
    expect(isBuiltinTransaction(FIRST_CALL_TRANSACTION)).toBe(false);
    expect(isBuiltinTransaction(LAST_CALL_TRANSACTION)).toBe(false);
    expect(isBuiltinTransaction(0x5effffff)).toBe(false);
  });

  it("codes from '_'<<24 up do not", () => {
    expect(FIRST_BUILTIN_TRANSACTION).toBe('_'.charCodeAt(0) * 2 ** 24);
    for (const code of [PING_TRANSACTION, INTERFACE_TRANSACTION, DUMP_TRANSACTION, SHELL_COMMAND_TRANSACTION]) {
      expect(isBuiltinTransaction(code)).toBe(true);
    }
    expect(isBuiltinTransaction(FIRST_BUILTIN_TRANSACTION)).toBe(true);
    expect(isBuiltinTransaction(0xffffffff)).toBe(true);
    expect(isBuiltinTransaction(-1)).toBe(true); // the same code seen as int32
  });
});
