/**
 * Issue 13: "WebRTC flows directly between browser and instance host; --stun/--turn pass ICE
 * servers to both sides, and a test uses Debian's coturn to connect a peer that can only reach the
 * instance through TURN". The farm lab (test/netns/helpers/farm-lab.ts) with real processes:
 *
 *   nats   nats-server
 *   gw     `anbox-oob gateway --nats … [--turn coturn]`      may talk to: nats, c
 *   turn   Debian's coturn                                   anyone
 *   i1     `anbox-oob serve --nats … [--turn coturn]`        may talk to: nats, turn
 *   c      headless Chromium and the protocol page           may talk to: gw, turn
 *
 * c and i1 never exchange a packet (nftables on both), so WebRTC between them can only go through
 * coturn's relay. With TURN (gateway --turn and serve --turn; then gateway --turn alone), the data
 * channel opens and data flows both ways between the page and an app connected through i1's
 * data-proxy service; one side's end of the selected pair is a relay candidate on the turn host
 * (with gateway --turn alone, the browser's), and coturn logged the allocations and permissions.
 *
 * The control runs the same lab with coturn up but named to nobody. Both sides lose it: the
 * gateway without --turn hands the browser the placed instance's own servers (docs/farm.md), and
 * an instance's own relay is enough on its own (c may talk to the turn host), so only a farm with
 * no --turn anywhere shows what the firewall does: ICE fails and the channel never opens.
 */
import type { Socket } from 'node:net';
import type { Page } from 'playwright-core';
import { afterEach, describe, expect, it, onTestFailed } from 'vitest';
import { waitFor } from '../e2e/helpers.js';
import { connectApp, FARM_TOKEN, startFarmLab, type FarmInstance, type FarmLab } from './helpers/farm-lab.js';
import { collect, endOnT, logEvent, type PathEvent } from './helpers/turn-lab.js';

const STEP_MS = 30_000;
/** Chromium gives up on ICE well within this when no pair works (it declares "failed"). */
const ICE_FAILURE_MS = 90_000;
const REACH = { c: ['gw', 'turn'], i1: ['nats', 'turn'], gw: ['nats', 'c'] };

interface PagePath {
  local?: string;
  remote?: string;
  localAddress?: string;
  remoteAddress?: string;
}

interface PageEvent {
  kind: string;
  channel?: string;
  state?: string;
}

let farm: FarmLab | undefined;
const apps: Socket[] = [];

afterEach(async () => {
  for (const app of apps.splice(0)) app.destroy();
  await farm?.close();
  farm = undefined;
}, 60_000);

async function startLab(turn: { gateway: boolean; instances: boolean }): Promise<FarmLab> {
  // Started inside the test, not in a hook: a missing tool (ip, nft, turnserver, nats-server,
  // chromium, adb) fails the test with the package to install. afterEach tears it down.
  farm = await startFarmLab({ instances: 1, turn, reach: REACH });
  const started = farm;
  onTestFailed(() => {
    const tail = (text: string) => text.split('\n').slice(-40).join('\n');
    console.error(`gateway:\n${tail(started.gateway.output())}`);
    for (const instance of started.instances) console.error(`${instance.name}:\n${tail(instance.serve.output())}`);
    if (started.coturn) console.error(`coturn:\n${tail(started.coturn.process.output())}`);
  });
  return started;
}

/** The protocol page on c, creating its session through the gateway on load. */
async function loadPage(lab: FarmLab, channel: string): Promise<Page> {
  const page = await lab.browser.newPage();
  const url = new URL(lab.pageUrl);
  url.searchParams.set('gateway', lab.gatewayUrl);
  url.searchParams.set('token', FARM_TOKEN);
  url.searchParams.set('channel', channel);
  await page.goto(url.href);
  await page.waitForFunction('window.oob !== undefined');
  return page;
}


/**
 * A session through the gateway whose data channel opens, data both ways with an app on i1, and
 * the path each side selected: an end of each is on the turn host, and coturn granted allocations
 * and permissions. Returns each side's selected pair and how many TURN sessions allocated a relay.
 */
