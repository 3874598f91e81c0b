/**
 * Out-of-band data v1 end to end in real headless Chromium: the real platform (in this process,
 * as `serve` runs it), the real data-proxy server with org.anbox.platform.IPlatformAPI on a Unix
 * socket, DataProxyClient.sendMessage as the Android side, and test/e2e/pages/protocol-page (a web
 * client written from the protocol description) recording every `control` message as it arrived.
 * The page's records are parsed here exactly as the SDK's `_onControlMessageReceived` does:
 * `JSON.parse(event.data)`, then `msg.type` / `msg.data`.
 *
 * Chromium (/usr/bin/chromium) missing FAILS this test (never skipped).
 */
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataProxyClient } from '../../src/client/data-proxy-client.js';
import { DataProxyServer } from '../../src/service/data-proxy-server.js';
import { PlatformApiService } from '../../src/service/platform-api-service.js';
import { MAX_V1_DATA_BYTES, MAX_V1_TYPE_BYTES, SDK_HANDLED_CONTROL_TYPES } from '../../src/v1/v1-message.js';
import { PAGES_DIR, startStaticServer, startTestPlatform, type StaticServer, type TestPlatform } from '../e2e/helpers.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { launchChromium } from '../web/helpers/browser.js';

const TOKEN = 'v1-chromium-token-0123456789';
const OPEN_TIMEOUT_MS = 30_000;
/** Chromium's advertised a=max-message-size. */
const CHROMIUM_MAX_MESSAGE = 262_144;

let dir: string | undefined;
let browser: Browser | undefined;
let tp: TestPlatform | undefined;
let pagesServer: StaticServer | undefined;
let server: DataProxyServer | undefined;
let client: DataProxyClient | undefined;
const serviceLog: Record<string, unknown>[] = [];

beforeAll(async () => {
  browser = await launchChromium();
  dir = makeTempDir('aoob-v1-');
  tp = await startTestPlatform(join(dir, 'sockets'), TOKEN);
  pagesServer = await startStaticServer(PAGES_DIR);
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) serviceLog.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const log = pino({ level: 'info' }, sink);
  server = DataProxyServer.start({ servicePath: join(dir, 'svc.sock'), socketDir: join(dir, 'sockets'), log });
  server.dispatcher.register(new PlatformApiService((type, data) => tp!.platform.sendV1Message(type, data), log));
  client = new DataProxyClient({ servicePath: join(dir, 'svc.sock') });
});

afterAll(async () => {
  client?.close();
  await server?.close();
  await browser?.close();
  await tp?.close();
  await pagesServer?.close();
  if (dir) removeTempDir(dir);
});

async function openPage(): Promise<Page> {
  const page = await browser!.newPage();
  const url = new URL('/protocol-page.html', pagesServer!.url);
  url.searchParams.set('gateway', tp!.platform.url);
  url.searchParams.set('token', TOKEN);
  url.searchParams.append('channel', 'foo');
  await page.goto(url.href);
  await page.waitForFunction('window.oob !== undefined');
  await Promise.race([
    page.evaluate('window.oob.ready'),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`the page did not connect within ${OPEN_TIMEOUT_MS} ms`)), OPEN_TIMEOUT_MS)),
  ]);
  return page;
}

interface ControlRecord {
  /** typeof event.data in the page: "string" for a text message. */
  kind: string;
  /** The SDK's view: JSON.parse(event.data). */
  parsed: unknown;
}

/** Every control message the page received so far, as the SDK's handler would see it. */
async function controlMessages(page: Page): Promise<ControlRecord[]> {
  const raw = (await page.evaluate(`window.oob.events.filter((e) => e.kind === 'control-message').map((e) => e.data)`)) as string[];
  // The page records "(binary)" for anything that is not a string (an ArrayBuffer would be).
  return raw.map((data) => ({ kind: data === '(binary)' ? 'binary' : 'string', parsed: data === '(binary)' ? undefined : (JSON.parse(data) as unknown) }));
}

async function waitForControlCount(page: Page, count: number): Promise<ControlRecord[]> {
  await page.waitForFunction(`window.oob.events.filter((e) => e.kind === 'control-message').length >= ${count}`, undefined, { timeout: 20_000, polling: 50 });
  return controlMessages(page);
}

