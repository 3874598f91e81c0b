/**
 * Farm failure behaviour (issue 13) when a host goes: an instance killed (SIGKILL) or stopped
 * (SIGTERM) during a session, and the gateway restarted. Real processes on loopback.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SESSION_ENDED_SUBJECT } from '../../src/farm/subjects.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { waitFor } from '../platform/helpers/harness.js';
import { FakeGateway } from './helpers/fake-gateway.js';
import {
  connectAppThroughService,
  LONG,
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
let watcher: FakeGateway | undefined;

afterEach(async () => {
  await stopAll();
  await watcher?.close();
  watcher = undefined;
  await nats?.stop();
  nats = undefined;
});

describe('farm faults: hosts', () => {
  it('an instance host killed: its session ends at the client with a reason naming it; the gateway stops placing there', async () => {
    nats = await startNatsServer();
    const gateway = await startGateway(nats.url);
    const doomed = await startInstance(nats.url, 'kill-1');
    await startInstance(nats.url, 'kill-2');
    await untilInstances(gateway.url, (a) => a.names.join() === 'kill-1,kill-2', 'both instances listed');
    const client = startClient(gateway.url, 'foo', ['--instance', 'kill-1']);
    await untilConnected(client);
    const app = await connectAppThroughService(doomed, 'foo');
    await proveDataFlows(client, app, 'before the kill');

    await doomed.stop('SIGKILL');
    expect(await client.exited).toBe(1);
    expect(client.stderr()).toMatch(/the gateway ended the session \(1011: instance "kill-1" stopped answering/);
    const listed = await untilInstances(gateway.url, (a) => a.names.join() === 'kill-2', 'kill-1 gone from the list');
    expect(listed.instances[0]!.state).toBe('free');
    expect(gateway.events().some((e) => e.event === 'farm.gateway.instance_dropped' && e.instance === 'kill-1')).toBe(true);
    // Asking for the dead one: 404 naming it; asking for any: placed on the live one.
    const named = await postSession(gateway.url, { instance: 'kill-1' });
    expect(named.status).toBe(404);
    expect(named.error).toMatch(/kill-1/);
    const placed = await postSession(gateway.url);
    expect(placed.status).toBe(201);
    await untilInstances(gateway.url, (a) => a.instances[0]?.session === placed.metadata!.id, 'the new session on kill-2');
  });

  it('SIGTERM of serve --nats during a session: session.ended is published and the client is told why', async () => {
    nats = await startNatsServer();
    watcher = await FakeGateway.connect(nats.port);
    const ended = watcher.collect(SESSION_ENDED_SUBJECT);
    const gateway = await startGateway(nats.url);
    const instance = await startInstance(nats.url, 'term-1');
    await untilInstances(gateway.url, (a) => a.names.join() === 'term-1', 'the instance listed');
    const client = startClient(gateway.url, 'foo');
    const session = await untilConnected(client);
    const app = await connectAppThroughService(instance, 'foo');
    await proveDataFlows(client, app, 'before SIGTERM');

    expect(await instance.stop('SIGTERM')).toBe(0);
    const end = await ended.next((m) => m.session === session, 'session.ended', 0, LONG);
    expect(end).toMatchObject({ v: 1, instance: 'term-1', reason: 'instance term-1 is stopping' });
    expect(await client.exited).toBe(1);
    expect(client.stderr()).toMatch(/the gateway ended the session \(1011: session ended on instance "term-1": instance term-1 is stopping\)/);
    // The instance said goodbye; the gateway does not place there any more.
    await untilInstances(gateway.url, (a) => a.names.length === 0, 'term-1 gone from the list');
    const refused = await postSession(gateway.url);
    expect(refused.status).toBe(503);
  });

  it('gateway restarted on the same port: instances stay up and re-register, the streaming session goes on, the new gateway places sessions', async () => {
    nats = await startNatsServer();
    const first = await startGateway(nats.url);
    const one = await startInstance(nats.url, 'gr-1');
    const two = await startInstance(nats.url, 'gr-2');
    await untilInstances(first.url, (a) => a.names.join() === 'gr-1,gr-2', 'both instances listed');
    const client = startClient(first.url, 'foo', ['--instance', 'gr-1']);
    const session = await untilConnected(client);
    const app = await connectAppThroughService(one, 'foo');
    await proveDataFlows(client, app, 'before the gateway restart');

    expect(await first.stop('SIGTERM')).toBe(0);
    const second = await startGateway(nats.url, { port: first.port });
    // Rebuilt from discover + heartbeats, the session included.
    const listed = await untilInstances(second.url, (a) => a.names.join() === 'gr-1,gr-2', 'both instances listed by the new gateway');
    expect(listed.instances.find((i) => i.name === 'gr-1')).toMatchObject({ state: 'streaming', session });
    expect(one.child.exitCode).toBeNull();
    expect(two.child.exitCode).toBeNull();
    // WebRTC flows directly: the session survived the gateway.
    await proveDataFlows(client, app, 'after the gateway restart');
    expect(client.child.exitCode).toBeNull();

    const placed = await postSession(second.url);
    expect(placed.status).toBe(201);
    await untilInstances(second.url, (a) => a.instances.find((i) => i.name === 'gr-2')?.session === placed.metadata!.id, 'the new session on gr-2');
    // The new gateway's placement state is live: gr-2 is reserved by the POST above (and gr-1
    // streams), so a client asking for gr-2 is refused with the gateway's 503.
    const late = startClient(second.url, 'bar', ['--instance', 'gr-2']);
    await waitFor(() => late.child.exitCode !== null || /connected/.test(late.stderr()), 'the second client', LONG);
    expect(await late.exited).toBe(1);
    expect(late.stderr()).toMatch(/503 Service Unavailable.*no free instance.*\(Retry-After: 5 s\)/);
  });
});