async function relayedSession(turn: { gateway: boolean; instances: boolean }): Promise<{ browser: PathEvent; instance: PathEvent; allocations: number }> {
  const lab = await startLab(turn);
  const turnAddress = lab.lab.host('turn').address;
  const i1 = lab.instance('i1');
  const page = await loadPage(lab, 'relayed');
  await page.evaluate('window.oob.ready').catch(async (error: unknown) => {
    throw new Error(`the session through TURN: ${String(error)}; page events: ${JSON.stringify(await page.evaluate('window.oob.events'))}`);
  });

  // The browser had coturn from the gateway's metadata.stun_servers (gateway --turn), credentials apart.
  const stunServers = (await page.evaluate('window.oob.session.stunServers')) as { urls: string[]; username?: string; password?: string }[];
  expect(stunServers).toContainEqual({ urls: [`turn:${turnAddress}:${lab.coturn!.port}`], username: lab.coturn!.user, password: lab.coturn!.password });
  // …and allocated a relay there (gathering may finish after the connection is up).
  await page.waitForFunction(
    async (address) => ((await (window as unknown as { oob: { localCandidates(): Promise<{ type: string; address: string }[]> } }).oob.localCandidates()) ?? []).some((c) => c.type === 'relay' && c.address === address),
    turnAddress,
    { polling: 100, timeout: STEP_MS },
  );

  // Data both ways between the page and an app on i1, through i1's data-proxy service.
  const app = await connectApp(i1, 'relayed');
  apps.push(app);
  const atApp = collect(app);
  await page.evaluate(`window.oob.send("relayed", "from Chromium, through coturn\\n")`);
  await waitFor(() => atApp().includes('from Chromium, through coturn\n'), 'the page data at the app on i1', 30_000);
  app.write('from the app on i1\n');
  await page.waitForFunction(`new TextDecoder().decode(new Uint8Array(window.oob.receivedBytes("relayed"))).includes("from the app on i1")`, undefined, { polling: 50, timeout: STEP_MS });

  // The path each side selected: an end of each is on the turn host, and one side's own end is a
  // relay candidate (c and i1 cannot exchange a packet, so no other path exists).
  const path = (await page.evaluate('window.oob.selectedPath()')) as PagePath | undefined;
  expect(path).toBeDefined();
  const browserSide: PathEvent = { localCandidate: path!.local, remoteCandidate: path!.remote, localAddress: path!.localAddress, remoteAddress: path!.remoteAddress };
  const instanceSide = logEvent(i1.serve.output(), (e) => e.event === 'peer.connected' && e.remoteAddress !== undefined);
  const both = JSON.stringify({ browser: browserSide, instance: instanceSide });
  expect(endOnT(browserSide, turnAddress), both).toBe(true);
  expect(endOnT(instanceSide, turnAddress), both).toBe(true);
  expect([browserSide.localCandidate, instanceSide.localCandidate], both).toContain('relay');

  // coturn really relayed: it granted allocations and permissions for the peers.
  const coturnLog = lab.coturn!.process.output();
  expect(coturnLog).toMatch(/ALLOCATE processed, success/);
  expect(coturnLog).toMatch(/CREATE_PERMISSION processed, success/);

  await page.evaluate('window.oob.disconnect()');
  await page.close();
  const allocations = new Set([...coturnLog.matchAll(/session (\d+): .*ALLOCATE processed, success/g)].map((m) => m[1])).size;
  return { browser: browserSide, instance: instanceSide, allocations };
}

describe('the farm with TURN in network namespaces: Chromium reaches the instance host only through coturn', () => {
  it('gateway --turn and serve --turn: the data channel opens through a relay on the turn host; data flows both ways via the data-proxy service', { timeout: 180_000 }, async () => {
    const { allocations } = await relayedSession({ gateway: true, instances: true });
    // Both sides had coturn (serve --turn for i1's own peer): each allocated a relay on it.
    expect(allocations).toBeGreaterThanOrEqual(2);
  });

  it('gateway --turn alone (serve has no TURN): the browser\'s own relay carries the session', { timeout: 180_000 }, async () => {
    const { browser, instance, allocations } = await relayedSession({ gateway: true, instances: false });
    expect(allocations).toBe(1);
    expect(browser.localCandidate, JSON.stringify({ browser, instance })).toBe('relay');
    expect(instance.localCandidate, JSON.stringify({ browser, instance })).not.toBe('relay');
  });

  it('control, the same farm with no --turn anywhere: ICE fails and the data channel never opens', { timeout: 180_000 }, async () => {
    const lab = await startLab({ gateway: false, instances: false });
    const i1 = lab.instance('i1');
    const page = await loadPage(lab, 'direct');
    // The page fails once Chromium declares the peer connection failed; the bound is generous and
    // only there so that a hang ends with the page's own story.
    await page.waitForFunction('window.oob.error !== undefined', undefined, { polling: 200, timeout: ICE_FAILURE_MS }).catch(async (error: unknown) => {
      throw new Error(`the page neither connected nor failed: ${String(error)}; page events: ${JSON.stringify(await page.evaluate('window.oob.events'))}`);
    });
    const events = (await page.evaluate('window.oob.events')) as PageEvent[];
    // The session was placed and signaling ran: it is ICE, not the gateway, that failed.
    expect(await page.evaluate('window.oob.session.stunServers')).toEqual([]);
    expect(events.some((e) => e.kind === 'signaling-open'), JSON.stringify(events)).toBe(true);
    expect(await page.evaluate('window.oob.error')).toMatch(/the peer connection failed/);
    expect(events.filter((e) => e.kind === 'open'), JSON.stringify(events)).toEqual([]);
    expect(await page.evaluate('window.oob.state("direct")')).not.toBe('open');
    expect(i1.serve.output()).not.toMatch(/"event":"peer\.connected"/);
    // coturn ran in the same place, but nobody was told about it.
    expect(lab.coturn!.process.output()).not.toMatch(/ALLOCATE processed/);
    await page.close();
  });
});
