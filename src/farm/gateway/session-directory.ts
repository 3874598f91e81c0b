/**
 * Which instance holds each session the gateway knows of, so that join and signaling reach it.
 * Sessions come from placements and from heartbeats (any NATS peer can name sessions), so the
 * directory is bounded: past its maximum the least recently remembered are forgotten first (a
 * forgotten session answers 404 on join; the client asks for a new one). Pure: no I/O, no clock.
 */

/** Sessions remembered at once. */
export const MAX_FARM_SESSIONS = 4096;

export class SessionDirectory {
  /** In the order remembered (a Map keeps insertion order): the first is the first forgotten. */
  private readonly owners = new Map<string, string>();

  constructor(private readonly max = MAX_FARM_SESSIONS) {}

  get size(): number {
    return this.owners.size;
  }

  instanceOf(session: string): string | undefined {
    return this.owners.get(session);
  }

  remember(session: string, instance: string): void {
    this.owners.delete(session);
    this.owners.set(session, instance);
    while (this.owners.size > this.max) this.owners.delete(this.owners.keys().next().value!);
  }

  forget(session: string): void {
    this.owners.delete(session);
  }

  /** Forgets the session if `instance` holds it (a session.ended from another name changes nothing); true when it did. */
  forgetIfHeldBy(session: string, instance: string): boolean {
    if (this.owners.get(session) !== instance) return false;
    this.owners.delete(session);
    return true;
  }

  /** Forgets every session of an instance that restarted or was dropped. */
  forgetInstance(instance: string): void {
    for (const [session, owner] of this.owners) if (owner === instance) this.owners.delete(session);
  }
}
