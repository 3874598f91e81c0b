/**
 * Bytes held for all connections together (unread input + unflushed output). Sessions report their
 * changes; a session that finds the budget spent stops reading and is woken once bytes are freed.
 */
export class BufferBudget {
  private usedBytes = 0;
  private readonly waiters = new Set<() => void>();
  private wakeScheduled = false;

  constructor(readonly limitBytes: number) {}

  get used(): number {
    return this.usedBytes;
  }

  get exhausted(): boolean {
    return this.usedBytes >= this.limitBytes;
  }

  change(deltaBytes: number): void {
    this.usedBytes += deltaBytes;
    if (deltaBytes < 0 && !this.exhausted && this.waiters.size > 0 && !this.wakeScheduled) {
      // Woken on a later turn: the session that freed bytes may be in the middle of its own pump.
      this.wakeScheduled = true;
      setImmediate(() => {
        this.wakeScheduled = false;
        const waiters = [...this.waiters];
        this.waiters.clear();
        for (const wake of waiters) wake();
      });
    }
  }

  /** Calls `wake` once bytes have been freed (not necessarily enough: the woken re-check). */
  waitForRoom(wake: () => void): void {
    this.waiters.add(wake);
  }

  cancel(wake: () => void): void {
    this.waiters.delete(wake);
  }
}
