import { describe, expect, it } from 'vitest';
import { InstanceSessions } from '../../src/farm/instance/instance-sessions.js';

function sessions(reservationMs = 60_000) {
  let now = 1000;
  const state = new InstanceSessions({ reservationMs, now: () => now });
  return { state, advance: (ms: number) => (now += ms) };
}

describe('InstanceSessions (docs/farm.md "Placement")', () => {
  it('is free, then reserved by a placed session, and refuses a second one', () => {
    const { state } = sessions();
    expect(state.state).toBe('free');
    expect(state.canPlace()).toEqual({ ok: true });
    state.reserve('s1');
    expect([state.state, state.session]).toEqual(['reserved', 's1']);
    expect(state.canPlace()).toMatchObject({ ok: false, code: 'BUSY' });
  });

  it('lets a reservation without signaling lapse after reservationMs, not before', () => {
    const { state, advance } = sessions(60_000);
    state.reserve('s1');
    advance(59_999);
    expect(state.tick()).toBeUndefined();
    advance(1);
    expect(state.tick()).toBe('s1');
    expect(state.state).toBe('free');
  });

  it('holds a reservation while signaling is attached, and counts again from its close', () => {
    const { state, advance } = sessions(1000);
    state.reserve('s1');
    state.signalingOpened('s1');
    advance(5000);
    expect(state.tick()).toBeUndefined();
    state.signalingClosed('s1');
    advance(999);
    expect(state.tick()).toBeUndefined();
    advance(1);
    expect(state.tick()).toBe('s1');
  });

  it('renews a reservation on join', () => {
    const { state, advance } = sessions(1000);
    state.reserve('s1');
    advance(900);
    state.renew('s1');
    advance(900);
    expect(state.tick()).toBeUndefined();
  });

  it('streams once the peer starts (never lapses) and is free when that peer ends', () => {
    const { state, advance } = sessions(1000);
    state.reserve('s1');
    expect(state.peerStarted('s1')).toBe(true);
    expect(state.peerStarted('s1')).toBe(false);
    advance(10_000);
    expect(state.tick()).toBeUndefined();
    expect(state.peerEnded('other')).toBe(false);
    expect(state.state).toBe('streaming');
    expect(state.peerEnded('s1')).toBe(true);
    expect([state.state, state.session]).toEqual(['free', null]);
  });

  it('follows a peer started by the local gateway too', () => {
    const { state } = sessions();
    state.peerStarted('local');
    expect([state.state, state.session]).toEqual(['streaming', 'local']);
    expect(state.canPlace().ok).toBe(false);
    expect(state.release('local')).toBe(true);
    expect(state.state).toBe('free');
  });
});
