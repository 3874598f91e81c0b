import { lstatSync, mkdirSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';

/**
 * Why a directory the daemons put sockets in (or send broadcasts into) is not trusted.
 *  - NOT_A_DIRECTORY: the path (or one of its parents) is something else.
 *  - SYMLINK: the directory itself is reached through a symbolic link (lstat of the final component).
 *  - WRONG_OWNER: the directory belongs to another uid than ours or root.
 *  - WRITABLE_BY_OTHERS: group or others may create entries in it (sticky or not: the sticky bit
 *    stops others deleting or renaming our entries, not creating their own, e.g. a planted
 *    webrtc_data_foo).
 *  - UNSAFE_ANCESTOR: a parent belongs to another uid, is writable by group or others without the
 *    sticky bit (so the directory could be renamed away and replaced), or is a symlink another uid owns.
 */
export type DirectoryProblem = 'NOT_A_DIRECTORY' | 'SYMLINK' | 'WRONG_OWNER' | 'WRITABLE_BY_OTHERS' | 'UNSAFE_ANCESTOR';

/** Problems --allow-shared-dir turns into warnings; a symlink or a non-directory is always refused. */
const SHAREABLE: ReadonlySet<DirectoryProblem> = new Set(['WRONG_OWNER', 'WRITABLE_BY_OTHERS', 'UNSAFE_ANCESTOR']);

/** The directory cannot be trusted (or made); the message names the path and what to do. */
export class UnsafeDirectoryError extends Error {
  override readonly name = 'UnsafeDirectoryError';
  constructor(
    readonly problem: DirectoryProblem | 'CANNOT_CREATE',
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

export interface DirectoryWarning {
  dir: string;
  problem: DirectoryProblem;
  message: string;
}

export interface DirectoryPolicy {
  /** What the directory is, for messages: "socket dir", "receivers dir", "service socket's directory". */
  what: string;
  /** The flag that picks another directory, for the fix in messages (e.g. "--socket-dir"). */
  flag: string;
  /** --allow-shared-dir: owner and writability problems become warnings (returned, for the caller to log). */
  allowShared?: boolean;
  /** Default: this process's uid. */
  uid?: number;
}

/**
 * Makes `dir` (and missing parents, one at a time, each with `mode`) and checks it can be trusted:
 * every existing component is checked BEFORE anything is created inside it, so nothing is made in a
 * directory another user controls. The directory itself must be a real directory (no symlink in the
 * final component), owned by this uid or root, not writable by group or others; each parent must be
 * owned by this uid or root and not writable by group or others unless sticky (/tmp is fine as a
 * parent), and a parent that is a symlink must be owned by this uid or root.
 * Throws UnsafeDirectoryError; returns the problems --allow-shared-dir let through.
 */
export function ensureTrustedDirectory(dir: string, mode: number, policy: DirectoryPolicy): DirectoryWarning[] {
  const result = walk(resolve(dir), policy, mode);
  return result === 'missing' ? [] : result; // never 'missing': it was made
}

/** The same checks without creating anything; a missing directory is fine (returns 'missing'). */
export function checkTrustedDirectory(dir: string, policy: DirectoryPolicy): DirectoryWarning[] | 'missing' {
  return walk(resolve(dir), policy, undefined);
}

function walk(dir: string, policy: DirectoryPolicy, createMode: number | undefined): DirectoryWarning[] | 'missing' {
  const uid = policy.uid ?? process.getuid?.() ?? 0;
  const warnings: DirectoryWarning[] = [];
  const problem = (kind: DirectoryProblem, path: string, message: string): void => {
    if (policy.allowShared && SHAREABLE.has(kind)) warnings.push({ dir: path, problem: kind, message: `${message} (allowed by --allow-shared-dir)` });
    else throw new UnsafeDirectoryError(kind, path, `${message}; ${fix(kind, dir, policy)}`);
  };
  const components = dir.split(sep).filter((part) => part.length > 0);
  let prefix = '';
  for (let i = 0; i < components.length; i++) {
    prefix += sep + components[i];
    const final = i === components.length - 1;
    let link: Stats;
    try {
      link = lstatSync(prefix);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') throw new UnsafeDirectoryError('NOT_A_DIRECTORY', dirname(prefix), `refusing to use ${dir} as the ${policy.what}: ${dirname(prefix)} is not a directory`);
      if (code !== 'ENOENT') throw new UnsafeDirectoryError('CANNOT_CREATE', prefix, `cannot use ${dir} as the ${policy.what}: ${prefix}: ${code ?? String(error)}`);
      if (createMode === undefined) return 'missing';
      try {
        try {
          mkdirSync(prefix, { mode: createMode });
        } catch (mkdirError) {
          // Made meanwhile by someone else: checked below like any existing directory.
          if ((mkdirError as NodeJS.ErrnoException).code !== 'EEXIST') throw mkdirError;
        }
        link = lstatSync(prefix);
      } catch (mkdirError) {
        const mkdirCode = (mkdirError as NodeJS.ErrnoException).code;
        throw new UnsafeDirectoryError('CANNOT_CREATE', prefix, `cannot create the ${policy.what} ${dir}: ${prefix}: ${mkdirCode ?? String(mkdirError)}`);
      }
    }
    if (final) {
      if (link.isSymbolicLink()) {
        problem('SYMLINK', prefix, `refusing to use ${dir} as the ${policy.what}: it is a symbolic link (to ${target(prefix)}, owned by uid ${link.uid})`);
      }
      if (!link.isDirectory()) throw new UnsafeDirectoryError('NOT_A_DIRECTORY', prefix, `refusing to use ${dir} as the ${policy.what}: it is not a directory`);
      if (link.uid !== uid && link.uid !== 0) {
        problem('WRONG_OWNER', prefix, `refusing to use ${dir} as the ${policy.what}: it belongs to uid ${link.uid}, not to this user (uid ${uid}) or root`);
      }
      if ((link.mode & 0o022) !== 0) {
        const sticky = (link.mode & 0o1000) !== 0 ? '; the sticky bit stops others deleting entries, not creating them' : '';
        problem('WRITABLE_BY_OTHERS', prefix, `refusing to use ${dir} as the ${policy.what}: it is writable by ${writers(link.mode)} (mode ${octal(link.mode)}${sticky}), so another user could plant sockets in it`);
      }
      continue;
    }
    let stats = link;
    if (link.isSymbolicLink()) {
      if (link.uid !== uid && link.uid !== 0) {
        problem('UNSAFE_ANCESTOR', prefix, `refusing to use ${dir} as the ${policy.what}: its parent ${prefix} is a symbolic link (to ${target(prefix)}) owned by uid ${link.uid}, who can point it elsewhere at any time`);
      }
      try {
        stats = statSync(prefix);
      } catch (error) {
        throw new UnsafeDirectoryError('NOT_A_DIRECTORY', prefix, `refusing to use ${dir} as the ${policy.what}: ${prefix} is a dangling symbolic link (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
      }
    }
    if (!stats.isDirectory()) throw new UnsafeDirectoryError('NOT_A_DIRECTORY', prefix, `refusing to use ${dir} as the ${policy.what}: ${prefix} is not a directory`);
    if (stats.uid !== uid && stats.uid !== 0) {
      problem('UNSAFE_ANCESTOR', prefix, `refusing to use ${dir} as the ${policy.what}: its parent ${prefix} belongs to uid ${stats.uid}, who could rename it away and put another in its place`);
    } else if ((stats.mode & 0o022) !== 0 && (stats.mode & 0o1000) === 0) {
      problem('UNSAFE_ANCESTOR', prefix, `refusing to use ${dir} as the ${policy.what}: its parent ${prefix} is writable by ${writers(stats.mode)} without the sticky bit (mode ${octal(stats.mode)}), so it could be renamed away and replaced`);
    }
  }
  return warnings;
}

function fix(problem: DirectoryProblem, dir: string, policy: DirectoryPolicy): string {
  const other = `or choose another directory with ${policy.flag}`;
  switch (problem) {
    case 'SYMLINK':
      return `another user may have planted it; remove it (rm ${dir}) and start again, give the real path, ${other}`;
    case 'NOT_A_DIRECTORY':
      return `remove it ${other}`;
    case 'WRONG_OWNER':
      return `another user may have made it to intercept the sockets; remove it (as its owner or root), ${other}, or pass --allow-shared-dir if sharing it is intended`;
    case 'WRITABLE_BY_OTHERS':
      return `use a directory only you can write (chmod go-w ${dir}, or the default), ${other}, or pass --allow-shared-dir if sharing it is intended`;
    case 'UNSAFE_ANCESTOR':
      return `use a directory whose parents only you or root can change (e.g. the default under $XDG_RUNTIME_DIR), ${other}, or pass --allow-shared-dir if sharing it is intended`;
  }
}

function writers(mode: number): string {
  const group = (mode & 0o020) !== 0;
  const others = (mode & 0o002) !== 0;
  return group && others ? 'group and others' : group ? 'its group' : 'others';
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

function target(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '?';
  }
}
