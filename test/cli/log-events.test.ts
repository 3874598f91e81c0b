/**
 * The events docs/logging.md calls the most important, with their stable fields, from one real
 * `serve` in JSON: session start and end, channel open and close, connect served and refused
 * with the caller's pid and uid, broadcasts delivered.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { StreamClient } from '../platform/helpers/stream-client.js';
import { waitFor } from '../broadcast/helpers.js';
import { cleanEnv, startDaemonProcess, stopAllDaemons } from './helpers/daemon-process.js';
import { isListening } from '../helpers/listening.js';

let dir: string;
let clients: StreamClient[];

beforeEach(() => {
  dir = makeTempDir('aoob-log-');
  clients = [];
});

afterEach(async () => {
  for (const client of clients) client.close();
  await stopAllDaemons();
  removeTempDir(dir);
});

/** Runs `anbox-oob connect NAME` and returns its pid and exit code. */
async function connect(name: string, servicePath: string, input: string): Promise<{ pid: number; code: number | null; stderr: string }> {
  const child = spawnCli(['connect', name, '--service-socket', servicePath], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout?.resume();
  child.stdin?.end(input);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { pid: child.pid!, code, stderr };
}

describe('log events', () => {
  it('session, channel, connect and broadcast events carry their documented fields', async () => {
    const socketDir = join(dir, 'sockets');
    const servicePath = join(dir, 'svc.sock');
    const serve = startDaemonProcess(
      ['serve', '--socket-dir', socketDir, '--service-socket', servicePath, '--receivers-dir', join(dir, 'r'), '--listen', '127.0.0.1:0', '--token', 'log-events-token-0123', '--log-format', 'json'],
      cleanEnv({ HOME: dir }),
    );
    const ready = await serve.line('serve.ready');

    const client = await StreamClient.start({ gateway: String(ready.gateway), token: 'log-events-token-0123', channels: ['foo'] });
    clients.push(client);
    await client.channel('foo').opened;
    await waitFor(() => isListening(join(socketDir, 'webrtc_data_foo')), 'the channel socket', 30_000);

    const served = await connect('foo', servicePath, 'hello');
    expect(served.code).toBe(0);
    const refused = await connect('missing', servicePath, '');
    expect(refused.code).toBe(1);
    await serve.line('broadcast.delivered');

    client.close();
    await serve.line('channel.closed');
    await serve.line('peer.ending');
    expect(await serve.stop('SIGINT')).toBe(0);

    const lines = serve.lines();
    const find = (event: string, match: Record<string, unknown> = {}) => {
      const line = lines.find((l) => l.event === event && Object.entries(match).every(([k, v]) => l[k] === v));
      if (!line) throw new Error(`no ${event} ${JSON.stringify(match)} in:\n${serve.output()}`);
      return line;
    };
    const uid = process.getuid!();
    expect(find('transaction.served', { channel: 'foo' })).toMatchObject({ peerPid: served.pid, peerUid: uid, mode: 'descriptor', fds: 1, service: 'org.anbox.webrtc.IDataProxyService', code: 1 });
    expect(find('transaction.refused', { peerPid: refused.pid })).toMatchObject({ peerUid: uid, errorCode: 'CHANNEL_NOT_FOUND', status: 'NAME_NOT_FOUND' });
    const session = find('gateway.session_created').session;
    expect(session).toEqual(expect.any(String));
    expect(find('peer.started')).toMatchObject({ session, peer: expect.any(Number), apiVersion: expect.any(Number) });
    expect(find('channel.open', { channel: 'foo' })).toMatchObject({ session, path: join(socketDir, 'webrtc_data_foo') });
    expect(find('channel.closed', { channel: 'foo' })).toMatchObject({ session, reason: expect.any(String) });
    expect(find('peer.ending')).toMatchObject({ session, reason: expect.any(String), wasConnected: true });
    expect(find('broadcast.delivered', { channelEvent: 'created' })).toMatchObject({ sink: 'local', channels: ['foo'], sequence: expect.any(Number), attempts: expect.any(Number) });
    expect(find('daemon.stopping')).toMatchObject({ signal: 'SIGINT', role: 'serve' });
    for (const line of lines) expect(line.event, JSON.stringify(line)).toEqual(expect.stringMatching(/^[a-z]+(\.[a-z0-9_]+)+$/));
  });
});
