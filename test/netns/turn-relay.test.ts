/**
 * A client that can reach the instance only through TURN (issue 13), with Debian's coturn, on the
 * lab of test/netns/helpers/turn-lab.ts (serve on a, coturn on t, the client on c, which may talk
 * to t only). The headless client (`anbox-oob client`, node-datachannel) runs in c; data must reach
 * the channel socket on a's side both ways, and the logs of both ends must show a path through t.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../e2e/helpers.js';
import { CLI } from '../helpers/cli.js';
import { spawnInNamespace } from '../helpers/ns-process.js';
import { collect, endOnT, logEvent, startTurnLab, TOKEN, type Instance, type PathEvent, type TurnLab } from './helpers/turn-lab.js';

let turnLab: TurnLab | undefined;
let withTurn: Instance;
let withoutTurn: Instance;

beforeAll(async () => {
  turnLab = await startTurnLab();
  // serve --turn: both sides get coturn (the client from the gateway's metadata.stun_servers).
  withTurn = await turnLab.startInstance('both', 8777, ['--turn', turnLab.coturn.url]);
  // serve without it: only the client's own --turn can make the path, and its end must be a relay.
  withoutTurn = await turnLab.startInstance('client', 8778, []);
});

afterAll(async () => {
  await turnLab?.close();
});

describe('a client that reaches the instance only through TURN (coturn)', () => {
  it('cannot reach the instance host directly', async () => {
    const { lab, track } = turnLab!;
    const probe = `const s=require('net').connect(8777,'${lab.host('a').address}');s.setTimeout(1500,()=>{console.log('RESULT TIMEOUT');process.exit(0)});s.on('connect',()=>{console.log('RESULT CONNECTED');process.exit(0)});s.on('error',(e)=>{console.log('RESULT '+e.code);process.exit(0)})`;
    const probeFrom = async (host: string) => {
      const p = track(spawnInNamespace(lab.host(host).ns, [process.execPath, '-e', probe]));
      const [, result] = await p.waitForLine(/^RESULT (.*)$/);
      return result;
    };
    // The instance does listen there (t, which may reach a, connects), so what c gets is the
    // firewall's answer (a local reject or a dropped SYN), not a refusal from an empty port.
    expect(await probeFrom('t')).toBe('CONNECTED');
    const result = await probeFrom('c');
    expect(result).not.toBe('CONNECTED');
    expect(result).toMatch(/^(EPERM|EACCES|TIMEOUT)$/);
  });

  /**
   * Runs the headless client in c against `instance`, moves a line each way between it and an app
   * on the instance's channel socket, and returns the client's and the instance's view of the
   * ICE path (from their JSON logs).
   */
  async function relayRoundTrip(instance: Instance, channel: string, clientArgs: string[]): Promise<{ client: PathEvent; serve: PathEvent }> {
    const { lab, track, connectChannelSocket } = turnLab!;
    const c = lab.host('c');
    const client = track(spawnInNamespace(
      c.ns,
      [process.execPath, CLI, 'client', '--gateway', instance.gateway, '--token', TOKEN, '--channel', channel, '--linger', '1000', '--timeout', '45000', '--log-level', 'info', '--log-format', 'json', ...clientArgs],
      { stdinPipe: true },
    ));
    await client.waitForLine(new RegExp(`connected: channel ${channel} open .*ICE path \\w+ → \\w+`), 50_000);

    const app = await connectChannelSocket(join(instance.socketDir, `webrtc_data_${channel}`));
    const atApp = collect(app);
    client.child.stdin!.write('from the client, through coturn\n');
    await waitFor(() => atApp().includes('from the client, through coturn\n'), 'the client data at the channel socket', 30_000);
    app.write('from the app on the instance host\n');
    await waitFor(() => client.stdout().includes('from the app on the instance host\n'), 'the app data at the client', 30_000);
    client.child.stdin!.end();
    expect(await client.exited()).toBe(0);
    return {
      client: logEvent(client.stderr(), (e) => e.msg === 'connected' && e.localCandidate !== undefined),
      serve: logEvent(instance.serve.output(), (e) => e.event === 'peer.connected' && e.remoteAddress !== undefined),
    };
  }

  it('the headless client, given coturn by the gateway (serve --turn), connects through it; data flows both ways', async () => {
    const t = turnLab!.lab.host('t');
    const { client, serve } = await relayRoundTrip(withTurn, 'relay', []);
    // c can send to t only, so some end of each side's pair is on t: its own relay allocation,
    // or the other side's (learnt from signaling as relay, or from the checks as prflx).
    expect(endOnT(client, t.address), JSON.stringify(client)).toBe(true);
    expect(endOnT(serve, t.address), JSON.stringify(serve)).toBe(true);
  });

  it('with coturn given to the client only (client --turn), its end of the path is a relay candidate', async () => {
    const t = turnLab!.lab.host('t');
    const { client, serve } = await relayRoundTrip(withoutTurn, 'mine', ['--turn', turnLab!.coturn.url]);
    expect(client.localCandidate).toBe('relay');
    expect(client.localAddress?.startsWith(`${t.address}:`)).toBe(true);
    // The instance has no relay of its own: it talks from its host address to the client's relay.
    expect(serve.localCandidate).toBe('host');
    expect(serve.remoteAddress?.startsWith(`${t.address}:`)).toBe(true);
  });

  it('client --turn refuses a STUN URL with a usage error', async () => {
    const p = turnLab!.track(spawnInNamespace(undefined, [process.execPath, CLI, 'client', '--gateway', 'http://127.0.0.1:1', '--token', 't', '--channel', 'x', '--turn', 'stun:127.0.0.1:3478']));
    expect(await p.exited()).toBe(2);
    expect(p.stderr()).toContain('a STUN server goes in --stun');
  });
});

