// Binder constants, named as in AOSP IBinder.h / android.os.IBinder.

/** B_PACK_CHARS('_','P','N','G') and friends: built-in transactions carry no interface token. */
export const FIRST_CALL_TRANSACTION = 0x00000001;
export const LAST_CALL_TRANSACTION = 0x00ffffff;
export const PING_TRANSACTION = 0x5f504e47; // '_PNG'
export const DUMP_TRANSACTION = 0x5f444d50; // '_DMP'
export const SHELL_COMMAND_TRANSACTION = 0x5f434d44; // '_CMD'
export const INTERFACE_TRANSACTION = 0x5f4e5446; // '_NTF'

/** Transaction flags (binder_driver_command_protocol / IBinder.FLAG_*). */
export const FLAG_ONEWAY = 0x01;

/** linux/android/binder.h: B_PACK_CHARS('f', 'd', '*', 0x85). */
export const BINDER_TYPE_FD = 0x66642a85;
/** Flags libgbinder (and libbinder up to Android 13) put on an fd object: FLAT_BINDER_FLAG_ACCEPTS_FDS | priority 0x7f. */
export const FD_OBJECT_FLAGS_LIBGBINDER = 0x17f;
/** Size of a flat fd object on the 64-bit binder ABI. */
export const FD_OBJECT_SIZE = 24;

/** Names for the built-in codes, used by `anbox-oob call` and in logs. */
export const BUILTIN_TRANSACTION_NAMES: ReadonlyMap<string, number> = new Map([
  ['_PNG', PING_TRANSACTION],
  ['_DMP', DUMP_TRANSACTION],
  ['_CMD', SHELL_COMMAND_TRANSACTION],
  ['_NTF', INTERFACE_TRANSACTION],
]);
