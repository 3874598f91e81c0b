import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import nodeDataChannel, { type DataChannel, type PeerConnection } from 'node-datachannel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelBridge } from '../../../src/platform/bridge/channel-bridge.js';
import { NodeDataChannelPort, toBrowserMessage } from '../../../src/platform/bridge/node-datachannel-port.js';
import { CHROMIUM_MAX_MESSAGE_BYTES } from '../../../src/platform/bridge/utf8-chunker.js';
import { captureLogger, connectApp, makeDir, removeDir, waitFor, type AppClient } from './bridge-helpers.js';

/**
 * The bridge with REAL node-datachannel: two PeerConnections in this process, connected over
 * loopback, descriptions and candidates exchanged directly. "platform" plays the emulator (its side
 * of the channel goes through NodeDataChannelPort into a ChannelBridge), "browser" plays the web
 * client. Every object is kept referenced (a collected DataChannel silently stalls the transfer) and
 * every callback is guarded (a throw inside one aborts the process): failures are collected and
 * asserted empty.
 */

const MiB = 1024 * 1024;
const TOTAL = 20 * MiB;

const callbackErrors: string[] = [];
const nativeLog: string[] = [];

function guard<A extends unknown[]>(what: string, callback: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      callback(...args);
    } catch (error) {
      callbackErrors.push(`${what}: ${error instanceof Error ? error.stack : String(error)}`);
    }
  };
}

let dir: string;
let platform: PeerConnection;
let browser: PeerConnection;
let browserChannel: DataChannel;
let platformChannel: DataChannel;
let bridge: ChannelBridge;
let app: AppClient | undefined;

/** Waits for 'drain'; fails at once (with the bridge's stats) if the connection closes instead. */
function drained(client: AppClient): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      client.socket.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      client.socket.off('drain', onDrain);
      reject(new Error(`the app connection closed while writing; bridge stats ${JSON.stringify(bridge.stats)}`));
    };
    client.socket.once('drain', onDrain);
    client.socket.once('close', onClose);
  });
}

/** Text and binary blocks, so that both kinds of message travel both ways. */
function textPool(bytes: number): Buffer {
  const alphabet = ['a', 'b', 'c', ' ', '\n', 'é', 'ü', '€', 'ऄ', '😀', '🎉', '\u{10FFFF}'];
  const random = randomBytes(bytes);
  const parts: string[] = [];
  for (let i = 0, size = 0; size < bytes - 4; i++) {
    const character = alphabet[random[i % random.length] % alphabet.length];
    parts.push(character);
    size += Buffer.byteLength(character);
  }
  return Buffer.from(parts.join(''), 'utf8');
}

beforeAll(async () => {
  nodeDataChannel.initLogger('Warning', (level, message) => void nativeLog.push(`${level}: ${message}`));
  dir = makeDir();
  platform = new nodeDataChannel.PeerConnection('platform', { iceServers: [] });
  browser = new nodeDataChannel.PeerConnection('browser', { iceServers: [] });
  const wire = (from: PeerConnection, to: PeerConnection, name: string) => {
    from.onLocalDescription(guard(`${name} description`, (sdp, type) => to.setRemoteDescription(sdp, type)));
    from.onLocalCandidate(guard(`${name} candidate`, (candidate, mid) => to.addRemoteCandidate(candidate, mid)));
  };
  wire(platform, browser, 'platform');
  wire(browser, platform, 'browser');

  // As with the SDK, the browser creates the channel; the platform receives it, open.
  const received = new Promise<DataChannel>((resolve) => platform.onDataChannel(guard('onDataChannel', (dc) => resolve(dc))));
  browserChannel = browser.createDataChannel('foo');
  const browserOpen = new Promise<void>((resolve) => browserChannel.onOpen(guard('browser onOpen', () => resolve())));
  platformChannel = await received;
  await browserOpen;

  const { log } = captureLogger();
  bridge = await ChannelBridge.open({ socketDir: dir, name: platformChannel.getLabel(), port: new NodeDataChannelPort(platformChannel), log });
  platformChannel.onMessage(guard('platform onMessage', (message) => bridge.handleBrowserMessage(toBrowserMessage(message))));
  platformChannel.onBufferedAmountLow(guard('platform onBufferedAmountLow', () => bridge.handleBufferedAmountLow()));
}, 30_000);

