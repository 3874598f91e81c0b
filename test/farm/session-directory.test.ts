import { describe, expect, it } from 'vitest';
import { MAX_FARM_SESSIONS, SessionDirectory } from '../../src/farm/gateway/session-directory.js';

describe('SessionDirectory (pure)', () => {
  it('forgets the least recently remembered sessions past its maximum', () => {
    const sessions = new SessionDirectory(3);
    for (const id of ['s1', 's2', 's3']) sessions.remember(id, 'a');
    sessions.remember('s1', 'b'); // remembered again: now the newest, and held by b
    sessions.remember('s4', 'a');
    expect(sessions.size).toBe(3);
    expect(sessions.instanceOf('s2')).toBeUndefined();
    expect(sessions.instanceOf('s1')).toBe('b');
    expect(sessions.instanceOf('s3')).toBe('a');
    expect(sessions.instanceOf('s4')).toBe('a');
  });

  it(`holds ${MAX_FARM_SESSIONS} by default, however many sessions peers name`, () => {
    const sessions = new SessionDirectory();
    for (let i = 0; i < MAX_FARM_SESSIONS + 100; i++) sessions.remember(`s${i}`, 'a');
    expect(sessions.size).toBe(MAX_FARM_SESSIONS);
    expect(sessions.instanceOf('s99')).toBeUndefined();
    expect(sessions.instanceOf('s100')).toBe('a');
  });

  it("forgets a session only for its own instance, and all of an instance's at once", () => {
    const sessions = new SessionDirectory();
    sessions.remember('s1', 'a');
    sessions.remember('s2', 'a');
    sessions.remember('s3', 'b');
    expect(sessions.forgetIfHeldBy('s1', 'b')).toBe(false);
    expect(sessions.instanceOf('s1')).toBe('a');
    expect(sessions.forgetIfHeldBy('s1', 'a')).toBe(true);
    expect(sessions.instanceOf('s1')).toBeUndefined();
    sessions.remember('s1', 'a');
    sessions.forgetInstance('a');
    expect(sessions.size).toBe(1);
    expect(sessions.instanceOf('s3')).toBe('b');
    sessions.forget('s3');
    expect(sessions.size).toBe(0);
  });
});
