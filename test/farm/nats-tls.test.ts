// `--nats tls://<IP address>`: nats.js sends no TLS server name for an address, and Node would
// then check nats-server's certificate against "localhost". src/farm/nats-connection.ts checks it
// against the address itself: a certificate naming the address (IP SAN) is accepted, one that
// does not is refused. A real nats-server with TLS; the certificates are made here with openssl.

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats } from '../../src/farm/nats-connection.js';
import { createLogger } from '../../src/log/logger.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';

let dir: string;
const servers: NatsServerHandle[] = [];
const log = createLogger({ level: 'silent' });

/** A self-signed certificate (its own CA) with these subjectAltNames; returns [cert, key]. */
function certificate(name: string, altNames: string): [string, string] {
  const cert = join(dir, `${name}-cert.pem`);
  const key = join(dir, `${name}-key.pem`);
  const openssl = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`,
    '-addext', `subjectAltName=${altNames}`, '-keyout', key, '-out', cert,
  ], { encoding: 'utf8' });
  if (openssl.error || openssl.status !== 0) throw new Error(`openssl is needed to make the test's certificates: ${openssl.error?.message ?? openssl.stderr}`);
  return [cert, key];
}

async function tlsServer(name: string, altNames: string): Promise<{ url: string; ca: string }> {
  const [cert, key] = certificate(name, altNames);
  const config = join(dir, `${name}.conf`);
  writeFileSync(config, `tls {\n  cert_file: "${cert}"\n  key_file: "${key}"\n}\n`);
  const server = await startNatsServer({ args: ['-c', config] });
  servers.push(server);
  return { url: `tls://127.0.0.1:${server.port}`, ca: cert };
}

beforeAll(() => {
  dir = makeTempDir('aoob-natstls-');
});

afterAll(async () => {
  for (const server of servers) await server.stop();
  if (dir) removeTempDir(dir);
});

describe('--nats tls://IP', () => {
  it('accepts a certificate that names the address, and the connection works', async () => {
    const { url, ca } = await tlsServer('by-address', 'IP:127.0.0.1');
    const nc = await connectNats({ url, tls: { caFile: ca } }, 'tls-test', log, () => undefined, { waitOnFirstConnect: false, maxReconnectAttempts: 0 });
    try {
      const sub = nc.subscribe('tls.check', { max: 1 });
      nc.publish('tls.check', 'hello');
      for await (const message of sub) expect(message.string()).toBe('hello');
    } finally {
      await nc.close();
    }
  }, 30_000);

  it('refuses a certificate that names another host, naming the certificate check', async () => {
    const { url, ca } = await tlsServer('elsewhere', 'DNS:elsewhere.example,IP:10.9.8.7');
    const connecting = connectNats({ url, tls: { caFile: ca } }, 'tls-test', log, () => undefined, { waitOnFirstConnect: false, maxReconnectAttempts: 0 });
    await expect(connecting).rejects.toThrow(/127\.0\.0\.1|IP|altnames|certificate/i);
  }, 30_000);
});
