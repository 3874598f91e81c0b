import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bindDatagramSocket, closeDatagramSocket, createDatagramSocket } from '../../src/broadcast/local/unix-dgram.js';
import { SOCKET_DIR_WATCHER_DEFAULTS, SocketDirWatcher } from '../../src/broadcast/socket-dir-watcher.js';
import { startFakeChannel, type FakeChannel } from '../helpers/echo-platform.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { captureLogger, killAllSocat, makeDeadSocketFile, startSocat, waitFor, type LogRecord } from './helpers.js';

let root: string;
let dir: string;
const watchers: SocketDirWatcher[] = [];
const channels: FakeChannel[] = [];
let cleanupDatagram: (() => void) | undefined;

beforeEach(() => {
  root = makeTempDir('aoob-w-');
  dir = join(root, 'sockets');
  mkdirSync(dir);
});

afterEach(async () => {
  for (const watcher of watchers.splice(0)) watcher.close();
  await killAllSocat();
  for (const channel of channels.splice(0)) await channel.close().catch(() => undefined);
  cleanupDatagram?.();
  cleanupDatagram = undefined;
  removeTempDir(root);
});

interface Harness {
  watcher: SocketDirWatcher;
  events: string[];
  records: LogRecord[];
  logEvents: (event: string) => LogRecord[];
}

function makeWatcher(options: { rescanIntervalMs?: number; socketDir?: string } = {}): Harness {
  const { logger, records, events: logEvents } = captureLogger();
  const watcher = new SocketDirWatcher({ socketDir: options.socketDir ?? dir, logger, rescanIntervalMs: options.rescanIntervalMs ?? 100 });
  watchers.push(watcher);
  const events: string[] = [];
  watcher.on('appeared', (name) => events.push(`+${name}`));
  watcher.on('disappeared', (name) => events.push(`-${name}`));
  return { watcher, events, records, logEvents };
}

async function channel(name: string, socketDir = dir): Promise<FakeChannel> {
  const c = await startFakeChannel(socketDir, name);
  channels.push(c);
  return c;
}

