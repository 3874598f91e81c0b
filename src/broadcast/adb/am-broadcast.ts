import { CHANNEL_STATUS_ACTION, EXTRA_DATA_CHANNEL_NAMES, EXTRA_EVENT, type ChannelBroadcast, type ChannelEvent } from '../types.js';
import { quoteForDeviceShell } from './shell-quote.js';

/** Who gets the broadcast on the device (am broadcast switches). */
export interface AmBroadcastTarget {
  /** `-p PKG`: only this package's receivers (lets Android 8+ manifest receivers get it). */
  package?: string;
  /** `-n PKG/CLS`: exactly this receiver component. Not together with `package`. */
  component?: string;
  /** `--receiver-include-background`: FLAG_RECEIVER_INCLUDE_BACKGROUND (Android 8+ manifest receivers). */
  includeBackground?: boolean;
  /** `--user <id|current|all>`. */
  user?: string;
  /** Default com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS. */
  action?: string;
}

const USER_PATTERN = /^(?:all|current|cur|\d+)$/;

/** Throws an Error saying what is wrong with the target options (for the CLI to report at start-up). */
export function validateAmBroadcastTarget(target: AmBroadcastTarget): void {
  if (target.package !== undefined && target.component !== undefined) {
    throw new Error('give either a broadcast package (-p) or a broadcast component (-n), not both');
  }
  if (target.package !== undefined && !/^[A-Za-z0-9_.]+$/.test(target.package)) {
    throw new Error(`broadcast package ${JSON.stringify(target.package)} is not a package name (letters, digits, "_" and ".")`);
  }
  if (target.component !== undefined && !/^[A-Za-z0-9_.]+\/[A-Za-z0-9_.$]+$/.test(target.component)) {
    throw new Error(`broadcast component ${JSON.stringify(target.component)} is not PKG/CLS (e.g. com.example.app/.ChannelReceiver)`);
  }
  if (target.user !== undefined && !USER_PATTERN.test(target.user)) {
    throw new Error(`user ${JSON.stringify(target.user)} is not a user id, "current" or "all"`);
  }
  if (target.action !== undefined && target.action.length === 0) throw new Error('the broadcast action is empty');
}

/**
 * The words `am` runs on the device, unquoted:
 * am broadcast -a ACTION --es event EVENT --esa data-channel-names a,b [-p PKG | -n PKG/CLS]
 *   [--receiver-include-background] [--user U]
 */
export function amBroadcastWords(event: ChannelEvent, names: readonly string[], target: AmBroadcastTarget = {}): string[] {
  if (event !== 'created' && event !== 'destroyed') throw new Error(`unknown channel event ${JSON.stringify(event)}`);
  if (names.length === 0) throw new Error('a broadcast needs at least one channel name');
  for (const name of names) {
    // am splits --esa on commas (and keeps a backslash before one): such a name cannot be delivered.
    if (name.length === 0 || name.includes(',')) throw new Error(`channel name ${JSON.stringify(name)} cannot travel in --esa`);
  }
  validateAmBroadcastTarget(target);
  const words = ['am', 'broadcast', '-a', target.action ?? CHANNEL_STATUS_ACTION];
  words.push('--es', EXTRA_EVENT, event, '--esa', EXTRA_DATA_CHANNEL_NAMES, names.join(','));
  if (target.package !== undefined) words.push('-p', target.package);
  if (target.component !== undefined) words.push('-n', target.component);
  if (target.includeBackground) words.push('--receiver-include-background');
  if (target.user !== undefined) words.push('--user', target.user);
  return words;
}

/**
 * The adb client's argv (no local shell is involved): [-s SERIAL] shell <quoted words…>. Every word
 * that reaches the device is quoted for its shell; the serial is read by the local client and is not.
 */
export function adbBroadcastArgs(broadcast: Pick<ChannelBroadcast, 'event' | 'names'>, options: AmBroadcastTarget & { serial?: string } = {}): string[] {
  const args: string[] = [];
  if (options.serial !== undefined && options.serial.length > 0) args.push('-s', options.serial);
  args.push('shell', ...amBroadcastWords(broadcast.event, broadcast.names, options).map(quoteForDeviceShell));
  return args;
}

export type AmOutcome = { ok: true; detail: string } | { ok: false; detail: string };

/**
 * Reads am's output. am exits 0 and prints "Broadcast completed: result=N" even when nobody
 * receives the broadcast; "Error: …" lines and exceptions mean failure whatever the exit code.
 * Output without "Broadcast completed" is a failure too (e.g. "am: not found" over the legacy
 * shell service, which carries no exit code).
 */
export function parseAmBroadcastOutput(stdout: string, stderr = ''): AmOutcome {
  const lines = `${stdout}\n${stderr}`
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const error = lines.find((line) => line.startsWith('Error:') || line.includes('Exception'));
  if (error !== undefined) return { ok: false, detail: `am: ${error}` };
  const completed = lines.find((line) => line.startsWith('Broadcast completed: result='));
  if (completed !== undefined) return { ok: true, detail: `delivered (${completed})` };
  const last = lines.at(-1);
  return { ok: false, detail: last === undefined ? 'am printed nothing' : `am: unexpected output: ${last}` };
}
