import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_INTENT_BYTES } from '../../../src/broadcast/local/intent-codec.js';
import { LocalReceiversSink, type LocalDeliveryResult } from '../../../src/broadcast/local/local-receivers-sink.js';
import { CHANNEL_STATUS_ACTION } from '../../../src/broadcast/types.js';
import { makeTempDir, removeTempDir } from '../../helpers/temp-dir.js';
import {
  broadcast,
  collectingReceiver,
  docsPythonReceiver,
  startPythonReceiver,
  startStuckReceivers,
  waitFor,
  type CollectingReceiver,
} from './helpers.js';

/** How many datagrams a receiver's queue holds (+1): 10 on many systems, 512 on others. */
const QUEUE_LENGTH = (() => {
  try {
    return Number(readFileSync('/proc/sys/net/unix/max_dgram_qlen', 'utf8').trim()) || 10;
  } catch {
    return 10;
  }
})();
/** Enough broadcasts to fill a receiver that never reads: its queue, or its send socket's buffer (~270 small datagrams). */
const TO_FILL = Math.min(QUEUE_LENGTH, 300) + 10;

let base: string;
let dir: string;
let sink: LocalReceiversSink;
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(() => {
  base = makeTempDir('aoob-lr-');
  dir = join(base, 'r');
  sink = new LocalReceiversSink({ dir });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await sink.close();
  removeTempDir(base);
});

async function receiver(name?: string): Promise<CollectingReceiver> {
  const r = await collectingReceiver(dir, name);
  cleanups.push(() => r.listener.close());
  return r;
}

