// Interop: a Python client written only from docs/protocol.md (standard library, no protobuf
// package) talks to the compiled daemon (`dist/src/cli/main.js proxy`). The test process plays the
// platform: it listens on <socket-dir>/webrtc_data_foo and echoes what it receives behind "echo:".
//
// Needs `npm run build` first (`npm test` does it) and python3 >= 3.9 on PATH. A missing python3 is
// a failure, never a skip.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const daemonCli = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const pythonClient = path.join(repoRoot, 'test', 'interop', 'python', 'dataproxy_client.py');
const PYTHON = 'python3';
const PY_TIMEOUT_MS = 20_000;

interface PyResult {
  code: number;
  stdout: string;
  stderr: string;
  json: Record<string, unknown>;
}

let tempDir: string | undefined;
let serviceSocket = '';
let daemon: ChildProcess | undefined;
let daemonExit: Promise<void> | undefined;
let daemonOutput = '';
let platform: net.Server | undefined;
const platformConnections = new Set<net.Socket>();
/** Everything each platform-side connection received, in connection order. */
const platformReceived: string[] = [];

function daemonLog(): string {
  return daemonOutput.length > 0 ? daemonOutput : '(the daemon printed nothing)';
}

/** Why python3 cannot be used, or undefined when it can. */
function pythonProblem(): string | undefined {
  let version: string;
  try {
    version = execFileSync(PYTHON, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], {
      encoding: 'utf8',
      timeout: 10_000,
    }).trim();
  } catch (err) {
    return (
      `python3 is required by the Python interop test but could not be run (${(err as Error).message}). ` +
      'Install Python 3.9 or newer and make sure `python3` is on PATH.'
    );
  }
  const [major, minor] = version.split('.').map(Number);
  if (major < 3 || (major === 3 && minor < 9)) {
    return `python3 is ${version}; the interop client needs 3.9 or newer (socket.recv_fds)`;
  }
  return undefined;
}

// Set by beforeAll. A missing python3 must fail every test with this message, never skip them.
let pythonError: string | undefined;

