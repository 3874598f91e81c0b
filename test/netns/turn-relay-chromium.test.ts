/**
 * Real Debian Chromium as the peer that can reach the instance only through TURN (issue 13), on
 * the lab of test/netns/helpers/turn-lab.ts (serve --turn on a, coturn on t, Chromium on c, which
 * may talk to t only).
 *
 * Chromium runs inside c's namespace (helpers/chromium-in-namespace.ts). The protocol page (test/e2e/pages) is served from t (python3's
 * http.server): a page from a private address may call the private gateway, whereas one handed
 * over by playwright's request interception counts as public, and Chromium's Private Network
 * Access blocks its fetch. The page takes its ICE servers from the gateway's
 * metadata.stun_servers, i.e. from serve --turn.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnInNamespace } from '../helpers/ns-process.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { PAGES_DIR, requireExecutable, waitFor } from '../e2e/helpers.js';
import { CHROMIUM_PATH } from '../web/helpers/browser.js';
import { launchChromiumInNamespace } from './helpers/chromium-in-namespace.js';
import { collect, endOnT, startTurnLab, TOKEN, type Instance, type PathEvent, type TurnLab } from './helpers/turn-lab.js';

const PAGES_PORT = 9000;

let turnLab: TurnLab | undefined;
let instance: Instance;
let browser: Browser | undefined;
let wrapperDir: string | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`Chromium is not installed at ${CHROMIUM_PATH} (apt-get install chromium; .ci/run does)`);
  requireExecutable('python3', 'apt-get install python3');
  turnLab = await startTurnLab();
  instance = await turnLab.startInstance('chromium', 8777, ['--turn', turnLab.coturn.url]);
  const t = turnLab.lab.host('t');
  const pages = turnLab.track(spawnInNamespace(t.ns, ['python3', '-u', '-m', 'http.server', '--bind', t.address, '--directory', PAGES_DIR, String(PAGES_PORT)]));
  await pages.waitForLine(/Serving HTTP/);
  wrapperDir = makeTempDir('aoob-chr-');
  browser = await launchChromiumInNamespace(turnLab.lab.host('c').ns, wrapperDir);
});

afterAll(async () => {
  await browser?.close();
  await turnLab?.close();
  if (wrapperDir) removeTempDir(wrapperDir);
});

async function openProtocolPage(channel: string): Promise<Page> {
  const page = await browser!.newPage();
  const url = new URL(`http://${turnLab!.lab.host('t').address}:${PAGES_PORT}/protocol-page.html`);
  url.searchParams.set('gateway', instance.gateway);
  url.searchParams.set('token', TOKEN);
  url.searchParams.set('channel', channel);
  await page.goto(url.href);
  await page.waitForFunction('window.oob !== undefined');
  await page.evaluate('window.oob.ready');
  return page;
}

describe('Chromium in a namespace that reaches the instance only through TURN (coturn)', () => {
  it('connects through coturn; data flows both ways between the page and the channel socket', async () => {
    const t = turnLab!.lab.host('t');
    const page = await openProtocolPage('web');

    // Chromium had coturn from metadata.stun_servers (with the credentials apart) and allocated a
    // relay on it. The relay may come after the connection is up (a's own relay on t can reach
    // c first), so this waits for gathering rather than looking at the candidates sent so far.
    await page.waitForFunction(
      async (address) => ((await (window as unknown as { oob: { localCandidates(): Promise<{ type: string; address: string }[]> } }).oob.localCandidates()) ?? []).some((c) => c.type === 'relay' && c.address === address),
      t.address,
      { polling: 100, timeout: 30_000 },
    );

    const app = await turnLab!.connectChannelSocket(join(instance.socketDir, 'webrtc_data_web'));
    const atApp = collect(app);
    await page.evaluate(`window.oob.send("web", "from Chromium, through coturn\\n")`);
    await waitFor(() => atApp().includes('from Chromium, through coturn\n'), 'the page data at the channel socket', 30_000);
    app.write('from the app on the instance host\n');
    await page.waitForFunction(`new TextDecoder().decode(new Uint8Array(window.oob.receivedBytes("web"))).includes("from the app on the instance host")`, undefined, { polling: 50, timeout: 30_000 });

    // Chromium's own view of the path (getStats): one end of it is on t.
    const path = (await page.evaluate('window.oob.selectedPath()')) as { local?: string; remote?: string; localAddress?: string; remoteAddress?: string } | undefined;
    expect(path).toBeDefined();
    const asEvent: PathEvent = { localCandidate: path!.local, remoteCandidate: path!.remote, localAddress: path!.localAddress, remoteAddress: path!.remoteAddress };
    expect(endOnT(asEvent, t.address) || path!.local === 'relay', JSON.stringify(path)).toBe(true);
    await page.evaluate('window.oob.disconnect()');
    await page.close();
  });
});
