/**
 * End to end in real headless Chromium against the real platform (Platform.start in this process,
 * a fresh temporary socket dir, a free port), with real `socat - UNIX-CONNECT:<socket>` as the app:
 *
 * - test/e2e/pages/protocol-page.{html,js}: a web client written from the protocol description
 *   only (independent of src/web and of the project's TypeScript), served from its own origin by a
 *   tiny static server, so the gateway's CORS is exercised for real;
 * - the page the platform serves (src/web), for one round of the same text/binary flow with socat.
 *
 * Chromium (/usr/bin/chromium) or socat missing FAILS these tests (never skipped).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PlatformEvent } from '../../src/platform/platform.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { launchChromium } from '../web/helpers/browser.js';
import { channelSockets, PAGES_DIR, requireExecutable, Socat, startStaticServer, startTestPlatform, waitFor, type StaticServer, type TestPlatform } from './helpers.js';
import { isListening } from '../helpers/listening.js';

const TOKEN = 'e2e-chromium-token';
/** Generous: a noisy 2-core machine runs Chromium, the platform and socat at once. */
const OPEN_TIMEOUT_MS = 30_000;

type Received = { type: 'text'; data: string } | { type: 'binary'; bytes: number[] } | { type: 'unexpected'; data: string };

let dir: string | undefined;
let socketDir: string;
let browser: Browser | undefined;
let tp: TestPlatform | undefined;
let pagesServer: StaticServer | undefined;
const openPages: Page[] = [];

beforeAll(async () => {
  requireExecutable('socat', 'apt-get install socat');
  browser = await launchChromium();
  dir = makeTempDir('aoob-e2e-');
  socketDir = join(dir, 'sockets');
  tp = await startTestPlatform(socketDir, TOKEN);
  pagesServer = await startStaticServer(PAGES_DIR);
});

afterAll(async () => {
  await Socat.killAll();
  await browser?.close();
  await tp?.close();
  await pagesServer?.close();
  if (dir) removeTempDir(dir);
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(async () => {
    const pageEvents: string[] = [];
    for (const page of openPages) {
      if (page.isClosed()) continue;
      try {
        pageEvents.push(JSON.stringify(await page.evaluate('window.oob ? window.oob.events : null')));
      } catch (error) {
        pageEvents.push(`(cannot read the page's events: ${String(error)})`);
      }
    }
    console.log(`platform events: ${JSON.stringify(tp?.events)}\nplatform log:\n${tp?.tail(120)}\npage events:\n${pageEvents.join('\n')}`);
  });
});

afterEach(async () => {
  await Socat.killAll();
  for (const page of openPages.splice(0)) await page.close().catch(() => undefined);
});

const platform = () => tp!.platform;
const socketPath = (name: string) => join(socketDir, `webrtc_data_${name}`);
const js = (value: unknown) => JSON.stringify(value);

/** The protocol page, in a new tab, for `channels`; resolves once the page's `oob.ready` settled as expected. */
async function openProtocolPage(channels: string[], options: { token?: string; expectFailure?: boolean } = {}): Promise<Page> {
  const page = await browser!.newPage();
  openPages.push(page);
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const url = new URL('/protocol-page.html', pagesServer!.url);
  url.searchParams.set('gateway', platform().url);
  url.searchParams.set('token', options.token ?? platform().token);
  for (const name of channels) url.searchParams.append('channel', name);
  await page.goto(url.href);
  await page.waitForFunction('window.oob !== undefined');
  if (!options.expectFailure) {
    await Promise.race([
      page.evaluate('window.oob.ready'),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`the protocol page's channels did not settle within ${OPEN_TIMEOUT_MS} ms`)), OPEN_TIMEOUT_MS)),
    ]);
    expect(pageErrors).toEqual([]);
  }
  return page;
}

const state = (page: Page, name: string) => page.evaluate(`window.oob.state(${js(name)})`) as Promise<string | undefined>;
const received = (page: Page, name: string) => page.evaluate(`window.oob.received[${js(name)}]`) as Promise<Received[]>;
const receivedBytes = async (page: Page, name: string) => Buffer.from((await page.evaluate(`window.oob.receivedBytes(${js(name)})`)) as number[]);
const sessionId = async (page: Page) => (await page.evaluate('window.oob.session.id')) as string;

