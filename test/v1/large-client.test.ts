/**
 * A 1 MiB v1 message, end to end, to a client that accepts it: a real node-datachannel peer (the
 * test StreamClient) configured with a 4 MiB max message size, as Firefox advertises far more than
 * Chromium's 262144. The platform is the real one in this process; the message is checked byte for
 * byte as one text message on `control`. With the default (256 KiB) client the same message is
 * refused with TOO_LARGE_FOR_CLIENT, not split.
 */
import { describe, expect, it } from 'vitest';
import { MAX_V1_DATA_BYTES, MAX_V1_TYPE_BYTES, type V1SendResult } from '../../src/v1/v1-message.js';
import { TEST_TOKEN, waitFor } from '../platform/helpers/harness.js';
import { useHarnessPerTest } from '../platform/helpers/harness-per-test.js';
import { StreamClient } from '../platform/helpers/stream-client.js';

const { h, clients } = useHarnessPerTest();

async function connect(maxMessageSize?: number): Promise<StreamClient> {
  const client = await StreamClient.start({ gateway: h.platform.url, token: TEST_TOKEN, channels: ['foo'], maxMessageSize });
  clients.push(client);
  await client.connected;
  await client.control.opened;
  await waitFor(() => h.platform.stats.active?.state === 'connected', 'the platform to see the peer connected');
  return client;
}

const isNoSession = (result: V1SendResult): boolean => !result.sent && result.code === 'NO_SESSION';

/**
 * Sends once the platform has seen the control channel open: it learns of it (onDataChannel) a
 * moment after the client does, and until then answers NO_SESSION having sent nothing, so asking
 * again is safe.
 */
async function sendWhenControlOpen(type: string, data: string): Promise<V1SendResult> {
  let result = h.platform.sendV1Message(type, data);
  await waitFor(() => !isNoSession(result) || !isNoSession((result = h.platform.sendV1Message(type, data))), 'the platform to see control open');
  return result;
}

describe('v1 messages at Anbox\'s limits', () => {
  it('1 MiB of data and a 256 KiB type reach a client whose max-message-size allows it, as one text message', async () => {
    const client = await connect(4 * 1024 * 1024);
    const type = 't'.repeat(MAX_V1_TYPE_BYTES);
    const data = 'd'.repeat(MAX_V1_DATA_BYTES - 3) + '✓';
    expect(Buffer.byteLength(data)).toBe(MAX_V1_DATA_BYTES);
    // Anbox's limits are exactly reached; one more byte of either is refused.
    expect(h.platform.sendV1Message(type + 't', data)).toMatchObject({ sent: false, code: 'TYPE_TOO_LARGE' });
    expect(h.platform.sendV1Message(type, data + 'd')).toMatchObject({ sent: false, code: 'DATA_TOO_LARGE' });
    expect(await sendWhenControlOpen(type, data)).toEqual({ sent: true });
    expect(h.platform.sendV1Message('small', 'after')).toEqual({ sent: true });
    await waitFor(() => client.control.messages.length >= 2, 'two control messages', 30_000);
    const [big, small] = client.control.messages;
    expect(typeof big).toBe('string');
    const parsed = JSON.parse(big as string) as { type: string; data: string };
    expect(parsed.type === type).toBe(true);
    expect(parsed.data === data).toBe(true);
    expect(JSON.parse(small as string)).toEqual({ type: 'small', data: 'after' });
  });

  it("the same 1 MiB message to a client with libdatachannel's default limit is refused, not split", async () => {
    const client = await connect();
    expect(await sendWhenControlOpen('big', 'd'.repeat(MAX_V1_DATA_BYTES))).toMatchObject({ sent: false, code: 'TOO_LARGE_FOR_CLIENT' });
    expect(h.platform.sendV1Message('small', 'after')).toEqual({ sent: true });
    await waitFor(() => client.control.messages.length >= 1, 'the small message');
    expect(client.control.messages).toEqual([JSON.stringify({ type: 'small', data: 'after' })]);
  });
});
