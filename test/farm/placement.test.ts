import { describe, expect, it } from 'vitest';
import type { PlaceReply, PlacementRequest } from '../../src/farm/farm-messages.js';
import { InstanceRegistry } from '../../src/farm/gateway/instance-registry.js';
import { candidates, describeRequest, placeSession, PLACE_TRIES } from '../../src/farm/gateway/placement.js';
import { GatewayHttpError } from '../../src/platform/gateway.js';
import { status } from './helpers/status.js';

const ok = (session: string): PlaceReply => ({ v: 1, ok: true, session, secret: 'x', stunServers: [] });
const busyReply: PlaceReply = { v: 1, ok: false, code: 'BUSY', message: 'busy' };

async function refusal(promise: Promise<unknown>): Promise<GatewayHttpError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GatewayHttpError) return error;
    throw error;
  }
  throw new Error('placed, but a refusal was expected');
}

describe('placement (pure, with a scripted ask)', () => {
  it('takes the least recently placed free instance, so sessions spread', async () => {
    let now = 0;
    const registry = new InstanceRegistry(() => now);
    for (const name of ['a', 'b', 'c']) registry.heartbeat(status(name));
    const order: string[] = [];
    for (let i = 0; i < 6; i++) {
      now += 10;
      const placed = await placeSession(registry, {}, async (instance) => ok(instance));
      order.push(placed.instance);
      registry.heartbeat(status(placed.instance, { seq: i + 1 })); // free again at once
    }
    expect(order).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('filters by instance, device and labels, and says what did not match', async () => {
    const registry = new InstanceRegistry(() => 0);
    registry.heartbeat(status('x', { device: 'D1', labels: { gpu: 'yes', os: '13' } }));
    registry.heartbeat(status('y', { device: 'D2', labels: { gpu: 'no' } }));
    const pick = (request: PlacementRequest) => candidates(registry, request);
    expect(pick({ labels: { gpu: 'yes' } })).toMatchObject({ kind: 'free', records: [{ name: 'x' }] });
    expect(pick({ device: 'D2' })).toMatchObject({ kind: 'free', records: [{ name: 'y' }] });
    expect(pick({ instance: 'x', labels: { gpu: 'no' } })).toEqual({ kind: 'no-match', asked: 'instance "x", labels {"gpu":"no"}' });
    expect(describeRequest({})).toBe('any instance');
    expect((await refusal(placeSession(registry, { device: 'D9' }, async () => ok('s')))).message).toBe('no instance matches device "D9"');
    expect((await refusal(placeSession(new InstanceRegistry(() => 0), {}, async () => ok('s')))).status).toBe(503);
  });

  it(`asks at most ${PLACE_TRIES} instances; busy everywhere is 503 with Retry-After 5`, async () => {
    const registry = new InstanceRegistry(() => 0);
    for (const name of ['a', 'b', 'c', 'd']) registry.heartbeat(status(name));
    const asked: string[] = [];
    const error = await refusal(
      placeSession(registry, {}, async (instance) => {
        asked.push(instance);
        return busyReply;
      }),
    );
    expect(asked).toHaveLength(PLACE_TRIES);
    expect(error).toMatchObject({ status: 503, retryAfterSeconds: 5 });
    expect(error.message).toBe(`no free instance: ${PLACE_TRIES} of 4 busy`); // the 4th was never asked
  });

  it('skips an instance that does not answer and one that is busy, and places on the next', async () => {
    const registry = new InstanceRegistry(() => 0);
    for (const name of ['a', 'b', 'c']) registry.heartbeat(status(name));
    const placed = await placeSession(registry, {}, async (instance) => {
      if (instance === 'a') throw new Error('timeout');
      return instance === 'b' ? busyReply : ok('s-c');
    });
    expect(placed.instance).toBe('c');
    expect(placed.skipped.map((s) => s.instance)).toEqual(['a', 'b']);
    const timeouts = new InstanceRegistry(() => 0);
    timeouts.heartbeat(status('z'));
    const error = await refusal(placeSession(timeouts, {}, async () => Promise.reject(new Error('timeout'))));
    expect(error.message).toMatch(/placement timed out: "z" did not answer within 2 s/);
  });
});
