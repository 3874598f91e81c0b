import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataProxyClient } from '../../src/client/data-proxy-client.js';

/**
 * An app's connect(channel) through a data-proxy service, retried every 100 ms while the channel
 * is not up yet (it appears once the peer's data channel opens), for at most `timeoutMs`; then the
 * last refusal, naming `who`. The service connection is closed either way: the channel socket is
 * the app's own descriptor.
 */
export async function connectAppWhenUp(servicePath: string, channel: string, who: string, timeoutMs: number): Promise<Socket> {
  const client = new DataProxyClient({ servicePath });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        return await client.connect(channel);
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`connect(${channel}) through ${who}'s data-proxy service: ${String(error)}`);
        await sleep(100);
      }
    }
  } finally {
    client.close();
  }
}
