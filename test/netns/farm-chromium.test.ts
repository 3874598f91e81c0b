/**
 * Issue 13's proof: the farm end to end with real processes in network namespaces
 * (test/netns/helpers/farm-lab.ts): nats-server, one `anbox-oob gateway`, three `anbox-oob serve
 * --nats` instances, each with its own fake adb device, and the real Chromium on a client host.
 *
 * Chromium creates three sessions through the one gateway URL with the protocol page
 * (test/e2e/pages, written from the protocol description only): each lands on a different
 * instance, its data reaches an app connected through THAT instance's data-proxy service and
 * back, and the channel-created broadcast reaches THAT instance's device only. A fourth session
 * gets 503 with Retry-After. An instance host's serve killed with SIGKILL is dropped by the
 * gateway (the browser's signaling WebSocket closes naming it), and once another session ends
 * its instance takes the next session.
 */
import type { Socket } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it, onTestFailed } from 'vitest';
import { shellWords } from '../broadcast/helpers.js';
import { waitFor } from '../e2e/helpers.js';
import { CLI } from '../helpers/cli.js';
import { connectApp, FARM_TOKEN, startFarmLab, type FarmInstance, type FarmLab } from './helpers/farm-lab.js';
import { collect } from './helpers/turn-lab.js';

const STATUS_ACTION = 'com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS';
const STEP_MS = 30_000;

interface InstanceView {
  name: string;
  state: 'free' | 'reserved' | 'streaming';
  device: string | null;
  channels: string[];
  session: string | null;
}

interface PageEvent {
  kind: string;
  code?: number;
  reason?: string;
  status?: number;
}

interface OpenSession {
  page: Page;
  channel: string;
  id: string;
}

let farm: FarmLab | undefined;
const pages: Page[] = [];
const apps: Socket[] = [];

afterAll(async () => {
  for (const app of apps) app.destroy();
  for (const page of pages) await page.close().catch(() => undefined);
  await farm?.close();
}, 60_000);

function pageUrl(channel: string, keepSignaling: boolean): string {
  const url = new URL(farm!.pageUrl);
  url.searchParams.set('gateway', farm!.gatewayUrl);
  url.searchParams.set('token', FARM_TOKEN);
  url.searchParams.set('channel', channel);
  if (keepSignaling) url.searchParams.set('keepSignaling', '1');
  return url.href;
}

/** Opens the protocol page; it creates its session on load. */
async function loadPage(channel: string, keepSignaling: boolean): Promise<Page> {
  const page = await farm!.browser.newPage();
  pages.push(page);
  await page.goto(pageUrl(channel, keepSignaling));
  await page.waitForFunction('window.oob !== undefined');
  return page;
}

/** A session whose data channel `channel` is open. */
async function openSession(channel: string, keepSignaling = false): Promise<OpenSession> {
  const page = await loadPage(channel, keepSignaling);
  await page.evaluate('window.oob.ready').catch(async (error: unknown) => {
    throw new Error(`session with channel ${channel}: ${String(error)}; page events: ${JSON.stringify(await page.evaluate('window.oob.events'))}`);
  });
  const id = (await page.evaluate('window.oob.session.id')) as string;
  return { page, channel, id };
}

/** GET /1.0/instances, from the browser (the client host), with the gateway token. */
async function listInstances(page: Page): Promise<InstanceView[]> {
  const body = (await page.evaluate(
    async ({ gateway, token }) => (await fetch(`${gateway}/1.0/instances`, { headers: { Authorization: `Macaroon root=${token}` } })).json(),
    { gateway: farm!.gatewayUrl, token: FARM_TOKEN },
  )) as { metadata: InstanceView[] };
  return body.metadata;
}

