/**
 * The README's nats-server configuration for a farm across machines ("Several hosts: the farm",
 * the block between `<!-- farm-nats-conf:begin -->` and `<!-- farm-nats-conf:end -->`), run as is
 * by a real nats-server with TLS (a self-signed certificate for `localhost` made here with openssl). Departures,
 * all textual: the listen address (a free loopback port), the certificate paths (this test's temp
 * dir), and a second instance user made from the `lab-1` entry the way the README says (its name
 * in every place). Shown:
 * - a real `anbox-oob gateway` (user gateway), two real `serve --nats` (users lab-1, lab-2) and
 *   `status --nats` (user status) do their whole job under it: instances listed, a session placed
 *   and signaled through the gateway, data both ways, the session ended, and not one permission
 *   violation in nats-server's log;
 * - lab-1's user cannot subscribe to lab-2's requests or relays, nor publish on lab-2's relay,
 *   nor read the gateway's replies.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectWebClient, type WebClient } from '../../src/headless-client/web-client.js';
import { assertBuilt, CLI } from '../helpers/cli.js';
import { freeUdpAndTcpPort } from '../helpers/free-port.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../platform/helpers/harness.js';
import { readmeBlock } from './helpers/readme-block.js';
import { startProc, type Proc } from './helpers/process.js';

const TOKEN = 'nats-permissions-token-0123456789';
const PASSWORDS = {
  FARM_GATEWAY_PASSWORD: 'gateway-secret-1',
  FARM_STATUS_PASSWORD: 'status-secret-1',
  FARM_LAB_1_PASSWORD: 'lab-1-secret-1',
  FARM_LAB_2_PASSWORD: 'lab-2-secret-1',
} as const;

let dir: string;
let nats: NatsServerHandle | undefined;
let url: string;
let caFile: string;
const procs: Proc[] = [];
const connections: NatsConnection[] = [];

/** The README's block with only the host-specific text replaced, plus lab-2 made from lab-1's entry. */
function farmConfig(port: number): string {
  const readme = readmeBlock('farm-nats-conf');
  const lines = readme.split('\n');
  const start = lines.findIndex((line) => line.includes('{ user: lab-1,'));
  const end = lines.findIndex((line, i) => i > start && line.trim() === '} }');
  if (start < 0 || end < 0) throw new Error(`no lab-1 entry in the README's block:\n${readme}`);
  const lab2 = lines
    .slice(start, end + 1)
    .map((line) => line.replaceAll('lab-1', 'lab-2').replaceAll('LAB_1', 'LAB_2'));
  lines.splice(end + 1, 0, ...lab2);
  const config = lines.join('\n');
  for (const text of ['listen: 0.0.0.0:4222', '/etc/nats/farm/server-cert.pem', '/etc/nats/farm/server-key.pem']) {
    if (!config.includes(text)) throw new Error(`the README's block no longer holds ${text}: update this test`);
  }
  return config
    .replace('listen: 0.0.0.0:4222', `listen: 127.0.0.1:${port}`)
    .replace('/etc/nats/farm/server-cert.pem', join(dir, 'server-cert.pem'))
    .replace('/etc/nats/farm/server-key.pem', join(dir, 'server-key.pem'));
}

function passwordFile(user: string, password: string): string {
  const file = join(dir, `${user}.password`);
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return file;
}

function natsArgs(user: string, password: string): string[] {
  return ['--nats', url, '--nats-tls-ca', caFile, '--nats-user', user, '--nats-password-file', passwordFile(user, password)];
}

function cli(label: string, args: string[]): Proc {
  const proc = startProc(label, [process.execPath, CLI, ...args]);
  procs.push(proc);
  return proc;
}

beforeAll(async () => {
  assertBuilt();
  dir = makeTempDir('aoob-natsperm-');
  caFile = join(dir, 'server-cert.pem');
  const openssl = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost', '-keyout', join(dir, 'server-key.pem'), '-out', caFile,
  ], { encoding: 'utf8' });
  if (openssl.error || openssl.status !== 0) throw new Error(`openssl is needed to make the test's certificate: ${openssl.error?.message ?? openssl.stderr}`);
  const port = await freeUdpAndTcpPort();
  const configFile = join(dir, 'farm.conf');
  writeFileSync(configFile, farmConfig(port));
  // nats-server reads $FARM_…_PASSWORD from its environment (it inherits this process's).
  Object.assign(process.env, PASSWORDS);
  nats = await startNatsServer({ port, args: ['-c', configFile] });
  // By name, as the README's example (an address works too: test/farm/nats-tls.test.ts).
  url = `tls://localhost:${port}`;
}, 30_000);

afterAll(async () => {
  for (const connection of connections) await connection.close().catch(() => undefined);
  for (const proc of procs) await proc.stop();
  await nats?.stop();
  for (const key of Object.keys(PASSWORDS)) delete process.env[key];
  if (dir) removeTempDir(dir);
});

