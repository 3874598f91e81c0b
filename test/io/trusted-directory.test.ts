/**
 * The directory checks every daemon and `listen` run (src/io/trusted-directory.ts), case by case,
 * on real directories with real owners (chown to uid 65534 needs root, as CI runs).
 */
import { chmodSync, chownSync, existsSync, lchownSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkTrustedDirectory, ensureTrustedDirectory, UnsafeDirectoryError } from '../../src/io/trusted-directory.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';

const OTHER = 65534;
const POLICY = { what: 'socket dir', flag: '--socket-dir' };

let root: string;
let n = 0;

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('these tests chown directories to uid 65534: run them as root (CI does)');
  root = makeTempDir('aoob-td-');
});

afterAll(() => removeTempDir(root));

function dir(mode: number, owner = 0): string {
  const path = join(root, `d${++n}`);
  mkdirSync(path);
  chownSync(path, owner, owner);
  chmodSync(path, mode);
  return path;
}

function refusal(fn: () => unknown): UnsafeDirectoryError {
  try {
    fn();
  } catch (error) {
    if (error instanceof UnsafeDirectoryError) return error;
    throw error;
  }
  throw new Error('not refused');
}

describe('ensureTrustedDirectory', () => {
  it('makes missing levels one at a time with the mode, and accepts its own result', () => {
    const base = dir(0o700);
    const target = join(base, 'a', 'b');
    const before = process.umask(0o022);
    try {
      expect(ensureTrustedDirectory(target, 0o750, POLICY)).toEqual([]);
    } finally {
      process.umask(before);
    }
    expect(statSync(join(base, 'a')).mode & 0o7777).toBe(0o750);
    expect(statSync(target).mode & 0o7777).toBe(0o750);
    expect(ensureTrustedDirectory(target, 0o750, POLICY)).toEqual([]);
  });

  it('accepts a sticky world-writable parent (/tmp) but not a sticky world-writable directory itself', () => {
    const tmp = dir(0o1777);
    expect(ensureTrustedDirectory(join(tmp, 'mine'), 0o700, POLICY)).toEqual([]);
    const error = refusal(() => ensureTrustedDirectory(tmp, 0o700, POLICY));
    expect(error.problem).toBe('WRITABLE_BY_OTHERS');
    expect(error.message).toContain('the sticky bit stops others deleting entries, not creating them');
  });

  it('refuses a group-writable directory, naming the fix', () => {
    const shared = dir(0o770);
    const error = refusal(() => ensureTrustedDirectory(shared, 0o700, POLICY));
    expect(error.problem).toBe('WRITABLE_BY_OTHERS');
    expect(error.message).toContain(`writable by its group (mode 0770)`);
    expect(error.message).toContain(`chmod go-w ${shared}`);
    expect(error.message).toContain('--socket-dir');
  });

  it('refuses another uid\'s directory, and makes nothing inside one', () => {
    const theirs = dir(0o755, OTHER);
    expect(refusal(() => ensureTrustedDirectory(theirs, 0o700, POLICY)).problem).toBe('WRONG_OWNER');
    const below = join(theirs, 'sockets');
    const error = refusal(() => ensureTrustedDirectory(below, 0o700, POLICY));
    expect(error.problem).toBe('UNSAFE_ANCESTOR');
    expect(error.message).toContain(`its parent ${theirs} belongs to uid ${OTHER}`);
    expect(existsSync(below)).toBe(false);
  });

  it('refuses a world-writable parent without the sticky bit', () => {
    const open = dir(0o777);
    const error = refusal(() => ensureTrustedDirectory(join(open, 'x'), 0o700, POLICY));
    expect(error.problem).toBe('UNSAFE_ANCESTOR');
    expect(existsSync(join(open, 'x'))).toBe(false);
  });

  it('refuses a symlink as the directory, even to a good directory of its own', () => {
    const good = dir(0o700);
    const link = join(dir(0o755), 'link');
    symlinkSync(good, link);
    const error = refusal(() => ensureTrustedDirectory(link, 0o700, POLICY));
    expect(error.problem).toBe('SYMLINK');
    expect(error.message).toContain(`it is a symbolic link (to ${good}, owned by uid 0)`);
    expect(error.message).toContain(`rm ${link}`);
    // --allow-shared-dir does not let a symlink through.
    expect(refusal(() => ensureTrustedDirectory(link, 0o700, { ...POLICY, allowShared: true })).problem).toBe('SYMLINK');
  });

  it('follows a parent symlink of its own (or root\'s), not one another uid owns', () => {
    const real = dir(0o755);
    const parent = dir(0o755);
    const ours = join(parent, 'ours');
    symlinkSync(real, ours);
    expect(ensureTrustedDirectory(join(ours, 'a'), 0o700, POLICY)).toEqual([]);
    const theirs = join(parent, 'theirs');
    symlinkSync(real, theirs);
    lchownSync(theirs, OTHER, OTHER); // the link itself is theirs: they can repoint it at any time
    const error = refusal(() => ensureTrustedDirectory(join(theirs, 'a'), 0o700, POLICY));
    expect(error.problem).toBe('UNSAFE_ANCESTOR');
    expect(error.message).toContain(`its parent ${theirs} is a symbolic link (to ${real}) owned by uid ${OTHER}`);
  });

  it('refuses a path through a file, and a dangling parent symlink', () => {
    const base = dir(0o755);
    writeFileSync(join(base, 'file'), '');
    expect(refusal(() => ensureTrustedDirectory(join(base, 'file'), 0o700, POLICY)).problem).toBe('NOT_A_DIRECTORY');
    expect(refusal(() => ensureTrustedDirectory(join(base, 'file', 'x'), 0o700, POLICY)).problem).toBe('NOT_A_DIRECTORY');
    symlinkSync(join(base, 'nowhere'), join(base, 'dangling'));
    expect(refusal(() => ensureTrustedDirectory(join(base, 'dangling', 'x'), 0o700, POLICY)).problem).toBe('NOT_A_DIRECTORY');
  });

  it('--allow-shared-dir turns owner and writability problems into warnings', () => {
    const theirs = dir(0o777, OTHER);
    const warnings = ensureTrustedDirectory(theirs, 0o700, { ...POLICY, allowShared: true });
    expect(warnings.map((w) => w.problem)).toEqual(['WRONG_OWNER', 'WRITABLE_BY_OTHERS']);
    expect(warnings.every((w) => w.message.endsWith('(allowed by --allow-shared-dir)'))).toBe(true);
  });
});

describe('checkTrustedDirectory', () => {
  it('makes nothing: a missing directory is "missing", an unsafe one is refused', () => {
    const base = dir(0o700);
    expect(checkTrustedDirectory(join(base, 'x', 'y'), POLICY)).toBe('missing');
    expect(existsSync(join(base, 'x'))).toBe(false);
    expect(refusal(() => checkTrustedDirectory(dir(0o1777), POLICY)).problem).toBe('WRITABLE_BY_OTHERS');
  });
});
