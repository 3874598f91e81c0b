import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PollEvent, close, pollClose, pollStart, pollUpdate, recvmsg, sendmsg, type PollHandle } from '../../src/native/addon.js';
import { connectedPair, errno, makeTempDir, removeTempDir, settle } from './helpers.js';

let dir: string;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => {
  removeTempDir(dir);
});

function expectHandle(h: PollHandle | number): PollHandle {
  if (typeof h === 'number') throw new Error(`pollStart failed: ${h}`);
  return h;
}

describe('pollStart / pollUpdate / pollClose', () => {
  it('fires READABLE when data arrives, pauses with 0 and resumes', async () => {
    const p = connectedPair(path.join(dir, 'poll.sock'));
    const calls: Array<[number, number]> = [];
    const h = expectHandle(pollStart(p.server, PollEvent.READABLE, (status, events) => calls.push([status, events])));
    await settle();
    expect(calls).toEqual([]); // nothing to read yet

    expect(sendmsg(p.client, Buffer.from('x'))).toBe(1);
    await settle();
    expect(calls.length).toBeGreaterThan(0); // level-triggered: fires while unread
    expect(calls[0]).toEqual([0, PollEvent.READABLE]);

    expect(pollUpdate(h, 0)).toBe(0);
    calls.length = 0;
    await settle();
    expect(calls).toEqual([]); // paused although data is still pending

    expect(pollUpdate(h, PollEvent.READABLE)).toBe(0);
    await settle();
    expect(calls.length).toBeGreaterThan(0); // resumed

    expect(pollClose(h)).toBe(0);
    calls.length = 0;
    await settle();
    expect(calls).toEqual([]);
    expect(pollClose(h)).toBe(0); // second close is a no-op
    expect(pollUpdate(h, PollEvent.READABLE)).toBe(-errno.EBADF);
    p.closeAll();
  });

  it('reports WRITABLE and peer hang-up', async () => {
    const p = connectedPair(path.join(dir, 'poll.sock'));
    const seen: number[] = [];
    const h = expectHandle(
      pollStart(p.server, PollEvent.WRITABLE, (status, events) => {
        expect(status).toBe(0);
        seen.push(events);
        pollUpdate(h, 0);
      }),
    );
    await settle();
    expect(seen).toEqual([PollEvent.WRITABLE]);

    seen.length = 0;
    expect(pollUpdate(h, PollEvent.READABLE | PollEvent.DISCONNECT)).toBe(0);
    close(p.client);
    await settle();
    expect(seen.length).toBe(1);
    expect(seen[0]).toBe(PollEvent.READABLE | PollEvent.DISCONNECT);
    expect(recvmsg(p.server, new Uint8Array(1))).toMatchObject({ bytes: 0 });
    pollClose(h);
    close(p.server);
    close(p.listener);
  });

  it('can be closed from inside its own callback', async () => {
    const p = connectedPair(path.join(dir, 'poll.sock'));
    let calls = 0;
    const h = expectHandle(
      pollStart(p.server, PollEvent.READABLE, () => {
        calls++;
        expect(pollClose(h)).toBe(0);
        expect(pollClose(h)).toBe(0);
      }),
    );
    sendmsg(p.client, Buffer.from('x'));
    await settle(50);
    expect(calls).toBe(1); // would keep firing (data stays unread) if the close had not worked
    p.closeAll();
  });

  it('returns -errno for descriptors libuv cannot watch and rejects bad arguments', () => {
    expect(pollStart(123456, PollEvent.READABLE, () => {})).toBe(-errno.EBADF);
    const p = connectedPair(path.join(dir, 'poll.sock'));
    const h = expectHandle(pollStart(p.server, PollEvent.READABLE, () => {}));
    expect(pollStart(p.server, PollEvent.READABLE, () => {})).toBe(-errno.EEXIST); // one watcher per fd
    expect(() => pollStart(p.client, 8, () => {})).toThrow(TypeError);
    expect(() => pollStart(p.client, 1, 'cb' as unknown as () => void)).toThrow(TypeError);
    expect(() => pollUpdate({} as PollHandle, 1)).toThrow(TypeError);
    expect(() => pollClose(42 as unknown as PollHandle)).toThrow(TypeError);
    expect(() => pollUpdate(h, 16)).toThrow(TypeError);
    pollClose(h);
    p.closeAll();
  });
});

