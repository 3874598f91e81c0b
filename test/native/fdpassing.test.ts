import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_FDS_PER_MESSAGE, accept, close, connectUnix, listenUnix, recvmsg, sendmsg, type RecvResult } from '../../src/native/addon.js';
import { O_CLOEXEC, connectedPair, errno, expectFd, fdFlags, makeTempDir, openFdCount, removeTempDir } from './helpers.js';

let dir: string;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => {
  removeTempDir(dir);
});

function expectRecv(r: RecvResult | number): RecvResult {
  if (typeof r === 'number') throw new Error(`recvmsg failed: ${r}`);
  return r;
}

function readAll(fd: number): string {
  const buf = new Uint8Array(256);
  const r = expectRecv(recvmsg(fd, buf));
  return Buffer.from(buf.subarray(0, r.bytes)).toString();
}

describe('SCM_RIGHTS descriptor passing', () => {
  it('passes one socket descriptor that works as a duplicate', () => {
    const carrier = connectedPair(path.join(dir, 'carrier.sock'));
    const payload = connectedPair(path.join(dir, 'payload.sock'));
    expect(sendmsg(carrier.client, Buffer.from('F'), [payload.server])).toBe(1);
    const r = expectRecv(recvmsg(carrier.server, new Uint8Array(8)));
    expect(r.bytes).toBe(1);
    expect(r.truncated).toBe(false);
    expect(r.fds).toHaveLength(1);
    const [dup] = r.fds;
    expect(dup).not.toBe(payload.server);
    expect(fdFlags(dup) & O_CLOEXEC).toBe(O_CLOEXEC);
    // Close the original: the received duplicate alone keeps the connection alive.
    expect(close(payload.server)).toBe(0);
    expect(sendmsg(dup, Buffer.from('through the duplicate'))).toBe(21);
    expect(readAll(payload.client)).toBe('through the duplicate');
    expect(sendmsg(payload.client, Buffer.from('back'))).toBe(4);
    expect(readAll(dup)).toBe('back');
    close(dup);
    close(payload.client);
    close(payload.listener);
    carrier.closeAll();
  });

  it('passes three descriptors (two files and a socket) in order', () => {
    const carrier = connectedPair(path.join(dir, 'carrier.sock'));
    const payload = connectedPair(path.join(dir, 'payload.sock'));
    const fileA = path.join(dir, 'a.txt');
    const fileB = path.join(dir, 'b.txt');
    const a = fs.openSync(fileA, 'a');
    const b = fs.openSync(fileB, 'a');
    expect(sendmsg(carrier.client, Buffer.from('three'), [a, payload.client, b])).toBe(5);
    fs.closeSync(a);
    fs.closeSync(b);
    const r = expectRecv(recvmsg(carrier.server, new Uint8Array(8)));
    expect(r).toMatchObject({ bytes: 5, truncated: false });
    expect(r.fds).toHaveLength(3);
    for (const fd of r.fds) expect(fdFlags(fd) & O_CLOEXEC).toBe(O_CLOEXEC);
    const [ra, rsock, rb] = r.fds;
    fs.writeSync(ra, 'written via A');
    fs.writeSync(rb, 'written via B');
    expect(fs.readFileSync(fileA, 'utf8')).toBe('written via A');
    expect(fs.readFileSync(fileB, 'utf8')).toBe('written via B');
    expect(sendmsg(rsock, Buffer.from('sock'))).toBe(4);
    expect(readAll(payload.server)).toBe('sock');
    for (const fd of r.fds) expect(close(fd)).toBe(0);
    payload.closeAll();
    carrier.closeAll();
  });

  it('passes the maximum of 253 descriptors in one message', () => {
    const carrier = connectedPair(path.join(dir, 'carrier.sock'));
    const fds = new Array<number>(MAX_FDS_PER_MESSAGE).fill(carrier.listener);
    expect(sendmsg(carrier.client, Buffer.from('m'), fds)).toBe(1);
    const r = expectRecv(recvmsg(carrier.server, new Uint8Array(1)));
    expect(r.truncated).toBe(false);
    expect(r.fds).toHaveLength(MAX_FDS_PER_MESSAGE);
    expect(new Set(r.fds).size).toBe(MAX_FDS_PER_MESSAGE);
    for (const fd of r.fds) close(fd);
    carrier.closeAll();
  });

  it('ends a read right after the bytes that carried descriptors (Linux stream semantics)', () => {
    const carrier = connectedPair(path.join(dir, 'carrier.sock'));
    expect(sendmsg(carrier.client, Buffer.from('ab'))).toBe(2);
    expect(sendmsg(carrier.client, Buffer.from('cd'), [carrier.listener])).toBe(2);
    expect(sendmsg(carrier.client, Buffer.from('ef'))).toBe(2);
    const buf = new Uint8Array(16);
    // Earlier plain bytes may share the read with the descriptor-carrying ones, later bytes never do.
    const first = expectRecv(recvmsg(carrier.server, buf));
    expect(Buffer.from(buf.subarray(0, first.bytes)).toString()).toBe('abcd');
    expect(first.fds).toHaveLength(1);
    const second = expectRecv(recvmsg(carrier.server, buf));
    expect(second).toEqual({ bytes: 2, fds: [], truncated: false });
    expect(Buffer.from(buf.subarray(0, 2)).toString()).toBe('ef');
    close(first.fds[0]);
    carrier.closeAll();
  });

  it('delivers descriptors with a 1-byte read of the carrying message', () => {
    const carrier = connectedPair(path.join(dir, 'carrier.sock'));
    expect(sendmsg(carrier.client, Buffer.from('xyz'), [carrier.listener])).toBe(3);
    const one = new Uint8Array(1);
    const first = expectRecv(recvmsg(carrier.server, one));
    expect(first.bytes).toBe(1);
    expect(first.fds).toHaveLength(1);
    expect(recvmsg(carrier.server, new Uint8Array(8))).toEqual({ bytes: 2, fds: [], truncated: false });
    close(first.fds[0]);
    carrier.closeAll();
  });

  it('does not leak descriptors over 1000 connect/send/recv/close cycles', () => {
    const sock = path.join(dir, 'leak.sock');
    const listener = expectFd(listenUnix(sock, 64));
    const file = fs.openSync(path.join(dir, 'leak.txt'), 'w');
    const buf = new Uint8Array(16);
    const before = openFdCount();
    let received = 0;
    for (let i = 0; i < 1000; i++) {
      const client = connectUnix(sock);
      const server = accept(listener);
      if (client < 0 || server < 0) throw new Error(`cycle ${i}: ${client} ${server}`);
      if (sendmsg(client, Buffer.from('x'), [file, client]) !== 1) throw new Error(`cycle ${i}: sendmsg`);
      const r = recvmsg(server, buf);
      if (typeof r === 'number') throw new Error(`cycle ${i}: recvmsg ${r}`);
      received += r.fds.length;
      for (const fd of r.fds) close(fd);
      close(client);
      close(server);
    }
    expect(received).toBe(2000);
    expect(openFdCount()).toBe(before);
    fs.closeSync(file);
    close(listener);
  });
});

