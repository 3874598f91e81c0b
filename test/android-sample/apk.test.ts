// `npm run build:android` for real: android-sample/build-tools/build_apk.py builds both flavors
// (aapt2 compile/link against Debian's framework-res, javac against Robolectric's android-all for
// API 34 with every lint warning in our sources an error, dx, zipalign, apksigner with a debug key
// made by keytool) into a temp dir, and the APKs are checked with the Android tools themselves:
// apksigner verify, aapt2 dump badging and xmltree, dexdump.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNEL_STATUS_ACTION } from '../../src/broadcast/types.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { BUILD_APK_SCRIPT, requireAndroidTools } from './android-tools.js';
import { requireJdk, run, SuiteSetup } from './java-toolchain.js';

const FLAVORS = {
  anbox: { packageName: 'org.anboxoob.sample', versionName: '0.1.0', systemApp: true },
  emulator: { packageName: 'org.anboxoob.sample.emulator', versionName: '0.1.0-emulator', systemApp: false },
} as const;

const setup = new SuiteSetup();
let dir: string | undefined;
let buildOutput = '';

function apk(flavor: keyof typeof FLAVORS): string {
  return join(dir!, `app-${flavor}-debug.apk`);
}

async function tool(command: string, args: string[]): Promise<string> {
  const result = await run(command, args);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${result.code}):\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

beforeAll(async () => {
  await setup.run(async () => {
    requireJdk();
    requireAndroidTools();
    dir = makeTempDir('aoob-apk-');
    // The first run on a machine fetches the pinned jars with Maven (.ci/run does it beforehand).
    const result = await run('python3', [BUILD_APK_SCRIPT, '--out', dir], 540_000);
    buildOutput = result.stdout + result.stderr;
    if (result.code !== 0) throw new Error(`build_apk.py failed (exit ${result.code}):\n${buildOutput}`);
  });
}, 600_000);

afterAll(() => {
  if (dir) removeTempDir(dir);
});

describe('npm run build:android: a signed debug APK per flavor', () => {
  it('builds both flavors and prints their paths', () => {
    setup.ready();
    for (const flavor of Object.keys(FLAVORS) as Array<keyof typeof FLAVORS>) {
      expect(buildOutput).toContain(apk(flavor));
      expect(existsSync(apk(flavor))).toBe(true);
    }
  });

  for (const [flavor, want] of Object.entries(FLAVORS) as Array<[keyof typeof FLAVORS, (typeof FLAVORS)[keyof typeof FLAVORS]]>) {
    describe(`${flavor} flavor`, () => {
      it('apksigner verifies its signature (v2/v3 scheme, one signer)', async () => {
        setup.ready();
        const out = await tool('apksigner', ['verify', '--verbose', apk(flavor)]);
        expect(out).toMatch(/^Verifies$/m);
        expect(out).toMatch(/Verified using v2 scheme \(APK Signature Scheme v2\): true/);
        expect(out).toMatch(/Number of signers: 1/);
      });

      it('aapt2 dump badging: package, version, SDK levels, launcher, no permissions', async () => {
        setup.ready();
        const out = await tool('aapt2', ['dump', 'badging', apk(flavor)]);
        expect(out).toMatch(new RegExp(`^package: name='${want.packageName.replace(/\./g, '\\.')}' versionCode='1' versionName='${want.versionName}'`, 'm'));
        expect(out).toMatch(/^sdkVersion:'24'$/m);
        expect(out).toMatch(/^targetSdkVersion:'34'$/m);
        expect(out).toMatch(/^launchable-activity: name='org\.anboxoob\.sample\.MainActivity'/m);
        expect(out).toMatch(/^application-label:'Anbox OOB sample'$/m);
        expect(out).not.toMatch(/uses-permission/);
      });

      it('its manifest: the exported receiver for the daemon action, sharedUserId on anbox only, configChanges', async () => {
        setup.ready();
        const out = await tool('aapt2', ['dump', 'xmltree', '--file', 'AndroidManifest.xml', apk(flavor)]);
        const receiver = /E: receiver[\s\S]*?(?=\n {10}E: |\s*$)/.exec(out)?.[0] ?? '';
        expect(receiver).toMatch(/android:name\(0x01010003\)="(?:org\.anboxoob\.sample)?\.DataChannelEventReceiver"/);
        expect(receiver).toMatch(/android:exported\(0x01010010\)=true/);
        expect(receiver).toContain(`"${CHANNEL_STATUS_ACTION}"`);
        if (want.systemApp) expect(out).toMatch(/android:sharedUserId\(0x0101000b\)="android\.uid\.system"/);
        else expect(out).not.toMatch(/sharedUserId/);
        // orientation|keyboard|keyboardHidden|screenLayout|uiMode|screenSize|smallestScreenSize|density
        expect(out).toMatch(/android:configChanges\(0x0101001f\)=0x00001fb0/);
      });

      it('its classes.dex holds the app, the flavor transport, the protocol module and R', async () => {
        setup.ready();
        const out = await tool('dexdump', ['-d', apk(flavor)]);
        const classes = [...out.matchAll(/Class descriptor\s+: 'L([^;]+);'/g)].map((m) => m[1].replace(/\//g, '.'));
        for (const name of ['MainActivity', 'DataChannelEventReceiver', 'ChannelRegistry', 'ChannelSession', 'TransportFactory', 'BinderDataProxyClient', 'StreamDataProxyClient', 'R$id', 'R$layout']) {
          expect(classes).toContain(`org.anboxoob.sample.${name}`);
        }
        expect(classes).toContain('org.anboxoob.protocol.StreamConnect');
        // Nothing of the framework is packaged: android-all was the boot class path only.
        expect(classes.filter((c) => c.startsWith('android.'))).toEqual([]);
        const factory = /Class descriptor\s+: 'Lorg\/anboxoob\/sample\/TransportFactory;'[\s\S]*?(?=Class #|$)/.exec(out)?.[0] ?? '';
        // TransportFactory.create's code: new-instance of the flavor's client.
        expect(factory).toMatch(new RegExp(`new-instance v\\d+, Lorg/anboxoob/sample/${flavor === 'anbox' ? 'Binder' : 'Stream'}DataProxyClient;`));
      });
    });
  }
});
