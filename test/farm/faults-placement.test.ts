/**
 * Farm placement answers with real processes (issue 13): more sessions than instances (503 the
 * headless client surfaces), the client's placement options, and `gateway --turn` in the session
 * metadata.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { FakeAdbServer } from '../helpers/fake-adb-server.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import {
  FARM_TOKEN,
  postSession,
  startClient,
  startGateway,
  startInstance,
  stopAll,
  untilConnected,
  untilInstances,
} from './helpers/farm-processes.js';

let nats: NatsServerHandle | undefined;
let adb: FakeAdbServer | undefined;

afterEach(async () => {
  await stopAll();
  await adb?.close();
  adb = undefined;
  await nats?.stop();
  nats = undefined;
});

describe('farm faults: placement', () => {
  it('more sessions than instances: 503 "no free instance" with Retry-After, surfaced by anbox-oob client (exit 1)', async () => {
    nats = await startNatsServer();
    const gateway = await startGateway(nats.url);
    await startInstance(nats.url, 'busy-1');
    await startInstance(nats.url, 'busy-2');
    await untilInstances(gateway.url, (a) => a.names.join() === 'busy-1,busy-2', 'both instances listed');
    const client = startClient(gateway.url, 'foo', ['--no-stdin']);
    await untilConnected(client);
    expect((await postSession(gateway.url)).status).toBe(201);
    const third = await postSession(gateway.url);
    expect(third).toMatchObject({ status: 503, retryAfter: '5', error: 'no free instance: 2 of 2 busy' });
    const refused = startClient(gateway.url, 'foo', ['--no-stdin']);
    expect(await refused.exited).toBe(1);
    expect(refused.stderr()).toContain('anbox-oob client: the gateway answered 503 Service Unavailable instead of 201: no free instance: 2 of 2 busy (Retry-After: 5 s)');
    expect(client.child.exitCode).toBeNull();
  });

  it('client --instance / --device / --label ask for a placement in the POST body; no match is a 404 it reports', async () => {
    nats = await startNatsServer();
    const gateway = await startGateway(nats.url);
    // The device serial is the instance's adb device: a real adb against a fake adb server.
    adb = await FakeAdbServer.start([{ serial: 'SERIAL-A' }, { serial: 'SERIAL-B' }]);
    const device = (serial: string) => ['--adb', '--adb-serial', serial, '--no-adb-reverse'];
    await startInstance(nats.url, 'pick-a', ['--label', 'room=a', ...device('SERIAL-A')], adb.env);
    await startInstance(nats.url, 'pick-b', ['--label', 'room=b', '--label', 'os=14', ...device('SERIAL-B')], adb.env);
    await untilInstances(gateway.url, (a) => a.names.join() === 'pick-a,pick-b', 'both instances listed');

    const byLabel = startClient(gateway.url, 'foo', ['--no-stdin', '--label', 'room=b', '--label', 'os=14']);
    const labelled = await untilConnected(byLabel);
    await untilInstances(gateway.url, (a) => a.instances.find((i) => i.name === 'pick-b')?.session === labelled, 'the labelled session on pick-b');
    await byLabel.stop('SIGTERM');
    await untilInstances(gateway.url, (a) => a.instances.every((i) => i.state === 'free'), 'both free again');

    // pick-b again, and again below: the least recently placed (pick-a) would be the default.
    const byDevice = startClient(gateway.url, 'foo', ['--no-stdin', '--device', 'SERIAL-B']);
    const onDevice = await untilConnected(byDevice);
    await untilInstances(gateway.url, (a) => a.instances.find((i) => i.name === 'pick-b')?.session === onDevice, 'the device session on pick-b');
    await byDevice.stop('SIGTERM');
    await untilInstances(gateway.url, (a) => a.instances.every((i) => i.state === 'free'), 'both free again');

    const byName = startClient(gateway.url, 'foo', ['--no-stdin', '--instance', 'pick-b']);
    const named = await untilConnected(byName);
    await untilInstances(gateway.url, (a) => a.instances.find((i) => i.name === 'pick-b')?.session === named, 'the named session on pick-b');

    const nowhere = startClient(gateway.url, 'foo', ['--no-stdin', '--label', 'room=z']);
    expect(await nowhere.exited).toBe(1);
    expect(nowhere.stderr()).toMatch(/the gateway answered 404 Not Found instead of 201: .*room/);

    const base = ['client', '--gateway', gateway.url, '--token', FARM_TOKEN, '--channel', 'foo'];
    const badName = await runCli([...base, '--instance', 'no spaces']);
    expect(badName.code).toBe(2);
    expect(badName.stderr).toMatch(/--instance takes an instance name/);
    const badLabel = await runCli([...base, '--label', 'novalue']);
    expect(badLabel.code).toBe(2);
    expect(badLabel.stderr).toMatch(/--label takes KEY=VALUE/);
    const help = await runCli(['client', '--help']);
    for (const text of ['--instance NAME', '--device SERIAL', '--label K=V', 'Retry-After']) expect(help.stdout, text).toContain(text);
  });

  it('gateway --turn URL goes to clients in metadata.stun_servers as {urls, username, password}; a STUN URL there is a usage error', async () => {
    nats = await startNatsServer();
    const gateway = await startGateway(nats.url, { args: ['--stun', 'stun:127.0.0.1:3478', '--turn', 'turn:farmer:s3cret@127.0.0.1:3479?transport=udp', '--turn', 'turns:other:pw@turn.example:5349'] });
    await startInstance(nats.url, 'turn-1');
    await untilInstances(gateway.url, (a) => a.names.join() === 'turn-1', 'the instance listed');
    const placed = await postSession(gateway.url);
    expect(placed.status).toBe(201);
    expect(placed.metadata!.stun_servers).toEqual([
      { urls: ['stun:127.0.0.1:3478'] },
      { urls: ['turn:127.0.0.1:3479?transport=udp'], username: 'farmer', password: 's3cret' },
      { urls: ['turns:turn.example:5349'], username: 'other', password: 'pw' },
    ]);
    const wrong = await runCli(['gateway', '--nats', nats.url, '--listen', '127.0.0.1:0', '--turn', 'stun:127.0.0.1:3478']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--turn: .*not a TURN URL.*a STUN server goes in --stun/);
    const help = await runCli(['gateway', '--help']);
    expect(help.stdout).toContain('--turn URL');
  });
});
