/**
 * The page the platform serves at `/`, in real headless Chromium, against the real platform
 * (Platform.start on a free port and a temporary socket dir): a channel opened on the page appears
 * as <socketDir>/webrtc_data_<name>, bytes flow both ways between the page and a socket client,
 * and disconnecting removes the socket. Chromium missing, or the platform missing, fails the test.
 */
import { existsSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino, { type Logger } from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readUntil } from '../helpers/echo-platform.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { launchChromium } from './helpers/browser.js';
import { isListening } from '../helpers/listening.js';

/** What this test needs from src/platform/platform.ts. */
interface PlatformHandle {
  url: string;
  token: string;
  close(): Promise<void> | void;
}
interface PlatformModule {
  Platform: {
    start(options: { socketDir: string; listen: { host: string; port: number }; token: string; log: Logger }): Promise<PlatformHandle>;
  };
}

const PLATFORM_MODULE = join(REPO_ROOT, 'src', 'platform', 'platform.ts');

async function loadPlatform(): Promise<PlatformModule> {
  if (!existsSync(PLATFORM_MODULE)) {
    throw new Error(`${PLATFORM_MODULE} does not exist: this test runs the page against the real platform (Platform.start), which has not landed yet`);
  }
  return (await import(pathToFileURL(PLATFORM_MODULE).href)) as PlatformModule;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let dir: string;
let socketDir: string;
let browser: Browser | undefined;
let platform: PlatformHandle | undefined;
const sockets: Socket[] = [];

beforeAll(async () => {
  browser = await launchChromium();
  const { Platform } = await loadPlatform();
  dir = makeTempDir('aoob-web-');
  socketDir = join(dir, 'sockets');
  platform = await Platform.start({
    socketDir,
    listen: { host: '127.0.0.1', port: await freePort() },
    token: 'page-test-token',
    log: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  });
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await browser?.close();
  await platform?.close();
  if (dir) removeTempDir(dir);
});

describe('the served page in Chromium, against the platform', () => {
  it('opens channel foo as webrtc_data_foo and carries text and binary both ways; disconnect removes the socket', async () => {
    const page: Page = await browser!.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    const pageUrl = new URL('/', platform!.url);
    pageUrl.searchParams.set('token', platform!.token);
    await page.goto(pageUrl.href);
    await page.waitForSelector('html[data-ready="true"]');
    expect(await page.getByTestId('token').inputValue()).toBe(platform!.token);

    await page.getByTestId('channels').fill('foo');
    await page.getByTestId('connect').click();
    await page.getByTestId('state-foo').filter({ hasText: 'open' }).waitFor({ timeout: 20_000 });

    const socketPath = join(socketDir, 'webrtc_data_foo');
    await waitFor(() => isListening(socketPath), `${socketPath} to exist`);
    const socket = createConnection(socketPath);
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });

    // Page → socket, as text; "End with a newline" is on by default (line-based apps, the Quick start).
    expect(await page.getByTestId('send-newline').isChecked()).toBe(true);
    await page.getByTestId('channel-select').selectOption('foo');
    await page.getByTestId('message-input').fill('hello from the page ✓');
    await page.getByTestId('send').click();
    const fromPage = await readUntil(socket, (data) => data.toString() === 'hello from the page ✓\n', 10_000);
    expect(fromPage.toString()).toBe('hello from the page ✓\n');

    // Page → socket, as binary.
    await page.getByTestId('send-binary').check();
    await page.getByTestId('send-newline').uncheck();
    await page.getByTestId('message-input').fill('AB');
    await page.getByTestId('send').click();
    expect([...(await readUntil(socket, (data) => data.length >= 2, 10_000))]).toEqual([0x41, 0x42]);

    // Socket → page: valid UTF-8 arrives as text, other bytes as binary.
    socket.write('hello from the socket\n');
    await page.getByTestId('log').filter({ hasText: '[foo] text (22 bytes): hello from the socket' }).waitFor({ timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 100));
    socket.write(Buffer.from([0xff, 0xfe, 0x00]));
    await page.getByTestId('log').filter({ hasText: '[foo] binary (3 bytes): ff fe 00' }).waitFor({ timeout: 10_000 });

    // The log's arrows have a legend, and the two directions differ in colour too.
    const legend = await page.getByTestId('log-legend').textContent();
    expect(legend).toContain('→ sent to the channel');
    expect(legend).toContain('← received from the channel');
    const colours = await page.evaluate(() => {
      const colour = (kind: string) => getComputedStyle(document.querySelector(`#log li[data-kind="${kind}"]`)!).color;
      return { sent: colour('out'), received: colour('in'), info: colour('info') };
    });
    expect(new Set([colours.sent, colours.received, colours.info]).size).toBe(3);

    // Disconnect: the channel's socket goes away.
    const socketEnded = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await page.getByTestId('disconnect').click();
    await page.getByTestId('state-foo').filter({ hasText: 'closed' }).waitFor();
    await waitFor(() => !existsSync(socketPath), `${socketPath} to be removed`);
    await socketEnded;
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
