/**
 * Quoting for the device's /system/bin/sh (mksh; POSIX rules for single quotes).
 *
 * Why: `adb shell` (Android 6.0+) joins the words after `shell` with single spaces and the device runs
 * the result with `sh -c`, so every argument is parsed again on the device — even when the adb client
 * itself is run without a local shell. An argument with a space would split, an empty one would vanish
 * and shift the options after it, and `$`, `;`, quotes, `\`, globs would be interpreted.
 *
 * Rule: wrap in single quotes, inside which nothing is special, and write each `'` as `'\''` (close the
 * quote, an escaped quote, reopen). The empty argument becomes `''`.
 */
export function quoteForDeviceShell(argument: string): string {
  if (argument.includes('\0')) throw new Error('a shell argument cannot contain a NUL character');
  return `'${argument.replaceAll("'", "'\\''")}'`;
}

/** Quotes every word and joins them with spaces: what the device's shell will split back into `words`. */
export function deviceShellCommand(words: readonly string[]): string {
  return words.map(quoteForDeviceShell).join(' ');
}
