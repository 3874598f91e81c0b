/**
 * Every log line a daemon writes is JSON without a duplicate key (pino child bindings plus the same
 * field in a call once gave `"channel":"foo","channel":"foo"`; JSON.parse hides it, other parsers
 * keep the first or refuse). Run through a whole channel life: open, app connects, data, app
 * replaced, close. Also: a wrong type in the config file is a usage error naming the key.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectWebClient, type WebClient } from '../../src/headless-client/web-client.js';
import { waitFor } from '../broadcast/helpers.js';
import { runCli } from '../helpers/cli.js';
import { logEvent, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { isListening } from '../helpers/listening.js';

const dir = makeTempDir('aoob-dupkey-');
let daemon: DaemonHandle | undefined;
let client: WebClient | undefined;

afterAll(async () => {
  await client?.close({ flushTimeoutMs: 0 }).catch(() => undefined);
  await daemon?.stop('SIGKILL');
  removeTempDir(dir);
});

/** The keys that occur twice in one object anywhere in `text` (one JSON value), as "path.key". */
export function duplicateKeys(text: string): string[] {
  const found: string[] = [];
  let i = 0;
  const ws = () => {
    while (/\s/.test(text[i] ?? '')) i++;
  };
  const str = (): string => {
    let out = '';
    i++; // opening quote
    while (text[i] !== '"') {
      if (text[i] === '\\') {
        out += text.slice(i, i + 2);
        i += 2;
      } else out += text[i++];
      if (i > text.length) throw new Error('unterminated string');
    }
    i++;
    return out;
  };
  const value = (path: string): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const keys = new Set<string>();
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        const key = str();
        if (keys.has(key)) found.push(`${path}${key}`);
        keys.add(key);
        ws();
        i++; // ':'
        value(`${path}${key}.`);
        ws();
        if (text[i++] === '}') return;
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value(path);
        ws();
        if (text[i++] === ']') return;
      }
    } else if (c === '"') str();
    else while (i < text.length && !/[,}\]\s]/.test(text[i]!)) i++;
  };
  value('');
  return found;
}

describe('daemon log lines', () => {
  it('the scanner finds a duplicate key (the check can fail)', () => {
    expect(duplicateKeys('{"a":1,"channel":"foo","channel":"foo","b":{"x":[1,{"y":2,"y":3}]}}')).toEqual(['channel', 'b.x.y']);
    expect(duplicateKeys('{"a":"}\\"","b":[{},[]]}')).toEqual([]);
  });

  it('carry no duplicate key through a channel\'s whole life', async () => {
    daemon = await startDaemon(dir, ['--log-level', 'debug'], { command: 'serve', env: { ANBOX_OOB_TOKEN: 'test-token-0123456789' } });
    client = await connectWebClient({ gateway: String(logEvent(daemon, 'platform.started')?.gateway), token: 'test-token-0123456789', channels: ['foo'] });
    await client.opened;
    const socketPath = join(daemon.socketDir, 'webrtc_data_foo');
    await waitFor(() => isListening(socketPath), 'the channel socket');
    const connect = () =>
      new Promise<Socket>((resolve, reject) => {
        const s = createConnection(socketPath);
        s.once('connect', () => resolve(s)).once('error', reject);
      });
    const first = await connect();
    first.write('hello\n');
    const second = await connect(); // replaces the first
    client.channel('foo').send('to the app\n');
    await waitFor(() => daemon!.output().includes('"event":"channel.app_connected"'), 'app connected');
    first.destroy();
    second.destroy();
    await client.close();
    client = undefined;
    await waitFor(() => daemon!.output().includes('"event":"channel.closed"'), 'channel closed');
    expect(await daemon.stop()).toBe(0);
    const lines = daemon.output().split('\n').filter((l) => l.startsWith('{'));
    expect(lines.filter((l) => l.includes('"channel":"foo"')).length).toBeGreaterThan(3);
    const withDuplicates = lines.map((l) => ({ l, keys: duplicateKeys(l) })).filter((x) => x.keys.length > 0);
    expect(withDuplicates).toEqual([]);
  });
});

describe('config file types', () => {
  it('refuses {"listen": 9000} as a usage error (exit 2) naming the key', async () => {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ listen: 9000 }));
    const result = await runCli(['serve', '--config', file, '--socket-dir', join(dir, 's2'), '--service-socket', join(dir, 's2.sock')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('"listen": must be a string (e.g. "127.0.0.1:9000"), not number 9000');
    writeFileSync(file, JSON.stringify({ 'broadcast-window': 0 }));
    const numeric = await runCli(['proxy', '--config', file, '--socket-dir', join(dir, 's3'), '--service-socket', join(dir, 's3.sock'), '--help']);
    expect(numeric.code).toBe(0);
  });
});
