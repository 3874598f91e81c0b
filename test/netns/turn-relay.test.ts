/**
 * A peer that can reach the instance only through TURN (issue 13), with Debian's coturn, on a lab
 * of network namespaces (test/helpers/netns.ts):
 *
 *   a  `anbox-oob serve --turn …` (the instance host)
 *   t  coturn, and a TCP forwarder to a's gateway: the public entry point, as a Stream Gateway
 *      in front of private instance hosts would be
 *   c  the client; its firewall lets it talk to t only, so no packet of it ever reaches a
 *
 * Signaling goes c → t → a over TCP; WebRTC can only go through coturn's relay. The data must
 * reach the channel socket on a's side (a Unix socket: the file system is shared, the network is
 * not), and the client must report that its side of the ICE path is a relay candidate.
 */
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, CLI } from '../helpers/cli.js';
import { startCoturn, type CoturnHandle } from '../helpers/coturn.js';
import { createLab, type Lab } from '../helpers/netns.js';
import { spawnInNamespace, type NsProcess } from '../helpers/ns-process.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';

const TOKEN = 'netns-turn-relay-token-0123456789';
const GATEWAY_PORT = 8777;

let lab: Lab | undefined;
let dir: string | undefined;
let coturn: CoturnHandle | undefined;
const processes: NsProcess[] = [];
const sockets: Socket[] = [];

interface Instance {
  serve: NsProcess;
  /** The gateway as c sees it: t's forwarder. */
  gateway: string;
  socketDir: string;
}

/** Instances on a, reached by c through t's forwarders. */
const instances: Record<'turnBoth' | 'turnClientOnly', Instance> = {} as Record<'turnBoth' | 'turnClientOnly', Instance>;

/** `serve` on a at `port` (with `extra` args), and t's forwarder to it on the same port. */
async function startInstance(name: string, port: number, extra: string[]): Promise<Instance> {
  const [a, t] = [lab!.host('a'), lab!.host('t')];
  const base = join(dir!, name);
  const serve = spawnInNamespace(a.ns, [
    process.execPath, CLI, 'serve',
    '--socket-dir', join(base, 'sockets'),
    '--service-socket', join(base, 'svc.sock'),
    '--receivers-dir', join(base, 'receivers'),
    '--listen', `${a.address}:${port}`,
    '--token', TOKEN,
    '--log-format', 'json',
    ...extra,
  ]);
  processes.push(serve);
  await serve.waitForLine(/"event":"serve.ready"/);
  const forwarder = spawnInNamespace(t.ns, ['socat', `TCP-LISTEN:${port},bind=${t.address},fork,reuseaddr`, `TCP:${a.address}:${port}`]);
  processes.push(forwarder);
  await waitForTcp(t.ns, t.address, port);
  return { serve, gateway: `http://${t.address}:${port}`, socketDir: join(base, 'sockets') };
}

beforeAll(async () => {
  assertBuilt();
  lab = createLab({ hosts: ['a', 't', 'c'], reach: { c: ['t'] } });
  dir = makeTempDir('aoob-turn-');
  coturn = await startCoturn({ ns: lab.host('t').ns, address: lab.host('t').address });
  // serve --turn: both sides get coturn (the client from the gateway's metadata.stun_servers).
  instances.turnBoth = await startInstance('both', GATEWAY_PORT, ['--turn', coturn.url]);
  // serve without it: only the client's own --turn can make the path, and its end must be a relay.
  instances.turnClientOnly = await startInstance('client', GATEWAY_PORT + 1, []);
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(processes.splice(0).map((p) => p.stop()));
  await coturn?.stop();
  lab?.destroy();
  if (dir) removeTempDir(dir);
});

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
    if (socket) {
      sockets.push(socket);
      return socket;
    }
    await sleep(50);
  }
  throw new Error(`${path} never accepted a connection`);
}

