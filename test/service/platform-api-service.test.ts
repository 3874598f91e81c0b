/**
 * org.anbox.platform.IPlatformAPI on a real DataProxyServer socket, with a scripted sender in place
 * of the platform: the reply layout, order, the queue bound, a sender that throws, malformed and
 * mistaken requests (the daemon keeps serving), and the uid allow-list (setpriv as uid 65534).
 */
import { execFile } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataProxyClient } from '../../src/client/data-proxy-client.js';
import { ParcelWriter } from '../../src/parcel/parcel-writer.js';
import { Status } from '../../src/parcel/status.js';
import { DataProxyServer } from '../../src/service/data-proxy-server.js';
import {
  encodeSendMessageRequest,
  MAX_QUEUED_MESSAGES,
  PLATFORM_API_DESCRIPTOR,
  PLATFORM_API_SERVICE_NAME,
  PlatformApiService,
  TRANSACTION_sendMessage,
  type V1MessageSender,
} from '../../src/service/platform-api-service.js';
import { refused, SENT } from '../../src/v1/v1-message.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';

let dir: string;
let server: DataProxyServer;
let sender: V1MessageSender;
let service: PlatformApiService;
const clients: DataProxyClient[] = [];
const logs: Record<string, unknown>[] = [];

function newClient(): DataProxyClient {
  const client = new DataProxyClient({ servicePath: join(dir, 'svc.sock') });
  clients.push(client);
  return client;
}

beforeEach(() => {
  dir = makeTempDir('aoob-v1-svc-');
  logs.length = 0;
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const log = pino({ level: 'info' }, sink);
  sender = () => SENT;
  server = DataProxyServer.start({ servicePath: join(dir, 'svc.sock'), socketDir: join(dir, 'sockets'), log });
  service = new PlatformApiService((type, data) => sender(type, data), log);
  server.dispatcher.register(service);
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await server.close();
  removeTempDir(dir);
});