describe('out-of-band data v1 in Chromium: sendMessage(type, data) reaches the control channel as the SDK parses it', () => {
  it('with no session connected, sendMessage returns false (NO_SESSION) and the refusal is logged', async () => {
    const result = await client!.sendMessage('greeting', 'nobody listens');
    expect(result).toEqual({ sent: false, code: 'NO_SESSION', reason: expect.stringContaining('no client is connected') });
    expect(serviceLog.some((l) => l.event === 'sendmessage.refused' && l.code === 'NO_SESSION')).toBe(true);
  });

  it('delivers text JSON {"type","data"} (both strings), in order; refuses the SDK\'s own types; the largest message that fits arrives whole', async () => {
    const page = await openPage();
    try {
      // One message, non-ASCII included.
      expect(await client!.sendMessage('greeting', '{"hello":"wörld ✓"}')).toEqual({ sent: true });
      let records = await waitForControlCount(page, 1);
      expect(records[0]).toEqual({ kind: 'string', parsed: { type: 'greeting', data: '{"hello":"wörld ✓"}' } });
      expect(Object.keys(records[0]!.parsed as object)).toEqual(['type', 'data']);

      // Ordering: 50 messages, sent without waiting for each other, arrive in order.
      const sends = Array.from({ length: 50 }, (_, i) => client!.sendMessage('seq', String(i)));
      expect((await Promise.all(sends)).every((r) => r.sent)).toBe(true);
      records = await waitForControlCount(page, 51);
      expect(records.slice(1).map((r) => r.parsed)).toEqual(Array.from({ length: 50 }, (_, i) => ({ type: 'seq', data: String(i) })));

      // The SDK's own types never reach messageReceived: refused, nothing sent.
      for (const type of SDK_HANDLED_CONTROL_TYPES) {
        const result = await client!.sendMessage(type, '{}');
        expect(result).toMatchObject({ sent: false, code: 'RESERVED_TYPE' });
      }
      // Limits (UTF-8 bytes): type above 256 KiB, data above 1 MiB.
      expect(await client!.sendMessage('t'.repeat(MAX_V1_TYPE_BYTES + 1), '')).toMatchObject({ sent: false, code: 'TYPE_TOO_LARGE' });
      // 1 MiB + 1 byte of data as 3-byte characters (so the String16 Parcel still fits a transaction).
      const euro = '€'.repeat(Math.floor(MAX_V1_DATA_BYTES / 3));
      const overData = euro + 'a'.repeat(MAX_V1_DATA_BYTES - Buffer.byteLength(euro) + 1);
      expect(Buffer.byteLength(overData)).toBe(MAX_V1_DATA_BYTES + 1);
      expect(await client!.sendMessage('big', overData)).toMatchObject({ sent: false, code: 'DATA_TOO_LARGE' });
      // A 1 MiB message is within Anbox's limits but Chromium takes at most 262144 bytes per message.
      const megabyte = overData.slice(0, -1);
      expect(Buffer.byteLength(megabyte)).toBe(MAX_V1_DATA_BYTES);
      const oneMiB = await client!.sendMessage('big', megabyte);
      expect(oneMiB).toMatchObject({ sent: false, code: 'TOO_LARGE_FOR_CLIENT', reason: expect.stringContaining(String(CHROMIUM_MAX_MESSAGE)) });
      // 1 MiB of ASCII is a 2 MiB String16 Parcel: above a transaction's 1 MiB, said by the client.
      expect(await client!.sendMessage('big', 'a'.repeat(MAX_V1_DATA_BYTES))).toMatchObject({ sent: false, code: 'TRANSACTION_TOO_LARGE' });

      // The largest message Chromium takes: JSON of exactly 262144 bytes; one byte more is refused.
      const envelope = Buffer.byteLength(JSON.stringify({ type: 'fit', data: '' }));
      const fits = 'x'.repeat(CHROMIUM_MAX_MESSAGE - envelope);
      expect(await client!.sendMessage('fit', fits + 'x')).toMatchObject({ sent: false, code: 'TOO_LARGE_FOR_CLIENT' });
      expect(await client!.sendMessage('fit', fits)).toEqual({ sent: true });
      expect(await client!.sendMessage('after', 'the last one')).toEqual({ sent: true });
      records = await waitForControlCount(page, 53);
      expect(records.length).toBe(53);
      const last = records.slice(51).map((r) => r.parsed as { type: string; data: string });
      expect(last[0]!.type).toBe('fit');
      expect(last[0]!.data.length).toBe(fits.length);
      expect(last[0]!.data === fits).toBe(true);
      expect(last[1]).toEqual({ type: 'after', data: 'the last one' });
      expect(records.every((r) => r.kind === 'string')).toBe(true);
      // Nothing refused reached the page.
      expect(records.some((r) => SDK_HANDLED_CONTROL_TYPES.includes((r.parsed as { type: string }).type))).toBe(false);

      // After the client leaves: false again, nothing queued for a later session.
      await page.evaluate('window.oob.disconnect()');
      await expect.poll(() => tp!.platform.stats.active, { timeout: 20_000 }).toBeNull();
      expect(await client!.sendMessage('greeting', 'too late')).toMatchObject({ sent: false, code: 'NO_SESSION' });
    } finally {
      await page.close();
    }
  });

  it('the served page (src/web) shows a received v1 message in its log', async () => {
    const page = await browser!.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    try {
      await page.goto(tp!.platform.pageUrl);
      await page.waitForSelector('html[data-ready="true"]');
      await page.getByTestId('channels').fill('web');
      await page.getByTestId('connect').click();
      await page.getByTestId('state-web').filter({ hasText: 'open' }).waitFor({ timeout: OPEN_TIMEOUT_MS });
      expect(await client!.sendMessage('greeting', 'hello from Android ✓')).toEqual({ sent: true });
      const log = page.getByTestId('log');
      await log.filter({ hasText: '[control] v1 message "greeting": hello from Android ✓' }).waitFor({ timeout: 15_000 });
      await page.getByTestId('disconnect').click();
      expect(pageErrors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
