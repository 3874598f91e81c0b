/**
 * Headless Chromium inside a lab host's namespace: playwright-core launches a wrapper that execs
 * `ip netns exec NS /usr/bin/chromium …`. `ip netns exec` keeps the inherited descriptors, so
 * playwright's --remote-debugging-pipe (fds 3 and 4) still reaches the browser, and closing the
 * browser ends it as usual.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { IP } from '../../helpers/netns.js';
import { CHROMIUM_PATH, launchChromium } from '../../web/helpers/browser.js';

/** Launches Chromium in `ns`; the wrapper script goes in `dir` (the caller removes it). */
export async function launchChromiumInNamespace(ns: string, dir: string): Promise<Browser> {
  const wrapper = join(dir, 'chromium-in-namespace');
  writeFileSync(wrapper, `#!/bin/sh\nexec ${IP} netns exec '${ns}' ${CHROMIUM_PATH} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return launchChromium(wrapper);
}
