import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from './helpers.js';

const facade = fileURLToPath(new URL('../../src/native/addon.ts', import.meta.url));
const builtAddon = fileURLToPath(new URL('../../build/Release/anbox_oob_native.node', import.meta.url));

let dir: string;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => {
  removeTempDir(dir);
});

/** Lays out <dir>/pkg/package.json (with `name`) and a copy of the facade in <dir>/pkg/<moduleDirs...>. */
function layOut(name: string, moduleDirs: string[]): string {
  const root = path.join(dir, 'pkg');
  const moduleDir = path.join(root, ...moduleDirs);
  fs.mkdirSync(moduleDir, { recursive: true });
  fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name }));
  // A nested package.json with another name must be walked past.
  fs.writeFileSync(path.join(moduleDir, 'package.json'), JSON.stringify({ name: 'something-else' }));
  const copy = path.join(moduleDir, 'addon.ts');
  fs.copyFileSync(facade, copy);
  return copy;
}

type Facade = typeof import('../../src/native/addon.js');

describe('addon loader', () => {
  it('finds build/Release from any depth below the package root', async () => {
    const copy = layOut('anbox-oob-emulator', ['dist', 'src', 'native']);
    fs.mkdirSync(path.join(dir, 'pkg', 'build', 'Release'), { recursive: true });
    fs.copyFileSync(builtAddon, path.join(dir, 'pkg', 'build', 'Release', 'anbox_oob_native.node'));
    const mod = (await import(copy)) as Facade;
    expect(() => mod.loadNative()).not.toThrow();
    expect(mod.close(-1)).toBe(-9); // EBADF through the copied binary
  });

  it('explains how to build when the addon is missing', async () => {
    const copy = layOut('anbox-oob-emulator', ['src', 'native']);
    const mod = (await import(copy)) as Facade;
    expect(() => mod.close(-1)).toThrow(/npm install.*node-gyp rebuild.*g\+\+, make and python3/s);
    expect(() => mod.loadNative()).toThrow(path.join(dir, 'pkg', 'build', 'Release', 'anbox_oob_native.node'));
  });

  it('says so when no package root is found', async () => {
    const copy = layOut('not-this-package', ['src', 'native']);
    const mod = (await import(copy)) as Facade;
    expect(() => mod.loadNative()).toThrow(/no package\.json named "anbox-oob-emulator"/);
  });
});
