/** `anbox-oob gateway` and `status --nats` through the real CLI, against a real nats-server. */
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { runCli, spawnCli } from '../helpers/cli.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { waitFor } from '../platform/helpers/harness.js';
import { FakeInstance } from './helpers/fake-instance.js';

let nats: NatsServerHandle | undefined;
const instances: FakeInstance[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
  for (const instance of instances.splice(0)) await instance.close();
  await nats?.stop();
  nats = undefined;
});

describe('anbox-oob gateway / status --nats', () => {
  it('gateway --help explains placement, the options and NATS; it is listed by anbox-oob --help', async () => {
    const help = await runCli(['gateway', '--help']);
    expect(help.code).toBe(0);
    for (const text of ['--nats URL', '--listen HOST:PORT', '127.0.0.1:8780', '--token-file', '--stun URL', '"labels"', 'Retry-After: 5', 'GET /1.0/instances', '--nats-creds', 'SIGTERM']) {
      expect(help.stdout, text).toContain(text);
    }
    const top = await runCli(['--help']);
    expect(top.stdout).toMatch(/^\s+gateway\s+the farm's Stream Gateway/m);
    const missing = await runCli(['gateway']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--nats URL is required/);
  });

  it('gateway reads --token-file as serve does: an empty file is a usage error, one others can read a warning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'farm-cli-token-'));
    try {
      const file = join(dir, 'token');
      writeFileSync(file, '\n');
      // No nats-server on port 1: the gateway serves anyway, which is all this test needs.
      const empty = await runCli(['gateway', '--nats', 'nats://127.0.0.1:1', '--listen', '127.0.0.1:0', '--token-file', file]);
      expect(empty.code).toBe(2);
      expect(empty.stderr).toMatch(/is empty; write the token on its first line/);
      const token = 'file-farm-token-0123456789';
      writeFileSync(file, `${token}\n`);
      chmodSync(file, 0o644);
      const child = spawnCli(['gateway', '--nats', 'nats://127.0.0.1:1', '--listen', '127.0.0.1:0', '--token-file', file]);
      children.push(child);
      let output = '';
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      await waitFor(() => /anbox-oob gateway is ready/.test(output) && /platform\.insecure_token_file/.test(output), 'ready, with the warning');
      expect(output).toContain(`token           ${token} (from --token-file ${file})`);
      expect(output).toContain(`chmod 600 ${file}`);
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gateway prints its URL and token when ready, places a session, and stops on SIGTERM; status --nats --json lists the instances', async () => {
    nats = await startNatsServer();
    instances.push(await FakeInstance.start(nats.url, { name: 'lab-1', device: 'R58A', labels: { room: '2' } }));
    instances.push(await FakeInstance.start(nats.url, { name: 'lab-2' }));
    const token = 'cli-farm-token-0123456789';
    const child = spawnCli(['gateway', '--nats', nats.url, '--listen', '127.0.0.1:0', '--token', token]);
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout!.resume();
    await waitFor(() => /anbox-oob gateway is ready/.test(stderr) && /token\s+\S+/.test(stderr), 'ready block');
    const url = /gateway URL\s+(http:\/\/\S+)/.exec(stderr)![1]!;
    expect(stderr).toContain(`token           ${token} (from --token)`);
    const auth = { Authorization: `Macaroon root=${token}` };
    let listed = 0;
    await waitFor(() => {
      void fetch(`${url}/1.0/instances`, { headers: auth })
        .then((r) => r.json() as Promise<{ metadata: unknown[] }>)
        .then((body) => (listed = body.metadata.length))
        .catch(() => undefined);
      return listed === 2;
    }, 'both instances listed by GET /1.0/instances');
    const placed = await fetch(`${url}/1.0/sessions/`, { method: 'POST', headers: auth, body: '{"device":"R58A"}' });
    expect(placed.status).toBe(201);
    expect(instances[0]!.session).not.toBeNull();

    const status = await runCli(['status', '--nats', nats.url, '--json']);
    expect(status.code).toBe(0);
    const document = JSON.parse(status.stdout) as { nats: string; instances: { name: string; state: string; device: string | null; session: string | null; lastHeardMsAgo: number }[] };
    expect(document.instances.map((i) => i.name)).toEqual(['lab-1', 'lab-2']);
    expect(document.instances[0]).toMatchObject({ name: 'lab-1', state: 'reserved', device: 'R58A', session: instances[0]!.session });
    const table = await runCli(['status', '--nats', nats.url]);
    expect(table.stdout).toMatch(/^2 instances on nats:\/\//);
    expect(table.stdout).toMatch(/NAME\s+STATE\s+DEVICE\s+CHANNELS\s+SESSION\s+LAST HEARD/);

    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  });
});
