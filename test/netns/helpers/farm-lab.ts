/**
 * The farm lab of test/netns/farm-chromium.test.ts (issue 13): real processes, one network
 * namespace per "host":
 *
 *   nats        nats-server
 *   gw          `anbox-oob gateway --nats …` (the one URL the browser knows)
 *   i1 i2 i3    `anbox-oob serve --nats … --instance-name iN --adb --adb-serial dev-N`, each with
 *               its own socket dir and data-proxy service socket, and its own fake adb server
 *               (the real `adb` client reaches it through a Unix socket, see unix-forwarder.ts)
 *   c           headless Chromium, and the protocol page served by python3's http.server: a page
 *               from a private address may call the private gateway (Chromium's Private Network
 *               Access), see turn-relay-chromium.test.ts
 *   turn        (option `turn`) Debian's coturn, whose URL goes to `gateway --turn` and/or each
 *               `serve --turn` (test/netns/farm-turn.test.ts)
 *
 * Option `reach` is createLab's firewall (host → the only hosts it may exchange packets with).
 * close() stops everything it started, destroys the lab and removes the temp dir, whatever
 * state the start got to; it is idempotent.
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { assertBuilt, CLI } from '../../helpers/cli.js';
import { connectAppWhenUp } from '../../helpers/connect-app.js';
import { startCoturn, TURNSERVER, type CoturnHandle } from '../../helpers/coturn.js';
import { FakeAdbServer } from '../../helpers/fake-adb-server.js';
import { createLab, type Lab, type LabHost } from '../../helpers/netns.js';
import { NATS_SERVER, startNatsServer, type NatsServerHandle } from '../../helpers/nats-server.js';
import { spawnInNamespace, type NsProcess } from '../../helpers/ns-process.js';
import { makeTempDir, removeTempDir } from '../../helpers/temp-dir.js';
import { PAGES_DIR, requireExecutable } from '../../e2e/helpers.js';
import { CHROMIUM_PATH } from '../../web/helpers/browser.js';
import { launchChromiumInNamespace } from './chromium-in-namespace.js';
import { forwardUnixToTcp, type UnixForwarder } from './unix-forwarder.js';

export const FARM_TOKEN = 'netns-farm-gateway-token-0123456789';
const NATS_PORT = 4222;
const GATEWAY_PORT = 8780;
const PAGES_PORT = 9000;
/** Short heartbeats: a killed instance is dropped after 3 of them. */
export const HEARTBEAT_MS = 500;

export interface FarmInstance {
  readonly name: string;
  readonly serial: string;
  readonly host: LabHost;
  readonly serve: NsProcess;
  readonly socketDir: string;
  readonly servicePath: string;
  /** This instance's device: only its own `adb` talks to it. */
  readonly adb: FakeAdbServer;
}

export interface FarmLabOptions {
  /** Instance hosts i1…iN (default 3). */
  instances?: number;
  /** Run coturn on a host "turn" and give its URL to `gateway --turn` and/or every `serve --turn`. */
  turn?: { gateway: boolean; instances: boolean };
  /** createLab's firewall: host → the only hosts it may exchange packets with. Default: none. */
  reach?: Record<string, string[]>;
}

export interface FarmLab {
  readonly lab: Lab;
  /** coturn on host "turn", with option `turn`. */
  readonly coturn: CoturnHandle | undefined;
  /** nats-server as every lab host sees it. */
  readonly natsUrl: string;
  readonly gateway: NsProcess;
  /** The gateway as every lab host sees it. */
  readonly gatewayUrl: string;
  readonly instances: readonly FarmInstance[];
  readonly browser: Browser;
  /** The protocol page's URL on c (add ?gateway=…&token=…&channel=…). */
  readonly pageUrl: string;
  instance(name: string): FarmInstance;
  /** Runs a process in a lab host's namespace; close() stops it. */
  spawn(host: string, argv: string[]): NsProcess;
  close(): Promise<void>;
}

