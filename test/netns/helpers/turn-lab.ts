/**
 * The TURN lab of test/netns/turn-relay*.test.ts (issue 13):
 *
 *   a  `anbox-oob serve` instances (the instance host)
 *   t  coturn, and one TCP forwarder per instance to a's gateway: the public entry point, as a
 *      Stream Gateway in front of private instance hosts would be
 *   c  the client; its firewall lets it talk to t only, so no packet of it ever reaches a
 *
 * Signaling goes c → t → a over TCP; WebRTC can only go through coturn's relay.
 */
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertBuilt, CLI } from '../../helpers/cli.js';
import { startCoturn, type CoturnHandle } from '../../helpers/coturn.js';
import { createLab, type Lab } from '../../helpers/netns.js';
import { spawnInNamespace, type NsProcess } from '../../helpers/ns-process.js';
import { makeTempDir, removeTempDir } from '../../helpers/temp-dir.js';
import { requireExecutable } from '../../e2e/helpers.js';

export const TOKEN = 'netns-turn-relay-token-0123456789';

export interface Instance {
  serve: NsProcess;
  /** The gateway as c sees it: t's forwarder. */
  gateway: string;
  socketDir: string;
}

export interface TurnLab {
  lab: Lab;
  coturn: CoturnHandle;
  /** `serve` on a at `port` (with `extra` args, e.g. --turn), and t's forwarder to it on the same port. */
  startInstance(name: string, port: number, extra: string[]): Promise<Instance>;
  /** Processes to stop at the end (the lab's own are stopped by close()). */
  track(process: NsProcess): NsProcess;
  /** Connects to a channel socket on a (a Unix socket: the file system is shared), retrying while it is not listening yet. */
  connectChannelSocket(path: string): Promise<Socket>;
  close(): Promise<void>;
}

export async function startTurnLab(): Promise<TurnLab> {
  // Missing tools fail here with what to install (coturn: startCoturn says so); nothing is skipped.
  assertBuilt();
  requireExecutable('socat', 'apt-get install socat');
  const lab = createLab({ hosts: ['a', 't', 'c'], reach: { c: ['t'] } });
  const dir = makeTempDir('aoob-turn-');
  const processes: NsProcess[] = [];
  const sockets: Socket[] = [];
  const track = (p: NsProcess) => {
    processes.push(p);
    return p;
  };
  let coturn: CoturnHandle | undefined;
  const close = async () => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(processes.splice(0).map((p) => p.stop()));
    await coturn?.stop();
    lab.destroy();
    removeTempDir(dir);
  };
  try {
    coturn = await startCoturn({ ns: lab.host('t').ns, address: lab.host('t').address });
  } catch (error) {
    await close();
    throw error;
  }
  const [a, t] = [lab.host('a'), lab.host('t')];
  return {
    lab,
    coturn,
    track,
    close,
    async startInstance(name, port, extra) {
      const base = join(dir, name);
      const serve = track(
        spawnInNamespace(a.ns, [
          process.execPath, CLI, 'serve',
          '--socket-dir', join(base, 'sockets'),
          '--service-socket', join(base, 'svc.sock'),
          '--receivers-dir', join(base, 'receivers'),
          '--listen', `${a.address}:${port}`,
          '--token', TOKEN,
          '--log-format', 'json',
          ...extra,
        ]),
      );
      await serve.waitForLine(/"event":"serve.ready"/);
      track(spawnInNamespace(t.ns, ['socat', `TCP-LISTEN:${port},bind=${t.address},fork,reuseaddr`, `TCP:${a.address}:${port}`]));
      await waitForTcp(t.ns, t.address, port);
      return { serve, gateway: `http://${t.address}:${port}`, socketDir: join(base, 'sockets') };
    },
    async connectChannelSocket(path) {
      const socket = await connectChannelSocket(path);
      sockets.push(socket);
      return socket;
    },
  };
}

/** Resolves once something in `ns` accepts TCP connections on ADDRESS:PORT. */
async function waitForTcp(ns: string, address: string, port: number): Promise<void> {
  const probe = `const s=require('net').connect(${port},'${address}');s.on('connect',()=>{console.log('UP');process.exit(0)});s.on('error',()=>{console.log('DOWN');process.exit(0)})`;
  for (let attempt = 0; attempt < 100; attempt++) {
    const p = spawnInNamespace(ns, [process.execPath, '-e', probe]);
    const [line] = await p.waitForLine(/^(UP|DOWN)$/);
    await p.stop();
    if (line === 'UP') return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${address}:${port} in ${ns}`);
}

/** Connects to a channel socket, retrying while it is not listening yet. */
async function connectChannelSocket(path: string): Promise<Socket> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const socket = await new Promise<Socket | undefined>((resolve) => {
      const s = createConnection(path);
      s.once('connect', () => resolve(s));
      s.once('error', () => resolve(undefined));
    });
    if (socket) return socket;
    await sleep(50);
  }
  throw new Error(`${path} never accepted a connection`);
}

export function collect(socket: Socket): () => string {
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
  return () => received;
}

export interface PathEvent {
  session?: string;
  msg?: string;
  event?: string;
  localCandidate?: string;
  remoteCandidate?: string;
  localAddress?: string;
  remoteAddress?: string;
}

export function logEvent(output: string, match: (event: PathEvent) => boolean): PathEvent {
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    const event = JSON.parse(line) as PathEvent;
    if (match(event)) return event;
  }
  throw new Error(`no matching log line in:\n${output.slice(-4000)}`);
}

export function endOnT(event: PathEvent, tAddress: string): boolean {
  return [event.localAddress, event.remoteAddress].some((address) => address?.startsWith(`${tAddress}:`));
}
