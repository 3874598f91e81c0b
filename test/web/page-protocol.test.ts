/**
 * The served page (src/web) in real headless Chromium against the protocol stand-in
 * (test/headless-client/helpers/fake-platform.ts): checks that the page speaks the gateway and
 * signaling protocol as the SDK does, independently of the platform's implementation.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakePlatform, type FakePlatform } from '../headless-client/helpers/fake-platform.js';
import { launchChromium, WEB_DIR } from './helpers/browser.js';

let browser: Browser;
let platform: FakePlatform;
let page: Page;

beforeAll(async () => {
  browser = await launchChromium();
  platform = await startFakePlatform({ staticDir: WEB_DIR });
});

afterAll(async () => {
  await browser?.close();
  await platform?.close();
});

afterEach(async () => {
  await page?.close();
});

async function openPage(query: string): Promise<Page> {
  page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${platform.url}/${query}`);
  await page.waitForSelector('html[data-ready="true"]');
  expect(errors).toEqual([]);
  return page;
}

describe('the page, against the protocol stand-in', () => {
  it('takes the token from ?token= and the gateway from its own origin', async () => {
    await openPage(`?token=${platform.token}`);
    expect(await page.getByTestId('token').inputValue()).toBe(platform.token);
    expect(await page.getByTestId('gateway').inputValue()).toBe(platform.url);
    await expect(page.getByTestId('disconnect').isDisabled()).resolves.toBe(true);
  });

  it('signals as the SDK does and exchanges text and binary on two channels', async () => {
    await openPage(`?token=${platform.token}`);
    await page.getByTestId('channels').fill('foo, bar');
    await page.getByTestId('connect').click();
    const session = await platform.nextSession();
    await page.getByTestId('state-foo').filter({ hasText: 'open' }).waitFor();
    await page.getByTestId('state-bar').filter({ hasText: 'open' }).waitFor();
    expect(session.signals[0]).toEqual({ type: 'discover' });
    expect(session.signals[1]).toEqual({
      type: 'settings',
      api_version: 2,
      data_channels: ['foo', 'bar'],
      enable_speaker: false,
      enable_microphone: false,
      enable_video: false,
      enable_camera: false,
    });
    expect(session.signals[2]!.type).toBe('answer');
    expect(session.channelOrder).toEqual(['control', 'foo', 'bar']);
    for (const candidate of session.signals.filter((s) => s.type === 'candidate')) {
      expect(Buffer.from(String(candidate.candidate), 'base64').toString()).toMatch(/^candidate:/);
    }

    const [foo, bar] = await Promise.all([session.channel('foo'), session.channel('bar')]);
    await page.getByTestId('channel-select').selectOption('bar');
    await page.getByTestId('message-input').fill('héllo bar');
    await page.getByTestId('send').click();
    await bar.waitFor((m) => m.length === 1);
    expect(bar.messages).toEqual(['héllo bar\n']); // "End with a newline" is on by default
    expect(foo.messages).toEqual([]);

    await page.getByTestId('channel-select').selectOption('foo');
    await page.getByTestId('send-binary').check();
    await page.getByTestId('send-newline').check();
    await page.getByTestId('message-input').fill('AB');
    await page.getByTestId('send').click();
    await foo.waitFor((m) => m.length === 1);
    expect(Buffer.isBuffer(foo.messages[0]) && [...foo.messages[0]]).toEqual([0x41, 0x42, 0x0a]);

    foo.dc.sendMessage('text from the server');
    bar.dc.sendMessageBinary(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    const log = page.getByTestId('log');
    await log.filter({ hasText: '[foo] text (20 bytes): text from the server' }).waitFor();
    await log.filter({ hasText: '[bar] binary (4 bytes): de ad be ef' }).waitFor();

    await page.getByTestId('disconnect').click();
    await session.waitForControl((m) => m.length > 0);
    expect(JSON.parse(session.controlMessages[0]!)).toEqual({ type: 'stream::disconnect', data: {} });
    await page.getByTestId('state-foo').filter({ hasText: 'closed' }).waitFor();
    // The session's end (which enables Connect again) may land a moment after the channel's close.
    await page.locator('[data-testid="connect"]:enabled').waitFor({ timeout: 10_000 });
    expect(await page.getByTestId('connect').isDisabled()).toBe(false);
  });

  it('chunks a long message to the remote maximum message size', async () => {
    const small = await startFakePlatform({ staticDir: WEB_DIR, maxMessageSize: 4096 });
    try {
      page = await browser.newPage();
      await page.goto(`${small.url}/?token=${small.token}`);
      await page.getByTestId('connect').click();
      const session = await small.nextSession();
      await page.getByTestId('state-foo').filter({ hasText: 'open' }).waitFor();
      const foo = await session.channel('foo');
      const text = 'é'.repeat(10_000) + '!';
      await page.getByTestId('send-newline').uncheck();
      await page.getByTestId('message-input').fill(text);
      await page.getByTestId('send').click();
      await foo.waitFor((m) => m.join('').length === text.length);
      expect(foo.messages.join('')).toBe(text);
      expect(Math.max(...foo.messages.map((m) => Buffer.byteLength(m as string)))).toBeLessThanOrEqual(4096);
      await page.close();
    } finally {
      await small.close();
    }
  });

  it('shows errors plainly: bad channel names, a wrong token, a session the server ends', async () => {
    await openPage(`?token=${platform.token}`);
    const error = page.getByTestId('error');
    await page.getByTestId('channels').fill('a b c d e f');
    await page.getByTestId('connect').click();
    await error.filter({ hasText: 'At most 5 channels' }).waitFor();
    await page.getByTestId('channels').fill('bad/name');
    await page.getByTestId('connect').click();
    await error.filter({ hasText: '"bad/name" is not a valid channel name: use 1 to 64 characters of A-Z a-z 0-9 . _ -' }).waitFor();
    await page.getByTestId('channels').fill('control');
    await page.getByTestId('connect').click();
    await error.filter({ hasText: "SDK's own channel" }).waitFor();

    await page.getByTestId('channels').fill('foo');
    await page.getByTestId('token').fill('wrong');
    await page.getByTestId('connect').click();
    await error.filter({ hasText: 'The gateway refused the token (401: invalid or missing token)' }).waitFor();
    // The error box says what failed; the status line is back to the truth, and no chip is left
    // for a channel that never opened.
    expect(await page.getByTestId('status').getAttribute('data-state')).toBe('idle');
    expect(await page.getByTestId('status').textContent()).toBe('Not connected.');
    expect(await page.getByTestId('state-foo').count()).toBe(0);

    await page.getByTestId('token').fill(platform.token);
    await page.getByTestId('connect').click();
    const session = await platform.nextSession();
    await page.getByTestId('state-foo').filter({ hasText: 'open' }).waitFor();
    expect(await error.isHidden()).toBe(true);
    session.close();
    await page.getByTestId('state-foo').filter({ hasText: 'closed' }).waitFor();
    await page.getByTestId('status').filter({ hasText: 'The session ended' }).waitFor();
    expect(await page.getByTestId('connect').isDisabled()).toBe(false);
  });
});
