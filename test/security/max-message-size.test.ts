/**
 * Issue 9, item 8: a hostile WebRTC peer's `a=max-message-size:1` turned 4 MiB of app data into
 * 4.19M messages (platform RSS 69 → 559 MB, seconds of CPU per 4 MiB). Now a channel whose peer
 * advertises less than MIN_REMOTE_MAX_MESSAGE_BYTES (1 KiB) is refused with a clear reason (the
 * session goes on), a peer at the floor is served with messages within its limit, and the bridge
 * bounds the messages it queues in a channel as well as the bytes.
 * The peers are real node-datachannel peers whose answer SDP is rewritten.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChannelBridge } from '../../src/platform/bridge/channel-bridge.js';
import { MIN_REMOTE_MAX_MESSAGE_BYTES } from '../../src/platform/bridge/utf8-chunker.js';
import { captureLogger, connectApp as connectBridgeApp, FakePort, makeDir, removeDir, sleep, waitFor as waitForBridge } from '../platform/bridge/bridge-helpers.js';
import { connectApp, TEST_TOKEN, waitFor } from '../platform/helpers/harness.js';
import { useHarnessPerTest } from '../platform/helpers/harness-per-test.js';
import { StreamClient } from '../platform/helpers/stream-client.js';

const withMaxMessageSize = (size: number) => (sdp: string) => {
  if (!/a=max-message-size:\d+/.test(sdp)) throw new Error(`no a=max-message-size in the client's SDP:\n${sdp}`);
  return sdp.replace(/a=max-message-size:\d+/g, `a=max-message-size:${size}`);
};

describe('a peer advertising a tiny a=max-message-size', () => {
  const { h, clients } = useHarnessPerTest();

  it('a=max-message-size:1: the channel is refused with a reason naming the floor; no socket; the session goes on', async () => {
    const client = await StreamClient.start({ gateway: h.platform.url, token: TEST_TOKEN, channels: ['foo'], rewriteLocalSdp: withMaxMessageSize(1) });
    clients.push(client);
    await client.connected;
    const rejected = await h.waitForEvent('channel-rejected', (e) => e.channel === 'foo');
    expect(rejected.reason).toMatch(/max-message-size:1 is below the 1024-byte floor/);
    expect(h.lines.some((l) => l.event === 'channel.rejected' && /max-message-size:1/.test(String(l.reason)))).toBe(true);
    expect(existsSync(join(h.socketDir, 'webrtc_data_foo'))).toBe(false);
    expect(h.platform.stats.channelsOpened).toBe(0);
    expect(h.platform.stats.active).not.toBeNull();
  });

  it(`a=max-message-size:${MIN_REMOTE_MAX_MESSAGE_BYTES} (the floor): served, every message within the peer's limit`, async () => {
    const client = await StreamClient.start({
      gateway: h.platform.url,
      token: TEST_TOKEN,
      channels: ['foo'],
      rewriteLocalSdp: withMaxMessageSize(MIN_REMOTE_MAX_MESSAGE_BYTES),
    });
    clients.push(client);
    await client.channel('foo').opened;
    await waitFor(() => existsSync(join(h.socketDir, 'webrtc_data_foo')), 'the channel socket');
    const app = await connectApp(join(h.socketDir, 'webrtc_data_foo'));
    const data = Buffer.alloc(64 * 1024, 'a');
    app.socket.write(data);
    const foo = client.channel('foo');
    await foo.until(() => foo.bytes().length === data.length, '64 KiB from the app');
    expect(foo.bytes().equals(data)).toBe(true);
    for (const m of foo.messages) expect(typeof m === 'string' ? Buffer.byteLength(m) : m.length).toBeLessThanOrEqual(MIN_REMOTE_MAX_MESSAGE_BYTES);
    app.socket.destroy();
  });
});

describe('queued messages are bounded, not only bytes', () => {
  it('tiny writes to a channel that does not drain: reading pauses at maxQueuedMessages; resumes once drained; nothing lost', async () => {
    const dir = makeDir();
    const { log } = captureLogger();
    const port = new FakePort();
    port.buffered = 1; // a peer that reads nothing: the channel's buffer is never seen empty
    const bridge = await ChannelBridge.open({ socketDir: dir, name: 'tiny', port, log, maxQueuedMessages: 50, carryFlushMs: 0 });
    try {
      const app = await connectBridgeApp(bridge.path);
      const writes = 400;
      for (let i = 0; i < writes; i++) {
        app.socket.write('x');
        await sleep(1); // separate reads: separate messages
      }
      await sleep(200);
      // Each read while not paused is one message; past 50 the socket is paused.
      expect(port.messages.length).toBeGreaterThan(50);
      expect(port.messages.length).toBeLessThanOrEqual(60);
      expect(bridge.stats.messageBackpressurePauses).toBe(1);
      port.buffered = 0; // the peer drained everything
      await waitForBridge(() => port.bytes().length === writes, `all ${writes} bytes after the drain (got ${port.bytes().length})`);
      app.socket.destroy();
    } finally {
      await bridge.close('test over');
      removeDir(dir);
    }
  });
});
