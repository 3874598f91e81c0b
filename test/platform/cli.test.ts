/**
 * `anbox-oob platform` and `anbox-oob serve` as processes (the compiled CLI: `npm test` builds it):
 * what they print, that a client gets a channel socket through them, that `connect` reaches it
 * through the daemon in `serve`, and that SIGTERM stops them cleanly with every socket removed.
 */
import { type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, spawnCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { connectApp, waitFor } from './helpers/harness.js';
import { StreamClient } from './helpers/stream-client.js';
import { isListening } from '../helpers/listening.js';

interface Running {
  child: ChildProcess;
  lines(): Record<string, unknown>[];
  output(): string;
  line(event: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  exit: Promise<number | null>;
  stop(): Promise<number | null>;
}

let dir: string;
let running: Running[];
let clients: StreamClient[];

beforeEach(() => {
  dir = makeTempDir('aoob-cli-');
  running = [];
  clients = [];
});

afterEach(async () => {
  for (const client of clients) client.close();
  for (const r of running) await r.stop();
  removeTempDir(dir);
});

function start(args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const child = spawnCli([...args, '--log-format', 'json'], { env: { ...process.env, ANBOX_OOB_TOKEN: '', ...env } });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines = () =>
    output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const r: Running = {
    child,
    lines,
    output: () => output,
    exit,
    async line(event, timeoutMs = 15_000) {
      await waitFor(() => lines().some((l) => l.event === event) || child.exitCode !== null, `${event} in:\n${output}`, timeoutMs);
      const found = lines().find((l) => l.event === event);
      if (!found) throw new Error(`exited (${child.exitCode}) without ${event}:\n${output}`);
      return found;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exit;
      clearTimeout(timer);
      return code;
    },
  };
  running.push(r);
  return r;
}

describe('anbox-oob platform', () => {
  it('explains every option in --help and is listed by anbox-oob --help', async () => {
    const help = await runCli(['platform', '--help']);
    expect(help.code).toBe(0);
    for (const text of ['Usage: anbox-oob platform', '--socket-dir', '--listen', '--token', '--stun', '--binary', '--log-level', '--log-format', 'ANBOX_OOB_TOKEN', '127.0.0.1:8777']) {
      expect(help.stdout).toContain(text);
    }
    expect((await runCli(['--help'])).stdout).toContain('  platform');
    const serve = await runCli(['serve', '--help']);
    for (const text of ['--listen', '--token', '--stun', '--binary', '--service-socket', '--allow-uid']) expect(serve.stdout).toContain(text);
  });

  it('prints the page URL and the token, serves a session, and stops on SIGTERM removing every socket', async () => {
    const socketDir = join(dir, 'sockets');
    const p = start(['platform', '--socket-dir', socketDir, '--listen', '127.0.0.1:0'], { ANBOX_OOB_TOKEN: 'env-token-0123456789' });
    const started = await p.line('platform.started');
    expect(started).toMatchObject({ token: 'env-token-0123456789', tokenSource: 'env', socketDir });
    const gateway = String(started.gateway);
    expect(gateway).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(started.pageUrl).toBe(`${gateway}/?token=env-token-0123456789`);
    expect(String(started.msg)).toContain(String(started.pageUrl));

    const client = await StreamClient.start({ gateway, token: 'env-token-0123456789', channels: ['foo'] });
    clients.push(client);
    await client.channel('foo').opened;
    const path = join(socketDir, 'webrtc_data_foo');
    await waitFor(() => isListening(path), 'the channel socket');
    const app = await connectApp(path);
    client.channel('foo').send('through the CLI');
    await app.until((d) => d.toString() === 'through the CLI', 'data');

    expect(await p.stop()).toBe(0);
    await app.ended;
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(socketDir)).toEqual([]);
    expect(p.lines().some((l) => l.event === 'platform.stopped')).toBe(true);
  });

  it('generates and prints a token when none is given', async () => {
    const p = start(['platform', '--socket-dir', join(dir, 's'), '--listen', '127.0.0.1:0']);
    const started = await p.line('platform.started');
    expect(started.tokenSource).toBe('generated');
    expect(String(started.token)).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(String(started.msg)).toContain(String(started.token));
    const response = await fetch(`${String(started.gateway)}/1.0/sessions/`, { method: 'POST', headers: { Authorization: `Macaroon root=${String(started.token)}` } });
    expect(response.status).toBe(201);
    expect(await p.stop()).toBe(0);
  });

  it('fails with a clear message when the port is taken', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const p = start(['platform', '--socket-dir', join(dir, 's'), '--listen', `127.0.0.1:${port}`]);
      expect(await p.exit).toBe(1);
      const fatal = p.lines().find((l) => l.event === 'platform.start_failed');
      expect(String(fatal?.msg)).toMatch(/already in use.*use --listen HOST:PORT/);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('refuses a malformed --listen or --stun with exit code 2 or 1', async () => {
    const listen = await runCli(['platform', '--listen', 'nowhere']);
    expect(listen.code).toBe(2);
    expect(listen.stderr).toContain('--listen takes HOST:PORT');
    const stun = await runCli(['platform', '--socket-dir', join(dir, 's'), '--listen', '127.0.0.1:0', '--stun', 'http://x', '--log-format', 'json']);
    expect(stun.code).toBe(1);
    expect(stun.stdout).toContain('--stun');
  });
});

describe('anbox-oob serve', () => {
  it('runs the platform and the daemon in one process: a page channel reaches `anbox-oob connect`', async () => {
    const socketDir = join(dir, 'sockets');
    const servicePath = join(dir, 'svc.sock');
    const s = start(['serve', '--socket-dir', socketDir, '--service-socket', servicePath, '--listen', '127.0.0.1:0', '--token', 'serve-token-0123456789']);
    const ready = await s.line('serve.ready');
    expect(ready).toMatchObject({ token: 'serve-token-0123456789', socketDir, servicePath });
    expect(String(ready.next)).toMatch(/ connect foo$/);
    // The banner (stderr) has the page URL and the token once; the log lines' messages do not repeat them.
    expect(s.output()).toContain(`  page            ${String(ready.pageUrl)}`);
    expect(s.output()).toContain('  token           serve-token-0123456789 (from --token)');
    expect(s.lines().filter((l) => String(l.msg).includes('serve-token-0123456789'))).toEqual([]);
    expect(s.lines().some((l) => l.event === 'daemon.started' && l.servicePath === servicePath)).toBe(true);
    expect(s.lines().find((l) => l.event === 'platform.started')).toMatchObject({ tokenSource: 'flag', socketDir });

    const client = await StreamClient.start({ gateway: String(ready.gateway), token: 'serve-token-0123456789', channels: ['foo'] });
    clients.push(client);
    await client.channel('foo').opened;
    await waitFor(() => isListening(join(socketDir, 'webrtc_data_foo')), 'the channel socket');
    const connect = spawnCli(['connect', 'foo', '--service-socket', servicePath], { stdio: ['pipe', 'pipe', 'pipe'] });
    let fromConnect = '';
    connect.stdout?.on('data', (c: Buffer) => (fromConnect += c.toString()));
    const connectExit = new Promise<number | null>((resolve) => connect.on('exit', (code) => resolve(code)));
    connect.stdin?.write('app says hi\n');
    const foo = client.channel('foo');
    await foo.until(() => foo.bytes().toString() === 'app says hi\n', 'data from `anbox-oob connect`');
    foo.send('browser says hi');
    await waitFor(() => fromConnect === 'browser says hi', `connect's stdout (${JSON.stringify(fromConnect)})`);
    connect.stdin?.end();

    expect(await s.stop()).toBe(0);
    expect(await connectExit).toBe(0);
    expect(existsSync(servicePath)).toBe(false);
    expect(readdirSync(socketDir)).toEqual([]);
  });
});
