/**
 * The headless web client (connectWebClient, node-datachannel) against the real platform
 * (Platform.start in this process, fresh socket dir, free port): 50 MB of random bytes in EACH
 * direction AT ONCE through the channel socket `<socketDir>/webrtc_data_bulk`, compared by SHA-256.
 *
 * - The app side is a `net` connection to the channel socket: it writes 50 MB (randomBytes in 64 KiB
 *   chunks, pacing on 'drain') and reads continuously (the platform closes an app connection that
 *   lets more than 16 MiB pile up unread).
 * - The client sends 50 MB (randomBytes in 256 KiB chunks) with `channel.send()`, which paces on the
 *   channel's bufferedAmount (resolves once the data is handed over below the high-water mark).
 * - The platform sends socket bytes that are valid UTF-8 as text messages, others as binary: the
 *   received stream is rebuilt from text messages with Buffer.from(text, 'utf8') (exact for valid
 *   UTF-8) and from binary messages as is.
 *
 * No timed assertion: the throughput is logged for information only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { drained } from '../helpers/drained.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectWebClient, type WebClient, type WebClientCloseInfo } from '../../src/headless-client/web-client.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { startTestPlatform, waitFor, type TestPlatform } from './helpers.js';
import { isListening } from '../helpers/listening.js';

const TOKEN = 'e2e-bulk-token';
const MiB = 1024 * 1024;
const TOTAL = 50 * MiB;
const SOCKET_CHUNK = 64 * 1024;
const CLIENT_CHUNK = 256 * 1024;

let dir: string | undefined;
let socketDir: string;
let tp: TestPlatform | undefined;
let client: WebClient | undefined;
let app: Socket | undefined;

beforeAll(async () => {
  dir = makeTempDir('aoob-bulk-');
  socketDir = join(dir, 'sockets');
  tp = await startTestPlatform(socketDir, TOKEN);
});

afterAll(async () => {
  app?.destroy();
  await client?.close({ flushTimeoutMs: 0 });
  await tp?.close();
  if (dir) removeTempDir(dir);
});


describe('the headless client against the real platform', () => {
  it('moves 50 MB each way at once between the client and a socket connection, byte for byte (SHA-256)', async () => {
    const platform = tp!.platform;
    client = await connectWebClient({ gateway: platform.url, token: platform.token, channels: ['bulk'], openTimeoutMs: 60_000 });
    await client.opened;
    let clientClosed: WebClientCloseInfo | undefined;
    void client.closed.then((info) => (clientClosed = info));
    const channel = client.channel('bulk');

    const path = join(socketDir, 'webrtc_data_bulk');
    await waitFor(() => isListening(path), `${path} to exist`);
    const socket = createConnection(path);
    app = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    let appError: Error | undefined;
    let appClosed = false;
    socket.on('error', (error) => (appError = error));
    socket.on('close', () => (appClosed = true));

    // Receivers: hash as the data arrives, read continuously.
    const atClient = createHash('sha256');
    let atClientBytes = 0;
    let textMessages = 0;
    let binaryMessages = 0;
    const started = performance.now();
    let clientDoneAt = 0;
    let appDoneAt = 0;
    channel.on('message', (message) => {
      const bytes = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
      if (typeof message === 'string') textMessages++;
      else binaryMessages++;
      atClient.update(bytes);
      atClientBytes += bytes.length;
      if (atClientBytes >= TOTAL && clientDoneAt === 0) clientDoneAt = performance.now();
    });
    const atApp = createHash('sha256');
    let atAppBytes = 0;
    socket.on('data', (chunk: Buffer) => {
      atApp.update(chunk);
      atAppBytes += chunk.length;
      if (atAppBytes >= TOTAL && appDoneAt === 0) appDoneAt = performance.now();
    });

    // Senders, both at once.
    const sentByApp = createHash('sha256');
    const writeApp = async () => {
      for (let offset = 0; offset < TOTAL; ) {
        const chunk = randomBytes(Math.min(SOCKET_CHUNK, TOTAL - offset));
        offset += chunk.length;
        sentByApp.update(chunk);
        if (!socket.write(chunk)) await drained(socket);
      }
    };
    const sentByClient = createHash('sha256');
    const sendClient = async () => {
      for (let offset = 0; offset < TOTAL; ) {
        const chunk = randomBytes(Math.min(CLIENT_CHUNK, TOTAL - offset));
        offset += chunk.length;
        sentByClient.update(chunk);
        await channel.send(chunk); // paced: resolves once handed over below the high-water mark
      }
    };
    await Promise.all([writeApp(), sendClient()]);

    const progress = () =>
      `client received ${atClientBytes}/${TOTAL}, app received ${atAppBytes}/${TOTAL}; app closed ${appClosed} ${appError?.message ?? ''}; ` +
      `client closed ${JSON.stringify(clientClosed)}\nplatform log:\n${tp!.tail(60)}`;
    await waitFor(
      () => {
        if (appClosed || clientClosed) throw new Error(`a side closed before the transfer finished: ${progress()}`);
        return atClientBytes >= TOTAL && atAppBytes >= TOTAL;
      },
      'both directions to finish',
      240_000,
      progress,
    );

    expect(atClientBytes).toBe(TOTAL);
    expect(atAppBytes).toBe(TOTAL);
    expect(atClient.digest('hex')).toBe(sentByApp.digest('hex'));
    expect(atApp.digest('hex')).toBe(sentByClient.digest('hex'));
    expect(binaryMessages).toBeGreaterThan(0);
    expect(appError).toBeUndefined();
    const problems = tp!.logs.filter((r) => typeof r.level === 'number' && r.level >= 40);
    expect(problems, 'warnings or errors in the platform log').toEqual([]);

    const seconds = (at: number) => (at - started) / 1000;
    console.log(
      `[e2e headless 50 MB each way at once] socket→client ${(TOTAL / 1e6 / seconds(clientDoneAt)).toFixed(1)} MB/s (${seconds(clientDoneAt).toFixed(1)} s), ` +
        `client→socket ${(TOTAL / 1e6 / seconds(appDoneAt)).toFixed(1)} MB/s (${seconds(appDoneAt).toFixed(1)} s); ` +
        `messages to the client: ${textMessages} text, ${binaryMessages} binary`,
    );

    // A clean end: the client's close ends the session; the socket is removed and the app sees EOF.
    await client.close();
    await waitFor(() => !existsSync(path), `${path} to be removed`);
    await waitFor(() => appClosed || socket.readableEnded, 'EOF at the app');
    expect(platform.stats.active).toBeNull();
  }, 300_000);
});