describe("the README's nats-server permissions", () => {
  it('let the gateway, two instances and status do their whole job, with no permission violation', { timeout: 90_000 }, async () => {
    const gateway = cli('gateway', ['gateway', ...natsArgs('gateway', PASSWORDS.FARM_GATEWAY_PASSWORD), '--listen', '127.0.0.1:0', '--token', TOKEN]);
    for (const name of ['lab-1', 'lab-2'] as const) {
      const password = name === 'lab-1' ? PASSWORDS.FARM_LAB_1_PASSWORD : PASSWORDS.FARM_LAB_2_PASSWORD;
      cli(name, [
        'serve', ...natsArgs(name, password), '--instance-name', name, '--listen', '127.0.0.1:0', '--log-format', 'json',
        '--socket-dir', join(dir, name), '--service-socket', join(dir, `${name}.sock`), '--receivers-dir', join(dir, `${name}-receivers`),
      ]);
    }
    await waitFor(() => /gateway URL\s+http:\/\/\S+/.test(gateway.stderr()), `the gateway's ready block:\n${gateway.stderr()}${gateway.stdout()}`, 20_000);
    const gatewayUrl = /gateway URL\s+(http:\/\/\S+)/.exec(gateway.stderr())![1]!;
    await waitFor(() => procs.slice(1).every((p) => p.stdout().includes('"event":"farm.instance.joined"')), 'both instances joined', 20_000);

    // status --nats, as the status user: both instances, free (asked again while a heartbeat is still on its way).
    let listed = '';
    for (let attempt = 0; attempt < 10 && !(/lab-1\s+free/.test(listed) && /lab-2\s+free/.test(listed)); attempt++) {
      const status = cli('status', ['status', ...natsArgs('status', PASSWORDS.FARM_STATUS_PASSWORD)]);
      expect(await status.exited, status.stderr()).toBe(0);
      listed = status.stdout();
    }
    expect(listed).toMatch(/^lab-1\s+free/m);
    expect(listed).toMatch(/^lab-2\s+free/m);

    // A session through the gateway: placed on lab-1 (both free; least recently placed, then by name).
    const client: WebClient = await connectWebClient({ gateway: gatewayUrl, token: TOKEN, channels: ['foo'], openTimeoutMs: 30_000 });
    try {
      await client.opened;
      const socketPath = join(dir, 'lab-1', 'webrtc_data_foo');
      await waitFor(() => existsSync(socketPath), `lab-1's channel socket; lab-1: ${readdirSync(join(dir, 'lab-1'))}, lab-2: ${readdirSync(join(dir, 'lab-2'))}`);
      const app: Socket = createConnection(socketPath);
      let fromClient = '';
      app.on('data', (chunk: Buffer) => (fromClient += chunk.toString()));
      await new Promise<void>((resolve, reject) => app.once('connect', resolve).once('error', reject));
      let fromApp = '';
      client.channel('foo').on('message', (data: string | Buffer) => (fromApp += data.toString()));
      app.write('from the app on lab-1\n');
      await client.channel('foo').send('from the client through the gateway\n');
      await waitFor(() => fromApp === 'from the app on lab-1\n' && fromClient === 'from the client through the gateway\n', `data both ways: ${JSON.stringify({ fromApp, fromClient })}`);
      app.destroy();
    } finally {
      await client.close();
    }
    await waitFor(() => procs[1]!.stdout().includes('"event":"farm.instance.session_ended"'), 'the session ended on lab-1', 20_000);

    const everything = [nats!.log(), ...procs.map((p) => p.stdout() + p.stderr())].join('\n');
    expect(everything).not.toMatch(/Violation/i);
    expect(everything).not.toContain('"event":"farm.nats_error"');
    expect(nats!.log()).not.toMatch(/Authorization Error|authentication error/i);
  });

  it("keep lab-1's user out of lab-2's requests and relays, and out of the gateway's replies", { timeout: 30_000 }, async () => {
    const lab1 = await connect({ servers: url.replace('tls://', ''), tls: { caFile }, user: 'lab-1', pass: PASSWORDS.FARM_LAB_1_PASSWORD, inboxPrefix: '_INBOX.instance.lab-1' });
    connections.push(lab1);
    const errors: string[] = [];
    void (async () => {
      for await (const status of lab1.status()) if (status.type === 'error') errors.push(String(status.data));
    })();
    const refused = async (subject: string) => {
      const outcome = new Promise<string>((resolve) => {
        lab1.subscribe(subject, { callback: (error) => resolve(error ? error.message : 'a message arrived') });
      });
      await lab1.flush();
      return Promise.race([outcome, new Promise<string>((resolve) => setTimeout(() => resolve('no error within 5 s'), 5000))]);
    };
    const relay = '0123456789abcdef0123456789abcdef';
    for (const subject of [
      `anbox-oob.farm.relay.lab-2.${relay}.to-instance`,
      `anbox-oob.farm.relay.lab-2.${relay}.to-client`,
      'anbox-oob.farm.instance.lab-2.signal',
      'anbox-oob.farm.instance.lab-2.>',
      '_INBOX.>',
      '_INBOX.instance.lab-2.>',
    ]) {
      expect(await refused(subject), subject).toMatch(/permissions violation/i);
    }
    // Its own are allowed: no error for these.
    lab1.subscribe(`anbox-oob.farm.relay.lab-1.${relay}.to-instance`);
    lab1.subscribe('anbox-oob.farm.instance.lab-1.place');
    await lab1.flush();
    expect(nats!.log()).not.toMatch(/Violation.*lab-1\./);
    // A publish it may not make is refused by nats-server (reported to the client asynchronously).
    const errorsBefore = errors.length;
    lab1.publish(`anbox-oob.farm.relay.lab-2.${relay}.to-client`, new TextEncoder().encode('{"t":"ping"}'));
    await lab1.flush();
    await waitFor(() => errors.length > errorsBefore, `a permissions error for the publish: ${JSON.stringify(errors)}`);
    await waitFor(() => new RegExp(`Publish Violation.*anbox-oob\\.farm\\.relay\\.lab-2\\.${relay}\\.to-client`).test(nats!.log()), `nats-server's log of the refused publish:\n${nats!.log()}`);
  });
});
