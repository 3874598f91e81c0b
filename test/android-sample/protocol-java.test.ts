// The Android sample's plain-Java protocol code (android-sample/protocol), compiled with javac
// exactly as the app's Gradle build compiles it (--release 8) and exercised by a Java test program
// (java/org/anboxoob/protocoltest/ProtocolTest.java, `unit` mode): framing, the hand-written
// protobuf envelope, Parcels, the stream-mode handshake over in-memory streams. The Java program
// asserts by itself; this file also compares what it prints with the repository's golden vectors
// and the daemon's constants. A missing JDK fails here, never skips.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADB_REVERSE_SOCKET_NAME } from '../../src/broadcast/adb/adb-reverse.js';
import { CHANNEL_STATUS_ACTION, EXTRA_DATA_CHANNEL_NAMES, EXTRA_EVENT } from '../../src/broadcast/types.js';
import { DATA_PROXY_DESCRIPTOR, DATA_PROXY_SERVICE_NAME } from '../../src/service/data-proxy-service.js';
import { GOLDEN } from '../helpers/golden.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { compileTestProgram, requireJdk, run, SuiteSetup, TEST_MAIN_CLASS, type RunResult } from './java-toolchain.js';

let dir: string | undefined;
let unit: RunResult;

const setup = new SuiteSetup();

beforeAll(async () => {
  await setup.run(async () => {
    requireJdk();
    dir = makeTempDir('aoob-java-');
    const classpath = await compileTestProgram(dir);
    unit = await run('java', ['-cp', classpath, TEST_MAIN_CLASS, 'unit'], 60_000);
  });
}, 180_000);

afterAll(() => {
  if (dir) removeTempDir(dir);
});

/** `PREFIX key value` lines printed by the Java program, as a map. */
function printed(prefix: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of unit.stdout.split('\n')) {
    const match = new RegExp(`^${prefix} (\\S+) (.*)$`).exec(line);
    if (match) out.set(match[1], match[2]);
  }
  return out;
}

describe('android-sample protocol module (plain Java, off-device)', () => {
  it('passes every check of the Java test program', () => {
    setup.ready();
    const failures = unit.stdout.split('\n').filter((line) => line.startsWith('FAIL'));
    expect(failures, `${unit.stdout}\n${unit.stderr}`).toEqual([]);
    expect(unit.code, `${unit.stdout}\n${unit.stderr}`).toBe(0);
    expect(unit.stdout).toMatch(/^PASS unit: \d+ checks, 0 failures$/m);
    const checks = Number(/PASS unit: (\d+) checks/.exec(unit.stdout)?.[1]);
    expect(checks).toBeGreaterThan(100);
  });

  it('ParcelWriter writes the golden bytes of binder-parcel.md for API 28, 29 and 30+', () => {
    setup.ready();
    const golden = printed('GOLDEN');
    expect(golden.get('api28')).toBe(GOLDEN.api28);
    expect(golden.get('api29')).toBe(GOLDEN.api29);
    expect(golden.get('api30')).toBe(GOLDEN.api30);
    expect(Buffer.from(GOLDEN.api28, 'hex')).toHaveLength(100);
    expect(Buffer.from(GOLDEN.api29, 'hex')).toHaveLength(104);
    expect(Buffer.from(GOLDEN.api30, 'hex')).toHaveLength(108);
  });

  it("uses the daemon's service name, descriptor, broadcast action, extras and adb reverse socket name", () => {
    setup.ready();
    const constants = printed('CONST');
    expect(constants.get('SERVICE_NAME')).toBe(DATA_PROXY_SERVICE_NAME);
    expect(constants.get('INTERFACE_DESCRIPTOR')).toBe(DATA_PROXY_DESCRIPTOR);
    expect(constants.get('CHANNEL_STATUS_ACTION')).toBe(CHANNEL_STATUS_ACTION);
    expect(constants.get('EXTRA_EVENT')).toBe(EXTRA_EVENT);
    expect(constants.get('EXTRA_DATA_CHANNEL_NAMES')).toBe(EXTRA_DATA_CHANNEL_NAMES);
    expect(constants.get('ADB_REVERSE_SOCKET_NAME')).toBe(ADB_REVERSE_SOCKET_NAME);
    expect(ADB_REVERSE_SOCKET_NAME).toBe('anbox-oob-data-proxy');
  });
});
