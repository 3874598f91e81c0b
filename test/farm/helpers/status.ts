import type { InstanceStatus } from '../../../src/farm/farm-messages.js';

/** An instance heartbeat with defaults; tests set only what they look at. */
export function status(instance: string, fields: Partial<InstanceStatus> = {}): InstanceStatus {
  return { v: 1, instance, boot: 'boot-1', host: 'h', device: null, labels: {}, state: 'free', session: null, channels: [], seq: 0, intervalMs: 1000, startedAt: '1970-01-01T00:00:00.000Z', ...fields };
}
