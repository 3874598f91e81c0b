// Static checks of android-sample/: the Gradle project (with its wrapper) and Android sources are
// present, and the names the app uses (broadcast action and extras, service name, interface
// descriptor, adb reverse socket) are the daemon's. The manifests are checked on a parsed tree in
// xml.test.ts; the app is built into APKs by apk.test.ts.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADB_REVERSE_SOCKET_NAME } from '../../src/broadcast/adb/adb-reverse.js';
import { CHANNEL_STATUS_ACTION, EXTRA_DATA_CHANNEL_NAMES, EXTRA_EVENT } from '../../src/broadcast/types.js';
import { DATA_PROXY_DESCRIPTOR, DATA_PROXY_SERVICE_NAME } from '../../src/service/data-proxy-service.js';
import { ANDROID_SAMPLE, APP_SOURCES, javaFiles, PROTOCOL_SOURCES } from './java-toolchain.js';

const APP_JAVA = join(APP_SOURCES, 'main', 'java', 'org', 'anboxoob', 'sample');
const PROTOCOL_JAVA = join(PROTOCOL_SOURCES, 'org', 'anboxoob', 'protocol');

function read(...parts: string[]): string {
  const path = join(ANDROID_SAMPLE, ...parts);
  if (!existsSync(path)) throw new Error(`android-sample/${parts.join('/')} is missing`);
  return readFileSync(path, 'utf8');
}

function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      if (entry !== 'build' && entry !== '.gradle') out.push(...allFiles(path));
    } else out.push(path);
  }
  return out;
}

/** Java source without comments and string/char literals (for "does the code use X" checks). */
function codeOnly(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'/g, (m) => (m.startsWith('"') ? '""' : m.startsWith("'") ? "''" : ' '));
}

/** The value of `public static final String NAME = "...";` in a Java source. */
function javaConstant(source: string, name: string): string | undefined {
  return new RegExp(`static final String ${name} = "([^"]*)";`).exec(source)?.[1];
}

