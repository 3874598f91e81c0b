import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalReceiversSink } from '../../../src/broadcast/local/local-receivers-sink.js';
import { RECEIVERS_DIR_ENV } from '../../../src/broadcast/local/receivers-dir.js';
import { broadcastJsonLine, listenCommand, runListen, type ListenIo } from '../../../src/cli/commands/listen.js';
import { UsageError } from '../../../src/cli/command.js';
import { makeTempDir, removeTempDir } from '../../helpers/temp-dir.js';
import { broadcast, waitFor } from './helpers.js';

let base: string;
let dir: string;
let sink: LocalReceiversSink;

beforeEach(() => {
  base = makeTempDir('aoob-ls-');
  dir = join(base, 'receivers');
  sink = new LocalReceiversSink({ dir });
});

afterEach(async () => {
  await sink.close();
  removeTempDir(base);
});

interface Harness {
  io: ListenIo;
  stdout(): string;
  stderr(): string;
  listening: Promise<string>;
  controller: AbortController;
}

function harness(env: NodeJS.ProcessEnv = {}): Harness {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const controller = new AbortController();
  let onListening: (path: string) => void = () => undefined;
  const listening = new Promise<string>((resolve) => (onListening = resolve));
  return { io: { stdout, stderr, env, signal: controller.signal, onListening }, stdout: () => out, stderr: () => err, listening, controller };
}

describe('anbox-oob listen', () => {
  it('prints one JSON line per broadcast, in order, and exits after --count N, removing its socket', async () => {
    const h = harness();
    const run = runListen(['--receivers-dir', dir, '--count', '3'], h.io);
    const path = await h.listening;
    expect(h.stderr()).toContain(`receiving broadcasts at ${path} (receivers dir from --receivers-dir)`);
    await sink.deliver(broadcast(1, 'created', ['foo']));
    await waitFor(() => h.stdout().split('\n').length === 2, 'the first line');
    expect(h.stdout()).toBe(
      '{"sequence":1,"event":"created","names":["foo"],"timestamp":1700000000001,"action":"com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS"}\n',
    );
    await sink.deliver(broadcast(2, 'created', ['bar', 'baz']));
    await sink.deliver(broadcast(3, 'destroyed', ['foo']));
    await sink.deliver(broadcast(4, 'destroyed', ['bar']));
    expect(await run).toBe(0);
    const lines = h.stdout().trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.sequence, l.event, l.names])).toEqual([
      [1, 'created', ['foo']],
      [2, 'created', ['bar', 'baz']],
      [3, 'destroyed', ['foo']],
    ]);
    expect(Object.keys(lines[0]!)).toEqual(['sequence', 'event', 'names', 'timestamp', 'action']);
    expect(existsSync(path)).toBe(false);
  });

  it('finds the directory through ANBOX_OOB_RECEIVERS_DIR and stops on abort (SIGINT/SIGTERM)', async () => {
    const h = harness({ [RECEIVERS_DIR_ENV]: dir });
    const run = runListen([], h.io);
    const path = await h.listening;
    expect(path.startsWith(`${dir}/`)).toBe(true);
    expect(h.stderr()).toContain(`(receivers dir from ${RECEIVERS_DIR_ENV})`);
    await sink.deliver(broadcast(1));
    await waitFor(() => h.stdout().length > 0, 'a line');
    h.controller.abort();
    expect(await run).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('listenCommand.run exits on SIGTERM, removing its socket', async () => {
    const previous = process.env[RECEIVERS_DIR_ENV];
    process.env[RECEIVERS_DIR_ENV] = dir;
    try {
      const run = listenCommand.run([]);
      await waitFor(() => existsSync(dir) && readdirSync(dir).length === 1, 'the socket');
      process.emit('SIGTERM');
      expect(await run).toBe(0);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      if (previous === undefined) delete process.env[RECEIVERS_DIR_ENV];
      else process.env[RECEIVERS_DIR_ENV] = previous;
    }
  });

  it('reports undecodable datagrams on stderr and goes on', async () => {
    const h = harness();
    const run = runListen(['--receivers-dir', dir, '--count', '1'], h.io);
    const path = await h.listening;
    const { createDatagramSocket, sendDatagram, closeDatagramSocket } = await import('../../../src/broadcast/local/unix-dgram.js');
    const socket = createDatagramSocket();
    await sendDatagram(socket, Buffer.from('12 03 66 6f 6f'.replace(/ /g, ''), 'hex'), path);
    closeDatagramSocket(socket);
    await waitFor(() => h.stderr().includes('UNKNOWN_EVENT') || h.stderr().includes('"created" or "destroyed"'), 'the error');
    await sink.deliver(broadcast(5));
    expect(await run).toBe(0);
    expect(JSON.parse(h.stdout()).sequence).toBe(5);
  });

  it('usage: --help explains the directory, bad --count is a usage error, unusable dirs exit 1', async () => {
    const h = harness();
    expect(await runListen(['--help'], h.io)).toBe(0);
    expect(h.stdout()).toContain('the daemon must use the\nSAME directory');
    expect(h.stdout()).toContain(RECEIVERS_DIR_ENV);
    await expect(runListen(['--count', '0'], h.io)).rejects.toBeInstanceOf(UsageError);
    await expect(runListen(['--count', 'x'], h.io)).rejects.toBeInstanceOf(UsageError);
    await expect(runListen(['extra'], h.io)).rejects.toThrow();
    const bad = harness();
    expect(await runListen(['--receivers-dir', join(base, 'y'.repeat(120))], bad.io)).toBe(1);
    expect(bad.stderr()).toContain('longer than a Unix socket path');
  });

  it('broadcastJsonLine keeps the documented key order', () => {
    expect(broadcastJsonLine({ action: 'com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS', timestamp: 2, names: ['n'], event: 'destroyed', sequence: 1 })).toBe(
      '{"sequence":1,"event":"destroyed","names":["n"],"timestamp":2,"action":"com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS"}\n',
    );
  });
});
