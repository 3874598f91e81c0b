import type { InstanceState } from '../farm-messages.js';

/** A placed session holds its instance this long without a signaling connection (docs/farm.md). */
export const DEFAULT_RESERVATION_MS = 60_000;

export type PlaceDecision = { ok: true } | { ok: false; code: 'BUSY'; message: string };

/**
 * The instance's farm state (docs/farm.md "Placement"), pure: time comes from the injected clock
 * and the owner calls `tick()` to let a reservation lapse.
 *
 * - free: no session; a place reserves.
 * - reserved: a placed (or joined) session waits for its peer. While a signaling connection is
 *   attached the reservation holds; without one it lapses `reservationMs` after it was made or
 *   after the last connection closed.
 * - streaming: a peer runs (whoever started it: a farm session or the local gateway's). Its end
 *   makes the instance free.
 */
export class InstanceSessions {
  private current: { session: string; state: 'reserved' | 'streaming'; deadline: number; signaling: number } | undefined;

  constructor(
    private readonly options: { reservationMs: number; now: () => number },
  ) {}

  get state(): InstanceState {
    return this.current?.state ?? 'free';
  }

  get session(): string | null {
    return this.current?.session ?? null;
  }

  /** May a new session be placed here? */
  canPlace(): PlaceDecision {
    if (!this.current) return { ok: true };
    return { ok: false, code: 'BUSY', message: `session ${this.current.session} is ${this.current.state}` };
  }

  /** A session was placed (or joined while free): the instance is reserved for it. */
  reserve(session: string): void {
    this.current = { session, state: 'reserved', deadline: this.options.now() + this.options.reservationMs, signaling: 0 };
  }

  /** A join of the reserved session renews its reservation. */
  renew(session: string): void {
    if (this.current?.session === session && this.current.state === 'reserved') this.current.deadline = this.options.now() + this.options.reservationMs;
  }

  signalingOpened(session: string): void {
    if (this.current?.session === session) this.current.signaling++;
  }

  signalingClosed(session: string): void {
    const current = this.current;
    if (current?.session !== session) return;
    current.signaling = Math.max(0, current.signaling - 1);
    if (current.signaling === 0) current.deadline = this.options.now() + this.options.reservationMs;
  }

  /** A peer started (any session): the instance streams it. Returns whether the state changed. */
  peerStarted(session: string): boolean {
    const before = this.current;
    if (before?.session === session && before.state === 'streaming') return false;
    this.current = { session, state: 'streaming', deadline: Infinity, signaling: before?.session === session ? before.signaling : 0 };
    return true;
  }

  /** A peer ended: if it was the streaming session, the instance is free. Returns whether the state changed. */
  peerEnded(session: string): boolean {
    if (this.current?.session !== session || this.current.state !== 'streaming') return false;
    this.current = undefined;
    return true;
  }

  /** Forgets the session (ended by the agent). Returns whether the state changed. */
  release(session: string): boolean {
    if (this.current?.session !== session) return false;
    this.current = undefined;
    return true;
  }

  /** Lets a reservation past its deadline lapse; returns the lapsed session, if any. */
  tick(): string | undefined {
    const current = this.current;
    if (!current || current.state !== 'reserved' || current.signaling > 0 || this.options.now() < current.deadline) return undefined;
    this.current = undefined;
    return current.session;
  }
}