async function waitForState(page: Page, name: string, wanted: string, timeoutMs = 20_000): Promise<void> {
  await page.waitForFunction(`window.oob.state(${js(name)}) === ${js(wanted)}`, undefined, { timeout: timeoutMs, polling: 50 });
}

/** Waits until the page has received `length` bytes on `name` (text as UTF-8); returns its messages. */
async function waitForReceived(page: Page, name: string, length: number, timeoutMs = 15_000): Promise<Received[]> {
  await page.waitForFunction(`window.oob.receivedBytes(${js(name)}).length >= ${length}`, undefined, { timeout: timeoutMs, polling: 50 });
  return received(page, name);
}

async function waitForSocket(name: string, timeoutMs = 15_000): Promise<string> {
  const path = socketPath(name);
  await waitFor(() => isListening(path), `${path} to exist`, timeoutMs, () => `sockets: ${channelSockets(socketDir).join(', ')}`);
  return path;
}

function eventsOf(session: string): PlatformEvent[] {
  return tp!.events.filter((e) => e.session === session);
}

/** Page → socat (text), socat → page (text): the channel works end to end. */
async function roundTrip(page: Page, name: string, socat: Socat, tag: string): Promise<void> {
  const before = socat.output.length;
  const outbound = `page→${name} ${tag}\n`;
  await page.evaluate(`window.oob.send(${js(name)}, ${js(outbound)})`);
  const out = await socat.waitForOutput(before + Buffer.byteLength(outbound), `"${outbound.trim()}" at socat`);
  expect(out.subarray(before).toString()).toBe(outbound);

  const already = (await receivedBytes(page, name)).length;
  const inbound = `socat→${name} ${tag}\n`;
  await socat.write(inbound);
  await waitForReceived(page, name, already + Buffer.byteLength(inbound));
  expect((await receivedBytes(page, name)).subarray(already).toString()).toBe(inbound);
}

