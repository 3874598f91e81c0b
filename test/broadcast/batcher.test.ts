import { describe, expect, it } from 'vitest';
import { BATCH_WINDOW_DEFAULT_MS, ChangeBatcher, groupChanges, type BatcherTimers } from '../../src/broadcast/batcher.js';
import type { ChannelBroadcast } from '../../src/broadcast/types.js';

/** Hand-driven timers: nothing fires until advance(). */
class ManualTimers implements BatcherTimers {
  now = 1_700_000_000_000;
  #next = 1;
  readonly #pending = new Map<number, { at: number; callback: () => void }>();
  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#pending.set(id, { at: this.now + ms, callback });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#pending.delete(handle as number);
  }
  get pending(): number {
    return this.#pending.size;
  }
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = [...this.#pending.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.#pending.delete(due[0]);
      this.now = due[1].at;
      due[1].callback();
    }
    this.now = until;
  }
}

function setup(windowMs?: number) {
  const timers = new ManualTimers();
  const out: ChannelBroadcast[] = [];
  const batcher = new ChangeBatcher({ windowMs, timers, now: () => timers.now, onBroadcast: (b) => out.push(b) });
  const summary = () => out.map((b) => `${b.sequence}:${b.event}:${b.names.join(',')}`);
  return { timers, out, batcher, summary };
}

describe('ChangeBatcher', () => {
  it('gathers changes for the window (default 200 ms) into one broadcast per event', () => {
    expect(BATCH_WINDOW_DEFAULT_MS).toBe(200);
    const { timers, batcher, summary, out } = setup();
    batcher.appeared('a');
    timers.advance(50);
    batcher.appeared('b');
    timers.advance(100);
    batcher.appeared('c');
    timers.advance(49);
    expect(out).toEqual([]);
    timers.advance(1);
    expect(summary()).toEqual(['1:created:a,b,c']);
    expect(out[0].timestamp).toBe(timers.now);
  });

  it('counts the window from the first change, not the last (bounded latency)', () => {
    const { timers, batcher, summary } = setup(200);
    batcher.appeared('a');
    timers.advance(150);
    batcher.appeared('b');
    timers.advance(50);
    expect(summary()).toEqual(['1:created:a,b']);
    batcher.appeared('c');
    timers.advance(200);
    expect(summary()).toEqual(['1:created:a,b', '2:created:c']);
  });

  it('a channel that appears and disappears within one window yields created then destroyed', () => {
    const { timers, batcher, summary } = setup();
    batcher.appeared('x');
    batcher.disappeared('x');
    timers.advance(200);
    expect(summary()).toEqual(['1:created:x', '2:destroyed:x']);
  });

  it('disappear then reappear within a window yields destroyed then created', () => {
    const { timers, batcher, summary } = setup();
    batcher.appeared('x');
    timers.advance(200);
    batcher.disappeared('x');
    batcher.appeared('x');
    timers.advance(200);
    expect(summary()).toEqual(['1:created:x', '2:destroyed:x', '3:created:x']);
  });

  it('appear, disappear, reappear within a window: each change keeps its place', () => {
    const { timers, batcher, summary } = setup();
    batcher.appeared('x');
    batcher.disappeared('x');
    batcher.appeared('x');
    timers.advance(200);
    expect(summary()).toEqual(['1:created:x', '2:destroyed:x', '3:created:x']);
    expect(batcher.present()).toEqual(['x']);
  });

  it('a destroyed never overtakes the created of the same channel, with other channels batched around it', () => {
    const { timers, batcher, summary } = setup();
    batcher.appeared('old1');
    batcher.appeared('old2');
    timers.advance(200);
    batcher.appeared('a'); // created a
    batcher.disappeared('old1'); // destroyed old1
    batcher.disappeared('a'); // must come after created a
    batcher.appeared('b');
    batcher.disappeared('old2');
    timers.advance(200);
    expect(summary()).toEqual(['1:created:old1,old2', '2:created:a,b', '3:destroyed:old1,a,old2']);
  });

  it('ignores redundant changes (appear twice, disappear when absent)', () => {
    const { timers, batcher, summary } = setup();
    batcher.disappeared('never');
    batcher.appeared('a');
    batcher.appeared('a');
    timers.advance(200);
    batcher.appeared('a');
    timers.advance(200);
    expect(summary()).toEqual(['1:created:a']);
    expect(batcher.present()).toEqual(['a']);
  });

  it('window 0 still batches changes reported together (same tick)', () => {
    const { timers, batcher, summary } = setup(0);
    batcher.appeared('a');
    batcher.appeared('b');
    expect(summary()).toEqual([]);
    timers.advance(0);
    expect(summary()).toEqual(['1:created:a,b']);
  });

  it('sequence numbers continue across batches; flush() and close() emit what is pending', () => {
    const { timers, batcher, summary } = setup();
    batcher.appeared('a');
    batcher.flush();
    expect(timers.pending).toBe(0);
    batcher.disappeared('a');
    batcher.close();
    batcher.appeared('late');
    timers.advance(1000);
    expect(summary()).toEqual(['1:created:a', '2:destroyed:a']);
    expect(batcher.nextSequence).toBe(3);
  });

  it('rejects a negative window', () => {
    expect(() => new ChangeBatcher({ windowMs: -1, onBroadcast: () => undefined })).toThrow(/window/);
  });
});

describe('groupChanges', () => {
  it('alternating changes of one channel become alternating broadcasts', () => {
    const groups = groupChanges([
      { event: 'created', name: 'x' },
      { event: 'destroyed', name: 'x' },
      { event: 'created', name: 'x' },
      { event: 'created', name: 'y' },
      { event: 'destroyed', name: 'x' },
    ]);
    expect(groups).toEqual([
      { event: 'created', names: ['x', 'y'] },
      { event: 'destroyed', names: ['x'] },
      { event: 'created', names: ['x'] },
      { event: 'destroyed', names: ['x'] },
    ]);
  });
});
