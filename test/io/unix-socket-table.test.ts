import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listeningUnixSocketPaths, listeningUnixSockets, parseListeningUnixSockets, parseUnixSocketTable } from '../../src/io/unix-socket-table.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { makeDeadSocketFile } from '../broadcast/helpers.js';

// Captured from /proc/net/unix on Linux 6.x (socat, Python and Node listeners; addresses shortened).
const SAMPLE = [
  'Num       RefCount Protocol Flags    Type St Inode Path',
  '00000000c3e209ab: 00000003 00000000 00000000 0005 03 6076981',
  '0000000007352247: 00000003 00000000 00000000 0001 03 6078030',
  // a listener that bound a relative path (socat run inside the directory)
  '0000000030bb68fa: 00000002 00000000 00010000 0001 01 6086325 webrtc_data_rel',
  // a path with a space
  '00000000391da376: 00000002 00000000 00010000 0001 01 6087765 /tmp/pnu/webrtc_data_a b',
  // datagram, seqpacket listener, stream socket bound but not listening
  '00000000b4e2c444: 00000002 00000000 00000000 0002 01 6087797 /tmp/pnu/dgram',
  '00000000d3cd3e19: 00000002 00000000 00010000 0005 01 6087798 /tmp/pnu/seq',
  '00000000e4c26464: 00000002 00000000 00000000 0001 01 6087799 /tmp/pnu/bound-not-listening',
  // a live listener and a connection it accepted (same path, St 03)
  '00000000c49f6c58: 00000003 00000000 00000000 0001 03 6086444 /tmp/pnu/webrtc_data_live',
  '000000004f2abe6e: 00000002 00000000 00010000 0001 01 6086442 /tmp/pnu/webrtc_data_live',
  // an accepted connection whose listener has closed: the path is still shown, nobody listens
  '000000000d20f9f3: 00000003 00000000 00000000 0001 03 6086447 /tmp/pnu/webrtc_data_gone',
  // an abstract listener, and a small inode (printed %5lu: padded with spaces)
  '00000000d94e604d: 00000002 00000000 00010000 0001 01 6087796 @abstract-x',
  '00000000d94e6000: 00000002 00000000 00010000 0001 01   123 /run/small-inode.sock',
  '',
].join('\n');

describe('parseListeningUnixSockets', () => {
  it('keeps exactly the listening stream sockets with a filesystem path', () => {
    expect([...parseListeningUnixSockets(SAMPLE)].sort()).toEqual(
      ['/run/small-inode.sock', '/tmp/pnu/webrtc_data_a b', '/tmp/pnu/webrtc_data_live', 'webrtc_data_rel'].sort(),
    );
  });

  it('does not count a path whose only sockets are accepted connections', () => {
    const table = parseListeningUnixSockets(SAMPLE);
    expect(table.has('/tmp/pnu/webrtc_data_gone')).toBe(false);
    expect(table.has('/tmp/pnu/bound-not-listening')).toBe(false);
    expect(table.has('/tmp/pnu/seq')).toBe(false);
  });

  it('maps each listening path to its socket inode, the newest when a path has two listeners', () => {
    const table = parseUnixSocketTable(SAMPLE);
    expect(table.get('/tmp/pnu/webrtc_data_live')).toBe(6086442);
    expect(table.get('/run/small-inode.sock')).toBe(123);
    const replaced = parseUnixSocketTable(
      [
        '0000000000000001: 00000002 00000000 00010000 0001 01 7000002 /s/webrtc_data_x',
        '0000000000000002: 00000002 00000000 00010000 0001 01 7000001 /s/webrtc_data_x',
      ].join('\n'),
    );
    expect(replaced.get('/s/webrtc_data_x')).toBe(7000002);
  });

  it('ignores the header, blank lines and garbage', () => {
    expect(parseListeningUnixSockets('Num       RefCount Protocol Flags    Type St Inode Path\n\nnonsense line\n').size).toBe(0);
    expect(parseListeningUnixSockets('').size).toBe(0);
  });
});

describe('listeningUnixSocketPaths (the live table)', () => {
  let dir: string | undefined;
  let server: Server | undefined;
  afterEach(async () => {
    if (server) await new Promise<void>((resolve) => server?.close(() => resolve()));
    server = undefined;
    if (dir) removeTempDir(dir);
    dir = undefined;
  });

  it('shows a Node listener and not a dead socket file', async () => {
    dir = makeTempDir('aoob-tbl-');
    const live = join(dir, 'webrtc_data_live');
    const dead = join(dir, 'webrtc_data_dead');
    server = createServer();
    await new Promise<void>((resolve) => server?.listen(live, () => resolve()));
    await makeDeadSocketFile(dead);
    const table = listeningUnixSocketPaths();
    expect(table.has(live)).toBe(true);
    expect(table.has(dead)).toBe(false);
    expect(listeningUnixSockets().get(live)).toBeGreaterThan(0);
  });

  it('throws when the table cannot be read', () => {
    expect(() => listeningUnixSocketPaths('/nonexistent/proc/net/unix')).toThrow(/ENOENT/);
  });
});

describe('accepted connections (status: is an app attached?)', () => {
  it('counts the St 03 stream sockets that carry a path, per path', async () => {
    const { parseAcceptedConnections } = await import('../../src/io/unix-socket-table.js');
    const counts = parseAcceptedConnections(SAMPLE);
    expect(Object.fromEntries(counts)).toEqual({ '/tmp/pnu/webrtc_data_live': 1, '/tmp/pnu/webrtc_data_gone': 1 });
  });

  it('sees a real app connection on a real listener, and none once it closes', async () => {
    const { acceptedUnixConnections } = await import('../../src/io/unix-socket-table.js');
    const { createConnection } = await import('node:net');
    const dir = makeTempDir('aoob-acc-');
    const path = join(dir, 'webrtc_data_x');
    const accepted: import('node:net').Socket[] = [];
    const server = createServer((s) => accepted.push(s));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      expect(acceptedUnixConnections().get(path)).toBeUndefined();
      const app = createConnection(path);
      await new Promise<void>((resolve) => app.once('connect', () => resolve()));
      while (accepted.length === 0) await new Promise((r) => setTimeout(r, 5));
      expect(acceptedUnixConnections().get(path)).toBe(1);
      app.destroy();
      for (const s of accepted) s.destroy();
      for (let i = 0; i < 500 && acceptedUnixConnections().has(path); i++) await new Promise((r) => setTimeout(r, 10));
      expect(acceptedUnixConnections().get(path)).toBeUndefined();
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      removeTempDir(dir);
    }
  });
});