describe('LocalReceiversSink', () => {
  it('with nobody listening: ok, "no local receivers", and creates the directory 0700', async () => {
    expect(existsSync(dir)).toBe(false);
    const result = await sink.deliver(broadcast(1));
    expect(result).toMatchObject({ sink: 'local', ok: true, detail: 'no local receivers', attempts: 1 });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(sink.name).toBe('local');
  });

  it('three listeners, one exits mid-test, another loses its file: the rest get every broadcast in order', async () => {
    mkdirSync(dir, { mode: 0o700 });
    const a = await receiver();
    const b = await receiver();
    const python = await startPythonReceiver(docsPythonReceiver(base), dir);
    cleanups.push(() => python.kill());

    const results: LocalDeliveryResult[] = [];
    for (let seq = 1; seq <= 3; seq++) results.push(await sink.deliver(broadcast(seq, seq % 2 ? 'created' : 'destroyed', [`c${seq}`, 'x'])));
    for (const r of results) expect(r).toMatchObject({ ok: true, detail: '3 receivers; 3 delivered; 0 gone; 0 busy' });
    await waitFor(() => python.lines().length === 3, 'the python receiver to print 3 lines');
    expect(python.lines()).toEqual([
      '1 created c1,x 1700000000001',
      '2 destroyed c2,x 1700000000002',
      '3 created c3,x 1700000000003',
    ]);

    // The Python receiver dies without removing its socket file.
    await python.kill('SIGKILL');
    expect(existsSync(python.socketPath)).toBe(true);
    const afterExit = await sink.deliver(broadcast(4));
    expect(afterExit.ok).toBe(true);
    expect(afterExit.detail).toBe('3 receivers; 2 delivered; 1 gone (removed); 0 busy');
    expect(afterExit.counts).toEqual({ receivers: 3, delivered: 2, gone: 1, removed: 1, busy: 0, failed: 0, ignored: 0 });
    expect(existsSync(python.socketPath)).toBe(false);

    // A fourth listener whose file is removed by someone: it is simply not a receiver any more.
    const d = await receiver('d.sock');
    expect((await sink.deliver(broadcast(5))).detail).toBe('3 receivers; 3 delivered; 0 gone; 0 busy');
    unlinkSync(d.listener.path);
    for (let seq = 6; seq <= 8; seq++) {
      expect(await sink.deliver(broadcast(seq))).toMatchObject({ ok: true, detail: '2 receivers; 2 delivered; 0 gone; 0 busy' });
    }

    await waitFor(() => a.received.length === 8 && b.received.length === 8, 'both node receivers to get 8 broadcasts');
    for (const r of [a, b]) {
      expect(r.received.map((x) => x.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(r.received[1]).toEqual({ sequence: 2, event: 'destroyed', names: ['c2', 'x'], timestamp: 1_700_000_000_002, action: CHANNEL_STATUS_ACTION });
      expect(r.errors).toEqual([]);
    }
    expect(d.received.map((x) => x.sequence)).toEqual([5]);
    expect(readdirSync(dir).sort()).toEqual([a.listener.path, b.listener.path].map((p) => p.slice(dir.length + 1)).sort());
  });

  it('a receiver that closed cleanly is not counted at all', async () => {
    const a = await receiver();
    const b = await collectingReceiver(dir);
    await b.listener.close();
    expect(existsSync(b.listener.path)).toBe(false);
    expect((await sink.deliver(broadcast(1))).detail).toBe('1 receiver; 1 delivered; 0 gone; 0 busy');
    await waitFor(() => a.received.length === 1, 'a to receive');
  });

  it('ignores entries that are not datagram sockets and leaves them alone', async () => {
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'file.sock'), 'not a socket');
    mkdirSync(join(dir, 'subdir.sock'));
    symlinkSync('/nonexistent', join(dir, 'link.sock'));
    execFileSync('mkfifo', [join(dir, 'fifo.sock')]);
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(join(dir, 'stream.sock'), resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const onlyJunk = await sink.deliver(broadcast(1));
    expect(onlyJunk).toMatchObject({ ok: true, detail: 'no local receivers; 1 ignored (not datagram sockets: stream.sock)' });

    const a = await receiver('a.sock');
    const result = await sink.deliver(broadcast(2));
    expect(result.ok).toBe(true);
    expect(result.detail).toBe('1 receiver; 1 delivered; 0 gone; 0 busy; 1 ignored (not datagram sockets: stream.sock)');
    await waitFor(() => a.received.length === 1, 'a to receive');
    expect(readdirSync(dir).sort()).toEqual(['a.sock', 'fifo.sock', 'file.sock', 'link.sock', 'stream.sock', 'subdir.sock']);
  });

  it('a receiver that never reads misses broadcasts (counted, reported), the others get all of them promptly', async () => {
    const a = await receiver('a.sock');
    const stuck = await startStuckReceivers(dir, 1);
    cleanups.push(() => stuck.kill());
    const results: LocalDeliveryResult[] = [];
    let slowest = 0;
    for (let seq = 1; seq <= TO_FILL; seq++) {
      const started = performance.now();
      results.push(await sink.deliver(broadcast(seq)));
      slowest = Math.max(slowest, performance.now() - started);
    }
    expect(slowest).toBeLessThan(500);

    const busy = results.filter((r) => r.counts.busy > 0);
    const accepted = results.length - busy.length;
    // The stuck socket's queue holds net.unix.max_dgram_qlen datagrams (+1); then every send to it fails.
    expect(accepted).toBeGreaterThan(0);
    expect(busy.length).toBeGreaterThan(0);
    expect(results.slice(0, accepted).every((r) => r.ok)).toBe(true);
    const first = busy[0]!;
    expect(first.ok).toBe(false);
    expect(first.detail).toBe('2 receivers; 1 delivered; 0 gone; 1 busy (queue full, missed this broadcast: stuck000.sock)');
    expect(first.counts).toMatchObject({ receivers: 2, delivered: 1, busy: 1 });
    expect(results.slice(accepted).every((r) => r.counts.busy === 1 && r.counts.delivered === 1)).toBe(true);

    await waitFor(() => a.received.length === TO_FILL, `a to receive all ${TO_FILL} broadcasts`);
    expect(a.received.map((r) => r.sequence)).toEqual(Array.from({ length: TO_FILL }, (_, i) => i + 1));

    // Once it is gone for good its file is cleaned up and the results are ok again.
    await stuck.kill();
    const after = await sink.deliver(broadcast(TO_FILL + 1));
    expect(after).toMatchObject({ ok: true, detail: '2 receivers; 1 delivered; 1 gone (removed); 0 busy' });
  });

  it('a receiver that never reads gets exactly net.unix.max_dgram_qlen + 1 datagrams before it is busy (docs/broadcasts.md)', async () => {
    // Linux lets a datagram in while the queue holds no more than max_dgram_qlen (the check is ">"),
    // so the queue's real depth is one more. Beyond ~200 the sender's buffer is the bound instead.
    expect(QUEUE_LENGTH).toBeLessThan(200);
    mkdirSync(dir, { mode: 0o700 });
    const stuck = await startStuckReceivers(dir, 1, 'depth');
    cleanups.push(() => stuck.kill());
    const delivered: number[] = [];
    for (let seq = 1; seq <= QUEUE_LENGTH + 5; seq++) delivered.push((await sink.deliver(broadcast(seq))).counts.delivered);
    expect(delivered).toEqual(Array.from({ length: QUEUE_LENGTH + 5 }, (_, i) => (i <= QUEUE_LENGTH ? 1 : 0)));
  });

  it('logs a receiver when it becomes busy (once, not per broadcast) and when it is removed', async () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        callback();
      },
    });
    const logged = new LocalReceiversSink({ dir, log: pino({ level: 'debug' }, stream) });
    cleanups.push(() => logged.close());
    mkdirSync(dir, { mode: 0o700 });
    const stuck = await startStuckReceivers(dir, 1);
    cleanups.push(() => stuck.kill());
    for (let seq = 1; seq <= TO_FILL + 5; seq++) await logged.deliver(broadcast(seq));
    const busy = lines.filter((l) => l.event === 'broadcast.local.busy');
    expect(busy).toHaveLength(1);
    expect(busy[0]).toMatchObject({ receivers: ['stuck000.sock'], level: 40 });
    await stuck.kill();
    await logged.deliver(broadcast(TO_FILL + 6));
    expect(lines.filter((l) => l.event === 'broadcast.local.receiver_gone').map((l) => l.path)).toEqual([stuck.paths[0]]);
  });

  it('many receivers that never read do not starve a reader (a send socket per receiver)', async () => {
    // With one shared send socket, ~300 unread datagrams exhaust its send buffer and every send fails.
    const a = await receiver('a.sock');
    const stuck = await startStuckReceivers(dir, 60);
    cleanups.push(() => stuck.kill());
    for (let seq = 1; seq <= TO_FILL; seq++) {
      const result = await sink.deliver(broadcast(seq));
      expect(result.counts.receivers).toBe(61);
    }
    await waitFor(() => a.received.length === TO_FILL, `a to receive all ${TO_FILL} broadcasts`);
    expect(a.received.map((r) => r.sequence)).toEqual(Array.from({ length: TO_FILL }, (_, i) => i + 1));
    const last = await sink.deliver(broadcast(TO_FILL + 1));
    expect(last.counts).toMatchObject({ delivered: 1, busy: 60 });
    expect(last.detail).toContain('60 busy (queue full, missed this broadcast: stuck000.sock, stuck001.sock');
  });

  it('reports failures without throwing: unencodable broadcasts, closed sink, unusable directory', async () => {
    const tooMany = Array.from({ length: 1100 }, (_, i) => `${'n'.repeat(58)}${String(i).padStart(6, '0')}`);
    const large = await sink.deliver(broadcast(1, 'created', tooMany));
    expect(large.ok).toBe(false);
    expect(large.detail).toContain(`at most ${MAX_INTENT_BYTES}`);

    writeFileSync(join(base, 'plain'), 'x');
    const broken = new LocalReceiversSink({ dir: join(base, 'plain', 'sub') });
    const notDir = await broken.deliver(broadcast(1));
    expect(notDir.ok).toBe(false);
    expect(notDir.detail).toContain('cannot list the receivers directory');
    await broken.close();

    await sink.close();
    expect(await sink.deliver(broadcast(2))).toMatchObject({ ok: false, detail: 'sink closed' });
  });

  it('delivers concurrent calls one after another, in call order', async () => {
    const a = await receiver('a.sock');
    const results = await Promise.all([1, 2, 3, 4, 5].map((seq) => sink.deliver(broadcast(seq))));
    expect(results.every((r) => r.ok)).toBe(true);
    await waitFor(() => a.received.length === 5, 'a to receive 5');
    expect(a.received.map((r) => r.sequence)).toEqual([1, 2, 3, 4, 5]);
  });

  it('counts a receiver whose path does not fit sun_path as failed, not the others', async () => {
    const longDir = join(base, 'd'.repeat(70));
    const longSink = new LocalReceiversSink({ dir: longDir });
    cleanups.push(() => longSink.close());
    mkdirSync(longDir);
    const short = await collectingReceiver(longDir, 'a.sock');
    cleanups.push(() => short.listener.close());
    // Bind a socket under a long name through a relative path (the name alone fits sun_path).
    const name = `${'z'.repeat(40)}.sock`;
    execFileSync('python3', ['-c', `import socket,os; os.chdir(${JSON.stringify(longDir)}); socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).bind(${JSON.stringify(name)})`]);
    const result = await longSink.deliver(broadcast(1));
    expect(result.ok).toBe(false);
    expect(result.counts).toMatchObject({ receivers: 2, delivered: 1, failed: 1 });
    expect(result.detail).toContain(`${name}: path longer than 107 bytes`);
    await waitFor(() => short.received.length === 1, 'the short-path receiver to receive');
  });
});
