import type { InstanceState, InstanceStatus } from '../farm-messages.js';

/**
 * What the gateway knows of the farm's instances, from their heartbeats (docs/farm.md "Liveness").
 * Pure: the clock is injected and nothing here does I/O; the gateway feeds heartbeats in, calls
 * expire() on a timer and acts on what comes out (close the sessions of a dropped instance).
 */

/** Instances known at once: any NATS peer can announce names, each costs memory. */
export const MAX_INSTANCES = 1024;
/** An instance not heard of for this many of its intervals is dropped. */
export const MISSED_INTERVALS = 3;

export interface InstanceRecord {
  readonly name: string;
  status: InstanceStatus;
  /** When its last heartbeat arrived (the gateway's clock). */
  lastHeardAt: number;
  /** When the gateway last placed a session there (0: never); placement prefers the oldest. */
  lastPlacedAt: number;
  /**
   * The gateway's own view until the next heartbeat: an instance that took a session (or said it
   * is busy) is not free, whatever its last heartbeat said.
   */
  localState: InstanceState | undefined;
}

export type HeartbeatOutcome =
  | { kind: 'added'; record: InstanceRecord }
  /** Same name, new boot: the old process is gone, and with it its session. */
  | { kind: 'restarted'; record: InstanceRecord; previousSession: string | null }
  | { kind: 'updated'; record: InstanceRecord; previousSession: string | null }
  /** Older than what is known (a delayed copy): ignored. */
  | { kind: 'stale' }
  /** MAX_INSTANCES are known already: a new name is refused. */
  | { kind: 'full' };

export interface DroppedInstance {
  record: InstanceRecord;
  silentMs: number;
}

/** One row of GET /1.0/instances and `anbox-oob status --nats`. */
export interface InstanceView {
  name: string;
  state: InstanceState;
  host: string;
  device: string | null;
  labels: Record<string, string>;
  channels: string[];
  session: string | null;
  startedAt: string;
  intervalMs: number;
  /** Milliseconds since its last heartbeat. */
  lastHeardMsAgo: number;
}

export class InstanceRegistry {
  private readonly records = new Map<string, InstanceRecord>();
  private paused = false;

  constructor(
    private readonly now: () => number,
    private readonly maxInstances = MAX_INSTANCES,
  ) {}

  get size(): number {
    return this.records.size;
  }

  heartbeat(status: InstanceStatus): HeartbeatOutcome {
    const now = this.now();
    const known = this.records.get(status.instance);
    if (!known) {
      if (this.records.size >= this.maxInstances) return { kind: 'full' };
      const record: InstanceRecord = { name: status.instance, status, lastHeardAt: now, lastPlacedAt: 0, localState: undefined };
      this.records.set(status.instance, record);
      return { kind: 'added', record };
    }
    const previousSession = known.status.session;
    if (known.status.boot !== status.boot) {
      known.status = status;
      known.lastHeardAt = now;
      known.localState = undefined;
      return { kind: 'restarted', record: known, previousSession };
    }
    if (status.seq < known.status.seq) return { kind: 'stale' };
    known.status = status;
    known.lastHeardAt = now;
    known.localState = undefined;
    return { kind: 'updated', record: known, previousSession };
  }

  /** Drops (and returns) the instances not heard of for MISSED_INTERVALS intervals; nothing while paused. */
  expire(): DroppedInstance[] {
    if (this.paused) return [];
    const now = this.now();
    const dropped: DroppedInstance[] = [];
    for (const record of this.records.values()) {
      const silentMs = now - record.lastHeardAt;
      if (silentMs > MISSED_INTERVALS * record.status.intervalMs) dropped.push({ record, silentMs });
    }
    for (const { record } of dropped) this.records.delete(record.name);
    return dropped;
  }

  /**
   * NATS is disconnected: no heartbeat can arrive, so silence means nothing. Expiry stops until
   * resume(), which counts every instance as heard at that moment (they re-announce at once).
   */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const now = this.now();
    for (const record of this.records.values()) record.lastHeardAt = Math.max(record.lastHeardAt, now);
  }

  all(): InstanceRecord[] {
    return [...this.records.values()];
  }

  /** The state placement goes by: the gateway's own view first, else the last heartbeat's. */
  stateOf(record: InstanceRecord): InstanceState {
    return record.localState ?? record.status.state;
  }

  /** Chosen for a placement (before asking: concurrent placements pick others). */
  markPlaced(name: string): void {
    const record = this.records.get(name);
    if (record) record.lastPlacedAt = this.now();
  }

  /** The instance took a session, or said it is busy: not free until its next heartbeat says otherwise. */
  markBusy(name: string): void {
    const record = this.records.get(name);
    if (record) record.localState = 'reserved';
  }

  list(): InstanceView[] {
    const now = this.now();
    return [...this.records.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((r) => ({
        name: r.name,
        state: this.stateOf(r),
        host: r.status.host,
        device: r.status.device,
        labels: { ...r.status.labels },
        channels: [...r.status.channels],
        session: r.status.session,
        startedAt: r.status.startedAt,
        intervalMs: r.status.intervalMs,
        lastHeardMsAgo: Math.max(0, now - r.lastHeardAt),
      }));
  }
}
