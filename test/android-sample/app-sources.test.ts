// Type-checks the Android app's Java without an Android SDK: javac compiles
// android-sample/app/src/{main,<flavor>}/java for each flavor against hand-written stubs of the
// Android API subset it uses (android-stubs/, see its README), the protocol module, and an R class
// generated here from the resources. Catches syntax and type errors, missing imports, a flavor
// without its TransportFactory, and R.id/R.layout/R.string references no resource declares. It does
// not prove the app against the real SDK: only a Gradle build does (android-sample/README.md).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { APP_SOURCES, compileProtocol, javaFiles, requireJdk, runJavac, STUB_SOURCES, SuiteSetup } from './java-toolchain.js';

const RES = join(APP_SOURCES, 'main', 'res');
let dir: string | undefined;
let protocolClasses = '';
let stubClasses = '';
let rSource = '';

/** R.java for the resources the build would see: layouts by file name, ids from @+id/, strings. */
function generateR(): string {
  const layouts = readdirSync(join(RES, 'layout')).filter((f) => f.endsWith('.xml')).map((f) => f.slice(0, -4));
  const ids = new Set<string>();
  for (const layout of layouts) {
    for (const m of readFileSync(join(RES, 'layout', `${layout}.xml`), 'utf8').matchAll(/@\+id\/([A-Za-z0-9_]+)/g)) ids.add(m[1]);
  }
  const strings = [...readFileSync(join(RES, 'values', 'strings.xml'), 'utf8').matchAll(/<string name="([A-Za-z0-9_]+)"/g)].map((m) => m[1]);
  let next = 0x7f010000;
  const fields = (names: Iterable<string>) => [...names].map((n) => `    public static final int ${n} = 0x${(next++).toString(16)};`).join('\n');
  return [
    'package org.anboxoob.sample;',
    'public final class R {',
    `  public static final class layout {\n${fields(layouts)}\n  }`,
    `  public static final class id {\n${fields(ids)}\n  }`,
    `  public static final class string {\n${fields(strings)}\n  }`,
    '}',
    '',
  ].join('\n');
}

const setup = new SuiteSetup();

beforeAll(async () => {
  await setup.run(async () => {
    requireJdk();
    dir = makeTempDir('aoob-app-');
    protocolClasses = await compileProtocol(dir);
    stubClasses = join(dir, 'stub-classes');
    await runJavac(['--release', '8', '-nowarn', '-d', stubClasses, ...javaFiles(STUB_SOURCES)]);
    rSource = generateR();
    const rDir = join(dir, 'gen', 'org', 'anboxoob', 'sample');
    mkdirSync(rDir, { recursive: true });
    writeFileSync(join(rDir, 'R.java'), rSource);
  });
}, 180_000);

afterAll(() => {
  if (dir) removeTempDir(dir);
});

describe('android-sample app sources (javac against Android API stubs; no SDK here)', () => {
  for (const flavor of ['anbox', 'emulator'] as const) {
    it(`the ${flavor} flavor compiles (Java 8, every lint warning an error)`, async () => {
      setup.ready();
      const sources = [...javaFiles(join(APP_SOURCES, 'main', 'java')), ...javaFiles(join(APP_SOURCES, flavor, 'java')), join(dir!, 'gen', 'org', 'anboxoob', 'sample', 'R.java')];
      await expect(
        runJavac(['--release', '8', '-encoding', 'UTF-8', '-Xlint:all,-options', '-Werror', '-cp', `${protocolClasses}:${stubClasses}`, '-d', join(dir!, `app-${flavor}`), ...sources]),
      ).resolves.toBeUndefined();
    });
  }

  it('the generated R holds the layout ids the activity uses', () => {
    setup.ready();
    for (const id of ['status', 'channels', 'channels_empty', 'channel_name', 'connect', 'disconnect', 'message', 'send', 'log', 'log_scroll']) {
      expect(rSource).toContain(` ${id} = `);
    }
  });
});
