// libbinder status_t values (system/core/libutils/include/utils/Errors.h). The wire carries them as-is.

export const Status = {
  OK: 0,
  UNKNOWN_ERROR: -2147483648, // INT32_MIN
  NO_MEMORY: -12, // -ENOMEM
  INVALID_OPERATION: -38, // -ENOSYS
  BAD_VALUE: -22, // -EINVAL
  BAD_TYPE: -2147483647, // UNKNOWN_ERROR + 1
  NAME_NOT_FOUND: -2, // -ENOENT
  PERMISSION_DENIED: -1, // -EPERM
  NO_INIT: -19, // -ENODEV
  ALREADY_EXISTS: -17, // -EEXIST
  DEAD_OBJECT: -32, // -EPIPE
  FAILED_TRANSACTION: -2147483646, // UNKNOWN_ERROR + 2
  BAD_INDEX: -75, // -EOVERFLOW
  NOT_ENOUGH_DATA: -61, // -ENODATA
  WOULD_BLOCK: -11, // -EWOULDBLOCK
  TIMED_OUT: -110, // -ETIMEDOUT
  UNKNOWN_TRANSACTION: -74, // -EBADMSG
  FDS_NOT_ALLOWED: -2147483641, // UNKNOWN_ERROR + 7
  UNEXPECTED_NULL: -2147483640, // UNKNOWN_ERROR + 8
} as const;

export type StatusName = keyof typeof Status;
export type StatusValue = (typeof Status)[StatusName];

const NAMES = new Map<number, StatusName>(
  (Object.entries(Status) as [StatusName, number][]).map(([name, value]) => [value, name]),
);

/** "NAME_NOT_FOUND" for -2; "status -5" for values libbinder has no name for. */
export function statusName(status: number): string {
  return NAMES.get(status) ?? `status ${status}`;
}
