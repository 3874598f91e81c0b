// Which transaction codes carry an interface token.

/**
 * B_PACK_CHARS('_', 0, 0, 0). Codes from here up ('_PNG', '_NTF', '_DMP', '_CMD', ...)
 * are built-in binder transactions: their data starts with the arguments, not with an
 * interface token. (libgbinder tests `code > '_'<<24`; the one code in between is
 * neither a call nor a known built-in, and is treated as built-in here.)
 */
export const FIRST_BUILTIN_TRANSACTION = 0x5f000000;

/** Codes are u32 on the wire; a negative int32 view of a code is normalised first. */
export function isBuiltinTransaction(code: number): boolean {
  return code >>> 0 >= FIRST_BUILTIN_TRANSACTION;
}
