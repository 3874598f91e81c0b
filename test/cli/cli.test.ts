import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { startFakeChannel, type FakeChannel } from '../helpers/echo-platform.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';

let dir: string;
let daemon: DaemonHandle;
let channel: FakeChannel;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = makeTempDir();
  daemon = await startDaemon(dir);
  channel = await startFakeChannel(daemon.socketDir, 'foo', (chunk) => chunk.toString().toUpperCase());
  env = { ANBOX_OOB_SERVICE_SOCKET: daemon.servicePath };
});

afterAll(async () => {
  await channel?.close();
  await daemon?.stop();
  removeTempDir(dir);
});

describe('anbox-oob --help', () => {
  it('lists every command and explains each one', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    for (const command of ['serve', 'proxy', 'connect', 'call']) {
      expect(top.stdout).toContain(`  ${command}`);
      const help = await runCli([command, '--help']);
      expect(help.code, command).toBe(0);
      expect(help.stdout).toContain(`Usage: anbox-oob ${command}`);
    }
    const proxy = await runCli(['proxy', '--help']);
    for (const option of ['--socket-dir', '--service-socket', '--allow-uid', '--log-level', '--log-format', 'ANBOX_OOB_SOCKET_DIR', 'ANBOX_OOB_SERVICE_SOCKET']) {
      expect(proxy.stdout).toContain(option);
    }
  });

  it('rejects unknown commands and options with exit code 2 and a pointer to --help', async () => {
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const badOption = await runCli(['connect', 'foo', '--bogus']);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toContain('anbox-oob connect --help');
    const badUid = await runCli(['proxy', '--allow-uid', 'root']);
    expect(badUid.code).toBe(2);
    expect(badUid.stderr).toContain('numeric uid');
  });
});

describe('anbox-oob connect', () => {
  it.each([[[] as string[]], [['--stream']]])('pipes stdin to the channel and the channel to stdout %j', async (extra) => {
    const result = await runCli(['connect', 'foo', ...extra], { env, input: 'hello channel' });
    // One status line on stderr (the data alone on stdout); stdin ended first, so no "disconnected" line.
    expect(result.stderr).toBe(`anbox-oob connect: connected to channel "foo"${extra.length > 0 ? ' (stream mode)' : ''}; stdin goes to it, its data to stdout\n`);
    const quiet = await runCli(['connect', 'foo', '--quiet', ...extra], { env, input: 'hello channel' });
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toBe('HELLO CHANNEL');
    expect(result.stdout).toBe('HELLO CHANNEL');
    expect(result.code).toBe(0);
  });

  it('finds the service through --service-socket as well', async () => {
    const result = await runCli(['connect', 'foo', '--service-socket', daemon.servicePath], { input: 'flag' });
    expect(result.stdout).toBe('FLAG');
  });

  it('exits when the channel side closes, even with stdin still open', async () => {
    const child = spawn(process.execPath, [CLI, 'connect', 'foo'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stdin.write('ping');
    const deadline = Date.now() + 5000;
    while (!stdout.includes('PING') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    channel.connections.at(-1)!.end();
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(stdout).toBe('PING');
  });

  it('explains a refused connect and exits 1', async () => {
    const result = await runCli(['connect', 'missing'], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('NAME_NOT_FOUND (CHANNEL_NOT_FOUND)');
    expect(result.stderr).toContain(join(daemon.socketDir, 'webrtc_data_missing'));
  });

  it('says how to start a daemon when none runs', async () => {
    const result = await runCli(['connect', 'foo', '--service-socket', join(dir, 'nothing.sock')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('anbox-oob serve');
  });
});

describe('anbox-oob call', () => {
  it('prints the interface descriptor for _NTF', async () => {
    const result = await runCli(['call', 'org.anbox.webrtc.IDataProxyService', '_NTF'], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('status: OK (0)');
    expect(result.stdout).toContain('as String16: "org.anbox.webrtc.IDataProxyService@1.0"');
  });

  it('connects like `service call ... 1 s16 foo` and shows the fd object and the descriptor', async () => {
    const result = await runCli(['call', 'org.anbox.webrtc.IDataProxyService', '1', 's16', 'foo'], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('objects at [0]');
    expect(result.stdout).toContain('852a6466 7f010000 00000000 00000000');
    expect(result.stdout).toMatch(/descriptor #0: received as fd \d+ \(socket:\[\d+\]\), closed/);
  });

  it.each(['api28', 'api29', 'api30'])('writes a %s interface token the daemon accepts', async (layout) => {
    const result = await runCli(['call', 'org.anbox.webrtc.IDataProxyService', '1', 's16', 'foo', '--token-layout', layout], { env });
    expect(result.code).toBe(0);
  });

  it('lists services through the service manager', async () => {
    const result = await runCli(['call', 'manager', '4', 'i32', '15'], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('status: OK');
    expect(result.stdout).toContain('as AIDL reply: no exception, String16[] ["manager","org.anbox.oob.IEmulatorStatus","org.anbox.platform.IPlatformAPI","org.anbox.webrtc.IDataProxyService"]');
  });

  it('exits 1 and prints the status and message of a refusal', async () => {
    const result = await runCli(['call', 'org.anbox.webrtc.IDataProxyService', '1', 's16', 'a/b'], { env });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('status: BAD_VALUE (-22) INVALID_CHANNEL_NAME');
    expect(result.stdout).toContain('message: channel name "a/b"');
    const wrong = await runCli(['call', 'org.anbox.webrtc.IDataProxyService', '1', 's16', 'foo', '--token', 'x.IWrong'], { env });
    expect(wrong.stdout).toContain('WRONG_INTERFACE');
  });

  it('rejects malformed arguments with exit code 2', async () => {
    for (const args of [['svc'], ['svc', 'notacode'], ['svc', '1', 'i32'], ['svc', '1', 'i32', 'x'], ['svc', '1', 'f32', '1']]) {
      const result = await runCli(['call', ...args], { env });
      expect(result.code, args.join(' ')).toBe(2);
    }
  });
});
