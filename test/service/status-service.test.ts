import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryResult } from '../../src/broadcast/types.js';
import { formatStatus, runStatus, type StatusIo } from '../../src/cli/commands/status.js';
import { UsageError } from '../../src/cli/command.js';
import { DataProxyClient } from '../../src/client/data-proxy-client.js';
import { createLogger } from '../../src/log/logger.js';
import { INTERFACE_TRANSACTION } from '../../src/parcel/constants.js';
import { ParcelError } from '../../src/parcel/parcel-error.js';
import { ParcelReader } from '../../src/parcel/parcel-reader.js';
import { ParcelWriter } from '../../src/parcel/parcel-writer.js';
import { Status } from '../../src/parcel/status.js';
import type { PlatformStats } from '../../src/platform/platform-events.js';
import { DataProxyServer } from '../../src/service/data-proxy-server.js';
import { Dispatcher } from '../../src/service/dispatcher.js';
import { ServiceError } from '../../src/service/service-error.js';
import {
  decodeStatusReply,
  encodeStatusRequest,
  MAX_STATUS_BROADCASTS,
  MAX_STATUS_JSON_UNITS,
  STATUS_DESCRIPTOR,
  STATUS_SERVICE_NAME,
  StatusService,
  TRANSACTION_getStatus,
  type BroadcastRecord,
  type StatusSnapshot,
} from '../../src/service/status-service.js';
import type { TransactionMessage } from '../../src/wire/envelope.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';

const PEER = { pid: 1, uid: process.getuid?.() ?? 0, gid: 0 };

const localResult: DeliveryResult & { counts: Record<string, number> } = {
  sink: 'local',
  ok: false,
  detail: '3 receivers; 1 delivered; 1 gone (removed); 1 busy (queue full, missed this broadcast: 42-aa.sock)',
  attempts: 1,
  counts: { receivers: 3, delivered: 1, gone: 1, removed: 1, busy: 1, failed: 0, ignored: 0 },
};

function snapshot(overrides: Partial<StatusSnapshot> = {}): StatusSnapshot {
  return {
    channels: ['foo', 'bar'],
    connections: { connectionsAccepted: 5, transactionsServed: 7, transactionsRefused: 1, openConnections: 2, openStreams: 1 },
    broadcasts: [
      { sequence: 1, event: 'created', names: ['foo', 'bar'], timestamp: 1_700_000_000_000, results: [{ sink: 'adb', ok: true, detail: 'delivered', attempts: 2 }, localResult] },
      { sequence: 2, event: 'destroyed', names: ['baz'], timestamp: 1_700_000_001_000, results: [], pending: ['adb'] },
    ],
    adb: { configured: true, serial: 'emulator-5554', reachable: 'yes' },
    local: { dir: '/run/user/1000/anbox/receivers' },
    socketDir: '/run/user/1000/anbox/sockets',
    startedAt: 1_699_999_000_000,
    platform: { sessionsCreated: 1 },
    appConnections: { foo: 1, bar: 0 },
    ...overrides,
  };
}

function transaction(code: number, data: Buffer, service = STATUS_SERVICE_NAME): TransactionMessage {
  return { id: 1, service, code, flags: 0, data, objectOffsets: [], replyMode: 0 };
}

function dispatcherWith(service: StatusService): Dispatcher {
  const dispatcher = new Dispatcher(new Set([PEER.uid]));
  dispatcher.register(service);
  return dispatcher;
}

