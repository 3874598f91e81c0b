import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  MAX_FDS_PER_MESSAGE,
  ShutdownHow,
  accept,
  close,
  connectUnix,
  errnoException,
  errnoName,
  listenUnix,
  loadNative,
  peerCredentials,
  recvmsg,
  sendmsg,
  setBlocking,
  shutdown,
} from '../../src/native/addon.js';
import { O_CLOEXEC, O_NONBLOCK, connectedPair, errno, expectFd, fdFlags, makeTempDir, removeTempDir } from './helpers.js';

let dir: string;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => {
  removeTempDir(dir);
});

describe('native addon: connections', () => {
  it('loads', () => {
    expect(() => loadNative()).not.toThrow();
  });

  it('listens, connects and accepts with non-blocking close-on-exec sockets', () => {
    const sock = path.join(dir, 'a.sock');
    const listener = expectFd(listenUnix(sock, 8));
    expect(fs.statSync(sock).isSocket()).toBe(true);
    expect(accept(listener)).toBe(-errno.EAGAIN);
    const client = expectFd(connectUnix(sock));
    const server = expectFd(accept(listener));
    for (const fd of [listener, client, server]) {
      expect(fdFlags(fd) & O_CLOEXEC).toBe(O_CLOEXEC);
      expect(fdFlags(fd) & O_NONBLOCK).toBe(O_NONBLOCK);
    }
    expect(sendmsg(client, Buffer.from('ping'))).toBe(4);
    const buf = new Uint8Array(16);
    expect(recvmsg(server, buf)).toEqual({ bytes: 4, fds: [], truncated: false });
    expect(Buffer.from(buf.subarray(0, 4)).toString()).toBe('ping');
    for (const fd of [client, server, listener]) expect(close(fd)).toBe(0);
    expect(close(client)).toBe(-errno.EBADF);
  });

  it('reports connect failures as -errno', () => {
    expect(connectUnix(path.join(dir, 'missing.sock'))).toBe(-errno.ENOENT);
    const stale = path.join(dir, 'stale.sock');
    expect(close(expectFd(listenUnix(stale, 1)))).toBe(0); // leaves a socket file nobody listens on
    expect(connectUnix(stale)).toBe(-errno.ECONNREFUSED);
  });

  it('rejects paths that do not fit sun_path', () => {
    const long = path.join(dir, 'x'.repeat(120 - dir.length - 1));
    expect(Buffer.byteLength(long)).toBe(120);
    expect(connectUnix(long)).toBe(-errno.ENAMETOOLONG);
    expect(listenUnix(long, 1)).toBe(-errno.ENAMETOOLONG);
    const max = path.join(dir, 'y'.repeat(107 - dir.length - 1)); // 107 bytes + NUL fits exactly
    expect(Buffer.byteLength(max)).toBe(107);
    const fd = expectFd(listenUnix(max, 1));
    expect(connectUnix(path.join(dir, 'y'.repeat(108 - dir.length - 1)))).toBe(-errno.ENAMETOOLONG);
    close(fd);
  });

  it('reports -EADDRINUSE and does not unlink an existing path', () => {
    const sock = path.join(dir, 'busy.sock');
    const first = expectFd(listenUnix(sock, 1));
    expect(listenUnix(sock, 1)).toBe(-errno.EADDRINUSE);
    const client = expectFd(connectUnix(sock)); // the first listener is untouched
    close(client);
    close(first);
  });

  it('talks to a net.Server peer', async () => {
    const sock = path.join(dir, 'net.sock');
    const received = new Promise<string>((resolve) => {
      const server = net.createServer((s) => {
        s.once('data', (d) => {
          resolve(d.toString());
          s.destroy();
          server.close();
        });
      });
      server.listen(sock);
    });
    await new Promise((r) => setTimeout(r, 20));
    const fd = expectFd(connectUnix(sock));
    expect(sendmsg(fd, Buffer.from('hello net'))).toBe(9);
    expect(await received).toBe('hello net');
    close(fd);
  });
});

