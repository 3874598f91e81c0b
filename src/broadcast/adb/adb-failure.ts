/**
 * What went wrong with one `adb … shell am broadcast` run, as a kind (stable, for logs and tests) and a
 * detail that says what to do about it (for people: logs and `anbox-oob status`).
 */

export type AdbFailureKind =
  | 'adb-missing'
  | 'adb-not-executable'
  | 'no-device'
  | 'device-not-found'
  | 'more-than-one-device'
  | 'unauthorized'
  | 'offline'
  | 'server-unreachable'
  | 'timeout'
  | 'am-error'
  | 'adb-error';

export interface AdbFailure {
  kind: AdbFailureKind;
  detail: string;
}

/** How one adb run ended, as child_process reports it. */
export interface AdbRun {
  /** Error code of a spawn failure ('ENOENT', 'EACCES'), or undefined. */
  spawnErrorCode?: string;
  exitCode: number | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

export interface AdbFailureContext {
  adbPath: string;
  /** The serial adb was asked for, if any (--adb-serial or ANDROID_SERIAL). */
  serial?: string;
  timeoutMs: number;
}

/** The last meaningful line of adb's stderr (it may print "* daemon not running" lines first). */
function lastLine(text: string): string {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  return lines.at(-1) ?? '';
}

/** Classifies a failed adb run (not am's output: see parseAmBroadcastOutput). */
export function classifyAdbFailure(run: AdbRun, context: AdbFailureContext): AdbFailure {
  if (run.spawnErrorCode === 'ENOENT') {
    return { kind: 'adb-missing', detail: `adb not found (${context.adbPath}): install Android platform-tools or pass --adb-path` };
  }
  if (run.spawnErrorCode === 'EACCES' || run.spawnErrorCode === 'EISDIR' || run.spawnErrorCode === 'ENOEXEC') {
    return { kind: 'adb-not-executable', detail: `${context.adbPath} is not an executable adb (${run.spawnErrorCode}): fix --adb-path` };
  }
  if (run.spawnErrorCode !== undefined) {
    return { kind: 'adb-error', detail: `cannot run ${context.adbPath}: ${run.spawnErrorCode}` };
  }
  if (run.timedOut) {
    return { kind: 'timeout', detail: `adb did not finish within ${context.timeoutMs} ms: is the device responsive? (adb devices)` };
  }
  const text = `${run.stderr}\n${run.stdout}`;
  const device = context.serial !== undefined ? `'${context.serial}'` : '';
  if (/no devices\/emulators found/.test(text)) {
    return { kind: 'no-device', detail: 'no device: start an emulator or connect a device and check `adb devices`' };
  }
  const notFound = /device '([^']*)' not found/.exec(text);
  if (notFound) {
    return { kind: 'device-not-found', detail: `no device '${notFound[1]}': is it connected? (adb devices; --adb-serial or ANDROID_SERIAL)` };
  }
  if (/more than one device\/emulator/.test(text)) {
    return { kind: 'more-than-one-device', detail: 'more than one device: choose one with --adb-serial or ANDROID_SERIAL (adb devices)' };
  }
  if (/unauthorized/.test(text)) {
    return {
      kind: 'unauthorized',
      detail: `device ${device ? `${device} ` : ''}unauthorized: accept the "Allow USB debugging?" RSA key prompt on the device`,
    };
  }
  if (/device offline|\boffline\b/.test(text)) {
    return { kind: 'offline', detail: `device ${device ? `${device} ` : ''}offline: reconnect it, or restart adb (adb kill-server; adb devices)` };
  }
  if (/cannot connect to daemon|cannot start server|failed to check server version|Connection refused|failed to start daemon/.test(text)) {
    return { kind: 'server-unreachable', detail: `adb server not reachable: run \`adb start-server\` (${lastLine(run.stderr)})` };
  }
  const last = lastLine(run.stderr) || lastLine(run.stdout);
  return { kind: 'adb-error', detail: `adb exited with code ${run.exitCode ?? 'none'}${last ? `: ${last}` : ''}` };
}
