import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export interface DirectoryWarning {
  dir: string;
  message: string;
}

/**
 * Creates `dir` (and parents) if needed and checks it is safe to put a socket in: owned by this
 * user or root. Throws when someone else owns it (a directory pre-created by another user under
 * /tmp could be used to intercept the socket); returns a warning when others may write to it.
 */
export function ensureSocketDirectory(dir: string, mode: number): DirectoryWarning | undefined {
  mkdirSync(dir, { recursive: true, mode });
  const stats = statSync(dir);
  if (!stats.isDirectory()) throw new Error(`${dir} is not a directory`);
  const uid = process.getuid?.() ?? 0;
  if (stats.uid !== uid && stats.uid !== 0) {
    throw new Error(`refusing to use ${dir}: it belongs to uid ${stats.uid}, not to this user (uid ${uid}); remove it or choose another path`);
  }
  const sticky = (stats.mode & 0o1000) !== 0;
  if ((stats.mode & 0o022) !== 0 && !sticky) {
    return { dir, message: `${dir} is writable by other users (mode ${(stats.mode & 0o7777).toString(8)}); they could replace sockets in it` };
  }
  return undefined;
}

/** The directory a socket file lives in. */
export function socketParent(path: string): string {
  return dirname(path);
}
