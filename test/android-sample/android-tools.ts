// The Android build tools the android-sample tests drive for real: Debian's aapt2 (package aapt),
// zipalign, apksigner, dexdump and framework-res.apk (android-framework-res), and Maven for the
// pinned jars of android-sample/build-tools/pom.xml. A missing tool fails the tests with a message
// naming its package; nothing is skipped. .ci/run installs them.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ANDROID_SAMPLE } from './java-toolchain.js';

export const BUILD_TOOLS = join(ANDROID_SAMPLE, 'build-tools');
export const BUILD_APK_SCRIPT = join(BUILD_TOOLS, 'build_apk.py');
export const POM = join(BUILD_TOOLS, 'pom.xml');
export const FRAMEWORK_RES = '/usr/share/android-framework-res/framework-res.apk';

const TOOLS: ReadonlyArray<readonly [string, string]> = [
  ['python3', 'python3'],
  ['aapt2', 'aapt'],
  ['zipalign', 'zipalign'],
  ['apksigner', 'apksigner'],
  ['dexdump', 'dexdump'],
  ['keytool', 'default-jdk-headless'],
  ['mvn', 'maven'],
];

function onPath(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).status === 0;
}

/** Throws a clear error unless every tool of the APK build is installed. */
export function requireAndroidTools(): void {
  const missing = TOOLS.filter(([tool]) => !onPath(tool)).map(([tool, pkg]) => `${tool} (Debian package ${pkg})`);
  if (!existsSync(FRAMEWORK_RES)) missing.push(`${FRAMEWORK_RES} (Debian package android-framework-res)`);
  if (missing.length > 0) {
    throw new Error(`the android-sample build tests need: ${missing.join(', ')}. Install them with apt-get (see .ci/run).`);
  }
}