let childCount = 0;

/** Runs a CommonJS script in a separate node process with `addon` = the raw binding. */
function runChild(body: string, args: string[] = []): { status: number | null; stdout: string; stderr: string } {
  const addonPath = fileURLToPath(new URL('../../build/Release/anbox_oob_native.node', import.meta.url));
  const script = `const addon = require(${JSON.stringify(addonPath)});\nconst sockPath = ${JSON.stringify(path.join(dir, `child${++childCount}.sock`))};\n${body}`;
  const r = spawnSync(process.execPath, [...args, '-e', script], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const CHILD_PAIR = `
const l = addon.listenUnix(sockPath, 4), c = addon.connectUnix(sockPath), s = addon.accept(l);
if (l < 0 || c < 0 || s < 0) throw new Error('setup ' + [l, c, s]);
`;

describe('watcher callback semantics (child processes)', () => {
  it('runs nextTick and promise jobs right after the callback, before other macrotasks', () => {
    const r = runChild(`${CHILD_PAIR}
const order = [];
const h = addon.pollStart(s, 1, () => {
  addon.pollClose(h);
  order.push('callback');
  Promise.resolve().then(() => order.push('promise'));
  process.nextTick(() => order.push('tick'));
  setImmediate(() => { order.push('immediate'); console.log(order.join(',')); });
});
addon.sendmsg(c, Buffer.from('x'), []);
`);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('callback,tick,promise,immediate');
    expect(r.status).toBe(0);
  });

  it('surfaces an exception thrown by the callback as uncaught', () => {
    const r = runChild(`${CHILD_PAIR}
const h = addon.pollStart(s, 1, () => { addon.pollClose(h); throw new Error('boom from poll'); });
process.on('uncaughtException', (e) => console.log('uncaught:' + e.message));
addon.sendmsg(c, Buffer.from('x'), []);
`);
    expect(r.stdout.trim()).toBe('uncaught:boom from poll');
    expect(r.status).toBe(0);

    const crash = runChild(`${CHILD_PAIR}
const h = addon.pollStart(s, 1, () => { addon.pollClose(h); throw new Error('boom unhandled'); });
addon.sendmsg(c, Buffer.from('x'), []);
`);
    expect(crash.status).not.toBe(0);
    expect(crash.stderr).toContain('boom unhandled');
  });

  it('an active watcher keeps the process alive; a paused one does not', () => {
    const r = runChild(`${CHILD_PAIR}
const h = addon.pollStart(s, 1, () => { console.log('fired'); addon.pollClose(h); });
setTimeout(() => addon.sendmsg(c, Buffer.from('x'), []), 100).unref();
`);
    expect(r.stdout.trim()).toBe('fired'); // only reachable because the watcher held the loop open
    expect(r.status).toBe(0);

    const paused = runChild(`${CHILD_PAIR}
const h = addon.pollStart(s, 1, () => console.log('fired'));
addon.pollUpdate(h, 0);
setTimeout(() => addon.sendmsg(c, Buffer.from('x'), []), 100).unref();
`);
    expect(paused.stdout).toBe('');
    expect(paused.status).toBe(0);
  });

  it('survives GC of handles, unclosed watchers at exit and worker teardown', () => {
    const r = runChild(
      `${CHILD_PAIR}
const { Worker } = require('node:worker_threads');
for (let i = 0; i < 200; i++) { const h = addon.pollStart(s, 1, () => {}); addon.pollClose(h); }
addon.pollUpdate(addon.pollStart(s, 0, () => {}), 0); // dropped without pollClose: lives until exit
globalThis.gc();
setTimeout(() => {
  globalThis.gc();
  const w = new Worker(\`
    const addon = require(\${JSON.stringify(require.resolve(${JSON.stringify(fileURLToPath(new URL('../../build/Release/anbox_oob_native.node', import.meta.url)))}))});
    const { parentPort } = require('node:worker_threads');
    addon.pollStart(\${s}, 0, () => {}); // never closed: the worker's cleanup must handle it
    parentPort.postMessage('ready');
    setInterval(() => {}, 1000);
  \`, { eval: true });
  w.on('message', () => w.terminate().then(() => console.log('worker gone')));
}, 20);
`,
      ['--expose-gc'],
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('worker gone');
    expect(r.status).toBe(0);
  });
});
