/**
 * What a newcomer sees on a terminal: `connect` and `client` say on stderr (never stdout: it is the
 * data) when they are connected and why the channel ended them (the page closed it, a newer
 * connection replaced this one, the daemon stopped), and `--quiet` silences that; `client
 * --gateway` takes the page URL serve prints; `--version`; `connect control`; the name rules' wording.
 */
import { type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectWebClient, type WebClient } from '../../src/headless-client/web-client.js';
import { waitFor } from '../broadcast/helpers.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { logEvent, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { isListening } from '../helpers/listening.js';

const TOKEN = 'status-lines-token';
let dir: string;
let daemon: DaemonHandle | undefined;
let gateway: string;
const clients: WebClient[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = makeTempDir('aoob-sl-');
});

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close({ flushTimeoutMs: 0 }).catch(() => undefined);
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

afterAll(async () => {
  await daemon?.stop('SIGKILL');
  removeTempDir(dir);
});

async function serve(): Promise<DaemonHandle> {
  daemon = await startDaemon(join(dir, `d${Date.now()}`.slice(0, 12)), [], { command: 'serve', env: { ANBOX_OOB_TOKEN: TOKEN } }).catch(async () => {
    throw new Error('serve did not start');
  });
  gateway = String(logEvent(daemon, 'platform.started')?.gateway);
  return daemon;
}

async function page(channels: string[]): Promise<WebClient> {
  const client = await connectWebClient({ gateway, token: TOKEN, channels });
  clients.push(client);
  await client.opened;
  for (const name of channels) await waitFor(() => isListening(join(daemon!.socketDir, `webrtc_data_${name}`)), `socket of ${name}`);
  return client;
}

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function connect(channel: string, extra: string[] = []): Running {
  const child = spawnCli(['connect', channel, '--service-socket', daemon!.servicePath, ...extra], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exit };
}

describe('connect: one stderr line per state change', () => {
  it('says when it is connected and when the page closes the channel; stdout has only the data', async () => {
    await serve();
    const client = await page(['foo', 'bar']);
    const run = connect('foo');
    await waitFor(() => run.stderr().includes('connected to channel "foo"'), `connected line in ${run.stderr()}`);
    client.channel('foo').send('data\n');
    await waitFor(() => run.stdout() === 'data\n', 'the data on stdout');
    await client.close();
    expect(await run.exit).toBe(0);
    expect(run.stderr()).toMatch(/disconnected: (channel "foo" closed \(the page closed it, or its session ended\))/);
    expect(run.stdout()).toBe('data\n');
  });

  it('says when a newer connection replaced it', async () => {
    await page(['foo']);
    const first = connect('foo');
    await waitFor(() => first.stderr().includes('connected'), 'first connected');
    const second = connect('foo');
    await waitFor(() => second.stderr().includes('connected'), 'second connected');
    expect(await first.exit).toBe(0);
    expect(first.stderr()).toContain('disconnected: a newer connection to channel "foo" replaced this one');
    second.child.kill('SIGINT');
  });

  it('with --quiet says nothing; and says when the daemon stops', async () => {
    await page(['foo']);
    const connectedBefore = daemon!.output().split('"event":"channel.app_connected"').length;
    const quiet = connect('foo', ['--quiet']);
    await waitFor(() => daemon!.output().split('"event":"channel.app_connected"').length > connectedBefore, 'the quiet one attached');
    const loud = connect('foo', ['--stream']);
    await waitFor(() => loud.stderr().includes('connected to channel "foo" (stream mode)'), 'loud connected');
    expect(await quiet.exit).toBe(0); // replaced by `loud`, silently
    expect(quiet.stderr()).toBe('');
    expect(await daemon!.stop('SIGINT')).toBe(0);
    expect(await loud.exit).toBe(0);
    expect(loud.stderr()).toContain('disconnected: the daemon stopped');
  });
});

describe('client', () => {
  it('takes the page URL as --gateway (token included) and says when it is connected and why it ended', async () => {
    await serve();
    const pageUrl = String(logEvent(daemon!, 'serve.ready')?.pageUrl);
    const child = spawnCli(['client', '--gateway', pageUrl, '--channel', 'web', '--no-stdin'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor(() => stderr.includes('connected: channel web open'), `connected in ${stderr}`, 30_000);
    expect(await daemon!.stop('SIGINT')).toBe(0);
    expect(await exit).toBe(0);
    expect(stderr).toContain('anbox-oob client: disconnected: the platform stopped');
  });

  it('refuses a gateway without a scheme as a usage error (exit 2)', async () => {
    const result = await runCli(['client', '--gateway', '127.0.0.1:8777', '--token', 't', '--channel', 'foo']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--gateway needs a URL with its scheme, e.g. http://127.0.0.1:8777');
  });
});

describe('small things', () => {
  it('--version prints the package version', async () => {
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^anbox-oob \d+\.\d+\.\d+ \(Node v\d+/);
  });

  it('connect control explains that the platform never exposes the SDK\'s control channel', async () => {
    const result = await runCli(['connect', 'control', '--service-socket', join(dir, 'none.sock')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('"control" is the Streaming SDK\'s own channel');
    expect(result.stderr).not.toContain('must open a data channel named "control"');
  });

  it('says "ASCII letters" when a name has another character', async () => {
    const result = await runCli(['client', '--gateway', 'http://127.0.0.1:1', '--token', 't', '--channel', 'café']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('allowed are ASCII letters (A-Z, a-z), digits');
  });
});

describe('PERMISSION_DENIED', () => {
  it('the CLI hint names --allow-uid, and is not added twice when the daemon already says it', async () => {
    const { describeClientError } = await import('../../src/cli/client-errors.js');
    const { DataProxyError } = await import('../../src/client/data-proxy-client.js');
    const { Status } = await import('../../src/parcel/status.js');
    const refused = describeClientError(new DataProxyError(Status.PERMISSION_DENIED, 'SERVICE_UNAVAILABLE', 'permission denied opening /x/data-proxy.sock'));
    expect(refused).toContain(`--allow-uid ${process.getuid!()}`);
    const daemonSaid = describeClientError(new DataProxyError(Status.PERMISSION_DENIED, 'PERMISSION_DENIED', 'uid 7 may not use this service (start the daemon with --allow-uid 7 to allow it)'));
    expect(daemonSaid.match(/--allow-uid/g)).toHaveLength(1);
  });
});