describe('raw binding checks', () => {
  const require = createRequire(import.meta.url);
  const raw = require(fileURLToPath(new URL('../../build/Release/anbox_oob_native.node', import.meta.url))) as {
    recvmsg(fd: number, buf: Uint8Array, fdsOut: Int32Array): number;
  };

  it('requires fdsOut to hold 2 + 253 entries', () => {
    expect(() => raw.recvmsg(0, new Uint8Array(1), new Int32Array(2 + MAX_FDS_PER_MESSAGE - 1))).toThrow(TypeError);
    expect(() => raw.recvmsg(0, new Uint8Array(1), new Uint32Array(255) as unknown as Int32Array)).toThrow(TypeError);
  });

  it('writes the count and descriptors into fdsOut', () => {
    const carrier = connectedPair(path.join(dir, 'carrier.sock'));
    expect(sendmsg(carrier.client, Buffer.from('q'), [carrier.listener, carrier.listener])).toBe(1);
    const out = new Int32Array(2 + MAX_FDS_PER_MESSAGE).fill(-7);
    expect(raw.recvmsg(carrier.server, new Uint8Array(4), out)).toBe(1);
    expect(out[0]).toBe(2);
    expect(out[1]).toBe(0);
    expect(out[2]).toBeGreaterThanOrEqual(0);
    expect(out[3]).toBeGreaterThanOrEqual(0);
    expect(out[4]).toBe(-7);
    close(out[2]);
    close(out[3]);
    expect(raw.recvmsg(carrier.server, new Uint8Array(4), out)).toBe(-errno.EAGAIN);
    expect(out[0]).toBe(0);
    carrier.closeAll();
  });
});
