// The app's Robolectric tests (test/android-sample/robolectric, JUnit 4, Robolectric 4.17 on its
// Android 14 / SDK 34 framework), run by Maven surefire through android-sample/build-tools/pom.xml.
// Robolectric runs offline: robolectric.dependency.dir points at the android-all-instrumented jar
// the same pom copied into android-sample/build/tools, so nothing is downloaded at run time.
// The anbox flavor's resources are linked by aapt2 (build_apk.py --robolectric-resources) and handed
// to Robolectric as AGP's includeAndroidResources would, so MainActivity runs with its real layout.
// Checked here: Maven's exit code, surefire's own summary, and each test class's XML report.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { POM } from './android-tools.js';
import { ANDROID_SAMPLE, requireJdk, run, SuiteSetup, type RunResult } from './java-toolchain.js';

const REPORTS = join(ANDROID_SAMPLE, 'build', 'maven', 'surefire-reports');
const setup = new SuiteSetup();
let maven: RunResult;

/** tests/failures/errors/skipped of one surefire XML report. */
function report(testClass: string): { tests: number; failures: number; errors: number; skipped: number; cases: string[] } {
  const xml = readFileSync(join(REPORTS, `TEST-org.anboxoob.sample.${testClass}.xml`), 'utf8');
  const suite = /<testsuite\b[^>]*>/.exec(xml)?.[0] ?? '';
  const attr = (name: string) => Number(new RegExp(`\\b${name}="(\\d+)"`).exec(suite)?.[1] ?? NaN);
  return {
    tests: attr('tests'),
    failures: attr('failures'),
    errors: attr('errors'),
    skipped: attr('skipped'),
    cases: [...xml.matchAll(/<testcase name="([^"]+)"/g)].map((m) => m[1]),
  };
}

beforeAll(async () => {
  await setup.run(async () => {
    requireJdk();
    rmSync(REPORTS, { recursive: true, force: true }); // no stale report can pass for this run's
    // Not offline (-o): the first run on a machine resolves surefire's JUnit provider from Maven
    // Central into ~/.m2; later runs find everything there.
    maven = await run('mvn', ['-B', '-f', POM, 'test'], 540_000);
    if (maven.code === null) throw new Error(`mvn did not finish: ${maven.stderr}`);
  });
}, 600_000);

describe('android-sample: Robolectric tests (Maven surefire, SDK 34, offline)', () => {
  it('mvn test passes, and surefire ran every test with none failed or skipped', () => {
    setup.ready();
    const output = maven.stdout + maven.stderr;
    expect(maven.code, output.slice(-6000)).toBe(0);
    const totals = [...output.matchAll(/^\[INFO\] Tests run: (\d+), Failures: (\d+), Errors: (\d+), Skipped: (\d+)$/gm)].at(-1);
    expect(totals, 'no surefire summary in the output').toBeDefined();
    const [, run, failures, errors, skipped] = totals!.map(Number);
    expect({ failures, errors, skipped }).toEqual({ failures: 0, errors: 0, skipped: 0 });
    expect(run).toBeGreaterThanOrEqual(16);
  });

  it('the receiver and registry tests ran on Robolectric, fed Intents parsed by am', () => {
    setup.ready();
    const r = report('DataChannelEventReceiverTest');
    expect({ failures: r.failures, errors: r.errors, skipped: r.skipped }).toEqual({ failures: 0, errors: 0, skipped: 0 });
    expect(r.cases).toEqual(expect.arrayContaining(['amBuildsTheExtrasTheDaemonSends', 'createdThenDestroyedUpdatesTheRegistryAndTellsListenersInOrder', 'aRunTimeReceiverGetsSentBroadcastsAndTheManifestCopyIsIgnored']));
  });

  it('MainActivity ran with its real layout: nothing posted after onDestroy, the wanted channel survives a recreation', () => {
    setup.ready();
    const r = report('MainActivityTest');
    expect({ failures: r.failures, errors: r.errors, skipped: r.skipped }).toEqual({ failures: 0, errors: 0, skipped: 0 });
    expect(r.cases).toEqual(expect.arrayContaining(['dataReceivedAfterOnDestroyIsNotPosted', 'theWantedChannelSurvivesARecreation', 'channelsFromBroadcastsAreListedWhileTheActivityLives']));
  });

  it("the binder client's error mapping tests ran", () => {
    setup.ready();
    const r = report('BinderDataProxyClientTest');
    expect({ failures: r.failures, errors: r.errors, skipped: r.skipped }).toEqual({ failures: 0, errors: 0, skipped: 0 });
    expect(r.cases).toEqual(expect.arrayContaining(['errorStatusesMapByExceptionType', 'remoteExceptionsAreConnectionLostOrFailedTransaction', 'sendsTheTokenAndTheChannelNameOnce']));
  });
});
