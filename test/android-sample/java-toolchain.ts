// Compiles and runs the Android sample's plain-Java code with the machine's JDK (the app itself is
// compiled against the real framework by build_apk.py, apk.test.ts): the protocol module is plain
// Java on purpose, and the Java test program
// (java/org/anboxoob/protocoltest/ProtocolTest.java) exercises it. A missing or too old JDK fails
// the tests with this module's message; nothing is skipped.
import { execFile, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/cli.js';

export const ANDROID_SAMPLE = join(REPO_ROOT, 'android-sample');
export const PROTOCOL_SOURCES = join(ANDROID_SAMPLE, 'protocol', 'src', 'main', 'java');
export const APP_SOURCES = join(ANDROID_SAMPLE, 'app', 'src');
export const TEST_SOURCES = join(REPO_ROOT, 'test', 'android-sample', 'java');
export const TEST_MAIN_CLASS = 'org.anboxoob.protocoltest.ProtocolTest';

/** The test program uses Java 16+ Unix-domain SocketChannels; it is compiled for 17. */
const MIN_JDK = 17;

/** Every `.java` file under `dir`, sorted. */
export function javaFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...javaFiles(path));
    else if (entry.endsWith('.java')) out.push(path);
  }
  return out.sort();
}

function majorVersion(tool: 'java' | 'javac'): number {
  // `java -version` prints on stderr, `javac -version` on stdout (JDK 9+): read both.
  const result = spawnSync(tool, ['-version'], { encoding: 'utf8', timeout: 30_000 });
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new Error(
        `\`${tool}\` is not on PATH. The android-sample tests compile and run the sample's plain-Java protocol code; ` +
          `install a JDK ${MIN_JDK} or newer (Debian/Ubuntu: \`apt-get install default-jdk-headless\`).`,
      );
    }
    throw new Error(`\`${tool} -version\` could not run: ${result.error.message}`);
  }
  const text = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.status !== 0) throw new Error(`\`${tool} -version\` failed (exit ${result.status}): ${text.trim()}`);
  const match = /(?:javac|java|openjdk)(?: version)? "?(\d+)(?:\.(\d+))?/i.exec(text);
  if (!match) throw new Error(`cannot read the version from \`${tool} -version\`: ${text.trim()}`);
  // "1.8.0" style for Java 8 and older.
  return match[1] === '1' && match[2] ? Number(match[2]) : Number(match[1]);
}

/** Throws a clear error unless javac and java of JDK 17+ are on PATH. */
export function requireJdk(): void {
  for (const tool of ['javac', 'java'] as const) {
    const version = majorVersion(tool);
    if (version < MIN_JDK) {
      throw new Error(`\`${tool}\` is Java ${version}; the android-sample tests need JDK ${MIN_JDK} or newer (Unix-domain SocketChannel, --release 17).`);
    }
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], timeoutMs = 120_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(command, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : null) : 0;
      resolve({ code, stdout, stderr: stderr + (error && code === null ? `\n${error.message}` : '') });
    });
  });
}

async function javac(args: string[]): Promise<void> {
  const result = await run('javac', args);
  if (result.code !== 0) throw new Error(`javac ${args.slice(0, 6).join(' ')} ... failed (exit ${result.code}):\n${result.stdout}${result.stderr}`);
}

/**
 * The protocol module as the app's Gradle build compiles it: Java 8 language and class library
 * (`--release 8`), every lint warning an error. Returns the class directory.
 */
export async function compileProtocol(outDir: string): Promise<string> {
  const classes = join(outDir, 'protocol-classes');
  await javac(['--release', '8', '-encoding', 'UTF-8', '-Xlint:all,-options', '-Werror', '-d', classes, ...javaFiles(PROTOCOL_SOURCES)]);
  return classes;
}

/** The protocol module plus the Java test program; returns the class path to run it with. */
export async function compileTestProgram(outDir: string): Promise<string> {
  const protocol = await compileProtocol(outDir);
  const tests = join(outDir, 'test-classes');
  await javac(['--release', '17', '-encoding', 'UTF-8', '-Xlint:all', '-Werror', '-cp', protocol, '-d', tests, ...javaFiles(TEST_SOURCES)]);
  return `${protocol}:${tests}`;
}

export { javac as runJavac };

/**
 * Runs a suite's setup and keeps its error, so that every test of the suite fails with it (a
 * throwing beforeAll would leave vitest's tests marked "skipped"). Call `ready()` first in each test.
 */
export class SuiteSetup {
  private error: unknown;

  async run(setup: () => Promise<void>): Promise<void> {
    try {
      await setup();
    } catch (error) {
      this.error = error;
    }
  }

  ready(): void {
    if (this.error !== undefined) throw this.error;
  }
}
