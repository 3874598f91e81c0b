/**
 * Out-of-band data v1 with the daemon and the platform as separate processes (`anbox-oob proxy` +
 * `anbox-oob platform`, one socket dir): the service on the daemon's socket reaches the platform's
 * live session over the platform link. The web client is the real headless client
 * (`anbox-oob client --json`), the senders are the CLI (`anbox-oob send-message`, data from argv and
 * from stdin) and the Python interop client written from docs/protocol.md.
 *
 * Needs `npm run build` and python3; either missing fails the test.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformApiSocketPath } from '../../src/v1/link-codec.js';
import { REPO_ROOT, runCli, spawnCli } from '../helpers/cli.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { compileProtocol, javaFiles, requireJdk, run, runJavac } from '../android-sample/java-toolchain.js';

const TOKEN = 'v1-separate-token-0123456789';
const PYTHON_CLIENT = join(REPO_ROOT, 'test', 'interop', 'python', 'dataproxy_client.py');
const JAVA_SOURCES = join(REPO_ROOT, 'test', 'v1', 'java');
let javaClasspath = '';

interface Spawned {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function spawnTracked(args: string[]): Spawned {
  const child = spawnCli(args);
  children.add(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exited.then(() => children.delete(child));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function until<T>(what: string, check: () => T | undefined, detail: () => string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${detail()}`);
    await sleep(50);
  }
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function python(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('python3', [PYTHON_CLIENT, ...args], { timeout: 20_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? ((error as { code?: unknown }).code as number | null) : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

const children = new Set<ChildProcess>();
let dir: string;
let daemon: DaemonHandle | undefined;
let platform: Spawned | undefined;

beforeAll(async () => {
  dir = makeTempDir('aoob-v1-sep-');
  // The android-sample's protocol module (as its Gradle build compiles it) and a Java 17 caller.
  requireJdk();
  const protocol = await compileProtocol(join(dir, 'java'));
  await runJavac(['--release', '17', '-encoding', 'UTF-8', '-Xlint:all', '-Werror', '-cp', protocol, '-d', join(dir, 'java', 'v1test'), ...javaFiles(JAVA_SOURCES)]);
  javaClasspath = `${protocol}:${join(dir, 'java', 'v1test')}`;
  daemon = await startDaemon(dir);
});

afterAll(async () => {
  for (const child of children) child.kill('SIGTERM');
  await sleep(200);
  for (const child of children) child.kill('SIGKILL');
  await daemon?.stop();
  removeTempDir(dir);
});

describe('out-of-band data v1 across `anbox-oob proxy` and `anbox-oob platform`', () => {
  it('says NO_PLATFORM, then NO_SESSION, then delivers CLI, stdin, Python and Java (android-sample PlatformApiCall) messages in order to `anbox-oob client --json`', async () => {
    const svc = ['--service-socket', daemon!.servicePath];
    const none = await runCli(['send-message', 'greeting', 'hi', ...svc]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('not sent (NO_PLATFORM)');
    expect(jsonLines(daemon!.output()).some((l) => l.event === 'sendmessage.refused' && l.code === 'NO_PLATFORM')).toBe(true);

    platform = spawnTracked(['platform', '--socket-dir', daemon!.socketDir, '--listen', '127.0.0.1:0', '--token', TOKEN, '--log-format', 'json']);
    const started = await until('platform.started', () => jsonLines(platform!.stdout()).find((l) => l.event === 'platform.started'), () => platform!.stdout() + platform!.stderr());
    await until('sendmessage.link_listening', () => jsonLines(platform!.stdout()).find((l) => l.event === 'sendmessage.link_listening'), () => platform!.stdout());
    // The link socket: owner only.
    expect(statSync(platformApiSocketPath(daemon!.socketDir)).mode & 0o777).toBe(0o600);

    const noSession = await runCli(['send-message', 'greeting', 'hi', ...svc]);
    expect(noSession.code).toBe(1);
    expect(noSession.stderr).toContain('not sent (NO_SESSION)');

    const client = spawnTracked(['client', '--gateway', String(started.gateway), '--token', TOKEN, '--channel', 'foo', '--json', '--no-stdin']);
    // Sent as soon as the session is connected (false with NO_SESSION until then).
    let attempts = 0;
    for (;;) {
      attempts++;
      const first = await runCli(['send-message', 'ready', String(attempts), ...svc]);
      if (first.code === 0) break;
      expect(first.stderr).toContain('NO_SESSION');
      if (attempts > 200) throw new Error(`never connected: ${client.stderr()}\n${platform!.stdout()}`);
      await sleep(100);
    }

    const reserved = await runCli(['send-message', 'show-ime', '{}', ...svc]);
    expect(reserved.code).toBe(1);
    expect(reserved.stderr).toContain('RESERVED_TYPE');

    const fromStdin = await runCli(['send-message', 'note', '-', ...svc], { input: 'from stdin ✓\nsecond line' });
    expect(fromStdin).toMatchObject({ code: 0, stderr: '' });
    const py = await python(['--service-socket', daemon!.servicePath, 'send-message', 'py', '{"from":"python"}']);
    expect(py.code, py.stdout + py.stderr).toBe(0);
    expect(JSON.parse(py.stdout)).toEqual({ ok: true, sent: true, code: null, reason: null });
    const java = await run('java', ['-cp', javaClasspath, 'org.anboxoob.v1test.SendMessageMain', daemon!.servicePath, 'java', 'from PlatformApiCall'], 30_000);
    expect(java.stdout.trim(), java.stderr).toBe('sent');
    const last = await runCli(['send-message', 'last', '', ...svc]);
    expect(last.code).toBe(0);

    const lines = await until(
      'the client to print 5 v1 lines',
      () => {
        const v1 = jsonLines(client.stdout()).filter((l) => l.type === 'v1');
        return v1.length >= 5 ? v1 : undefined;
      },
      () => client.stdout() + client.stderr(),
    );
    expect(lines).toEqual([
      { channel: 'control', type: 'v1', messageType: 'ready', data: String(attempts) },
      { channel: 'control', type: 'v1', messageType: 'note', data: 'from stdin ✓\nsecond line' },
      { channel: 'control', type: 'v1', messageType: 'py', data: '{"from":"python"}' },
      { channel: 'control', type: 'v1', messageType: 'java', data: 'from PlatformApiCall' },
      { channel: 'control', type: 'v1', messageType: 'last', data: '' },
    ]);
    // The Python client refused as the CLI is: exit 5, code and reason in its JSON line.
    const pyReserved = await python(['--service-socket', daemon!.servicePath, 'send-message', 'open-camera', '{}']);
    expect(pyReserved.code).toBe(5);
    expect(JSON.parse(pyReserved.stdout)).toMatchObject({ sent: false, code: 'RESERVED_TYPE' });

    const javaReserved = await run('java', ['-cp', javaClasspath, 'org.anboxoob.v1test.SendMessageMain', daemon!.servicePath, 'hide-ime', ''], 30_000);
    expect(javaReserved.code).toBe(5);
    expect(javaReserved.stdout).toMatch(/^not-sent RESERVED_TYPE /);

    client.child.kill('SIGTERM');
    expect(await client.exited).toBe(0);
    platform!.child.kill('SIGTERM');
    expect(await platform!.exited).toBe(0);
    // The platform removed its link socket; the daemon says so.
    const after = await runCli(['send-message', 'greeting', 'hi', ...svc]);
    expect(after.stderr).toContain('NO_PLATFORM');
  });
});
