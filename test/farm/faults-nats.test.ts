/**
 * Farm failure behaviour (issue 13) around nats-server, with real processes: `anbox-oob gateway`,
 * `anbox-oob serve --nats`, `anbox-oob client` and a real nats-server, on loopback.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { waitFor } from '../platform/helpers/harness.js';
import {
  connectAppThroughService,
  LONG,
  listInstances,
  postSession,
  proveDataFlows,
  startClient,
  startGateway,
  startInstance,
  stopAll,
  untilConnected,
  untilInstances,
} from './helpers/farm-processes.js';

let nats: NatsServerHandle | undefined;

afterEach(async () => {
  await stopAll();
  await nats?.stop();
  nats = undefined;
});

describe('farm faults: nats-server', () => {
  it('NATS restarted mid-session: the session keeps its data flowing, the instances re-register and new sessions are placed', async () => {
    nats = await startNatsServer();
    const gateway = await startGateway(nats.url);
    const one = await startInstance(nats.url, 'nr-1');
    await startInstance(nats.url, 'nr-2');
    await untilInstances(gateway.url, (a) => a.names.join() === 'nr-1,nr-2', 'both instances listed');

    const client = startClient(gateway.url, 'foo', ['--instance', 'nr-1']);
    const session = await untilConnected(client);
    const app = await connectAppThroughService(one, 'foo');
    await proveDataFlows(client, app, 'before the restart');

    nats = await nats.restart();
    // Both sides saw the outage and came back (their own log events, not a timer).
    await waitFor(() => gateway.events().some((e) => e.event === 'farm.nats_reconnected'), 'the gateway reconnecting', LONG);
    await waitFor(() => one.logLines().some((l) => l.event === 'farm.nats_reconnected'), 'the instance reconnecting', LONG);
    expect(gateway.events().some((e) => e.event === 'farm.nats_disconnected')).toBe(true);

    // The WebRTC session does not use NATS: data still flows both ways, on the same session.
    await proveDataFlows(client, app, 'after the restart');
    expect(client.child.exitCode).toBeNull();
    expect(client.session()).toBe(session);

    // The list is whole again, with nr-1 still streaming that session.
    const listed = await untilInstances(gateway.url, (a) => a.names.join() === 'nr-1,nr-2' && a.nats === 'connected', 'both instances listed after the restart');
    expect(listed.instances.find((i) => i.name === 'nr-1')).toMatchObject({ state: 'streaming', session });
    // A new session is placed, on the free one.
    const placed = await postSession(gateway.url);
    expect(placed.status).toBe(201);
    await untilInstances(gateway.url, (a) => a.instances.find((i) => i.name === 'nr-2')?.session === placed.metadata!.id, 'the new session on nr-2');
    expect(gateway.events().filter((e) => e.event === 'farm.gateway.instance_dropped')).toEqual([]);
    // The client keeps its signaling WebSocket: its relay through NATS survived the restart too.
    expect(gateway.events().filter((e) => e.event === 'farm.gateway.relay_closed' && e.session === session)).toEqual([]);
    expect(gateway.events().some((e) => e.event === 'farm.gateway.relay_opened' && e.session === session)).toBe(true);
  });

  it('gateway without nats-server: listens at once (ready block), 503 "NATS not connected" with Retry-After, an empty list with nats "disconnected"; connects once NATS appears', async () => {
    const later = await startNatsServer();
    const port = later.port;
    await later.stop();
    const gateway = await startGateway(later.url);
    expect(gateway.stderr()).toMatch(/NATS\s+nats:\/\/127\.0\.0\.1:\d+ not reachable yet/);
    expect(gateway.events().map((e) => e.event)).toEqual(expect.arrayContaining(['farm.gateway.listening', 'farm.gateway.nats_unreachable', 'farm.gateway.ready']));

    const refused = await postSession(gateway.url);
    expect(refused.status).toBe(503);
    expect(refused.error).toMatch(/NATS not connected/);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    const empty = await listInstances(gateway.url);
    expect(empty).toMatchObject({ status: 200, nats: 'disconnected', names: [] });
    // The headless client surfaces the refusal: status, the server's text, Retry-After; exit 1.
    const client = startClient(gateway.url, 'foo', ['--no-stdin']);
    expect(await client.exited).toBe(1);
    expect(client.stderr()).toMatch(/503 Service Unavailable.*NATS not connected.*\(Retry-After: \d+ s\)/);

    nats = await startNatsServer({ port });
    const instance = await startInstance(nats.url, 'late-gw-1');
    await untilInstances(gateway.url, (a) => a.nats === 'connected' && a.names.join() === 'late-gw-1', 'the instance listed once NATS is up');
    expect(gateway.events().some((e) => e.event === 'farm.gateway.nats_joined')).toBe(true);
    const placed = await postSession(gateway.url);
    expect(placed.status).toBe(201);
    await waitFor(() => instance.logLines().some((l) => l.event === 'farm.instance.session_placed'), 'the session placed on the instance', LONG);
    expect(await gateway.stop('SIGTERM')).toBe(0);
  });

  it('a gateway still waiting for nats-server stops cleanly on SIGTERM (exit 0, farm.gateway.stopped)', async () => {
    const gone = await startNatsServer();
    await gone.stop();
    const gateway = await startGateway(gone.url);
    await waitFor(() => gateway.events().some((e) => e.event === 'farm.gateway.nats_unreachable'), 'the first attempt failing', LONG);
    expect(await gateway.stop('SIGTERM')).toBe(0);
    expect(gateway.events().some((e) => e.event === 'farm.gateway.stopped')).toBe(true);
  });
});
