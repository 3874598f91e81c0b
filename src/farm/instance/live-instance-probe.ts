import type { NatsConnection } from 'nats';
import { decodeInstanceStatus, encodeFarmMessage, FarmMessageError, type InstanceStatus } from '../farm-messages.js';
import { DISCOVER_SUBJECT, HEARTBEAT_SUBJECT } from '../subjects.js';

/** Two instances under one name would steal each other's sessions: the second refuses to start. */
export class DuplicateInstanceError extends Error {
  override readonly name = 'DuplicateInstanceError';
  constructor(readonly other: InstanceStatus) {
    super(
      `another instance named "${other.instance}" is live on host ${other.host} (boot ${other.boot}, started ${other.startedAt}); ` +
        'stop it, or give this one another --instance-name',
    );
  }
}

/**
 * Asks every instance to announce itself (discover) and listens for `listenMs` (about 1.5 heartbeat
 * intervals, so that even an instance that misses the discover is heard once). Rejects with
 * DuplicateInstanceError when an instance named `name` with another boot id answers.
 */
export async function probeForLiveInstance(nc: NatsConnection, name: string, boot: string, listenMs: number): Promise<void> {
  let found: InstanceStatus | undefined;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const subscription = nc.subscribe(HEARTBEAT_SUBJECT, {
    callback: (error, msg) => {
      if (error || found) return;
      let status: InstanceStatus;
      try {
        status = decodeInstanceStatus(msg.data);
      } catch (decodeError) {
        if (decodeError instanceof FarmMessageError) return; // someone else's problem: the gateway logs it
        throw decodeError;
      }
      if (status.instance === name && status.boot !== boot) {
        found = status;
        done();
      }
    },
  });
  const timer = setTimeout(done, listenMs);
  try {
    // The subscription must reach the server before the discover does.
    await nc.flush();
    nc.publish(DISCOVER_SUBJECT, encodeFarmMessage({ v: 1 }));
    await finished;
  } finally {
    clearTimeout(timer);
    subscription.unsubscribe();
  }
  if (found) throw new DuplicateInstanceError(found);
}
