import { describe, expect, it } from 'vitest';
import { BROADCASTER_DEFAULTS, Broadcaster } from '../../src/broadcast/broadcaster.js';
import type { BroadcastSink, ChannelBroadcast, DeliveryResult } from '../../src/broadcast/types.js';
import { captureLogger, deferred, waitFor } from './helpers.js';

function broadcast(sequence: number, names = [`ch${sequence}`], event: 'created' | 'destroyed' = 'created'): ChannelBroadcast {
  return { sequence, event, names, timestamp: 1_700_000_000_000 + sequence };
}

/** Delivers at once. */
class FastSink implements BroadcastSink {
  readonly received: number[] = [];
  closed = false;
  constructor(readonly name = 'fast') {}
  async deliver(b: ChannelBroadcast): Promise<DeliveryResult> {
    this.received.push(b.sequence);
    return { sink: this.name, ok: true, detail: 'delivered', attempts: 1 };
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** Each delivery waits until the test releases it. */
class GatedSink implements BroadcastSink {
  readonly started: number[] = [];
  readonly #gates: { resolve: (r: DeliveryResult) => void }[] = [];
  closed = false;
  constructor(readonly name = 'slow') {}
  deliver(b: ChannelBroadcast): Promise<DeliveryResult> {
    this.started.push(b.sequence);
    const gate = deferred<DeliveryResult>();
    this.#gates.push(gate);
    return gate.promise;
  }
  /** Completes the delivery in progress. */
  release(ok = true): void {
    const gate = this.#gates.shift();
    if (!gate) throw new Error('no delivery in progress');
    gate.resolve({ sink: this.name, ok, detail: ok ? 'delivered' : 'refused', attempts: 1 });
  }
  get inProgress(): number {
    return this.#gates.length;
  }
  async close(): Promise<void> {
    this.closed = true;
    while (this.#gates.length > 0) this.release(false);
  }
}

describe('Broadcaster', () => {
  it('documents its defaults', () => {
    expect(BROADCASTER_DEFAULTS).toEqual({ queueLimit: 100, recentLimit: 50, drainTimeoutMs: 2000 });
  });

  it('a slow sink does not delay a fast one; each gets every broadcast in order', async () => {
    const { logger } = captureLogger();
    const fast = new FastSink();
    const slow = new GatedSink();
    const broadcaster = new Broadcaster({ logger, sinks: [slow, fast] });
    for (let i = 1; i <= 3; i++) broadcaster.publish(broadcast(i));
    await waitFor(() => fast.received.length === 3, 'the fast sink to get 3 broadcasts');
    expect(fast.received).toEqual([1, 2, 3]);
    expect(slow.started).toEqual([1]); // one at a time
    const slowStats = broadcaster.stats().sinks.find((s) => s.sink === 'slow');
    expect(slowStats).toMatchObject({ pending: 2, busy: true, delivered: 0 });
    for (let i = 0; i < 3; i++) {
      await waitFor(() => slow.inProgress === 1, 'a slow delivery to start');
      slow.release();
    }
    await broadcaster.idle();
    expect(slow.started).toEqual([1, 2, 3]);
    expect(broadcaster.stats()).toMatchObject({ published: 3, sinks: [{ sink: 'slow', delivered: 3, pending: 0 }, { sink: 'fast', delivered: 3 }] });
    await broadcaster.close();
  });

  it('bounds each queue: past the bound the oldest waiting broadcast is dropped, logged and counted', async () => {
    const { logger, events } = captureLogger();
    const fast = new FastSink();
    const slow = new GatedSink();
    const broadcaster = new Broadcaster({ logger, sinks: [slow, fast], queueLimit: 3 });
    for (let i = 1; i <= 6; i++) {
      broadcaster.publish(broadcast(i));
      await waitFor(() => fast.received.length === i, `the fast sink to get broadcast ${i}`);
    }
    // 1 is in delivery; 2..6 queued with room for 3 → 2 and 3 dropped.
    const stats = broadcaster.stats().sinks.find((s) => s.sink === 'slow');
    expect(stats).toMatchObject({ dropped: 2, pending: 3 });
    const drops = events('broadcast.dropped');
    expect(drops.map((r) => [r.sink, r.sequence])).toEqual([
      ['slow', 2],
      ['slow', 3],
    ]);
    expect(drops[0]).toMatchObject({ channels: ['ch2'], channelEvent: 'created', attempts: 0 });
    expect(String(drops[0].detail)).toMatch(/dropped/);
    while (slow.started.length < 4 || slow.inProgress > 0) {
      await waitFor(() => slow.inProgress === 1, 'a slow delivery');
      slow.release();
    }
    await broadcaster.idle();
    expect(slow.started).toEqual([1, 4, 5, 6]);
    expect(fast.received).toEqual([1, 2, 3, 4, 5, 6]);
    const second = broadcaster.recent().find((r) => r.broadcast.sequence === 2);
    expect(second?.results.map((r) => [r.sink, r.ok])).toEqual(
      expect.arrayContaining([
        ['slow', false],
        ['fast', true],
      ]),
    );
    await broadcaster.close();
  });

  it('records a failing sink and a throwing sink as failures and keeps going', async () => {
    const { logger, events } = captureLogger();
    const fast = new FastSink();
    const dead: BroadcastSink = {
      name: 'dead',
      deliver: async () => ({ sink: 'dead', ok: false, detail: 'no device', attempts: 6 }),
      close: async () => undefined,
    };
    const broken: BroadcastSink = {
      name: 'broken',
      deliver: () => {
        throw new Error('boom');
      },
      close: async () => {
        throw new Error('close boom');
      },
    };
    const broadcaster = new Broadcaster({ logger, sinks: [dead, broken, fast] });
    broadcaster.publish(broadcast(1, ['a', 'b']));
    broadcaster.publish(broadcast(2, ['a'], 'destroyed'));
    await broadcaster.idle();
    expect(fast.received).toEqual([1, 2]);
    const recent = broadcaster.recent();
    expect(recent.map((r) => r.broadcast.sequence)).toEqual([1, 2]);
    const byName = Object.fromEntries(recent[0].results.map((r) => [r.sink, r]));
    expect(byName.dead).toMatchObject({ ok: false, detail: 'no device', attempts: 6 });
    expect(byName.broken).toMatchObject({ ok: false, detail: 'sink threw: boom' });
    expect(byName.fast).toMatchObject({ ok: true });
    const failed = events('broadcast.failed');
    expect(failed).toHaveLength(4);
    expect(failed.find((r) => r.sink === 'dead')).toMatchObject({ event: 'broadcast.failed', sink: 'dead', sequence: 1, channels: ['a', 'b'], channelEvent: 'created', detail: 'no device' });
    expect(events('broadcast.delivered').map((r) => [r.sink, r.sequence])).toEqual([
      ['fast', 1],
      ['fast', 2],
    ]);
    expect(broadcaster.stats().sinks.find((s) => s.sink === 'dead')).toMatchObject({ failed: 2, delivered: 0, last: { detail: 'no device' } });
    await broadcaster.close(); // a sink whose close() throws is logged, not fatal
    expect(events('broadcast.sink_close_failed')).toHaveLength(1);
  });

  it('keeps only the recent N broadcasts for status', async () => {
    const { logger } = captureLogger();
    const broadcaster = new Broadcaster({ logger, sinks: [new FastSink()], recentLimit: 3 });
    for (let i = 1; i <= 5; i++) broadcaster.publish(broadcast(i));
    await broadcaster.idle();
    expect(broadcaster.recent().map((r) => r.broadcast.sequence)).toEqual([3, 4, 5]);
    expect(broadcaster.recent()[2].results).toEqual([{ sink: 'fast', ok: true, detail: 'delivered', attempts: 1 }]);
    await broadcaster.close();
  });

  it('close() lets queues drain, then closes the sinks; what cannot drain is dropped and logged', async () => {
    const { logger, events } = captureLogger();
    const fast = new FastSink();
    const stuck = new GatedSink('stuck');
    const broadcaster = new Broadcaster({ logger, sinks: [fast, stuck], drainTimeoutMs: 50 });
    broadcaster.publish(broadcast(1));
    broadcaster.publish(broadcast(2));
    await broadcaster.close();
    expect(fast.received).toEqual([1, 2]);
    expect(fast.closed).toBe(true);
    expect(stuck.closed).toBe(true);
    expect(events('broadcast.dropped').map((r) => [r.sink, r.sequence, r.detail])).toEqual([['stuck', 2, 'dropped: not delivered before shutdown']]);
    await waitFor(() => broadcaster.stats().sinks[1].busy === false, 'the stuck delivery to end');
    expect(broadcaster.stats().sinks[1]).toMatchObject({ failed: 1, dropped: 1 });
    broadcaster.publish(broadcast(3));
    expect(broadcaster.stats().published).toBe(2);
  });

  it('refuses two sinks with one name', () => {
    const { logger } = captureLogger();
    expect(() => new Broadcaster({ logger, sinks: [new FastSink('x'), new FastSink('x')] })).toThrow(/already registered/);
  });
});