describe('SocketDirWatcher', () => {
  it('documents its defaults (rescan every second)', () => {
    expect(SOCKET_DIR_WATCHER_DEFAULTS.rescanIntervalMs).toBe(1000);
  });

  it('sees real socat listeners come and go', async () => {
    const { watcher, events } = makeWatcher();
    await watcher.start();
    expect(events).toEqual([]);
    const foo = await startSocat(join(dir, 'webrtc_data_foo'));
    await waitFor(() => events.includes('+foo'), 'foo to appear');
    const bar = await startSocat(join(dir, 'webrtc_data_bar.v-1_x'));
    await waitFor(() => events.includes('+bar.v-1_x'), 'bar.v-1_x to appear');
    expect(watcher.channels()).toEqual(['bar.v-1_x', 'foo']);
    await foo.kill('SIGTERM'); // socat unlinks its socket
    await waitFor(() => events.includes('-foo'), 'foo to disappear');
    await bar.kill('SIGKILL'); // the file stays, nobody listens: only the rescan can tell
    await waitFor(() => events.includes('-bar.v-1_x'), 'bar to disappear');
    expect(events).toEqual(['+foo', '+bar.v-1_x', '-foo', '-bar.v-1_x']);
    expect(watcher.channels()).toEqual([]);
  });

  it('sees Node listeners (the platform) through fs.watch alone, without the periodic rescan', async () => {
    const { watcher, events } = makeWatcher({ rescanIntervalMs: 3_600_000 });
    await watcher.start();
    const scansBefore = watcher.scans;
    const c = await channel('node1');
    await waitFor(() => events.includes('+node1'), 'node1 to appear');
    await c.close();
    await waitFor(() => events.includes('-node1'), 'node1 to disappear');
    expect(events).toEqual(['+node1', '-node1']);
    expect(watcher.scans).toBeGreaterThan(scansBefore);
  });

  it('ignores regular files, directories, symlinks, dead socket files, bound-only and datagram sockets, and invalid names', async () => {
    writeFileSync(join(dir, 'webrtc_data_file'), 'not a socket');
    mkdirSync(join(dir, 'webrtc_data_dir'));
    await makeDeadSocketFile(join(dir, 'webrtc_data_dead'));
    const live = await channel('live');
    symlinkSync(live.path, join(dir, 'webrtc_data_link'));
    // listening, but not channels: an invalid name, a bare prefix, no prefix
    for (const file of ['webrtc_data_bad name', 'webrtc_data_', 'other.sock']) {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(join(dir, file), () => resolve()));
      channels.push({ server, path: join(dir, file), connections: [], close: () => new Promise((r) => server.close(() => r())) });
    }
    // A bound datagram socket is a socket file, but nobody listens on it as a stream: not a channel.
    const datagram = createDatagramSocket();
    await bindDatagramSocket(datagram, join(dir, 'webrtc_data_dgram'));
    cleanupDatagram = () => closeDatagramSocket(datagram);
    const { watcher, events } = makeWatcher();
    await watcher.start();
    expect(events).toEqual(['+live']);
    await watcher.rescan();
    expect(watcher.channels()).toEqual(['live']);
    expect(events).toEqual(['+live']);
  });

  it('announces channels present at start-up once', async () => {
    await startSocat(join(dir, 'webrtc_data_early1'));
    await channel('early2');
    const { watcher, events } = makeWatcher();
    await watcher.start();
    expect([...events].sort()).toEqual(['+early1', '+early2']);
    await watcher.rescan();
    await watcher.rescan();
    const scans = watcher.scans;
    await waitFor(() => watcher.scans >= scans + 2, 'two periodic rescans');
    expect(events).toHaveLength(2);
  });

  it('reports a listener replaced between two scans as disappeared then appeared', async () => {
    const first = await channel('swap');
    const { watcher, events } = makeWatcher({ rescanIntervalMs: 3_600_000 });
    await watcher.start();
    expect(events).toEqual(['+swap']);
    // Replace the listener quickly: the new socket file may even get the old file's inode number.
    await first.close();
    await channel('swap');
    await watcher.rescan();
    // Whether or not a watch-triggered scan saw the gap, the result is the same.
    expect(events).toEqual(['+swap', '-swap', '+swap']);
    expect(watcher.channels()).toEqual(['swap']);
  });

  it('survives the directory missing at start-up, being deleted, and being recreated', async () => {
    const socketDir = join(root, 'later', 'sockets');
    const { watcher, events, logEvents } = makeWatcher({ socketDir });
    await watcher.start();
    await watcher.rescan();
    expect(logEvents('watcher.dir_missing')).toHaveLength(1);
    mkdirSync(socketDir, { recursive: true });
    await startSocat(join(socketDir, 'webrtc_data_a'));
    await waitFor(() => events.includes('+a'), 'a to appear once the directory exists');
    expect(logEvents('watcher.dir_present')).toHaveLength(1);

    await killAllSocat();
    await waitFor(() => events.includes('-a'), 'a to disappear');
    rmSync(join(root, 'later'), { recursive: true, force: true });
    await waitFor(() => logEvents('watcher.dir_missing').length === 2, 'the deletion to be noticed');
    const scans = watcher.scans;
    await waitFor(() => watcher.scans >= scans + 3, 'three more rescans');
    expect(logEvents('watcher.dir_missing')).toHaveLength(2); // once per disappearance, not per rescan

    mkdirSync(socketDir, { recursive: true });
    await waitFor(() => logEvents('watcher.dir_present').length === 2, 'the new directory to be noticed');
    await channel('b', socketDir);
    await waitFor(() => events.includes('+b'), 'b to appear in the recreated directory');
    expect(events).toEqual(['+a', '-a', '+b']);
  });

  it('reports channels of a deleted directory as disappeared', async () => {
    const { watcher, events } = makeWatcher();
    await startSocat(join(dir, 'webrtc_data_gone'));
    await watcher.start();
    expect(events).toEqual(['+gone']);
    rmSync(dir, { recursive: true, force: true });
    await waitFor(() => events.includes('-gone'), 'gone to disappear with its directory');
  });

  it('without a socket table every socket file counts, with one warning', async () => {
    const { logger, events: logEvents } = captureLogger();
    await makeDeadSocketFile(join(dir, 'webrtc_data_dead'));
    const watcher = new SocketDirWatcher({
      socketDir: dir,
      logger,
      listeningSockets: () => {
        throw Object.assign(new Error('no /proc'), { code: 'ENOENT' });
      },
    });
    watchers.push(watcher);
    await watcher.start();
    await watcher.rescan();
    expect(watcher.channels()).toEqual(['dead']);
    expect(logEvents('watcher.no_socket_table')).toHaveLength(1);
  });

  it('a throwing listener is logged and does not stop the others', async () => {
    await channel('x');
    const { watcher, events, logEvents } = makeWatcher();
    watcher.on('appeared', () => {
      throw new Error('listener bug');
    });
    await watcher.start();
    expect(events).toEqual(['+x']);
    expect(logEvents('watcher.listener_failed')).toHaveLength(1);
  });
});