export async function startFarmLab(options: FarmLabOptions | number = {}): Promise<FarmLab> {
  const { instances: instanceCount = 3, turn, reach } = typeof options === 'number' ? { instances: options } : options;
  // Missing tools fail here with what to install; nothing is skipped.
  assertBuilt();
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`Chromium is not installed at ${CHROMIUM_PATH} (apt-get install chromium; .ci/run does)`);
  if (!NATS_SERVER.includes('/')) requireExecutable(NATS_SERVER, 'apt-get install nats-server');
  requireExecutable('adb', 'apt-get install adb');
  requireExecutable('python3', 'apt-get install python3');
  if (turn && !TURNSERVER.includes('/')) requireExecutable(TURNSERVER, 'apt-get install coturn');
  const names = Array.from({ length: instanceCount }, (_, i) => `i${i + 1}`);
  const dir = makeTempDir('aoob-farm-');
  const processes: NsProcess[] = [];
  const forwarders: UnixForwarder[] = [];
  const adbs: FakeAdbServer[] = [];
  let lab: Lab | undefined;
  let nats: NatsServerHandle | undefined;
  let coturn: CoturnHandle | undefined;
  let browser: Browser | undefined;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await browser?.close().catch(() => undefined);
      await Promise.all(processes.splice(0).map((p) => p.stop()));
      await nats?.stop();
      await coturn?.stop();
      await Promise.all(forwarders.splice(0).map((f) => f.close()));
      await Promise.all(adbs.splice(0).map((a) => a.close()));
      lab?.destroy();
      removeTempDir(dir);
    })());
  try {
    lab = createLab({ hosts: ['nats', 'gw', ...(turn ? ['turn'] : []), ...names, 'c'], reach });
    const created = lab;
    const spawn = (host: string, argv: string[], env?: NodeJS.ProcessEnv) => {
      const p = spawnInNamespace(created.host(host).ns, argv, { env });
      processes.push(p);
      return p;
    };
    const natsHost = lab.host('nats');
    nats = await startNatsServer({ host: natsHost.address, port: NATS_PORT, wrap: natsHost.wrap([]) });
    const natsUrl = `nats://${natsHost.address}:${NATS_PORT}`;
    if (turn) coturn = await startCoturn({ ns: lab.host('turn').ns, address: lab.host('turn').address });
    const turnArgs = (wanted: boolean) => (wanted && coturn ? ['--turn', coturn.url] : []);

    const gw = lab.host('gw');
    const gateway = spawn('gw', [process.execPath, CLI, 'gateway', '--nats', natsUrl, '--listen', `${gw.address}:${GATEWAY_PORT}`, '--token', FARM_TOKEN, ...turnArgs(turn?.gateway === true)]);
    await gateway.waitForLine(/"event":"farm\.gateway\.ready"/);

    const instances: FarmInstance[] = [];
    for (const [index, name] of names.entries()) {
      const serial = `dev-${index + 1}`;
      const base = join(dir, name);
      mkdirSync(base);
      const adb = await FakeAdbServer.start([{ serial }]);
      adbs.push(adb);
      const forwarder = await forwardUnixToTcp(join(base, 'adb.sock'), adb.port);
      forwarders.push(forwarder);
      // Only ADB_SERVER_SOCKET points adb at this instance's device; nothing of the test's own
      // adb environment leaks in.
      const env = { ...process.env, ADB_SERVER_SOCKET: `localfilesystem:${forwarder.path}` };
      for (const key of ['ANDROID_ADB_SERVER_PORT', 'ANDROID_ADB_SERVER_ADDRESS', 'ANDROID_SERIAL', 'ANBOX_OOB_TOKEN', 'ANBOX_OOB_SERVICE_SOCKET']) delete env[key];
      const socketDir = join(base, 'sockets');
      const servicePath = join(base, 'svc.sock');
      const serve = spawn(
        name,
        [
          process.execPath, CLI, 'serve',
          '--nats', natsUrl,
          '--instance-name', name,
          '--heartbeat-ms', String(HEARTBEAT_MS),
          '--adb', '--adb-serial', serial,
          '--socket-dir', socketDir,
          '--service-socket', servicePath,
          '--receivers-dir', join(base, 'receivers'),
          '--log-format', 'json',
          ...turnArgs(turn?.instances === true),
        ],
        env,
      );
      await serve.waitForLine(/"event":"farm\.instance\.joined"/);
      instances.push({ name, serial, host: lab.host(name), serve, socketDir, servicePath, adb });
    }

    const c = lab.host('c');
    const pages = spawn('c', ['python3', '-u', '-m', 'http.server', '--bind', c.address, '--directory', PAGES_DIR, String(PAGES_PORT)]);
    await pages.waitForLine(/Serving HTTP/);
    browser = await launchChromiumInNamespace(c.ns, dir);
    return {
      lab,
      coturn,
      natsUrl,
      gateway,
      gatewayUrl: `http://${gw.address}:${GATEWAY_PORT}`,
      instances,
      browser,
      pageUrl: `http://${c.address}:${PAGES_PORT}/protocol-page.html`,
      instance(name) {
        const found = instances.find((i) => i.name === name);
        if (!found) throw new Error(`no instance ${name}`);
        return found;
      },
      spawn: (host, argv) => spawn(host, argv),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** An app's connect(channel) through the instance's data-proxy service, retried for 10 s while the channel is not up yet. */
export function connectApp(instance: FarmInstance, channel: string): Promise<Socket> {
  return connectAppWhenUp(instance.servicePath, channel, instance.name, 10_000);
}
