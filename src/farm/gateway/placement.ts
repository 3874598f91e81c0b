import type { PlacementRequest, PlaceReply } from '../farm-messages.js';
import { GatewayHttpError } from '../../platform/gateway.js';
import type { InstanceRecord, InstanceRegistry } from './instance-registry.js';

/**
 * Where a new session goes (docs/farm.md "Placement"): the free instances matching the request's
 * `instance`, `device` and `labels`, least recently placed first; each is asked in turn (at most
 * PLACE_TRIES) until one takes the session. The answers the client sees are GatewayHttpErrors.
 */

/** How long the gateway waits for an instance's answer to place/join/signal. */
export const PLACE_TIMEOUT_MS = 2000;
/** Instances asked for one session before giving up. */
export const PLACE_TRIES = 3;
/** What a client told "every instance is busy" should wait before retrying. */
export const BUSY_RETRY_AFTER_SECONDS = 5;

export type Candidates =
  | { kind: 'no-instance' }
  | { kind: 'no-match'; asked: string }
  /** Every matching instance (`total`) is busy. */
  | { kind: 'all-busy'; total: number }
  | { kind: 'free'; records: InstanceRecord[]; total: number };

/** What the request asks for, in words: `instance "a", device "R58", labels {"gpu":"yes"}`. */
export function describeRequest(request: PlacementRequest): string {
  const parts: string[] = [];
  if (request.instance !== undefined) parts.push(`instance ${JSON.stringify(request.instance)}`);
  if (request.device !== undefined) parts.push(`device ${JSON.stringify(request.device)}`);
  if (request.labels !== undefined && Object.keys(request.labels).length > 0) parts.push(`labels ${JSON.stringify(request.labels)}`);
  return parts.length === 0 ? 'any instance' : parts.join(', ');
}

export function matches(record: InstanceRecord, request: PlacementRequest): boolean {
  const { status } = record;
  if (request.instance !== undefined && status.instance !== request.instance) return false;
  if (request.device !== undefined && status.device !== request.device) return false;
  for (const [key, value] of Object.entries(request.labels ?? {})) {
    if (status.labels[key] !== value) return false;
  }
  return true;
}

/** Pure: the free matching instances in the order to ask them, or why there is none. */
export function candidates(registry: InstanceRegistry, request: PlacementRequest): Candidates {
  const all = registry.all();
  if (all.length === 0) return { kind: 'no-instance' };
  const matching = all.filter((r) => matches(r, request));
  if (matching.length === 0) return { kind: 'no-match', asked: describeRequest(request) };
  const free = matching.filter((r) => registry.stateOf(r) === 'free');
  if (free.length === 0) return { kind: 'all-busy', total: matching.length };
  free.sort((a, b) => a.lastPlacedAt - b.lastPlacedAt || a.name.localeCompare(b.name));
  return { kind: 'free', records: free, total: matching.length };
}

/** Asks one instance to take the session; rejects on timeout or transport failure. */
export type AskInstance = (instance: string, request: PlacementRequest) => Promise<PlaceReply>;

export interface Placed {
  instance: string;
  reply: Extract<PlaceReply, { ok: true }>;
  /** Instances that were asked first and said no, or did not answer. */
  skipped: { instance: string; why: string }[];
}

/** Places one session, or throws the GatewayHttpError the client should get. */
export async function placeSession(registry: InstanceRegistry, request: PlacementRequest, ask: AskInstance): Promise<Placed> {
  const found = candidates(registry, request);
  switch (found.kind) {
    case 'no-instance':
      throw new GatewayHttpError(503, 'no instance is registered with this gateway (start `anbox-oob serve --nats URL` on the device hosts)', {
        retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS,
      });
    case 'no-match':
      throw new GatewayHttpError(404, request.instance !== undefined && request.device === undefined && request.labels === undefined ? `no instance named ${JSON.stringify(request.instance)}` : `no instance matches ${found.asked}`);
    case 'all-busy':
      throw busy(found.total, found.total);
    case 'free':
      break;
  }
  const skipped: Placed['skipped'] = [];
  let timedOut = 0;
  for (const record of found.records.slice(0, PLACE_TRIES)) {
    registry.markPlaced(record.name);
    let reply: PlaceReply;
    try {
      reply = await ask(record.name, request);
    } catch (error) {
      timedOut++;
      skipped.push({ instance: record.name, why: error instanceof Error ? error.message : String(error) });
      continue;
    }
    registry.markBusy(record.name);
    if (reply.ok) return { instance: record.name, reply, skipped };
    if (reply.code === 'BAD_REQUEST') throw new GatewayHttpError(400, `instance ${JSON.stringify(record.name)} refused the request: ${reply.message}`);
    skipped.push({ instance: record.name, why: `${reply.code}: ${reply.message}` });
  }
  if (timedOut === skipped.length) {
    throw new GatewayHttpError(503, `placement timed out: ${skipped.map((s) => JSON.stringify(s.instance)).join(', ')} did not answer within ${PLACE_TIMEOUT_MS / 1000} s`, {
      retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS,
    });
  }
  const now = candidates(registry, request);
  throw now.kind === 'all-busy' ? busy(now.total, now.total) : busy(skipped.length, found.total);
}

function busy(busyCount: number, total: number): GatewayHttpError {
  return new GatewayHttpError(503, `no free instance: ${busyCount} of ${total} busy`, { retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS });
}