function collect(socket: Socket): () => string {
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
  return () => received;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 600; attempt++) {
    if (condition()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('a client that reaches the instance only through TURN (coturn)', () => {
  it('cannot reach the instance host directly', async () => {
    const c = lab!.host('c');
    const probe = `const s=require('net').connect(${GATEWAY_PORT},'${lab!.host('a').address}');s.setTimeout(1500,()=>{console.log('RESULT TIMEOUT');process.exit(0)});s.on('connect',()=>{console.log('RESULT CONNECTED');process.exit(0)});s.on('error',(e)=>{console.log('RESULT '+e.code);process.exit(0)})`;
    const p = spawnInNamespace(c.ns, [process.execPath, '-e', probe]);
    processes.push(p);
    const [, result] = await p.waitForLine(/^RESULT (.*)$/);
    expect(result).not.toBe('CONNECTED');
  });

  /**
   * Runs the headless client in c against `instance`, moves a line each way between it and an app
   * on the instance's channel socket, and returns the client's and the instance's view of the
   * ICE path (from their JSON logs).
   */
  async function relayRoundTrip(instance: Instance, channel: string, clientArgs: string[]): Promise<{ client: PathEvent; serve: PathEvent }> {
    const c = lab!.host('c');
    const client = spawnInNamespace(
      c.ns,
      [process.execPath, CLI, 'client', '--gateway', instance.gateway, '--token', TOKEN, '--channel', channel, '--linger', '1000', '--timeout', '45000', '--log-level', 'info', '--log-format', 'json', ...clientArgs],
      { stdinPipe: true },
    );
    processes.push(client);
    await client.waitForLine(new RegExp(`connected: channel ${channel} open .*ICE path \\w+ → \\w+`), 50_000);

    const app = await connectChannelSocket(join(instance.socketDir, `webrtc_data_${channel}`));
    const atApp = collect(app);
    client.child.stdin!.write('from the client, through coturn\n');
    await until(() => atApp().includes('from the client, through coturn\n'), 'the client data at the channel socket');
    app.write('from the app on the instance host\n');
    await until(() => client.stdout().includes('from the app on the instance host\n'), 'the app data at the client');
    client.child.stdin!.end();
    expect(await client.exited()).toBe(0);
    return {
      client: logEvent(client.stderr(), (e) => e.msg === 'connected' && e.localCandidate !== undefined),
      serve: logEvent(instance.serve.output(), (e) => e.event === 'peer.connected' && e.remoteAddress !== undefined),
    };
  }

  it('the headless client, given coturn by the gateway (serve --turn), connects through it; data flows both ways', async () => {
    const t = lab!.host('t');
    const { client, serve } = await relayRoundTrip(instances.turnBoth, 'relay', []);
    // c can send to t only, so some end of each side's pair is on t: its own relay allocation,
    // or the other side's (learnt from signaling as relay, or from the checks as prflx).
    expect(endOnT(client, t.address), JSON.stringify(client)).toBe(true);
    expect(endOnT(serve, t.address), JSON.stringify(serve)).toBe(true);
  });

  it('with coturn given to the client only (client --turn), its end of the path is a relay candidate', async () => {
    const t = lab!.host('t');
    const { client, serve } = await relayRoundTrip(instances.turnClientOnly, 'mine', ['--turn', coturn!.url]);
    expect(client.localCandidate).toBe('relay');
    expect(client.localAddress?.startsWith(`${t.address}:`)).toBe(true);
    // The instance has no relay of its own: it talks from its host address to the client's relay.
    expect(serve.localCandidate).toBe('host');
    expect(serve.remoteAddress?.startsWith(`${t.address}:`)).toBe(true);
  });

  it('client --turn refuses a STUN URL with a usage error', async () => {
    const p = spawnInNamespace(undefined, [process.execPath, CLI, 'client', '--gateway', 'http://127.0.0.1:1', '--token', 't', '--channel', 'x', '--turn', 'stun:127.0.0.1:3478']);
    processes.push(p);
    expect(await p.exited()).toBe(2);
    expect(p.stderr()).toContain('a STUN server goes in --stun');
  });
});

interface PathEvent {
  session?: string;
  msg?: string;
  event?: string;
  localCandidate?: string;
  remoteCandidate?: string;
  localAddress?: string;
  remoteAddress?: string;
}

function logEvent(output: string, match: (event: PathEvent) => boolean): PathEvent {
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    const event = JSON.parse(line) as PathEvent;
    if (match(event)) return event;
  }
  throw new Error(`no matching log line in:\n${output.slice(-4000)}`);
}

function endOnT(event: PathEvent, tAddress: string): boolean {
  return [event.localAddress, event.remoteAddress].some((address) => address?.startsWith(`${tAddress}:`));
}
