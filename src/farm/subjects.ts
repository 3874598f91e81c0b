/**
 * The farm's NATS subjects (docs/farm.md). Every name that goes into a subject is checked first:
 * a `.`, `*`, `>` or whitespace in a token would address other subjects.
 */
export const FARM_PREFIX = 'anbox-oob.farm';

/** An instance name: a NATS subject token, 1–64 of A-Z a-z 0-9 _ - . */
export const INSTANCE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** A relay id: 32 lowercase hex digits (128 random bits). */
export const RELAY_ID = /^[0-9a-f]{32}$/;

export const HEARTBEAT_SUBJECT = `${FARM_PREFIX}.heartbeat`;
export const DISCOVER_SUBJECT = `${FARM_PREFIX}.discover`;
export const SESSION_ENDED_SUBJECT = `${FARM_PREFIX}.session.ended`;

export type InstanceRequestKind = 'place' | 'join' | 'signal';

export function instanceSubject(name: string, kind: InstanceRequestKind): string {
  if (!INSTANCE_NAME.test(name)) throw new Error(`not an instance name: ${JSON.stringify(name)}`);
  return `${FARM_PREFIX}.instance.${name}.${kind}`;
}

export type RelayDirection = 'to-instance' | 'to-client';

export function relaySubject(instance: string, relay: string, direction: RelayDirection): string {
  if (!INSTANCE_NAME.test(instance)) throw new Error(`not an instance name: ${JSON.stringify(instance)}`);
  if (!RELAY_ID.test(relay)) throw new Error(`not a relay id: ${JSON.stringify(relay)}`);
  return `${FARM_PREFIX}.relay.${instance}.${relay}.${direction}`;
}

/** Makes a host name usable as a default instance name (`lab-1.example` → `lab-1_example`). */
export function defaultInstanceName(hostname: string): string {
  const cleaned = hostname.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  return cleaned === '' ? 'instance' : cleaned;
}