describe('native addon: data and state', () => {
  it('returns -EAGAIN when nothing is readable and 0 at end of stream', () => {
    const p = connectedPair(path.join(dir, 'eof.sock'));
    const buf = new Uint8Array(8);
    expect(recvmsg(p.server, buf)).toBe(-errno.EAGAIN);
    expect(close(p.client)).toBe(0);
    expect(recvmsg(p.server, buf)).toEqual({ bytes: 0, fds: [], truncated: false });
    close(p.server);
    close(p.listener);
  });

  it('shutdown(WRITE) gives the peer end-of-stream while both ends stay open', () => {
    const p = connectedPair(path.join(dir, 'shut.sock'));
    expect(shutdown(p.client, ShutdownHow.WRITE)).toBe(0);
    expect(recvmsg(p.server, new Uint8Array(4))).toEqual({ bytes: 0, fds: [], truncated: false });
    expect(sendmsg(p.server, Buffer.from('still'))).toBe(5); // the other direction still works
    expect(recvmsg(p.client, new Uint8Array(8))).toMatchObject({ bytes: 5 });
    expect(sendmsg(p.client, Buffer.from('x'))).toBe(-errno.EPIPE);
    expect(() => shutdown(p.client, 3 as ShutdownHow)).toThrow(TypeError);
    p.closeAll();
  });

  it('sendmsg returns -EAGAIN once the socket buffer is full', () => {
    const p = connectedPair(path.join(dir, 'full.sock'));
    const chunk = new Uint8Array(64 * 1024);
    let total = 0;
    let rc = 0;
    for (let i = 0; i < 10_000; i++) {
      rc = sendmsg(p.client, chunk);
      if (rc < 0) break;
      total += rc;
    }
    expect(rc).toBe(-errno.EAGAIN);
    expect(total).toBeGreaterThan(0);
    // drain a bit and sending works again
    const buf = new Uint8Array(256 * 1024);
    let drained = 0;
    for (let r = recvmsg(p.server, buf); typeof r !== 'number' && drained < total; r = recvmsg(p.server, buf)) drained += r.bytes;
    expect(drained).toBe(total);
    expect(sendmsg(p.client, chunk)).toBeGreaterThan(0);
    p.closeAll();
  });

  it('setBlocking toggles O_NONBLOCK', () => {
    const p = connectedPair(path.join(dir, 'blk.sock'));
    expect(setBlocking(p.client, true)).toBe(0);
    expect(fdFlags(p.client) & O_NONBLOCK).toBe(0);
    expect(setBlocking(p.client, false)).toBe(0);
    expect(fdFlags(p.client) & O_NONBLOCK).toBe(O_NONBLOCK);
    p.closeAll();
    expect(setBlocking(p.client, true)).toBe(-errno.EBADF);
  });

  it('peerCredentials reports this process on both ends', () => {
    const p = connectedPair(path.join(dir, 'cred.sock'));
    const me = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };
    expect(peerCredentials(p.server)).toEqual(me);
    expect(peerCredentials(p.client)).toEqual(me);
    expect(peerCredentials(p.listener)).toMatchObject({ pid: process.pid }); // a listener reports itself
    const file = fs.openSync(path.join(dir, 'plain'), 'w');
    expect(peerCredentials(file)).toBe(-errno.ENOTSOCK);
    fs.closeSync(file);
    p.closeAll();
  });

  it('reports -ENOTSOCK and -EBADF from sendmsg/recvmsg', () => {
    const file = fs.openSync(path.join(dir, 'plain'), 'w');
    expect(sendmsg(file, Buffer.from('x'))).toBe(-errno.ENOTSOCK);
    expect(recvmsg(file, new Uint8Array(1))).toBe(-errno.ENOTSOCK);
    fs.closeSync(file);
    expect(sendmsg(file, Buffer.from('x'))).toBe(-errno.EBADF);
  });
});

describe('native addon: programmer errors throw TypeError', () => {
  it('rejects bad arguments', () => {
    const bad = (f: () => unknown): void => {
      expect(f).toThrow(TypeError);
    };
    bad(() => close('3' as unknown as number));
    bad(() => close(1.5));
    bad(() => connectUnix(42 as unknown as string));
    bad(() => connectUnix(''));
    bad(() => connectUnix(path.join(dir, 'a\0b')));
    bad(() => listenUnix(path.join(dir, 'l.sock'), Number.NaN));
    bad(() => setBlocking(0, 'yes' as unknown as boolean));
    bad(() => sendmsg(0, 'text' as unknown as Uint8Array));
    bad(() => sendmsg(0, new Uint8Array(1), [-1]));
    bad(() => sendmsg(0, new Uint8Array(1), ['1' as unknown as number]));
    bad(() => sendmsg(0, new Uint8Array(0), [1])); // descriptors need a data byte to travel with
    bad(() => sendmsg(0, new Uint8Array(1), new Array<number>(MAX_FDS_PER_MESSAGE + 1).fill(0)));
    bad(() => recvmsg(0, new Uint8Array(0)));
    bad(() => recvmsg(0, new Uint16Array(4) as unknown as Uint8Array));
  });
});

describe('errno helpers', () => {
  it('names negative errnos', () => {
    expect(errnoName(-2)).toBe('ENOENT');
    expect(errnoName(-errno.EAGAIN)).toBe('EAGAIN');
    expect(errnoName(-errno.ECONNREFUSED)).toBe('ECONNREFUSED');
    expect(errnoName(-99999)).toBe('E?-99999');
  });

  it('builds Node-style errors', () => {
    const err = errnoException(-errno.ENOENT, 'connect', '/x.sock');
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code: 'ENOENT', errno: -errno.ENOENT, syscall: 'connect', path: '/x.sock' });
    expect(err.message).toBe('connect ENOENT /x.sock');
  });
});