describe('android-sample: Gradle project', () => {
  it('has settings, root and module build files, gradle.properties and a README', () => {
    const settings = read('settings.gradle');
    expect(settings).toMatch(/include\s+['"]:app['"]/);
    expect(settings).toMatch(/include\s+['"]:protocol['"]/);
    expect(read('build.gradle')).toMatch(/id\s+['"]com\.android\.application['"]\s+version\s+['"][\d.]+['"]\s+apply\s+false/);
    expect(read('gradle.properties')).toMatch(/org\.gradle\.jvmargs/);
    expect(read('protocol', 'build.gradle')).toMatch(/id\s+['"]java-library['"]/);
    const app = read('app', 'build.gradle');
    expect(app).toMatch(/id\s+['"]com\.android\.application['"]/);
    expect(app).toMatch(/namespace\s+['"]org\.anboxoob\.sample['"]/);
    expect(app).toMatch(/applicationId\s+['"]org\.anboxoob\.sample['"]/);
    expect(app).toMatch(/implementation\s+project\(['"]:protocol['"]\)/);
    expect(app).toMatch(/productFlavors\s*\{[\s\S]*\banbox\s*\{[\s\S]*\bemulator\s*\{/);
    expect(read('README.md').length).toBeGreaterThan(1000);
  });

  it('has a Gradle wrapper for the Gradle version AGP needs', () => {
    expect(statSync(join(ANDROID_SAMPLE, 'gradlew')).mode & 0o111, 'gradlew is executable').not.toBe(0);
    expect(existsSync(join(ANDROID_SAMPLE, 'gradlew.bat'))).toBe(true);
    expect(statSync(join(ANDROID_SAMPLE, 'gradle', 'wrapper', 'gradle-wrapper.jar')).size).toBeGreaterThan(1000);
    expect(read('gradle', 'wrapper', 'gradle-wrapper.properties')).toMatch(/^distributionUrl=https\\:\/\/services\.gradle\.org\/distributions\/gradle-8\.7-bin\.zip$/m);
  });

  it('has the flavor source sets: anbox uses binder, emulator uses the stream transport', () => {
    const anbox = read('app', 'src', 'anbox', 'java', 'org', 'anboxoob', 'sample', 'TransportFactory.java');
    const emulator = read('app', 'src', 'emulator', 'java', 'org', 'anboxoob', 'sample', 'TransportFactory.java');
    expect(codeOnly(anbox)).toMatch(/return new BinderDataProxyClient\(\)/);
    expect(codeOnly(emulator)).toMatch(/return new StreamDataProxyClient\(\)/);
  });

  it('has the app classes, the layout and the plain-Java protocol classes', () => {
    for (const name of ['MainActivity', 'DataChannelEventReceiver', 'ChannelRegistry', 'DataProxyClient', 'BinderDataProxyClient', 'StreamDataProxyClient', 'ChannelSession']) {
      expect(existsSync(join(APP_JAVA, `${name}.java`)), `${name}.java`).toBe(true);
    }
    for (const name of ['Frames', 'ProtoWire', 'ParcelWriter', 'ParcelReader', 'StreamConnect', 'DataProxyException', 'OobConstants', 'InterfaceTokenLayout']) {
      expect(existsSync(join(PROTOCOL_JAVA, `${name}.java`)), `${name}.java`).toBe(true);
    }
    expect(read('app', 'src', 'main', 'res', 'layout', 'activity_main.xml')).toMatch(/<LinearLayout/);
  });
});

describe("android-sample: the Java sources use the daemon's names", () => {
  const constants = readFileSync(join(PROTOCOL_JAVA, 'OobConstants.java'), 'utf8');
  const binder = readFileSync(join(APP_JAVA, 'BinderDataProxyClient.java'), 'utf8');
  const stream = readFileSync(join(APP_JAVA, 'StreamDataProxyClient.java'), 'utf8');
  const receiver = readFileSync(join(APP_JAVA, 'DataChannelEventReceiver.java'), 'utf8');

  it('OobConstants holds the values of src/ (service, descriptor, action, extras, adb reverse socket)', () => {
    expect(javaConstant(constants, 'SERVICE_NAME')).toBe(DATA_PROXY_SERVICE_NAME);
    expect(javaConstant(constants, 'INTERFACE_DESCRIPTOR')).toBe(DATA_PROXY_DESCRIPTOR);
    expect(javaConstant(constants, 'CHANNEL_STATUS_ACTION')).toBe(CHANNEL_STATUS_ACTION);
    expect(javaConstant(constants, 'EXTRA_EVENT')).toBe(EXTRA_EVENT);
    expect(javaConstant(constants, 'EXTRA_DATA_CHANNEL_NAMES')).toBe(EXTRA_DATA_CHANNEL_NAMES);
    expect(javaConstant(constants, 'ADB_REVERSE_SOCKET_NAME')).toBe(ADB_REVERSE_SOCKET_NAME);
    expect(javaConstant(constants, 'EVENT_CREATED')).toBe('created');
    expect(javaConstant(constants, 'EVENT_DESTROYED')).toBe('destroyed');
  });

  it('no Java source spells one of these names differently', () => {
    const names = [DATA_PROXY_SERVICE_NAME, DATA_PROXY_DESCRIPTOR, CHANNEL_STATUS_ACTION, ADB_REVERSE_SOCKET_NAME];
    for (const file of [...javaFiles(APP_SOURCES), ...javaFiles(PROTOCOL_SOURCES)]) {
      const literals = [...readFileSync(file, 'utf8').matchAll(/"((?:\\.|[^"\\\n])*)"/g)].map((m) => m[1]);
      for (const literal of literals) {
        if (/IDataProxyService|BROADCAST_DATA_CHANNELS|anbox-oob-data/.test(literal) && !/\s/.test(literal)) {
          expect(names, `${relative(ANDROID_SAMPLE, file)}: "${literal}"`).toContain(literal);
        }
      }
    }
  });

  it('the binder transport makes the call Anbox expects', () => {
    const code = codeOnly(binder);
    expect(binder).toContain('Class.forName("android.os.ServiceManager")');
    expect(binder).toContain('getMethod("getService", String.class)');
    expect(code).toMatch(/invoke\(null, OobConstants\.SERVICE_NAME\)/);
    expect(code).toMatch(/writeInterfaceToken\(OobConstants\.INTERFACE_DESCRIPTOR\)/);
    expect(code).toMatch(/writeString\(channel\)/);
    expect(code).toMatch(/transact\(IBinder\.FIRST_CALL_TRANSACTION, data, reply, 0\)/);
    expect(code).toMatch(/reply\.readFileDescriptor\(\)/);
    // The reply is a bare fd object: no status word to read first.
    expect(code).not.toMatch(/readException/);
    expect(code).toMatch(/catch \(RemoteException e\)/);
  });

  it('the emulator transport uses the abstract socket, stream mode and hands back a ParcelFileDescriptor', () => {
    const code = codeOnly(stream);
    expect(code).toMatch(/new LocalSocketAddress\(OobConstants\.ADB_REVERSE_SOCKET_NAME, LocalSocketAddress\.Namespace\.ABSTRACT\)/);
    expect(code).toMatch(/StreamConnect\.connect\(/);
    expect(code).toMatch(/ParcelFileDescriptor\.dup\(socket\.getFileDescriptor\(\)\)/);
    expect(code).toMatch(/socket\.close\(\)/);
  });

  it('the receiver filters the action and registers at run time with RECEIVER_EXPORTED on API 33+', () => {
    const code = codeOnly(receiver);
    expect(code).toMatch(/OobConstants\.CHANNEL_STATUS_ACTION\.equals\(intent\.getAction\(\)\)/);
    expect(code).toMatch(/new IntentFilter\(OobConstants\.CHANNEL_STATUS_ACTION\)/);
    expect(code).toMatch(/Build\.VERSION\.SDK_INT >= 33\)\s*\{\s*context\.registerReceiver\(receiver, filter, Context\.RECEIVER_EXPORTED\)/);
    expect(code).toMatch(/getStringArrayExtra\(OobConstants\.EXTRA_DATA_CHANNEL_NAMES\)/);
    expect(code).toMatch(/getStringExtra\(OobConstants\.EXTRA_EVENT\)/);
    expect(codeOnly(readFileSync(join(APP_JAVA, 'MainActivity.java'), 'utf8'))).toMatch(/DataChannelEventReceiver\.registerAtRuntime\(this\)/);
  });
});

describe('android-sample: code rules', () => {
  it('the protocol module is plain Java: no android.* import or reference', () => {
    const files = javaFiles(PROTOCOL_SOURCES);
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const file of files) {
      const code = codeOnly(readFileSync(file, 'utf8'));
      expect(code, relative(ANDROID_SAMPLE, file)).not.toMatch(/\bandroid\./);
      expect(code, relative(ANDROID_SAMPLE, file)).not.toMatch(/\bimport\s+(?:static\s+)?(?:android|androidx|com\.google\.protobuf)\b/);
    }
  });

  it('no AsyncTask anywhere in android-sample', () => {
    for (const file of allFiles(ANDROID_SAMPLE)) {
      if (file.endsWith('README.md')) continue; // the README may say that it is not used
      expect(readFileSync(file, 'utf8'), relative(ANDROID_SAMPLE, file)).not.toMatch(/AsyncTask/);
    }
  });

  it('the README documents the emulator and Anbox paths and both ways to build', () => {
    const readme = read('README.md');
    expect(readme).toContain('anbox-oob serve --adb');
    expect(readme).toContain(`adb reverse localabstract:${ADB_REVERSE_SOCKET_NAME} localfilesystem:`);
    expect(readme).toMatch(/adb (?:-s \S+ )?install -r \S+app-emulator-debug\.apk/);
    expect(readme).toMatch(/aam install-system-app[\s\S]*--access-hidden-api/);
    expect(readme).toMatch(/allow_custom_system_signatures/);
    expect(readme).toContain('npm run build:android');
    expect(readme).toContain('./gradlew :app:assembleAnboxDebug');
  });
});
