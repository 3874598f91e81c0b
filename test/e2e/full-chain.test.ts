/**
 * The whole chain, as a person uses it, with every component real:
 *
 *   headless Chromium on the page `anbox-oob serve` serves ──WebRTC──▶ channel foo
 *   ──▶ <socket-dir>/webrtc_data_foo ──▶ the daemon's connect ──▶ `anbox-oob connect foo` (a descriptor)
 *                                                                 and a stream-mode client
 *   broadcasts ──▶ the REAL adb client ──▶ fake adb server, and ──▶ `anbox-oob listen`
 *
 * One `serve` process for the whole file; the steps run in order and build on each other.
 * The connection policy is one app connection per channel, a new one replacing the old (which gets
 * EOF): the clients follow each other — `connect foo` (descriptor), then a stream-mode client that
 * replaces it, then `connect foo` again that replaces the stream client and is still connected when
 * the page disconnects.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataProxyClient } from '../../src/client/data-proxy-client.js';
import { shellWords } from '../broadcast/helpers.js';
import { runCli } from '../helpers/cli.js';
import { logEvent, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { FakeAdbServer } from '../helpers/fake-adb-server.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { launchChromium } from '../web/helpers/browser.js';
import {
  killAllCli,
  listenedBroadcasts,
  markedProcesses,
  MARKER_ENV,
  pageReceived,
  sendFromPage,
  socketFilesUnder,
  startCli,
  STEP_TIMEOUT_MS,
  type CliProcess,
} from './full-chain-helpers.js';
import { channelSockets, requireExecutable, waitFor } from './helpers.js';
import { isListening } from '../helpers/listening.js';

const SERIAL = 'emulator-5554';
const STATUS_ACTION = 'com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS';

let dir: string;
let env: NodeJS.ProcessEnv;
let adb: FakeAdbServer;
let serve: DaemonHandle;
let listen: CliProcess;
let listenSocket: string;
let browser: Browser | undefined;
let page: Page;
let pageErrors: string[] = [];
let streamClient: Socket | undefined;
/** The `connect foo` that is connected when the page disconnects. */
let lastCli: CliProcess;

/** The words (as the device's shell splits them) of every `am broadcast` naming `channel`. */
function amBroadcastsNaming(channel: string): { serial: string; words: string[] }[] {
  return adb.commands
    .map((c) => ({ serial: c.serial, words: shellWords(c.command) }))
    .filter(({ words }) => words[0] === 'am' && (words[words.indexOf('data-channel-names') + 1] ?? '').split(',').includes(channel));
}

function amBroadcastWords(event: 'created' | 'destroyed', channel: string): string[] {
  return ['am', 'broadcast', '-a', STATUS_ACTION, '--es', 'event', event, '--esa', 'data-channel-names', channel];
}

function serveTail(): string {
  return serve.output().split('\n').slice(-30).join('\n');
}

beforeAll(async () => {
  // Missing tools fail here, saying what to install (never a skip).
  requireExecutable('adb', 'apt-get install adb');
  dir = makeTempDir('aoob-full-');
  env = { [MARKER_ENV]: dir };
  adb = await FakeAdbServer.start([{ serial: SERIAL }]);
  // The real adb client, pointed at the fake server by its environment; a generated token.
  serve = await startDaemon(dir, ['--adb', '--adb-serial', SERIAL], { command: 'serve', env: { ...env, ...adb.env, ANBOX_OOB_TOKEN: '' } });
  listen = startCli(['listen', '--receivers-dir', join(dir, 'receivers')], env);
  await waitFor(() => /receiving broadcasts at (\S+)/.test(listen.stderr()), '`anbox-oob listen` to bind its socket', STEP_TIMEOUT_MS, () => listen.stderr());
  listenSocket = /receiving broadcasts at (\S+)/.exec(listen.stderr())![1]!;
  // Chromium gets the marker too, so the end can prove none of its processes is left. The forks
  // pool gives this file a process of its own: the variable is seen by nothing else.
  process.env[MARKER_ENV] = dir;
  try {
    browser = await launchChromium();
  } finally {
    delete process.env[MARKER_ENV];
  }
});

afterAll(async () => {
  // Only after a failure is anything still running here; the last step stops everything itself.
  streamClient?.destroy();
  await browser?.close();
  await killAllCli();
  await serve?.stop('SIGKILL');
  await adb?.close();
  if (dir) removeTempDir(dir);
});