async function waitForSocket(file: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fs.existsSync(file)) {
    if (daemon && (daemon.exitCode !== null || daemon.signalCode !== null)) {
      throw new Error(`the daemon exited (code ${daemon?.exitCode}, signal ${daemon?.signalCode}) before creating ${file}:\n${daemonLog()}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`the daemon did not create ${file} within ${timeoutMs} ms:\n${daemonLog()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function startPlatform(socketPath: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((conn) => {
      platformConnections.add(conn);
      const slot = platformReceived.push('') - 1;
      let first = true;
      conn.on('data', (chunk: Buffer) => {
        platformReceived[slot] += chunk.toString('utf8');
        // One "echo:" per connection, so that the answer does not depend on how TCP-like chunking
        // splits the bytes.
        conn.write(first ? Buffer.concat([Buffer.from('echo:'), chunk]) : chunk);
        first = false;
      });
      conn.on('end', () => conn.end());
      conn.on('error', () => conn.destroy());
      conn.on('close', () => platformConnections.delete(conn));
    });
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function runPy(args: string[]): Promise<PyResult> {
  return new Promise((resolve, reject) => {
    if (pythonError !== undefined) {
      reject(new Error(pythonError));
      return;
    }
    execFile(
      PYTHON,
      [pythonClient, '--service-socket', serviceSocket, '--timeout', '10', ...args],
      { timeout: PY_TIMEOUT_MS, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const failure = err as (Error & { code?: number | string; killed?: boolean; signal?: string }) | null;
        if (failure && typeof failure.code !== 'number') {
          reject(new Error(`python client did not run (${failure.message}; signal ${failure.signal ?? 'none'})\nstderr: ${stderr}\ndaemon:\n${daemonLog()}`));
          return;
        }
        const code = failure ? (failure.code as number) : 0;
        const lines = stdout.trim().split('\n').filter((l) => l.length > 0);
        const last = lines[lines.length - 1];
        let json: Record<string, unknown>;
        try {
          json = JSON.parse(last ?? '') as Record<string, unknown>;
        } catch {
          reject(new Error(`python client (exit ${code}) printed no JSON line.\nstdout: ${stdout}\nstderr: ${stderr}`));
          return;
        }
        resolve({ code, stdout, stderr, json });
      },
    );
  });
}

function describeRun(r: PyResult): string {
  return `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

beforeAll(async () => {
  pythonError = pythonProblem();
  if (pythonError !== undefined) return; // every test fails with the message (see runPy)
  if (!fs.existsSync(daemonCli)) {
    throw new Error(`${daemonCli} is missing: run \`npm run build\` first (\`npm test\` does it)`);
  }
  tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'anbox-py-'));
  serviceSocket = path.join(tempDir, 'data-proxy.sock');

  const child = spawn(
    process.execPath,
    [daemonCli, 'proxy', '--socket-dir', tempDir, '--service-socket', serviceSocket, '--log-format', 'json'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  daemon = child;
  daemonExit = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (daemonOutput += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (daemonOutput += s));
  child.once('error', (err) => (daemonOutput += `\nspawn error: ${err.message}`));

  await waitForSocket(serviceSocket, 15_000);
  platform = await startPlatform(path.join(tempDir, 'webrtc_data_foo'));
});

afterAll(async () => {
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
    daemon.kill('SIGTERM');
    const timer = setTimeout(() => daemon?.kill('SIGKILL'), 10_000);
    await daemonExit;
    clearTimeout(timer);
  }
  for (const conn of platformConnections) conn.destroy();
  if (platform) {
    const server = platform;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
});

describe('Python client written from docs/protocol.md', () => {
  it('python3 (3.9+) is available', () => {
    expect(pythonError, pythonError).toBeUndefined();
  });

  it('its codec reproduces the byte-by-byte examples of the document', async () => {
    const r = await runPy(['selftest']);
    expect(r.json, describeRun(r)).toEqual({ ok: true, failures: [] });
    expect(r.code).toBe(0);
  });

  for (const layout of ['api28', 'api29', 'api30'] as const) {
    it(`connect with the ${layout} interface token: the descriptor carries data both ways`, async () => {
      const text = `hello from python ${layout}`;
      const r = await runPy(['connect', 'foo', '--layout', layout, '--send', text, '--expect', `echo:${text}`]);
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.json).toMatchObject({
        ok: true,
        received: `echo:${text}`,
        fd_object_index: 0,
        fd_count: 1,
        layout,
        mode: 'descriptor',
        // Section 3: a connected Unix stream socket in blocking mode.
        fd_blocking: true,
        fd_family: 'AF_UNIX',
        fd_type: 'SOCK_STREAM',
      });
      expect(platformReceived).toContain(text);
    });
  }

  it('stream mode: after the OK reply the IPC connection is the channel', async () => {
    const text = 'stream mode from python';
    const r = await runPy(['stream', 'foo', '--send', text, '--expect', `echo:${text}`]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.json).toMatchObject({ ok: true, received: `echo:${text}`, mode: 'stream' });
    expect(platformReceived).toContain(text);
  });

  it('stream mode: bytes sent right behind the transaction reach the channel', async () => {
    const text = 'early bytes from python';
    const r = await runPy(['stream', 'foo', '--layout', 'api28', '--send', text, '--expect', `echo:${text}`, '--send-early']);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.json).toMatchObject({ ok: true, received: `echo:${text}`, mode: 'stream', send_early: true });
  });

  it('an unknown channel is CHANNEL_NOT_FOUND with status -2 (exit 3)', async () => {
    const r = await runPy(['connect', 'nope']);
    expect(r.code, describeRun(r)).toBe(3);
    expect(r.json).toMatchObject({ ok: false, status: -2, error_code: 'CHANNEL_NOT_FOUND' });
    expect(typeof r.json.message).toBe('string');
    expect((r.json.message as string).length).toBeGreaterThan(0);
  });

  it('an unknown channel in stream mode is an ordinary error reply', async () => {
    const r = await runPy(['stream', 'nope', '--send', 'x']);
    expect(r.code, describeRun(r)).toBe(3);
    expect(r.json).toMatchObject({ ok: false, status: -2, error_code: 'CHANNEL_NOT_FOUND' });
  });

  it('ping answers int32 0', async () => {
    const r = await runPy(['ping']);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.json).toEqual({ ok: true, service: 'org.anbox.webrtc.IDataProxyService', result: 0 });
  });

  it('interface names the data-proxy descriptor', async () => {
    const r = await runPy(['interface']);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.json).toMatchObject({ ok: true, descriptor: 'org.anbox.webrtc.IDataProxyService@1.0' });
  });

  it('interface of the manager service is android.os.IServiceManager', async () => {
    const r = await runPy(['interface', '--service', 'manager']);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.json).toMatchObject({ ok: true, descriptor: 'android.os.IServiceManager' });
  });

  it('getService("manager") is the manager itself; a descriptor is not a service name', async () => {
    const self = await runPy(['get-service', 'manager']);
    expect(self.code, describeRun(self)).toBe(0);
    expect(self.json).toMatchObject({ ok: true, descriptor: 'android.os.IServiceManager' });
    const status = await runPy(['get-service', 'org.anbox.oob.IEmulatorStatus']);
    expect(status.json).toMatchObject({ ok: true, descriptor: 'org.anbox.oob.IEmulatorStatus@1.0' });
    const descriptor = await runPy(['get-service', 'org.anbox.oob.IEmulatorStatus@1.0']);
    expect(descriptor.json).toMatchObject({ ok: true, descriptor: null });
  });

  it('listServices answers the same with and without its int32 argument, manager included', async () => {
    const withArgument = await runPy(['services']);
    expect(withArgument.code, describeRun(withArgument)).toBe(0);
    const names = withArgument.json.names as string[];
    expect(names).toEqual(expect.arrayContaining(['manager', 'org.anbox.oob.IEmulatorStatus', 'org.anbox.webrtc.IDataProxyService']));
    expect(names).toEqual([...names].sort());
    const without = await runPy(['services', '--without-argument']);
    expect(without.code, describeRun(without)).toBe(0);
    expect(without.json).toEqual({ ok: true, names });
  });

  it('STREAM_NOT_SUPPORTED and UNKNOWN_REPLY_MODE both close the connection after their reply', async () => {
    for (const [mode, errorCode, status] of [
      [1, 'STREAM_NOT_SUPPORTED', -38],
      [3, 'UNKNOWN_REPLY_MODE', -22],
    ] as const) {
      const r = await runPy(['reply-mode', String(mode)]);
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.json).toMatchObject({ ok: true, reply_id: 1, error_code: errorCode, status, closed: true });
    }
  });

  it('an unknown service is UNKNOWN_SERVICE / NAME_NOT_FOUND', async () => {
    const r = await runPy(['ping', '--service', 'no.such.Service']);
    expect(r.code, describeRun(r)).toBe(3);
    expect(r.json).toMatchObject({ ok: false, status: -2, error_code: 'UNKNOWN_SERVICE' });
  });
});
