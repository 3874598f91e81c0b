/**
 * One daemon per socket directory (src/service/socket-dir-lock.ts): a second `serve` is refused with
 * the first's pid and the first keeps its app; the split set-up (`platform` + `proxy`) still shares a
 * directory; a kill -9'ed daemon's lock, channel sockets and service socket are replaced at the next
 * start, and the log says what was cleaned. The liveness check never connects to a live listener.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ListenError, removeStaleSocket } from '../../src/io/unix-listener.js';
import { lockPathFor } from '../../src/service/socket-dir-lock.js';
import { connectWebClient, type WebClient } from '../../src/headless-client/web-client.js';
import { waitFor } from '../broadcast/helpers.js';
import { runCli } from '../helpers/cli.js';
import { logEvent, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { cleanEnv, startDaemonProcess, type DaemonProcess } from './helpers/daemon-process.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { isListening } from '../helpers/listening.js';

const dirs: string[] = [];
const daemons: DaemonHandle[] = [];
const processes: DaemonProcess[] = [];
let client: WebClient | undefined;

function tempDir(): string {
  const dir = makeTempDir('aoob-lock-');
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  await client?.close({ flushTimeoutMs: 0 }).catch(() => undefined);
  client = undefined;
  for (const d of daemons.splice(0)) await d.stop('SIGKILL');
  for (const p of processes.splice(0)) await p.stop('SIGKILL');
});

afterAll(() => {
  for (const dir of dirs) removeTempDir(dir);
});

describe('two daemons on one socket directory', () => {
  it('refuses the second serve with the first one\'s pid, and the first keeps its app', async () => {
    const dir = tempDir();
    const first = await startDaemon(dir, [], { command: 'serve', env: { ANBOX_OOB_TOKEN: 'test-token-0123456789' } });
    daemons.push(first);
    client = await connectWebClient({ gateway: String(logEvent(first, 'platform.started')?.gateway), token: 'test-token-0123456789', channels: ['foo'] });
    await client.opened;
    await waitFor(() => isListening(join(first.socketDir, 'webrtc_data_foo')), 'the channel socket');
    const app: Socket = createConnection(join(first.socketDir, 'webrtc_data_foo'));
    await new Promise<void>((resolve, reject) => app.once('connect', resolve).once('error', reject));

    const second = await runCli(
      ['serve', '--socket-dir', first.socketDir, '--service-socket', join(dir, 'other.sock'), '--receivers-dir', join(dir, 'r2'), '--listen', '127.0.0.1:0', '--log-format', 'json'],
      { env: { ANBOX_OOB_TOKEN: 'test-token-0123456789' } },
    );
    expect(second.code).toBe(1);
    expect(second.stdout + second.stderr).toContain(`another anbox-oob daemon (pid ${first.pid}) already uses this socket directory`);
    expect(second.stdout + second.stderr).toContain('"event":"daemon.socket_dir_locked"');
    expect(existsSync(join(dir, 'other.sock'))).toBe(false);

    // The first daemon's app is still the one attached: data from the browser reaches it.
    const got: Buffer[] = [];
    app.on('data', (c: Buffer) => got.push(c));
    client.channel('foo').send('still here\n');
    await waitFor(() => Buffer.concat(got).toString() === 'still here\n', 'the browser data at the first app');
    expect(first.output()).not.toContain('replaced');
    app.destroy();
  });

  it('still lets a platform and a proxy share one directory (the split set-up)', async () => {
    const dir = tempDir();
    const socketDir = join(dir, 'sockets');
    const platform = startDaemonProcess(['platform', '--socket-dir', socketDir, '--listen', '127.0.0.1:0', '--log-format', 'json'], cleanEnv({ HOME: dir }));
    processes.push(platform);
    await platform.line('platform.started');
    const proxyDir = join(dir, 'proxy');
    const proxy = await startDaemon(proxyDir, ['--socket-dir', socketDir], { command: 'proxy' });
    daemons.push(proxy);
    expect(proxy.output()).toContain('"event":"daemon.started"');
    expect(existsSync(lockPathFor(socketDir, 'platform'))).toBe(true);
    expect(existsSync(lockPathFor(socketDir, 'proxy'))).toBe(true);
    await proxy.stop();
    expect(existsSync(lockPathFor(socketDir, 'proxy'))).toBe(false);
  });
});

describe('after kill -9', () => {
  it('replaces the stale lock, channel sockets and service socket, and logs what it cleaned', async () => {
    const dir = tempDir();
    const socketDir = join(dir, 'sockets');
    const first = await startDaemon(dir, [], { command: 'serve' });
    first.child.kill('SIGKILL');
    await first.stop();
    // Stale channel sockets: bound by a process that was killed before it could remove them.
    const binder = spawn(process.execPath, ['-e', `const net=require('net');let n=0;for(const c of ['foo','bar'])net.createServer().listen(require('path').join(${JSON.stringify(socketDir)},'webrtc_data_'+c),()=>{if(++n===2)console.log('up')});`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => binder.stdout.once('data', () => resolve()));
    binder.kill('SIGKILL');
    await new Promise((resolve) => binder.once('exit', resolve));
    expect(existsSync(join(socketDir, 'webrtc_data_foo'))).toBe(true);
    expect(readFileSync(lockPathFor(socketDir, 'platform'), 'utf8')).toMatch(new RegExp(`^${first.pid} `));

    const second = await startDaemon(dir, [], { command: 'serve' });
    daemons.push(second);
    expect(logEvent(second, 'daemon.stale_channel_sockets_removed')).toMatchObject({ channels: ['bar', 'foo'] });
    expect(logEvent(second, 'daemon.stale_socket_removed')).toMatchObject({ path: join(dir, 'svc.sock') });
    expect(logEvent(second, 'daemon.stale_lock_replaced')).toMatchObject({ stalePid: first.pid });
    expect(existsSync(join(socketDir, 'webrtc_data_foo'))).toBe(false);
  });
});

describe('the stale-socket check', () => {
  it('never connects to a live listener (a channel\'s platform would take it for an app)', async () => {
    const dir = tempDir();
    const path = join(dir, 'webrtc_data_live');
    let connections = 0;
    const server = createServer(() => connections++);
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      expect(() => removeStaleSocket(path)).toThrow(ListenError);
      await new Promise((r) => setTimeout(r, 100));
      expect(connections).toBe(0);
      expect(existsSync(path)).toBe(true);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