describe('the protocol page (written from the protocol description) in Chromium, with socat on the channel socket', () => {
  it('opens foo as webrtc_data_foo across origins; text and binary flow both ways between the page and socat, byte for byte', async () => {
    const page = await openProtocolPage(['foo']);
    // Another origin than the gateway: the POST with Authorization went through a CORS preflight.
    expect(new URL(page.url()).origin).not.toBe(new URL(platform().url).origin);
    expect(await page.evaluate('window.oob.session.httpStatus')).toBe(201);
    expect(await state(page, 'foo')).toBe('open');
    const signals = (await page.evaluate('window.oob.signals')) as { dir: string; message: { type: string; data_channels?: string[] } }[];
    const out = signals.filter((s) => s.dir === 'out').map((s) => s.message);
    expect(out[0]).toEqual({ type: 'discover' });
    expect(out[1]).toMatchObject({ type: 'settings', api_version: 2, data_channels: ['foo'] });
    expect(signals.filter((s) => s.dir === 'in').map((s) => s.message.type)).toContain('offer');
    // Candidates trickled both ways: base64 of "candidate:…" (no "a=").
    for (const direction of ['in', 'out']) {
      const candidates = signals.filter((s) => s.dir === direction && s.message.type === 'candidate') as unknown as { message: { candidate: string } }[];
      expect(candidates.length, `${direction} candidates`).toBeGreaterThan(0);
      for (const c of candidates) expect(Buffer.from(c.message.candidate, 'base64').toString()).toMatch(/^candidate:/);
    }

    const path = await waitForSocket('foo');
    expect(statSync(path).isSocket()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(channelSockets(socketDir)).toEqual(['foo']);
    const socat = Socat.connect(path);

    // Page → socat, text (multi-byte characters included).
    const text = 'hello from the page ✓ ünïcödé\n';
    await page.evaluate(`window.oob.send("foo", ${js(text)})`);
    let atSocat = await socat.waitForOutput(Buffer.byteLength(text), 'the page text at socat');
    expect(atSocat.toString('utf8')).toBe(text);

    // socat → page, text: arrives as string messages.
    const fromSocat = 'hello from socat ✓ €\n';
    await socat.write(fromSocat);
    const textMessages = await waitForReceived(page, 'foo', Buffer.byteLength(fromSocat));
    expect(textMessages.every((m) => m.type === 'text')).toBe(true);
    expect(textMessages.map((m) => (m.type === 'text' ? m.data : '')).join('')).toBe(fromSocat);

    // socat → page, binary (not valid UTF-8): arrives as ArrayBuffer, exact bytes.
    const binary = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x41, 0x0a]);
    await socat.write(binary);
    const all = await waitForReceived(page, 'foo', Buffer.byteLength(fromSocat) + binary.length);
    const binaryMessages = all.slice(textMessages.length);
    expect(binaryMessages.length).toBeGreaterThan(0);
    expect(binaryMessages.every((m) => m.type === 'binary')).toBe(true);
    expect(Buffer.from(binaryMessages.flatMap((m) => (m.type === 'binary' ? m.bytes : [])))).toEqual(binary);

    // Page → socat, binary (ArrayBuffer): byte for byte.
    const pageBytes = [0x00, 0xff, 0xfe, 0xc3, 0x28, 0x0a];
    await page.evaluate(`window.oob.sendBytes("foo", ${js(pageBytes)})`);
    atSocat = await socat.waitForOutput(Buffer.byteLength(text) + pageBytes.length, 'the page bytes at socat');
    expect([...atSocat.subarray(Buffer.byteLength(text))]).toEqual(pageBytes);

    expect(socat.running).toBe(true);
    expect(await page.evaluate('window.oob.error')).toBeUndefined();
  });

  it('a wrong token: the gateway answers 401 with a JSON error the cross-origin page can read; no session, no socket', async () => {
    const createdBefore = platform().stats.sessionsCreated;
    const eventsBefore = tp!.events.length;
    const page = await openProtocolPage(['denied'], { token: 'not-the-token', expectFailure: true });
    await page.waitForFunction('window.oob.error !== undefined', undefined, { timeout: 15_000 });
    const error = (await page.evaluate('window.oob.error')) as string;
    // "Failed to fetch" here would mean the 401 lacked CORS headers.
    expect(error).toMatch(/HTTP 401/);
    const gateway = ((await page.evaluate('window.oob.events')) as { kind: string; status?: number; body?: Record<string, unknown> }[]).find((e) => e.kind === 'gateway');
    expect(gateway?.status).toBe(401);
    expect(gateway?.body).toMatchObject({ type: 'error', status_code: 401 });
    expect(typeof gateway?.body?.error).toBe('string');
    // Refused at the gateway: no session, no peer, no socket (the previous test's session, if still
    // streaming, is not disturbed either).
    expect(platform().stats.sessionsCreated).toBe(createdBefore);
    expect(tp!.events.slice(eventsBefore).filter((e) => e.type !== 'peer-ended' && e.type !== 'channel-closed')).toEqual([]);
    expect(channelSockets(socketDir)).not.toContain('denied');
  });

  it('at most 5 channels: with 6, the first 5 get sockets and work, the 6th is closed by the server and gets none', async () => {
    const names = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    const page = await openProtocolPage(names);
    const session = await sessionId(page);
    await waitForState(page, 'c6', 'closed');
    await waitFor(() => eventsOf(session).some((e) => e.type === 'channel-rejected' && e.channel === 'c6'), 'c6 rejected by the platform');
    for (const name of names.slice(0, 5)) await waitForSocket(name);
    expect(channelSockets(socketDir)).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']);
    expect(existsSync(socketPath('c6'))).toBe(false);
    for (const name of names.slice(0, 5)) expect(await state(page, name)).toBe('open');
    const rejected = eventsOf(session).filter((e) => e.type === 'channel-rejected');
    expect(rejected.map((e) => e.channel)).toEqual(['c6']);
    expect(platform().stats.active?.channels).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']);

    // The session goes on: the first and the last accepted channels carry data.
    const s1 = Socat.connect(socketPath('c1'));
    const s5 = Socat.connect(socketPath('c5'));
    await roundTrip(page, 'c1', s1, 'limit');
    await roundTrip(page, 'c5', s5, 'limit');
    expect(await received(page, 'c6')).toEqual([]);
  });

  it('rejected names ("bad name", "a,b"): those channels are closed, no socket is created, the other channel works', async () => {
    const page = await openProtocolPage(['good', 'bad name', 'a,b']);
    const session = await sessionId(page);
    await waitForState(page, 'bad name', 'closed');
    await waitForState(page, 'a,b', 'closed');
    await waitFor(() => eventsOf(session).filter((e) => e.type === 'channel-rejected').length === 2, 'two channels rejected');
    const rejected = eventsOf(session).filter((e): e is Extract<PlatformEvent, { type: 'channel-rejected' }> => e.type === 'channel-rejected');
    expect(rejected.map((e) => e.channel).sort()).toEqual(['a,b', 'bad name']);
    for (const e of rejected) expect(e.reason.length).toBeGreaterThan(0);
    const path = await waitForSocket('good');
    expect(channelSockets(socketDir)).toEqual(['good']);
    expect(await state(page, 'good')).toBe('open');
    const socat = Socat.connect(path);
    await roundTrip(page, 'good', socat, 'names');
  });

  it('session replacement: a second page ends the first session (its sockets removed, its channels closed) before its own channels appear', async () => {
    const first = await openProtocolPage(['one', 'two']);
    const firstSession = await sessionId(first);
    const socat1 = Socat.connect(await waitForSocket('one'));
    await waitForSocket('two');
    await roundTrip(first, 'one', socat1, 'first');

    // Watch the socket dir while the second session starts.
    const snapshots: string[][] = [];
    const watch = setInterval(() => {
      const now = channelSockets(socketDir);
      if (snapshots.length === 0 || snapshots[snapshots.length - 1]!.join() !== now.join()) snapshots.push(now);
    }, 2);
    let second: Page;
    try {
      second = await openProtocolPage(['three']);
      await waitForSocket('three');
    } finally {
      clearInterval(watch);
    }
    const secondSession = await sessionId(second);
    expect(secondSession).not.toBe(firstSession);

    // The first page's channels close; its app connection got EOF (socat exits).
    await waitForState(first, 'one', 'closed');
    await waitForState(first, 'two', 'closed');
    await waitFor(() => !socat1.running, 'the first session\'s socat to exit (EOF)');
    expect(socat1.exitCode).toBe(0);

    // Never both sessions' sockets at once.
    for (const snapshot of snapshots) {
      expect(snapshot.includes('three') && (snapshot.includes('one') || snapshot.includes('two')), `snapshot ${snapshot.join(',')}`).toBe(false);
    }
    expect(channelSockets(socketDir)).toEqual(['three']);

    // The platform's order: the first session's channels closed and its peer ended, then the new channel opened.
    const events = tp!.events;
    const lastOfFirst = Math.max(
      ...events.map((e, i) => ((e.type === 'channel-closed' || e.type === 'peer-ended') && e.session === firstSession ? i : -1)),
    );
    const firstOpenOfSecond = events.findIndex((e) => e.type === 'channel-open' && e.session === secondSession);
    const closedFirst = events.filter((e) => e.type === 'channel-closed' && e.session === firstSession).map((e) => (e as { channel: string }).channel);
    expect(closedFirst.sort()).toEqual(['one', 'two']);
    expect(firstOpenOfSecond).toBeGreaterThan(lastOfFirst);

    const socat3 = Socat.connect(socketPath('three'));
    await roundTrip(second, 'three', socat3, 'second');
  });

  it('closing one channel from the page removes its socket (its app gets EOF) while the other keeps working', async () => {
    const page = await openProtocolPage(['keep', 'drop']);
    const session = await sessionId(page);
    const keep = Socat.connect(await waitForSocket('keep'));
    const drop = Socat.connect(await waitForSocket('drop'));
    await roundTrip(page, 'drop', drop, 'before');
    await roundTrip(page, 'keep', keep, 'before');

    await page.evaluate('window.oob.closeChannel("drop")');
    await waitFor(() => !existsSync(socketPath('drop')), `${socketPath('drop')} to be removed`);
    await waitFor(() => !drop.running, 'the dropped channel\'s socat to exit (EOF)');
    await waitForState(page, 'drop', 'closed');
    expect(eventsOf(session).some((e) => e.type === 'channel-closed' && e.channel === 'drop')).toBe(true);
    expect(eventsOf(session).some((e) => e.type === 'channel-closed' && e.channel === 'keep')).toBe(false);

    expect(channelSockets(socketDir)).toEqual(['keep']);
    expect(await state(page, 'keep')).toBe('open');
    expect(keep.running).toBe(true);
    await roundTrip(page, 'keep', keep, 'after');
  });

  it('stream::disconnect on control ends the session: every socket is removed, socat gets EOF, the page\'s channels close', async () => {
    const page = await openProtocolPage(['x', 'y']);
    const session = await sessionId(page);
    const sx = Socat.connect(await waitForSocket('x'));
    const sy = Socat.connect(await waitForSocket('y'));
    await roundTrip(page, 'x', sx, 'x');
    await roundTrip(page, 'y', sy, 'y');

    // Only the control message: the page keeps its peer connection; the server must end the session.
    await page.evaluate('window.oob.sendControl({ type: "stream::disconnect", data: {} })');
    await waitFor(() => channelSockets(socketDir).length === 0, 'every channel socket to be removed', 15_000, () => channelSockets(socketDir).join(','));
    await waitFor(() => !sx.running && !sy.running, 'both socat processes to exit (EOF)');
    const ended = eventsOf(session).find((e) => e.type === 'peer-ended');
    expect(ended && ended.type === 'peer-ended' && ended.reason).toMatch(/stream::disconnect/);
    await waitForState(page, 'x', 'closed');
    await waitForState(page, 'y', 'closed');
    expect(platform().stats.active).toBeNull();
  });

  it('the page going away (tab closed, no stream::disconnect) ends the session and removes its sockets', async () => {
    const page = await openProtocolPage(['gone']);
    const session = await sessionId(page);
    const socat = Socat.connect(await waitForSocket('gone'));
    await roundTrip(page, 'gone', socat, 'gone');
    await page.close();
    // Chromium closes its peer connection; at worst the server sees ICE fail / disconnect (15 s grace).
    await waitFor(() => !existsSync(socketPath('gone')), `${socketPath('gone')} to be removed`, 40_000);
    await waitFor(() => !socat.running, 'socat to exit (EOF)');
    const ended = eventsOf(session).find((e) => e.type === 'peer-ended');
    expect(ended).toBeDefined();
    console.log(`[e2e] tab closed: the platform ended the session with "${ended?.type === 'peer-ended' ? ended.reason : '?'}"`);
    expect(channelSockets(socketDir)).toEqual([]);
  }, 90_000);
});