describe('full chain: Chromium page → serve → channel foo → daemon → clients, with broadcasts', () => {
  it('the page served by `serve` opens channel foo: the socket appears and `created` goes to the device through adb and to `anbox-oob listen`', { timeout: 120_000 }, async () => {
    const ready = logEvent(serve, 'serve.ready');
    expect(ready?.socketDir).toBe(serve.socketDir);
    expect(ready?.servicePath).toBe(serve.servicePath);
    const pageUrl = String(ready?.pageUrl);
    const token = String(ready?.token);
    expect(token.length).toBeGreaterThan(8);
    expect(new URL(pageUrl).searchParams.get('token')).toBe(token);

    page = await browser!.newPage();
    pageErrors = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(pageUrl);
    await page.waitForSelector('html[data-ready="true"]');
    // The page takes the gateway from its own origin and the token from the printed URL.
    expect(await page.getByTestId('token').inputValue()).toBe(token);
    await page.getByTestId('channels').fill('foo');
    await page.getByTestId('connect').click();
    await page.getByTestId('state-foo').filter({ hasText: 'open' }).waitFor({ timeout: STEP_TIMEOUT_MS });

    const socketPath = join(serve.socketDir, 'webrtc_data_foo');
    await waitFor(() => isListening(socketPath), `${socketPath} to exist`, STEP_TIMEOUT_MS, serveTail);
    expect(channelSockets(serve.socketDir)).toEqual(['foo']);

    // The device: exactly one `am broadcast` for foo, word for word, to the configured serial.
    await adb.waitFor(() => amBroadcastsNaming('foo').length === 1, 'created broadcast for foo', STEP_TIMEOUT_MS);
    expect(amBroadcastsNaming('foo')).toEqual([{ serial: SERIAL, words: amBroadcastWords('created', 'foo') }]);
    // The local listener: the same broadcast as a JSON line.
    await listen.waitForStdout(() => listenedBroadcasts(listen).length >= 1, '`anbox-oob listen` to print the created broadcast');
    expect(listenedBroadcasts(listen)).toEqual([{ sequence: 1, event: 'created', names: ['foo'], action: STATUS_ACTION, timestamp: expect.any(Number) }]);

    // The end checks that no marked process is left: the marker must be seen on the live ones.
    const marked = markedProcesses(dir);
    expect(marked.map((p) => p.pid)).toEqual(expect.arrayContaining([serve.pid, listen.child.pid]));
    expect(marked.some((p) => p.cmdline.includes('chromium'))).toBe(true);
  });

  it('`anbox-oob connect foo` gets the channel as a descriptor: its stdin reaches the page, the page reaches its stdout', { timeout: 120_000 }, async () => {
    const servedBefore = serve.logLines().filter((l) => l.event === 'transaction.served').length;
    const cli = startCli(['connect', 'foo', '--service-socket', serve.servicePath], env);
    cli.child.stdin!.write('typed in the terminal\n');
    await pageReceived(page, 'foo', 'typed in the terminal');
    await sendFromPage(page, 'foo', 'sent from the page ✓');
    await cli.waitForStdout((out) => out.includes('sent from the page ✓'), 'the page text on connect’s stdout');
    expect(cli.stdout()).toBe('sent from the page ✓\n'); // the page's "End with a newline" is on by default

    // The daemon handed over one descriptor and is not in the data path (no stream mode).
    const served = serve.logLines().filter((l) => l.event === 'transaction.served').slice(servedBefore);
    expect(served).toEqual([expect.objectContaining({ channel: 'foo', mode: 'descriptor', fds: 1 })]);
    expect(serve.logLines().some((l) => l.event === 'stream.started')).toBe(false);

    // A stream-mode client replaces it: one connection per channel, the old one gets EOF and the CLI exits.
    const client = new DataProxyClient({ servicePath: serve.servicePath });
    try {
      streamClient = await client.connect('foo', { stream: true });
    } finally {
      client.close();
    }
    expect(await cli.waitForExit('`connect foo` to exit after being replaced')).toBe(0);
    expect(cli.stdout()).toBe('sent from the page ✓\n');
    // stderr: one line when connected, one saying why it ended (stdout is the data alone).
    expect(cli.stderr()).toBe(
      'anbox-oob connect: connected to channel "foo"; stdin goes to it, its data to stdout\n' +
        'anbox-oob connect: disconnected: a newer connection to channel "foo" replaced this one\n',
    );
  });

  it('a stream-mode client carries data both ways, and is itself replaced (EOF) by the next `connect foo`', { timeout: 120_000 }, async () => {
    const socket = streamClient!;
    let received = '';
    let ended = false;
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.on('end', () => (ended = true));
    socket.on('error', () => undefined);
    await waitFor(() => serve.logLines().some((l) => l.event === 'stream.started' && l.channel === 'foo'), 'the daemon to start stream mode', STEP_TIMEOUT_MS, serveTail);

    socket.write('through stream mode\n');
    await pageReceived(page, 'foo', 'through stream mode');
    await sendFromPage(page, 'foo', 'to the stream client');
    await waitFor(() => received.includes('to the stream client'), 'the page text on the stream client', STEP_TIMEOUT_MS, () => received);
    expect(received).toBe('to the stream client\n');

    lastCli = startCli(['connect', 'foo', '--service-socket', serve.servicePath], env);
    await waitFor(() => ended, 'EOF on the replaced stream-mode client', STEP_TIMEOUT_MS, serveTail);
    expect(received).toBe('to the stream client\n');
    await waitFor(() => serve.logLines().some((l) => l.event === 'stream.ended' && l.channel === 'foo'), 'the daemon to end stream mode', STEP_TIMEOUT_MS, serveTail);
    socket.destroy();
    streamClient = undefined;

    lastCli.child.stdin!.write('second terminal\n');
    await pageReceived(page, 'foo', 'second terminal');
    await sendFromPage(page, 'foo', 'back to the second terminal');
    await lastCli.waitForStdout((out) => out === 'back to the second terminal\n', 'the page text on the second connect’s stdout');
  });

  it('the page disconnects: `destroyed` through adb and the listener, the socket is gone, the client gets EOF, serve keeps running and refuses foo', { timeout: 120_000 }, async () => {
    await page.getByTestId('disconnect').click();
    await page.getByTestId('state-foo').filter({ hasText: 'closed' }).waitFor({ timeout: STEP_TIMEOUT_MS });

    expect(await lastCli.waitForExit('`connect foo` to exit on the channel’s EOF')).toBe(0);
    expect(lastCli.stdout()).toBe('back to the second terminal\n');
    expect(lastCli.stderr()).toBe(
      'anbox-oob connect: connected to channel "foo"; stdin goes to it, its data to stdout\n' +
        'anbox-oob connect: disconnected: channel "foo" closed (the page closed it, or its session ended)\n',
    );

    const socketPath = join(serve.socketDir, 'webrtc_data_foo');
    await waitFor(() => !existsSync(socketPath), `${socketPath} to be removed`, STEP_TIMEOUT_MS, serveTail);
    expect(channelSockets(serve.socketDir)).toEqual([]);

    await adb.waitFor(() => amBroadcastsNaming('foo').length === 2, 'destroyed broadcast for foo', STEP_TIMEOUT_MS);
    expect(amBroadcastsNaming('foo')).toEqual([
      { serial: SERIAL, words: amBroadcastWords('created', 'foo') },
      { serial: SERIAL, words: amBroadcastWords('destroyed', 'foo') },
    ]);
    await listen.waitForStdout(() => listenedBroadcasts(listen).length >= 2, '`anbox-oob listen` to print the destroyed broadcast');
    expect(listenedBroadcasts(listen).map(({ sequence, event, names }) => ({ sequence, event, names }))).toEqual([
      { sequence: 1, event: 'created', names: ['foo'] },
      { sequence: 2, event: 'destroyed', names: ['foo'] },
    ]);

    // serve is still up, and a connect to the gone channel is refused with the reason.
    expect(serve.child.exitCode).toBeNull();
    const refused = await runCli(['connect', 'foo', '--service-socket', serve.servicePath], { env });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^anbox-oob connect: NAME_NOT_FOUND \(CHANNEL_NOT_FOUND\): no data channel "foo": .*webrtc_data_foo does not exist/);
    const status = await runCli(['status', '--json', '--service-socket', serve.servicePath], { env });
    expect(status.code, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { channels: string[] }).channels).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(serve.logLines().filter((l) => typeof l.level === 'number' && l.level >= 50)).toEqual([]);
  });

  it('SIGINT stops serve with exit 0, removing every socket it created; no process is left', { timeout: 120_000 }, async () => {
    expect(existsSync(serve.servicePath)).toBe(true);
    expect(await serve.stop('SIGINT')).toBe(0);
    expect(existsSync(serve.servicePath)).toBe(false);
    // What remains is the listener's own socket, until it stops.
    expect(socketFilesUnder(dir)).toEqual([listenSocket]);
    expect(adb.reverses(SERIAL)).toEqual([]);

    expect(await listen.stop('SIGINT')).toBe(0);
    expect(socketFilesUnder(dir)).toEqual([]);
    await page.close();
    await browser!.close();
    browser = undefined;

    // Chromium's helpers and any adb client exit shortly after their parents: wait for them.
    await waitFor(() => markedProcesses(dir).length === 0, 'every process of this test to exit', STEP_TIMEOUT_MS, () => JSON.stringify(markedProcesses(dir)));
  });
});