async function waitForInstances(page: Page, what: string, condition: (list: InstanceView[]) => boolean): Promise<InstanceView[]> {
  let last: InstanceView[] = [];
  for (let attempt = 0; attempt < 300; attempt++) {
    last = await listInstances(page);
    if (condition(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; GET /1.0/instances: ${JSON.stringify(last)}`);
}

function instanceOf(list: InstanceView[], session: string): FarmInstance {
  const view = list.find((i) => i.session === session);
  if (!view) throw new Error(`no instance holds session ${session}: ${JSON.stringify(list)}`);
  return farm!.instance(view.name);
}

/** The channels named by `am broadcast … --es event <event>` commands this device received. */
function broadcastChannels(instance: FarmInstance, event: 'created' | 'destroyed'): string[] {
  const out: string[] = [];
  for (const c of instance.adb.commands) {
    const words = shellWords(c.command);
    if (words[0] !== 'am' || words[3] !== STATUS_ACTION || words[words.indexOf('event') + 1] !== event) continue;
    expect(c.serial).toBe(instance.serial);
    out.push(...(words[words.indexOf('data-channel-names') + 1] ?? '').split(','));
  }
  return out;
}

/** Data both ways between the page and an app connected through the instance's data-proxy service. */
async function roundTrip(session: OpenSession, instance: FarmInstance): Promise<void> {
  // The instance announces the channel once its socket is up (/proc/net/unix, which
  // isListening reads, is per network namespace: the test's own cannot see the instance's).
  await waitForInstances(session.page, `${session.channel} on ${instance.name}`, (l) => l.find((i) => i.name === instance.name)?.channels.includes(session.channel) === true);
  const app = await connectApp(instance, session.channel);
  apps.push(app);
  const atApp = collect(app);
  const toApp = `from Chromium to ${session.channel} on ${instance.name}\n`;
  await session.page.evaluate(`window.oob.send(${JSON.stringify(session.channel)}, ${JSON.stringify(toApp)})`);
  await waitFor(() => atApp().includes(toApp), `the page's data at the app on ${instance.name}`, 30_000);
  const toPage = `from the app on ${instance.name}`;
  app.write(`${toPage}\n`);
  await session.page.waitForFunction(
    ({ channel, text }) => new TextDecoder().decode(new Uint8Array((window as unknown as { oob: { receivedBytes(n: string): number[] } }).oob.receivedBytes(channel))).includes(text),
    { channel: session.channel, text: toPage },
    { polling: 50, timeout: STEP_MS },
  );
  app.destroy();
}


/** `anbox-oob status --nats URL --json`, run on the gateway's host: the instances that answer discover. */
async function farmStatus(): Promise<InstanceView[]> {
  const status = farm!.spawn('gw', [process.execPath, CLI, 'status', '--nats', farm!.natsUrl, '--json']);
  const code = await status.exited();
  if (code !== 0) throw new Error(`status --nats --json exited ${code}:\n${status.output()}`);
  return (JSON.parse(status.stdout()) as { instances: InstanceView[] }).instances;
}

async function pageEvents(page: Page): Promise<PageEvent[]> {
  return (await page.evaluate('window.oob.events')) as PageEvent[];
}

describe('the farm in network namespaces: Chromium → one gateway → three serve --nats instances', () => {
  it('places three sessions on three instances, data and broadcasts stay on each; a fourth gets 503; a killed instance is dropped and its place taken', { timeout: 240_000 }, async () => {
    // Started here rather than in beforeAll: a missing tool (ip, nats-server, chromium, adb)
    // then fails this test by name instead of leaving it "skipped". afterAll tears it down.
    farm = await startFarmLab(3);
    onTestFailed(() => {
      // What the processes said, to tell a placement, relay or instance fault apart.
      const tail = (text: string) => text.split('\n').slice(-40).join('\n');
      if (!farm) return;
      console.error(`gateway:\n${tail(farm.gateway.output())}`);
      for (const instance of farm.instances) console.error(`${instance.name}:\n${tail(instance.serve.output())}`);
    });
    // Three sessions through the one gateway URL. The first keeps its signaling WebSocket open,
    // so the test can see how the gateway ends it when its instance dies.
    const sessions: OpenSession[] = [];
    for (const [index, keep] of [true, false, false].entries()) sessions.push(await openSession(`ch${index + 1}`, keep));
    const list = await waitForInstances(sessions[0]!.page, 'three streaming instances', (l) => l.length === 3 && l.every((i) => i.state === 'streaming'));
    const placed = sessions.map((s) => instanceOf(list, s.id));
    expect(new Set(placed.map((i) => i.name)).size).toBe(3);
    for (const instance of placed) expect(list.find((i) => i.name === instance.name)?.device).toBe(instance.serial);

    // The instances' own view, over NATS, agrees.
    const announced = await farmStatus();
    expect(announced.map((i) => [i.name, i.device, i.state, i.session]).sort()).toEqual(
      placed.map((instance, index) => [instance.name, instance.serial, 'streaming', sessions[index]!.id]).sort(),
    );

    // Data reaches the app through THAT instance's data-proxy service, and back.
    for (const [index, session] of sessions.entries()) await roundTrip(session, placed[index]!);

    // The channel-created broadcast reached THAT instance's device, and only it.
    for (const [index, session] of sessions.entries()) {
      const instance = placed[index]!;
      await instance.adb.waitFor(() => broadcastChannels(instance, 'created').includes(session.channel), `created ${session.channel} on ${instance.serial}`, STEP_MS);
    }
    for (const [index, instance] of placed.entries()) expect(new Set(broadcastChannels(instance, 'created'))).toEqual(new Set([sessions[index]!.channel]));

    // A fourth session while three stream: 503, with a clear error the page surfaces…
    const fourth = await loadPage('ch4', false);
    await fourth.waitForFunction('window.oob.error !== undefined', undefined, { timeout: STEP_MS });
    expect(await fourth.evaluate('window.oob.error')).toMatch(/HTTP 503: no free instance: 3 of 3 busy/);
    // …and Retry-After, which the page itself can read (CORS-exposed).
    const refused = (await fourth.evaluate(
      async ({ gateway, token }) => {
        const response = await fetch(`${gateway}/1.0/sessions/`, { method: 'POST', headers: { Authorization: `Macaroon root=${token}`, 'Content-Type': 'application/json' }, body: '{}' });
        return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as { error: string } };
      },
      { gateway: farm.gatewayUrl, token: FARM_TOKEN },
    ));
    expect(refused).toMatchObject({ status: 503, retryAfter: '5', body: { error: expect.stringMatching(/no free instance: 3 of 3 busy/) } });

    // The first session's instance host dies (SIGKILL: no goodbye on NATS). The gateway drops it
    // after 3 silent heartbeats: the browser's signaling WebSocket closes naming it.
    const victim = placed[0]!;
    process.kill(victim.serve.pid, 'SIGKILL');
    await victim.serve.exited();
    await sessions[0]!.page.waitForFunction('window.oob.events.some((e) => e.kind === "signaling-closed")', undefined, { polling: 100, timeout: STEP_MS });
    const closed = (await pageEvents(sessions[0]!.page)).find((e) => e.kind === 'signaling-closed')!;
    expect(closed.code).toBe(1011);
    expect(closed.reason).toContain(`instance "${victim.name}"`);
    const survivors = await waitForInstances(sessions[1]!.page, `${victim.name} gone from the list`, (l) => !l.some((i) => i.name === victim.name));
    expect(survivors.map((i) => i.name).sort()).toEqual(placed.slice(1).map((i) => i.name).sort());
    expect((await farmStatus()).map((i) => i.name).sort()).toEqual(placed.slice(1).map((i) => i.name).sort());

    // Both survivors stream: still no room.
    const fifth = await loadPage('ch5', false);
    await fifth.waitForFunction('window.oob.error !== undefined', undefined, { timeout: STEP_MS });
    expect(await fifth.evaluate('window.oob.error')).toMatch(/HTTP 503: no free instance: 2 of 2 busy/);

    // The second session ends: its instance is free again and takes the next session.
    const freed = placed[1]!;
    await sessions[1]!.page.evaluate('window.oob.disconnect()');
    await waitForInstances(sessions[2]!.page, `${freed.name} free`, (l) => l.find((i) => i.name === freed.name)?.state === 'free');
    await freed.adb.waitFor(() => broadcastChannels(freed, 'destroyed').includes(sessions[1]!.channel), `destroyed ${sessions[1]!.channel} on ${freed.serial}`, STEP_MS);
    const next = await openSession('ch6');
    const after = await waitForInstances(next.page, 'the new session streaming', (l) => l.find((i) => i.session === next.id)?.state === 'streaming');
    expect(instanceOf(after, next.id).name).toBe(freed.name);
    await roundTrip(next, freed);
    await freed.adb.waitFor(() => broadcastChannels(freed, 'created').includes('ch6'), `created ch6 on ${freed.serial}`, STEP_MS);
    expect(broadcastChannels(placed[2]!, 'created')).not.toContain('ch6');
  });
});