describe('StatusService', () => {
  it('getStatus: int32 0 and a String16 JSON document built from the provider', async () => {
    const service = new StatusService(() => snapshot(), { now: () => 1_700_000_002_000, pid: 4242 });
    const result = await dispatcherWith(service).dispatchNow(transaction(TRANSACTION_getStatus, encodeStatusRequest()), PEER);
    expect(result.fds).toEqual([]);
    expect(result.objectOffsets).toEqual([]);
    const reader = new ParcelReader(result.data);
    expect(reader.readInt32()).toBe(0);
    const json = reader.readString16();
    expect(reader.remaining).toBe(0);
    const document = JSON.parse(json!) as Record<string, unknown>;
    expect(document).toEqual({ format: 1, generatedAt: 1_700_000_002_000, pid: 4242, ...snapshot() });
    expect(decodeStatusReply(result.data)).toEqual(document);
  });

  it('accepts every interface-token layout, and refuses another interface or none', async () => {
    const service = new StatusService(() => snapshot());
    for (const layout of ['api28', 'api29', 'api30'] as const) {
      const data = new ParcelWriter().writeInterfaceToken(STATUS_DESCRIPTOR, layout).toBuffer();
      expect(decodeStatusReply(service.onTransact(TRANSACTION_getStatus, new ParcelReader(data)).data).channels).toEqual(['foo', 'bar']);
    }
    const wrong = new ParcelWriter().writeInterfaceToken('org.anbox.webrtc.IDataProxyService@1.0').toBuffer();
    let error: unknown;
    try {
      service.onTransact(TRANSACTION_getStatus, new ParcelReader(wrong));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ParcelError);
    expect((error as ParcelError).code).toBe('WRONG_INTERFACE');
    expect((error as ParcelError).message).toContain(STATUS_DESCRIPTOR);
    expect(() => service.onTransact(TRANSACTION_getStatus, new ParcelReader(Buffer.alloc(0)))).toThrow(ParcelError);
  });

  it('answers INTERFACE_TRANSACTION with its descriptor and refuses unknown codes', async () => {
    const dispatcher = dispatcherWith(new StatusService(() => snapshot()));
    const descriptor = await dispatcher.dispatchNow(transaction(INTERFACE_TRANSACTION, Buffer.alloc(0)), PEER);
    expect(new ParcelReader(descriptor.data).readString16()).toBe(STATUS_DESCRIPTOR);
    let unknown: unknown;
    try {
      dispatcher.dispatchNow(transaction(2, encodeStatusRequest()), PEER);
    } catch (error) {
      unknown = error;
    }
    expect(unknown).toBeInstanceOf(ServiceError);
    expect((unknown as ServiceError).code).toBe('UNKNOWN_TRANSACTION');
    expect((unknown as ServiceError).message).toContain('getStatus = 1');
  });

  it('a failing provider becomes INTERNAL_ERROR, not a crash', () => {
    const service = new StatusService(() => {
      throw new Error('watcher not ready');
    });
    let error: unknown;
    try {
      service.onTransact(TRANSACTION_getStatus, new ParcelReader(encodeStatusRequest()));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ServiceError);
    expect((error as ServiceError).code).toBe('INTERNAL_ERROR');
    expect((error as ServiceError).message).toContain('watcher not ready');
  });

  it('keeps the newest broadcasts and stays below the size limit', () => {
    const many: BroadcastRecord[] = Array.from({ length: 120 }, (_, i) => ({
      sequence: i + 1,
      event: 'created',
      names: ['x'],
      timestamp: i,
      results: [{ sink: 'local', ok: true, detail: 'no local receivers', attempts: 1 }],
    }));
    const trimmed = decodeStatusReply(new StatusService(() => snapshot({ broadcasts: many })).onTransact(TRANSACTION_getStatus, new ParcelReader(encodeStatusRequest())).data);
    expect(trimmed.broadcasts).toHaveLength(MAX_STATUS_BROADCASTS);
    expect(trimmed.broadcasts[0]!.sequence).toBe(71);
    expect(trimmed.truncated).toBeUndefined();

    const huge = many.map((b) => ({ ...b, results: [{ sink: 'adb', ok: false, detail: 'e'.repeat(20_000), attempts: 1 }] }));
    const big = new StatusService(() => snapshot({ broadcasts: huge })).onTransact(TRANSACTION_getStatus, new ParcelReader(encodeStatusRequest()));
    const document = decodeStatusReply(big.data);
    expect(document.truncated).toBe(true);
    expect(document.broadcasts.length).toBeGreaterThan(0);
    expect(document.broadcasts.at(-1)!.sequence).toBe(120);
    expect(JSON.stringify(document).length).toBeLessThanOrEqual(MAX_STATUS_JSON_UNITS);
  });

  it('formats a readable summary', () => {
    const text = formatStatus({ format: 1, generatedAt: 1_700_000_002_000, pid: 4242, ...snapshot() }, '/run/x/data-proxy.sock');
    expect(text).toContain('daemon: /run/x/data-proxy.sock (pid 4242, up 16m 42s)');
    expect(text).toContain('channels (2):\n  foo  app attached\n  bar  no app attached\n');
    expect(text).toContain('service connections: 5 accepted, 2 open (including this status request); transactions: 7 served, 1 refused; streams open: 1');
    expect(text).toContain('platform:\n  sessions: 1 created, ? joined');
    expect(text).not.toContain('{"');
    expect(text).toContain('adb: enabled, serial emulator-5554, reachable: yes');
    expect(text).toContain('#1  2023-11-14 22:13:20.000  created   foo, bar');
    expect(text).toMatch(/adb {5}ok {6}delivered \(2 attempts\)/);
    expect(text).toContain(`local   FAILED  ${localResult.detail}`);
    expect(text).toMatch(/#2 .* destroyed baz\n {6}adb {5}\.\.\. {5}in progress/);
    const none = formatStatus({ format: 1, generatedAt: 0, pid: 1, ...snapshot({ channels: [], broadcasts: [], adb: { configured: false, serial: null, reachable: 'not configured' } }) }, 'p');
    expect(none).toContain('channels: none');
    expect(none).toContain('adb: not enabled');
    expect(none).toContain('broadcasts: none yet');
  });

  it('reads every PlatformStats counter as a sentence, and leaves only unknown fields under "other:"', () => {
    const stats: PlatformStats = {
      sessionsCreated: 1,
      sessionsJoined: 2,
      sessionsKnown: 3,
      peersStarted: 4,
      peersEnded: 5,
      channelsOpened: 6,
      channelsClosed: 7,
      channelsRejected: 8,
      signalingConnections: 9,
      signalingRefused: 10,
      signalingErrors: 11,
      connectionsDropped: 12,
      authFailures: 13,
      active: null,
    };
    const text = formatStatus({ format: 1, generatedAt: 0, pid: 1, ...snapshot({ platform: { ...stats } }) }, 'p');
    expect(text).toContain('  gateway: 12 connections dropped at the connection cap, 13 requests with a wrong or missing token\n');
    expect(text).not.toContain('other:');
    const newer = formatStatus({ format: 1, generatedAt: 0, pid: 1, ...snapshot({ platform: { ...stats, futureCounter: 14 } }) }, 'p');
    expect(newer).toContain('  other: futureCounter=14\n');
  });
});

describe('anbox-oob status against a running daemon', () => {
  let dir: string;
  let server: DataProxyServer;
  let bare: DataProxyServer;

  beforeAll(() => {
    dir = makeTempDir('aoob-st-');
    const log = createLogger({ level: 'silent' });
    server = DataProxyServer.start({ servicePath: join(dir, 'svc.sock'), socketDir: join(dir, 'sockets'), log });
    server.dispatcher.register(new StatusService(() => snapshot({ connections: server.stats })));
    bare = DataProxyServer.start({ servicePath: join(dir, 'old.sock'), socketDir: join(dir, 'sockets'), log });
  });

  afterAll(async () => {
    await server?.close();
    await bare?.close();
    removeTempDir(dir);
  });

  function io(): StatusIo & { out(): string; err(): string } {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    stderr.on('data', (c: Buffer) => (err += c.toString()));
    return { stdout, stderr, env: {}, out: () => out, err: () => err };
  }

  it('the service is listed and reachable through DataProxyClient', async () => {
    const client = new DataProxyClient({ servicePath: join(dir, 'svc.sock') });
    try {
      expect(await client.listServices()).toContain(STATUS_SERVICE_NAME);
      const reply = await client.transact(STATUS_SERVICE_NAME, TRANSACTION_getStatus, encodeStatusRequest());
      expect(reply.status).toBe(Status.OK);
      const document = decodeStatusReply(reply.data);
      expect(document.connections.connectionsAccepted).toBeGreaterThanOrEqual(1);
      expect(document.pid).toBe(process.pid);
      const wrong = await client.transact(STATUS_SERVICE_NAME, TRANSACTION_getStatus, new ParcelWriter().writeInterfaceToken('nope').toBuffer());
      expect(wrong.errorCode).toBe('WRONG_INTERFACE');
    } finally {
      client.close();
    }
  });

  it('prints the summary, or the JSON with --json', async () => {
    const text = io();
    expect(await runStatus(['--service-socket', join(dir, 'svc.sock')], text)).toBe(0);
    expect(text.out()).toContain('channels (2):\n  foo  app attached\n  bar  no app attached');
    expect(text.out()).toContain('recent broadcasts (2, oldest first):');

    const json = io();
    expect(await runStatus(['--json'], { ...json, env: { ANBOX_OOB_SERVICE_SOCKET: join(dir, 'svc.sock') } })).toBe(0);
    const document = JSON.parse(json.out()) as Record<string, unknown>;
    expect(document.channels).toEqual(['foo', 'bar']);
    expect(document.format).toBe(1);
  });

  it('explains when no daemon runs, or when it has no status service', async () => {
    const none = io();
    expect(await runStatus(['--service-socket', join(dir, 'absent.sock')], none)).toBe(1);
    expect(none.err()).toContain(`no data-proxy daemon at ${join(dir, 'absent.sock')}`);
    expect(none.err()).toContain('anbox-oob serve');

    const old = io();
    expect(await runStatus(['--service-socket', join(dir, 'old.sock')], old)).toBe(1);
    expect(old.err()).toContain('has no status service (org.anbox.oob.IEmulatorStatus)');
  });

  it('usage errors and --help', async () => {
    const help = io();
    expect(await runStatus(['--help'], help)).toBe(0);
    expect(help.out()).toContain('--json');
    await expect(runStatus(['extra'], io())).rejects.toBeInstanceOf(UsageError);
    await expect(runStatus(['--bogus'], io())).rejects.toThrow();
  });
});
