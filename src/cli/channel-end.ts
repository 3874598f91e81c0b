import { DataProxyClient } from '../client/data-proxy-client.js';
import { Status } from '../parcel/status.js';
import { decodeStatusReply, encodeStatusRequest, STATUS_SERVICE_NAME, TRANSACTION_getStatus } from '../service/status-service.js';

/** How long `connect` keeps asking before it settles on a less precise explanation. */
const EXPLAIN_WITHIN_MS = 1_000;
const EXPLAIN_POLL_MS = 50;
/** After the channel went: how long to watch whether the daemon is going too (a stopping serve). */
const DAEMON_STOP_WAIT_MS = 500;

/**
 * Why the channel ended a `connect` (the platform's EOF looks the same in every case), asked of the
 * daemon's status service — never by connecting to the channel, which would replace the app:
 * - the daemon does not answer: it stopped;
 * - the channel is gone: the browser closed it or the session ended;
 * - the channel is there with an app attached: a newer connection replaced this one.
 * The daemon's view can lag the socket by a few tens of ms, so it polls briefly for a decisive answer.
 */
export async function explainChannelEnd(servicePath: string, channel: string): Promise<string> {
  const deadline = Date.now() + EXPLAIN_WITHIN_MS;
  for (;;) {
    const view = await channelView(servicePath, channel);
    if (view === 'daemon-gone') return 'the daemon stopped';
    if (view === 'absent') {
      // A stopping `serve` closes its channels first and its service a moment later.
      return (await daemonGoneWithin(servicePath, DAEMON_STOP_WAIT_MS)) ? 'the daemon stopped' : `channel "${channel}" closed (the page closed it, or its session ended)`;
    }
    if (view === 'app-attached') return `a newer connection to channel "${channel}" replaced this one`;
    if (Date.now() >= deadline) return `channel "${channel}" ended this connection`;
    await new Promise((resolve) => setTimeout(resolve, EXPLAIN_POLL_MS));
  }
}

async function daemonGoneWithin(servicePath: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if ((await channelView(servicePath, '')) === 'daemon-gone') return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, EXPLAIN_POLL_MS));
  }
}

async function channelView(servicePath: string, channel: string): Promise<'daemon-gone' | 'absent' | 'app-attached' | 'undecided'> {
  const client = new DataProxyClient({ servicePath });
  try {
    const reply = await client.transact(STATUS_SERVICE_NAME, TRANSACTION_getStatus, encodeStatusRequest());
    if (reply.status !== Status.OK) return 'undecided';
    const document = decodeStatusReply(reply.data);
    if (!document.channels.includes(channel)) return 'absent';
    return (document.appConnections?.[channel] ?? 0) > 0 ? 'app-attached' : 'undecided';
  } catch {
    return 'daemon-gone';
  } finally {
    client.close();
  }
}