afterAll(async () => {
  app?.socket.destroy();
  await bridge?.close('test over');
  browserChannel?.close();
  platformChannel?.close();
  browser?.close();
  platform?.close();
  nodeDataChannel.cleanup(); // vitest runs each file in its own fork: nothing else here uses the library
  removeDir(dir);
});

describe('ChannelBridge over real node-datachannel', () => {
  it('the adapter reports the remote limits and the bridge listens', () => {
    expect(platformChannel.getLabel()).toBe('foo');
    expect(new NodeDataChannelPort(platformChannel).maxMessageSize()).toBe(CHROMIUM_MAX_MESSAGE_BYTES);
    expect(existsSync(bridge.path)).toBe(true);
  });

  it('moves 20 MB each way at once between a socket client and the remote peer, byte for byte', async () => {
    // Socket → browser: 1 MiB blocks alternating UTF-8 text and random bytes, written in random sizes.
    const text = textPool(MiB);
    const appBlocks: Buffer[] = [];
    for (let i = 0; i < TOTAL / MiB; i++) appBlocks.push(i % 2 === 0 ? text : randomBytes(MiB));
    const appPayload = Buffer.concat(appBlocks);
    const appDigest = createHash('sha256').update(appPayload).digest('hex');

    // Browser → socket: text messages (strings, ≤ 240 KB) and binary messages (≤ 256 KiB), alternating.
    const browserMessages: (string | Buffer)[] = [];
    const browserHash = createHash('sha256');
    let browserTotal = 0;
    const textString = text.toString('utf8');
    const codePoints = [...textString];
    for (let i = 0; browserTotal < TOTAL; i++) {
      let message: string | Buffer;
      if (i % 2 === 0) {
        const start = Math.floor(Math.random() * (codePoints.length - 60_000));
        message = codePoints.slice(start, start + 1 + Math.floor(Math.random() * 60_000)).join('');
      } else {
        message = randomBytes(1 + Math.floor(Math.random() * CHROMIUM_MAX_MESSAGE_BYTES));
      }
      const bytes = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
      expect(bytes.length).toBeLessThanOrEqual(CHROMIUM_MAX_MESSAGE_BYTES);
      browserHash.update(bytes);
      browserTotal += bytes.length;
      browserMessages.push(message);
    }
    const browserDigest = browserHash.digest('hex');

    // The browser's receiving side.
    const atBrowser = createHash('sha256');
    let atBrowserBytes = 0;
    let textMessages = 0;
    let binaryMessages = 0;
    let largest = 0;
    browserChannel.onMessage(
      guard('browser onMessage', (message) => {
        const normalized = toBrowserMessage(message);
        const bytes = typeof normalized === 'string' ? Buffer.from(normalized, 'utf8') : normalized;
        if (typeof normalized === 'string') textMessages++;
        else binaryMessages++;
        largest = Math.max(largest, bytes.length);
        atBrowser.update(bytes);
        atBrowserBytes += bytes.length;
      }),
    );

    // The app: connects, reads everything, writes its payload honouring its own socket's backpressure.
    app = await connectApp(bridge.path, { allowHalfOpen: true });
    const client = app;
    const atApp = createHash('sha256');
    let atAppBytes = 0;
    client.socket.removeAllListeners('data');
    let pump = () => undefined as void;
    client.socket.on('data', (chunk: Buffer) => {
      atApp.update(chunk);
      atAppBytes += chunk.length;
      pump();
    });

    const started = process.hrtime.bigint();
    let appWriteDone = 0n;
    let browserSendDone = 0n;
    let appDone = 0n;
    let browserDone = 0n;

    const writeApp = async () => {
      for (let offset = 0; offset < appPayload.length; ) {
        const size = 1 + Math.floor(Math.random() * 200 * 1024);
        const piece = appPayload.subarray(offset, offset + size);
        offset += piece.length;
        if (!client.socket.write(piece)) await drained(client);
      }
      client.socket.end(); // EOF flushes whatever the chunker still carries
      appWriteDone = process.hrtime.bigint();
    };

    // The browser sends with its own flow control, like a careful web page, and keeps at most WINDOW
    // bytes in flight to the app. Data channels have no receive-side flow control: without a window,
    // a stall of this process's event loop (a loaded CI machine) lets node-datachannel deliver most
    // of the 20 MB in one batch, and an app in this same process cannot read while the batch is
    // written, so the bridge would rightly judge it "not reading" (its own tests cover that).
    const HIGH = 4 * MiB;
    const WINDOW = 4 * MiB;
    let next = 0;
    let sentBytes = 0;
    pump = guard('browser pump', () => {
      while (next < browserMessages.length && browserChannel.bufferedAmount() < HIGH && sentBytes - atAppBytes < WINDOW) {
        const message = browserMessages[next++];
        sentBytes += typeof message === 'string' ? Buffer.byteLength(message, 'utf8') : message.length;
        if (typeof message === 'string') browserChannel.sendMessage(message);
        else browserChannel.sendMessageBinary(message);
      }
      if (next === browserMessages.length && browserSendDone === 0n) browserSendDone = process.hrtime.bigint();
    });
    browserChannel.setBufferedAmountLowThreshold(MiB);
    browserChannel.onBufferedAmountLow(pump);

    pump();
    await writeApp();
    await waitFor(
      () => {
        if (appDone === 0n && atBrowserBytes >= appPayload.length) appDone = process.hrtime.bigint();
        if (browserDone === 0n && atAppBytes >= browserTotal) browserDone = process.hrtime.bigint();
        return appDone !== 0n && browserDone !== 0n;
      },
      `both directions (browser got ${atBrowserBytes}/${appPayload.length}, app got ${atAppBytes}/${browserTotal})`,
      90_000,
    );

    expect(atBrowserBytes).toBe(appPayload.length);
    expect(atAppBytes).toBe(browserTotal);
    expect(atBrowser.digest('hex')).toBe(appDigest);
    expect(atApp.digest('hex')).toBe(browserDigest);
    expect(textMessages).toBeGreaterThan(0);
    expect(binaryMessages).toBeGreaterThan(0);
    expect(largest).toBeLessThanOrEqual(CHROMIUM_MAX_MESSAGE_BYTES);
    const stats = bridge.stats;
    expect(stats.bytesToBrowser).toBe(appPayload.length);
    expect(stats.bytesToApp).toBe(browserTotal);
    expect(stats.droppedFromBrowserBytes).toBe(0);
    expect(stats.droppedToBrowserBytes).toBe(0);
    expect(stats.connectionsClosedForOverflow).toBe(0);
    expect(stats.sendFailures).toBe(0);
    expect(client.error).toBeUndefined();
    expect(callbackErrors).toEqual([]);

    const seconds = (end: bigint) => Number(end - started) / 1e9;
    const mbps = (bytes: number, end: bigint) => (bytes / 1e6 / seconds(end)).toFixed(1);
    // Informational only: no timed assertion.
    console.log(
      `[bridge 20 MB each way, same process] socket→browser ${mbps(appPayload.length, appDone)} MB/s (${seconds(appDone).toFixed(2)} s), ` +
        `browser→socket ${mbps(browserTotal, browserDone)} MB/s (${seconds(browserDone).toFixed(2)} s); ` +
        `messages to browser ${stats.messagesToBrowser} (text ${stats.textMessagesToBrowser}, binary ${stats.binaryMessagesToBrowser}), ` +
        `backpressure pauses ${stats.backpressurePauses}; app write done ${seconds(appWriteDone || started).toFixed(2)} s, browser send done ${seconds(browserSendDone || started).toFixed(2)} s`,
    );
  }, 120_000);

  it('closing the bridge removes the socket and the app sees EOF', async () => {
    const client = app;
    expect(client).toBeDefined();
    await bridge.close('channel closed');
    expect(existsSync(bridge.path)).toBe(false);
    await waitFor(() => client?.ended === true, 'EOF at the app');
    expect(callbackErrors).toEqual([]);
    expect(nativeLog.filter((line) => line.startsWith('Error') || line.startsWith('Fatal'))).toEqual([]);
  });
});
