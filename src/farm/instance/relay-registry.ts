import type { RelayTransport } from './relay-transport.js';

/** Relays an instance holds open at once: a session needs one; the rest cover joins and stragglers. */
export const MAX_RELAYS_PER_INSTANCE = 8;

/**
 * The instance's open relays, bounded: any NATS peer may send SignalOpen, so the instance refuses
 * a relay past the cap (status 503) rather than hold subscriptions without end.
 */
export class RelayRegistry {
  private readonly relays = new Map<string, RelayTransport>();

  constructor(private readonly max: number = MAX_RELAYS_PER_INSTANCE) {}

  get size(): number {
    return this.relays.size;
  }

  has(relay: string): boolean {
    return this.relays.has(relay);
  }

  /** Whether one more relay may open. */
  get full(): boolean {
    return this.relays.size >= this.max;
  }

  get limit(): number {
    return this.max;
  }

  /** Keeps the relay until it closes. */
  add(transport: RelayTransport): void {
    this.relays.set(transport.relay, transport);
    transport.onClose(() => this.relays.delete(transport.relay));
  }

  /** Closes every relay (sending `close` to the gateway). */
  closeAll(code: number, reason: string): void {
    for (const relay of [...this.relays.values()]) relay.close(code, reason);
  }
}
