import { existsSync, lstatSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeChannelStatusIntent, IntentCodecError } from '../../../src/broadcast/local/intent-codec.js';
import { listenForBroadcasts, ReceiverError } from '../../../src/broadcast/local/receiver.js';
import { defaultReceiversDir, RECEIVERS_DIR_ENV, resolveReceiversDir } from '../../../src/broadcast/local/receivers-dir.js';
import { closeDatagramSocket, createDatagramSocket, errnoName, sendDatagram } from '../../../src/broadcast/local/unix-dgram.js';
import { makeTempDir, removeTempDir } from '../../helpers/temp-dir.js';
import { broadcast, collectingReceiver, waitFor } from './helpers.js';

let base: string;

beforeEach(() => {
  base = makeTempDir('aoob-rx-');
});

afterEach(() => {
  removeTempDir(base);
});

async function sendRaw(path: string, bytes: Buffer): Promise<number> {
  const socket = createDatagramSocket();
  try {
    return await sendDatagram(socket, bytes, path);
  } finally {
    closeDatagramSocket(socket);
  }
}

describe('resolveReceiversDir', () => {
  it('flag, then ANBOX_OOB_RECEIVERS_DIR, then <runtime dir>/receivers', () => {
    expect(resolveReceiversDir('rel/dir', { env: { [RECEIVERS_DIR_ENV]: '/e' } })).toEqual({ dir: join(process.cwd(), 'rel/dir'), source: 'flag' });
    expect(resolveReceiversDir(undefined, { env: { [RECEIVERS_DIR_ENV]: '/e', XDG_RUNTIME_DIR: '/x' } })).toEqual({ dir: '/e', source: 'env' });
    expect(resolveReceiversDir(undefined, { env: { XDG_RUNTIME_DIR: '/x' } })).toEqual({ dir: '/x/anbox/receivers', source: 'default' });
    expect(defaultReceiversDir({ env: {}, uid: 1234, isWritable: () => true })).toBe('/run/user/1234/anbox/receivers');
    expect(defaultReceiversDir({ env: {}, uid: 1234, isWritable: () => false, tmp: '/t' })).toBe('/t/anbox-oob-1234/receivers');
  });
});

describe('listenForBroadcasts', () => {
  it('binds a 0600 socket in a 0700 directory it creates, receives, and unlinks it on close', async () => {
    const dir = join(base, 'new', 'receivers');
    const r = await collectingReceiver(dir);
    expect(r.listener.path.startsWith(`${dir}/${process.pid}-`)).toBe(true);
    expect(r.listener.path).toMatch(/-[0-9a-f]{8}\.sock$/);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const stats = lstatSync(r.listener.path);
    expect(stats.isSocket()).toBe(true);
    expect(stats.mode & 0o777).toBe(0o600);

    expect(await sendRaw(r.listener.path, encodeChannelStatusIntent(broadcast(9, 'destroyed', ['a', 'b'])))).toBe(0);
    await waitFor(() => r.received.length === 1, 'the broadcast');
    expect(r.received[0]).toMatchObject({ sequence: 9, event: 'destroyed', names: ['a', 'b'] });

    await r.listener.close();
    await r.listener.close();
    expect(existsSync(r.listener.path)).toBe(false);
    expect(errnoName(await sendRaw(r.listener.path, Buffer.from('x')))).toBe('ENOENT');
  });

  it('ignores empty datagrams, reports undecodable ones and keeps listening', async () => {
    const r = await collectingReceiver(base);
    expect(await sendRaw(r.listener.path, Buffer.alloc(0))).toBe(0);
    expect(await sendRaw(r.listener.path, Buffer.from('ff', 'hex'))).toBe(0);
    expect(await sendRaw(r.listener.path, encodeChannelStatusIntent(broadcast(1)))).toBe(0);
    await waitFor(() => r.received.length === 1, 'the valid broadcast');
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toBeInstanceOf(IntentCodecError);
    expect((r.errors[0] as IntentCodecError).code).toBe('MALFORMED_INTENT');
    await r.listener.close();
  });

  it('an exception in onBroadcast goes to onError, and the next broadcast still arrives', async () => {
    const errors: Error[] = [];
    const got: number[] = [];
    const listener = await listenForBroadcasts({
      dir: base,
      onBroadcast(b) {
        got.push(b.sequence);
        if (b.sequence === 1) throw new Error('handler failed');
      },
      onError: (e) => errors.push(e),
    });
    await sendRaw(listener.path, encodeChannelStatusIntent(broadcast(1)));
    await sendRaw(listener.path, encodeChannelStatusIntent(broadcast(2)));
    await waitFor(() => got.length === 2, 'two broadcasts');
    expect(errors.map((e) => e.message)).toEqual(['handler failed']);
    await listener.close();
  });

  it('refuses paths that do not fit sun_path, taken names and unusable directories', async () => {
    const long = join(base, 'x'.repeat(100));
    const tooLong = await listenForBroadcasts({ dir: long, onBroadcast: () => undefined }).catch((e: unknown) => e);
    expect(tooLong).toBeInstanceOf(ReceiverError);
    expect((tooLong as ReceiverError).code).toBe('PATH_TOO_LONG');

    const first = await collectingReceiver(base, 'same.sock');
    const taken = await listenForBroadcasts({ dir: base, name: 'same.sock', onBroadcast: () => undefined }).catch((e: unknown) => e);
    expect((taken as ReceiverError).code).toBe('BIND_FAILED');
    expect((taken as ReceiverError).message).toContain('EADDRINUSE');
    await first.listener.close();

    writeFileSync(join(base, 'file'), '');
    const notDir = await listenForBroadcasts({ dir: join(base, 'file', 'sub'), onBroadcast: () => undefined }).catch((e: unknown) => e);
    expect((notDir as ReceiverError).code).toBe('DIRECTORY_UNUSABLE');
  });

  it('keeps an existing directory mode as it is', async () => {
    const dir = join(base, 'shared');
    mkdirSync(dir, { mode: 0o750 });
    const r = await collectingReceiver(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o750);
    await r.listener.close();
  });
});

describe('unix-dgram facade', () => {
  it('names errno values the way the sink classifies them', async () => {
    expect(errnoName(-111)).toBe('ECONNREFUSED');
    expect(errnoName(11)).toBe('EAGAIN');
    expect(errnoName(1)).toBe('congestion');
    expect(errnoName('EPIPE')).toBe('EPIPE');
    writeFileSync(join(base, 'regular'), '');
    // A regular file refuses like a socket nobody is bound to: the sink only sends to sockets.
    expect(errnoName(await sendRaw(join(base, 'regular'), Buffer.from('x')))).toBe('ECONNREFUSED');
  });
});
