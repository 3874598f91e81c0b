import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { REPO_ROOT } from '../../helpers/cli.js';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const WEB_DIR = join(REPO_ROOT, 'src', 'web');

/**
 * Debian's Chromium, headless. Never downloads a browser: a missing one fails the test with a
 * message saying what to install (the test must not be skipped). `executablePath`: a wrapper that
 * execs CHROMIUM_PATH (test/netns/helpers/chromium-in-namespace.ts runs it in a lab namespace).
 */
export async function launchChromium(executablePath = CHROMIUM_PATH): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM_PATH}: these tests drive the real browser. Install Debian's package (apt-get install chromium); .ci/run does.`,
    );
  }
  return chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}
