import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One daemon per socket directory and role. Two `serve`s on one directory would interfere: the
 * second announces the first's channels, and its platform would take over channel names the first
 * one serves. So a daemon takes a lock file in the socket directory before it touches anything else:
 *
 *   <socketDir>/.anbox-oob-<role>.lock   one line: "<pid> <start time> <role>\n"
 *
 * Roles: `platform` (owns the webrtc_data_* sockets) and `proxy` (announces them); `serve` takes
 * both, so `serve` + `proxy` on one directory is refused too, while the split set-up (`platform` and
 * `proxy` sharing a directory) is allowed.
 *
 * Node has no flock(2); the lock is a file created atomically (link(2) of a fully written temp file,
 * which fails with EEXIST when the lock exists). A lock whose process is gone — kill -9, a crash —
 * is stale and taken over: the pid is checked in /proc together with the process's start time (field
 * 22 of /proc/<pid>/stat), so a recycled pid is not mistaken for the old daemon. The file is removed
 * on release (only if it still holds our line).
 */
export type LockRole = 'platform' | 'proxy';

export class SocketDirLockedError extends Error {
  constructor(
    readonly lockPath: string,
    readonly ownerPid: number,
  ) {
    super(
      `another anbox-oob daemon (pid ${ownerPid}) already uses this socket directory (lock ${lockPath}); ` +
        `stop it first (kill ${ownerPid}), or give this one another --socket-dir`,
    );
  }
}

export interface SocketDirLock {
  path: string;
  /** A stale lock this one replaced (its process had gone), for the start-up log. */
  replacedStale: { pid: number } | undefined;
  release(): void;
}

export function lockPathFor(socketDir: string, role: LockRole): string {
  return join(socketDir, `.anbox-oob-${role}.lock`);
}

/** Takes the lock of `role` in `socketDir` (which must exist); throws SocketDirLockedError when a live daemon holds it. */
export function lockSocketDir(socketDir: string, role: LockRole, pid: number = process.pid): SocketDirLock {
  const path = lockPathFor(socketDir, role);
  const line = `${pid} ${processStartTime(pid) ?? 0} ${role}\n`;
  let replacedStale: { pid: number } | undefined;
  // Two tries: the second after removing a stale lock.
  for (let attempt = 0; attempt < 2; attempt++) {
    if (tryCreate(path, line)) return { path, replacedStale, release: () => releaseLock(path, line) };
    const owner = readOwner(path);
    if (owner && isAlive(owner.pid, owner.startTime)) throw new SocketDirLockedError(path, owner.pid);
    // Stale (or unreadable garbage): take it over. (Two starters taking over the same stale lock at
    // the same instant could both win; the window is one unlink and one link wide.)
    replacedStale = { pid: owner?.pid ?? 0 };
    try {
      unlinkSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  const owner = readOwner(path);
  throw new SocketDirLockedError(path, owner?.pid ?? 0);
}

function tryCreate(path: string, line: string): boolean {
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(temp, line, { mode: 0o644 });
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(temp);
  }
}

function readOwner(path: string): { pid: number; startTime: number } | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const match = /^(\d+) (\d+)/.exec(text);
  if (!match) return undefined;
  return { pid: Number(match[1]), startTime: Number(match[2]) };
}

/** True when `pid` runs and is the same process (same start time, when one was recorded). */
function isAlive(pid: number, startTime: number): boolean {
  if (!(pid > 0)) return false;
  const now = processStartTime(pid);
  if (now === undefined) return false;
  return startTime === 0 || now === startTime;
}

/** Field 22 of /proc/<pid>/stat (starttime, in clock ticks since boot); undefined when there is no such process. */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const value = Number(fields[22 - 3]);
  return Number.isFinite(value) ? value : undefined;
}

function releaseLock(path: string, line: string): void {
  try {
    if (readFileSync(path, 'utf8') === line) unlinkSync(path);
  } catch {
    // Already gone: nothing to release.
  }
}
