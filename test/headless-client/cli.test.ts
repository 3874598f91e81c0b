/**
 * `anbox-oob client` through its module (runClient on in-memory streams) against the protocol
 * stand-in, and end to end as a process once src/cli/main.ts registers the command.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { runClient, type ClientIo } from '../../src/cli/commands/client.js';
import { UsageError } from '../../src/cli/command.js';
import { startFakePlatform, type FakePlatform, type FakePlatformOptions } from './helpers/fake-platform.js';
import { CLI, REPO_ROOT } from '../helpers/cli.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function platform(options: FakePlatformOptions = {}): Promise<FakePlatform> {
  const p = await startFakePlatform(options);
  cleanups.push(() => p.close());
  return p;
}

/** The client's debug log: on stderr when TEST_LOG_LEVEL is set, otherwise discarded (never a fixed file). */
function testLogger(): pino.Logger {
  return pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }, process.stderr);
}

interface Harness {
  io: ClientIo;
  stdin: PassThrough;
  stdout: () => Buffer;
  stderr: () => string;
  abort: () => void;
}

function harness(env: NodeJS.ProcessEnv = {}): Harness {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk));
  stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const controller = new AbortController();
  return {
    io: { stdin, stdout, stderr, env, signal: controller.signal, log: testLogger() },
    stdin,
    stdout: () => Buffer.concat(out),
    stderr: () => Buffer.concat(err).toString(),
    abort: () => controller.abort(),
  };
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const bytesOf = (messages: (string | Buffer)[]) => Buffer.concat(messages.map((m) => (typeof m === 'string' ? Buffer.from(m) : m)));
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('anbox-oob client: arguments', () => {
  it('--help explains every option, the environment variables and the exit codes', async () => {
    const h = harness();
    expect(await runClient(['--help'], h.io)).toBe(0);
    const help = h.stdout().toString();
    expect(help).toContain('Usage: anbox-oob client --gateway URL --token TOKEN --channel NAME');
    for (const word of ['--gateway', '--token', '--channel', '--json', '--binary', '--no-stdin', '--linger', '--api-version', '--timeout', '--log-level', 'ANBOX_OOB_TOKEN', 'ANBOX_OOB_GATEWAY', 'Exit status', 'A-Z a-z 0-9 . _ -']) {
      expect(help).toContain(word);
    }
  });

  it('rejects missing or bad arguments as usage errors', async () => {
    const run = (args: string[], env: NodeJS.ProcessEnv = {}) => runClient(args, harness(env).io);
    const g = ['--gateway', 'http://127.0.0.1:9'];
    await expect(run(['--token', 't', '--channel', 'foo'])).rejects.toThrow(/no gateway/);
    await expect(run([...g, '--channel', 'foo'])).rejects.toThrow(/no token: pass --token or set ANBOX_OOB_TOKEN/);
    await expect(run([...g, '--token', 't'])).rejects.toThrow(/at least one data channel/);
    await expect(run([...g, '--token', 't', '--channel', 'a b'])).rejects.toThrow(UsageError);
    await expect(run([...g, '--token', 't', '--channel', 'a/b'])).rejects.toThrow(/contains "\/"/);
    await expect(run([...g, '--token', 't', '--channel', 'x'.repeat(65)])).rejects.toThrow(/at most 64/);
    await expect(run([...g, '--token', 't', '--channel', 'control'])).rejects.toThrow(/SDK's own channel/);
    await expect(run([...g, '--token', 't', ...['a', 'b', 'c', 'd', 'e', 'f'].flatMap((c) => ['--channel', c])])).rejects.toThrow(/at most 5/);
    await expect(run([...g, '--token', 't', '--channel', 'a', '--channel', 'a'])).rejects.toThrow(/once/);
    await expect(run([...g, '--token', 't', '--channel', 'a', '--api-version', '3'])).rejects.toThrow(/1 or 2/);
    await expect(run([...g, '--token', 't', '--channel', 'a', '--linger', 'soon'])).rejects.toThrow(/milliseconds/);
    await expect(run([...g, '--token', 't', '--channel', 'a', '--bogus'])).rejects.toMatchObject({ code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
  });

  it('a wrong token exits 1 with "wrong token: pass --token or ANBOX_OOB_TOKEN"', async () => {
    const p = await platform();
    const h = harness();
    expect(await runClient(['--gateway', p.url, '--token', 'nope', '--channel', 'foo'], h.io)).toBe(1);
    expect(h.stderr()).toMatch(/^anbox-oob client: wrong token: pass --token or ANBOX_OOB_TOKEN \(the gateway refused the token \(401: invalid or missing token\)\)\n$/);
  });

  it('an unreachable gateway exits 1 saying so', async () => {
    const h = harness();
    expect(await runClient(['--gateway', 'http://127.0.0.1:9', '--token', 't', '--channel', 'foo'], h.io)).toBe(1);
    expect(h.stderr()).toContain('anbox-oob client: cannot reach the gateway at http://127.0.0.1:9');
  });
});

describe('anbox-oob client: data', () => {
  it('sends stdin to the first channel as text, then disconnects and exits 0 (token and gateway from the environment)', async () => {
    const p = await platform();
    const h = harness({ ANBOX_OOB_TOKEN: p.token, ANBOX_OOB_GATEWAY: p.url });
    const run = runClient(['--channel', 'foo', '--channel', 'bar', '--linger', '0'], h.io);
    const session = await p.nextSession();
    const foo = await session.channel('foo');
    h.stdin.write('hello ');
    h.stdin.write(Buffer.from('wörld\n').subarray(0, 2)); // "w" and half of "ö"
    h.stdin.end(Buffer.from('wörld\n').subarray(2));
    expect(await run).toBe(0);
    await foo.waitFor((m) => m.join('') === 'hello wörld\n');
    expect(foo.messages.every((m) => typeof m === 'string')).toBe(true);
    expect((await session.channel('bar')).messages).toEqual([]);
    await session.waitForControl((m) => m.some((x) => x.includes('stream::disconnect')));
  });

  it('sends bytes that are not UTF-8 as binary, and everything as binary with --binary', async () => {
    const p = await platform();
    for (const [args, input, kind] of [
      [[], Buffer.from([0x00, 0xff, 0xfe, 0x41]), 'binary'],
      [['--binary'], Buffer.from('plain text'), 'binary'],
      [[], Buffer.from('plain text'), 'text'],
    ] as const) {
      const h = harness();
      const run = runClient(['--gateway', p.url, '--token', p.token, '--channel', 'foo', '--linger', '0', ...args], h.io);
      const foo = await (await p.nextSession()).channel('foo');
      h.stdin.end(input);
      expect(await run).toBe(0);
      await foo.waitFor((m) => bytesOf(m).length === input.length);
      expect(bytesOf(foo.messages)).toEqual(input);
      expect(foo.messages.every((m) => (kind === 'text' ? typeof m === 'string' : Buffer.isBuffer(m)))).toBe(true);
    }
  });

  it('writes the raw bytes of every message from any channel to stdout', async () => {
    const p = await platform();
    const h = harness();
    const run = runClient(['--gateway', p.url, '--token', p.token, '--channel', 'foo', '--channel', 'bar', '--linger', '0'], h.io);
    const session = await p.nextSession();
    const [foo, bar] = await Promise.all([session.channel('foo'), session.channel('bar')]);
    await new Promise((r) => setTimeout(r, 100));
    foo.dc.sendMessage('text from foo\n');
    await until(() => h.stdout().length === 14, 'the first message');
    bar.dc.sendMessageBinary(Buffer.from([0xff, 0x00, 0x0a]));
    await until(() => h.stdout().length === 17, 'the second message');
    h.stdin.end();
    expect(await run).toBe(0);
    expect(h.stdout()).toEqual(Buffer.concat([Buffer.from('text from foo\n'), Buffer.from([0xff, 0x00, 0x0a])]));
  });

  it('--json writes one line per message: {channel, type: text|binary, data (text or base64)}', async () => {
    const p = await platform();
    const h = harness();
    const run = runClient(['--gateway', p.url, '--token', p.token, '--channel', 'foo', '--channel', 'bar', '--json', '--no-stdin'], h.io);
    const session = await p.nextSession();
    const [foo, bar] = await Promise.all([session.channel('foo'), session.channel('bar')]);
    await new Promise((r) => setTimeout(r, 100));
    foo.dc.sendMessage('héllo\nworld');
    await until(() => h.stdout().toString().split('\n').length === 2, 'one line');
    bar.dc.sendMessageBinary(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    await until(() => h.stdout().toString().split('\n').length === 3, 'two lines');
    h.abort(); // as SIGINT: disconnect cleanly, exit 0
    expect(await run).toBe(0);
    const lines = h.stdout().toString().split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      { channel: 'foo', type: 'text', data: 'héllo\nworld' },
      { channel: 'bar', type: 'binary', data: '3q2+7w==' },
    ]);
    await session.waitForControl((m) => m.some((x) => x.includes('stream::disconnect')));
  });

  it('keeps receiving for --linger after stdin ends (an echo arrives), then exits 0', async () => {
    const p = await platform();
    const h = harness();
    const run = runClient(['--gateway', p.url, '--token', p.token, '--channel', 'foo', '--linger', '3000'], h.io);
    const foo = await (await p.nextSession()).channel('foo');
    h.stdin.end('ping');
    await foo.waitFor((m) => m.join('') === 'ping');
    foo.dc.sendMessage('pong');
    await until(() => h.stdout().toString() === 'pong', 'the echo');
    expect(await run).toBe(0);
  });

  it('exits 0 when the server ends the session', async () => {
    const p = await platform();
    const h = harness();
    const run = runClient(['--gateway', p.url, '--token', p.token, '--channel', 'foo'], h.io);
    const session = await p.nextSession();
    await session.channel('foo');
    await new Promise((r) => setTimeout(r, 100));
    session.close();
    expect(await run).toBe(0);
    expect(h.stdin.destroyed).toBe(true);
  });

  it('exits 1 when the server closes every data channel but keeps the session', async () => {
    const p = await platform({ rejectChannels: ['foo'] });
    const h = harness();
    expect(await runClient(['--gateway', p.url, '--token', p.token, '--channel', 'foo'], h.io)).toBe(1);
    expect(h.stderr()).toMatch(/anbox-oob client: (the server closed the data channel \(foo\)|the data channels did not open: data channel "foo" was closed by the server before it opened)/);
  });

  it('exits 1 when the channels do not open in time', async () => {
    const p = await platform({ ignoreSettings: true });
    const h = harness();
    expect(await runClient(['--gateway', p.url, '--token', p.token, '--channel', 'foo', '--timeout', '300'], h.io)).toBe(1);
    expect(h.stderr()).toContain('anbox-oob client: the data channels did not open: the data channels did not all open within 300 ms');
  });

  it('sends a large stdin in chunks under the remote maximum message size, intact', async () => {
    const p = await platform({ maxMessageSize: 65_536 });
    const h = harness();
    const run = runClient(['--gateway', p.url, '--token', p.token, '--channel', 'foo', '--linger', '0'], h.io);
    const foo = await (await p.nextSession()).channel('foo');
    const data = randomBytes(8 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 100_000) h.stdin.write(data.subarray(i, i + 100_000));
    h.stdin.end();
    expect(await run).toBe(0);
    await foo.waitFor((m) => bytesOf(m).length >= data.length, 30_000);
    expect(Math.max(...foo.messages.map((m) => (typeof m === 'string' ? Buffer.byteLength(m) : m.length)))).toBeLessThanOrEqual(65_536);
    expect(sha(bytesOf(foo.messages))).toBe(sha(data));
  });
});

describe('anbox-oob client as a process', () => {
  it('pipes stdin to the channel and the channel to stdout, then exits 0', async () => {
    expect(existsSync(CLI), `${CLI} is missing: run npm run build`).toBe(true);
    const p = await platform();
    const child = spawn(process.execPath, [CLI, 'client', '--gateway', p.url, '--channel', 'foo', '--linger', '2000', '--json'], {
      env: { ...process.env, ANBOX_OOB_TOKEN: p.token },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    cleanups.push(async () => {
      child.kill('SIGKILL');
    });
    const foo = await (await p.nextSession()).channel('foo');
    child.stdin.end('from the process');
    await foo.waitFor((m) => m.join('') === 'from the process');
    foo.dc.sendMessage('to the process');
    expect(await exited, stderr).toBe(0);
    expect(JSON.parse(stdout.trim())).toEqual({ channel: 'foo', type: 'text', data: 'to the process' });
  });

  it('exits 1 with the wrong-token message as a process', async () => {
    const p = await platform();
    const child = spawn(process.execPath, [CLI, 'client', '--gateway', p.url, '--token', 'bad', '--channel', 'foo'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(stderr).toContain('wrong token: pass --token or ANBOX_OOB_TOKEN');
  });
});
