import { readFileSync } from 'node:fs';

/**
 * Which Unix socket files have a live listener, read from Linux's /proc/net/unix — without
 * connecting to them. (Connecting would look like an app to the platform, whose policy is that a
 * new connection replaces the old one.)
 *
 * Line format (net/unix/af_unix.c, unix_seq_show):
 *   "%pK: %08X %08X %08X %04X %02X %5lu" then, for a bound socket, " " and the path as bound.
 *   Num: RefCount Protocol Flags Type St Inode [Path]
 * A listening stream socket has Flags & __SO_ACCEPTCON (0x00010000), Type 0001 (SOCK_STREAM) and
 * St 01 (SS_UNCONNECTED). Connections accepted on it carry the same path with St 03, so the path
 * alone proves nothing. Abstract sockets print as "@name" (NULs as "@") and are not files.
 *
 * Limits: the table shows the current network namespace only, and the path as the listener passed it
 * to bind() — relative if it bound a relative path, the old name if the file was renamed since.
 */

const SO_ACCEPTCON = 0x00010000;
const SOCK_STREAM = 0x0001;
const SS_UNCONNECTED = 0x01;
export const PROC_NET_UNIX = '/proc/net/unix';

const LINE = /^[0-9a-fA-F]+:\s+[0-9a-fA-F]+\s+[0-9a-fA-F]+\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+(\d+)(?: (.*))?$/;

/**
 * The listening Unix stream sockets in `/proc/net/unix` text: path (as bound) → socket inode (the
 * sockfs inode: a new listener gets a new number, unlike the socket file, whose inode number the
 * filesystem may reuse at once). When several listeners show one path (an old one whose file was
 * replaced), the highest — newest — inode is kept.
 */
export function parseUnixSocketTable(text: string): Map<string, number> {
  const sockets = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = LINE.exec(line);
    if (!match) continue; // the header, a blank line, or the tail of a path with a newline in it
    const flags = Number.parseInt(match[1], 16);
    const type = Number.parseInt(match[2], 16);
    const state = Number.parseInt(match[3], 16);
    const inode = Number(match[4]);
    const path = match[5];
    if (path === undefined || path.length === 0 || path.startsWith('@')) continue;
    if ((flags & SO_ACCEPTCON) === 0 || type !== SOCK_STREAM || state !== SS_UNCONNECTED) continue;
    sockets.set(path, Math.max(inode, sockets.get(path) ?? 0));
  }
  return sockets;
}

/** The paths (as bound) of the listening Unix stream sockets in `/proc/net/unix` text. */
export function parseListeningUnixSockets(text: string): Set<string> {
  return new Set(parseUnixSocketTable(text).keys());
}

/** Reads /proc/net/unix now: listening path → socket inode. Throws (ENOENT off Linux, EACCES when /proc is restricted). */
export function listeningUnixSockets(procPath: string = PROC_NET_UNIX): Map<string, number> {
  return parseUnixSocketTable(readFileSync(procPath, 'utf8'));
}

/** Reads /proc/net/unix now: the listening paths. Throws like listeningUnixSockets. */
export function listeningUnixSocketPaths(procPath: string = PROC_NET_UNIX): Set<string> {
  return new Set(listeningUnixSockets(procPath).keys());
}

const SS_CONNECTED = 0x03;

/**
 * How many accepted connections each listening path has now, from `/proc/net/unix` text: an accepted
 * stream socket carries its listener's path with St 03 (the connecting end is unbound and has none).
 * For a channel socket that is "an app is attached" — whoever the app is (our CLI, socat, a device
 * app through the daemon), without connecting to anything.
 */
export function parseAcceptedConnections(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = LINE.exec(line);
    if (!match) continue;
    const type = Number.parseInt(match[2], 16);
    const state = Number.parseInt(match[3], 16);
    const path = match[5];
    if (path === undefined || path.length === 0 || path.startsWith('@')) continue;
    if (type !== SOCK_STREAM || state !== SS_CONNECTED) continue;
    counts.set(path, (counts.get(path) ?? 0) + 1);
  }
  return counts;
}

/** Reads /proc/net/unix now: path → accepted connections. Throws like listeningUnixSockets. */
export function acceptedUnixConnections(procPath: string = PROC_NET_UNIX): Map<string, number> {
  return parseAcceptedConnections(readFileSync(procPath, 'utf8'));
}