describe('the served page (src/web) in Chromium, with socat on the channel socket', () => {
  it('carries text and binary both ways between the page and socat', async () => {
    const page = await browser!.newPage();
    openPages.push(page);
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(platform().pageUrl);
    await page.waitForSelector('html[data-ready="true"]');
    await page.getByTestId('channels').fill('web');
    await page.getByTestId('connect').click();
    await page.getByTestId('state-web').filter({ hasText: 'open' }).waitFor({ timeout: OPEN_TIMEOUT_MS });
    const socat = Socat.connect(await waitForSocket('web'));

    // Page → socat, text.
    await page.getByTestId('channel-select').selectOption('web');
    await page.getByTestId('message-input').fill('from the served page ✓');
    await page.getByTestId('send').click();
    const text = Buffer.from('from the served page ✓\n'); // "End with a newline" is on by default
    expect((await socat.waitForOutput(text.length, 'the served page text at socat')).toString()).toBe(text.toString());

    // socat → page, text then binary.
    const log = page.getByTestId('log');
    await socat.write('hello via socat');
    await log.filter({ hasText: '[web] text (15 bytes): hello via socat' }).waitFor({ timeout: 15_000 });
    await socat.write(Buffer.from([0x00, 0xff, 0xfe]));
    await log.filter({ hasText: '[web] binary (3 bytes): 00 ff fe' }).waitFor({ timeout: 15_000 });

    // Page → socat, binary.
    await page.getByTestId('send-binary').check();
    await page.getByTestId('send-newline').uncheck();
    await page.getByTestId('message-input').fill('AB');
    await page.getByTestId('send').click();
    const out = await socat.waitForOutput(text.length + 2, 'the served page bytes at socat');
    expect([...out.subarray(text.length)]).toEqual([0x41, 0x42]);

    await page.getByTestId('disconnect').click();
    await waitFor(() => !existsSync(socketPath('web')), 'webrtc_data_web to be removed');
    await waitFor(() => !socat.running, 'socat to exit (EOF)');
    expect(pageErrors).toEqual([]);
  });
});
