import { describe, expect, it } from 'vitest';
import { InstanceRegistry } from '../../src/farm/gateway/instance-registry.js';
import { status } from './helpers/status.js';

describe('InstanceRegistry (pure, injected clock)', () => {
  it('adds, updates, ignores stale heartbeats and sees a new boot as a restart', () => {
    let now = 0;
    const registry = new InstanceRegistry(() => now);
    expect(registry.heartbeat(status('a', { seq: 5 })).kind).toBe('added');
    expect(registry.heartbeat(status('a', { seq: 4 })).kind).toBe('stale');
    expect(registry.heartbeat(status('a', { seq: 6, session: 's1', state: 'reserved' })).kind).toBe('updated');
    const restarted = registry.heartbeat(status('a', { seq: 0, boot: 'boot-2' }));
    expect(restarted).toMatchObject({ kind: 'restarted', previousSession: 's1' });
    now = 500;
    expect(registry.list()).toEqual([expect.objectContaining({ name: 'a', state: 'free', session: null, lastHeardMsAgo: 500 })]);
  });

  it('drops an instance after 3 of its intervals, not before', () => {
    let now = 0;
    const registry = new InstanceRegistry(() => now);
    registry.heartbeat(status('a', { intervalMs: 1000 }));
    registry.heartbeat(status('b', { intervalMs: 200 }));
    now = 601;
    expect(registry.expire().map((d) => d.record.name)).toEqual(['b']);
    now = 3000;
    expect(registry.expire()).toEqual([]);
    now = 3001;
    expect(registry.expire().map((d) => d.record.name)).toEqual(['a']);
    expect(registry.size).toBe(0);
  });

  it('pauses expiry while NATS is down and counts everyone as heard on resume', () => {
    let now = 0;
    const registry = new InstanceRegistry(() => now);
    registry.heartbeat(status('a'));
    registry.pause();
    now = 60_000;
    expect(registry.expire()).toEqual([]);
    registry.resume();
    now = 62_000;
    expect(registry.expire()).toEqual([]);
    now = 63_001;
    expect(registry.expire()).toHaveLength(1);
  });

  it('knows at most its maximum of instances', () => {
    const registry = new InstanceRegistry(() => 0, 3);
    for (const name of ['a', 'b', 'c']) expect(registry.heartbeat(status(name)).kind).toBe('added');
    expect(registry.heartbeat(status('d')).kind).toBe('full');
    expect(registry.heartbeat(status('a', { seq: 1 })).kind).toBe('updated');
  });

  it("keeps the gateway's own view (busy after a placement) until the next heartbeat", () => {
    const registry = new InstanceRegistry(() => 0);
    registry.heartbeat(status('a'));
    registry.markBusy('a');
    expect(registry.list()[0]!.state).toBe('reserved');
    registry.heartbeat(status('a', { seq: 1 }));
    expect(registry.list()[0]!.state).toBe('free');
  });
});