describe('org.anbox.platform.IPlatformAPI', () => {
  it('replies int32 0, int32 1/0, then the code and reason as String16s (null when sent)', async () => {
    const client = newClient();
    expect(await client.interfaceDescriptor(PLATFORM_API_SERVICE_NAME)).toBe(PLATFORM_API_DESCRIPTOR);
    const sent = await client.transact(PLATFORM_API_SERVICE_NAME, TRANSACTION_sendMessage, encodeSendMessageRequest('greeting', 'hi'));
    expect(sent.status).toBe(Status.OK);
    expect(Buffer.from(sent.data).toString('hex')).toBe('00000000' + '01000000' + 'ffffffff' + 'ffffffff');
    sender = () => refused('NO_SESSION', 'x');
    const notSent = await client.transact(PLATFORM_API_SERVICE_NAME, TRANSACTION_sendMessage, encodeSendMessageRequest('greeting', 'hi'));
    expect(notSent.status).toBe(Status.OK);
    const expected = new ParcelWriter().writeInt32(0).writeInt32(0).writeString16('NO_SESSION').writeString16('x').toBuffer();
    expect(Buffer.from(notSent.data).equals(expected)).toBe(true);
    expect(logs.filter((l) => l.event === 'sendmessage.refused').map((l) => l.code)).toEqual(['NO_SESSION']);
  });

  it('hands messages on one at a time, in arrival order, even when the sender answers out of order', async () => {
    const handed: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    sender = async (type, data) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      handed.push(data);
      await new Promise((resolve) => setTimeout(resolve, Number(data) % 3));
      inFlight--;
      return SENT;
    };
    const client = newClient();
    const results = [];
    for (let i = 0; i < 30; i++) results.push(await client.sendMessage('seq', String(i)));
    expect(results.every((r) => r.sent)).toBe(true);
    expect(handed).toEqual(Array.from({ length: 30 }, (_, i) => String(i)));
    // Concurrent callers on connections of their own: still one at a time.
    handed.length = 0;
    await Promise.all(Array.from({ length: 10 }, (_, i) => newClient().sendMessage('c', String(i))));
    expect(handed.sort()).toEqual(Array.from({ length: 10 }, (_, i) => String(i)).sort());
    expect(maxInFlight).toBe(1);
  });

  it(`refuses with QUEUE_FULL beyond ${MAX_QUEUED_MESSAGES} waiting messages, and SEND_FAILED when the sender throws; keeps serving`, async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    sender = async () => {
      await gate;
      return SENT;
    };
    const waiting = Array.from({ length: MAX_QUEUED_MESSAGES }, (_, i) => newClient().sendMessage('q', String(i)));
    // Every one of them is waiting in the service before the next caller comes.
    await expect.poll(() => service.waiting, { timeout: 20_000 }).toBe(MAX_QUEUED_MESSAGES);
    expect(await newClient().sendMessage('q', 'over')).toMatchObject({ sent: false, code: 'QUEUE_FULL' });
    expect(logs.some((l) => l.event === 'sendmessage.refused' && l.code === 'QUEUE_FULL')).toBe(true);
    release();
    expect((await Promise.all(waiting)).every((r) => r.sent)).toBe(true);
    sender = () => {
      throw new Error('boom');
    };
    expect(await newClient().sendMessage('t', 'd')).toMatchObject({ sent: false, code: 'SEND_FAILED', reason: expect.stringContaining('boom') });
    sender = () => SENT;
    expect(await newClient().sendMessage('t', 'd')).toEqual({ sent: true });
  });

  it('answers mistaken requests with error statuses and keeps serving: wrong token, truncated Parcel, unknown code, null type', async () => {
    const client = newClient();
    const wrongToken = new ParcelWriter().writeInterfaceToken('org.anbox.webrtc.IDataProxyService@1.0').writeString16('t').writeString16('d').toBuffer();
    expect((await client.transact(PLATFORM_API_SERVICE_NAME, TRANSACTION_sendMessage, wrongToken)).errorCode).toBe('WRONG_INTERFACE');
    const truncated = new ParcelWriter().writeInterfaceToken(PLATFORM_API_DESCRIPTOR).writeString16('only a type').toBuffer();
    const reply = await client.transact(PLATFORM_API_SERVICE_NAME, TRANSACTION_sendMessage, truncated);
    expect(reply.status).not.toBe(Status.OK);
    expect((await client.transact(PLATFORM_API_SERVICE_NAME, 2, encodeSendMessageRequest('t', 'd'))).errorCode).toBe('UNKNOWN_TRANSACTION');
    const nullType = await client.transact(PLATFORM_API_SERVICE_NAME, TRANSACTION_sendMessage, encodeSendMessageRequest(null, 'd'));
    expect(nullType.status).toBe(Status.OK);
    expect(Buffer.from(nullType.data).readInt32LE(4)).toBe(0);
    expect(await client.sendMessage('t', 'd')).toEqual({ sent: true });
  });

  it('only allowed uids may call it (the ANBOX_SEND_MESSAGE permission): uid 65534 gets PERMISSION_DENIED', async () => {
    if ((process.getuid?.() ?? 1) !== 0) throw new Error('this test needs root to run a process as uid 65534 (setpriv); .ci/run runs as root');
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'svc.sock'), 0o666);
    let handed = 0;
    sender = () => {
      handed++;
      return SENT;
    };
    // The compiled TypeScript client, run as uid 65534.
    const clientModule = join(REPO_ROOT, 'dist', 'src', 'client', 'data-proxy-client.js');
    const script =
      `import(${JSON.stringify(clientModule)}).then(async ({ DataProxyClient }) => {` +
      `const c = new DataProxyClient({ servicePath: ${JSON.stringify(join(dir, 'svc.sock'))} });` +
      `try { console.log(JSON.stringify(await c.sendMessage('t', 'd'))); } catch (e) { console.log(JSON.stringify({ error: e.errorCode, status: e.statusName })); } finally { c.close(); } })`;
    const out = await new Promise<string>((resolve) =>
      execFile('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, '-e', script], { timeout: 20_000 }, (_e, stdout, stderr) => resolve(stdout + stderr)),
    );
    expect(JSON.parse(out)).toEqual({ error: 'PERMISSION_DENIED', status: 'PERMISSION_DENIED' });
    expect(handed).toBe(0);
  });
});
