import { describe, expect, it } from 'vitest';
import {
  decodeInstanceStatus,
  decodePlaceReply,
  decodePlacementRequest,
  decodeRelayMessage,
  decodeSignalOpen,
  encodeFarmMessage,
  FarmMessageError,
  MAX_FARM_MESSAGE_BYTES,
  MAX_RELAY_FRAME_BYTES,
  type InstanceStatus,
} from '../../src/farm/farm-messages.js';
import { defaultInstanceName, instanceSubject, relaySubject } from '../../src/farm/subjects.js';

const status: InstanceStatus = {
  v: 1,
  instance: 'lab-1',
  boot: 'b0',
  host: 'host-a',
  device: 'emulator-5554',
  labels: { gpu: 'yes' },
  state: 'free',
  session: null,
  channels: ['control', 'foo'],
  seq: 3,
  intervalMs: 1000,
  startedAt: '2026-12-04T00:00:00.000Z',
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof FarmMessageError) return error.code;
    throw error;
  }
  return undefined;
}

describe('farm messages', () => {
  it('round-trips an instance status', () => {
    expect(decodeInstanceStatus(encodeFarmMessage(status))).toEqual(status);
  });

  it('refuses what breaks the documented bounds, with stable codes', () => {
    const enc = (o: object) => encodeFarmMessage(o);
    expect(codeOf(() => decodeInstanceStatus(enc({ ...status, v: 2 })))).toBe('WRONG_VERSION');
    expect(codeOf(() => decodeInstanceStatus(enc({ ...status, instance: 'a.b' })))).toBe('BAD_FIELD');
    expect(codeOf(() => decodeInstanceStatus(enc({ ...status, instance: '>' })))).toBe('BAD_FIELD');
    expect(codeOf(() => decodeInstanceStatus(enc({ ...status, intervalMs: 10 })))).toBe('BAD_FIELD');
    expect(codeOf(() => decodeInstanceStatus(enc({ ...status, state: 'gone' })))).toBe('BAD_FIELD');
    const labels = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    expect(codeOf(() => decodeInstanceStatus(enc({ ...status, labels })))).toBe('BAD_FIELD');
    expect(codeOf(() => decodeInstanceStatus(new Uint8Array([0xff, 0xfe])))).toBe('NOT_JSON');
    expect(codeOf(() => decodeInstanceStatus(enc([1, 2])))).toBe('NOT_OBJECT');
    expect(codeOf(() => decodeInstanceStatus(new Uint8Array(MAX_FARM_MESSAGE_BYTES + 1)))).toBe('TOO_LARGE');
  });

  it('keeps placement fields only in their documented shapes', () => {
    expect(decodePlacementRequest({ app: 'x', labels: { a: 'b' }, screen: { width: 1 } })).toEqual({ app: 'x', labels: { a: 'b' } });
    expect(codeOf(() => decodePlacementRequest({ instance: 'no spaces' }))).toBe('BAD_FIELD');
    expect(codeOf(() => decodePlacementRequest({ labels: { a: 1 } }))).toBe('BAD_FIELD');
  });

  it('decodes replies, signal opens and relay messages', () => {
    expect(decodePlaceReply(encodeFarmMessage({ v: 1, ok: false, code: 'BUSY', message: 'busy' }))).toEqual({ v: 1, ok: false, code: 'BUSY', message: 'busy' });
    expect(codeOf(() => decodePlaceReply(encodeFarmMessage({ v: 1, ok: false, code: 'NOPE', message: '' })))).toBe('BAD_FIELD');
    const relay = 'a'.repeat(32);
    expect(decodeSignalOpen(encodeFarmMessage({ v: 1, gateway: 'g', session: 's', secret: 'x', relay }))).toMatchObject({ relay });
    expect(codeOf(() => decodeSignalOpen(encodeFarmMessage({ v: 1, gateway: 'g', session: 's', secret: 'x', relay: 'a.b' })))).toBe('BAD_FIELD');
    expect(decodeRelayMessage(encodeFarmMessage({ t: 'frame', data: '{"type":"offer"}' }))).toEqual({ t: 'frame', data: '{"type":"offer"}' });
    expect(codeOf(() => decodeRelayMessage(encodeFarmMessage({ t: 'frame', data: 'x'.repeat(MAX_RELAY_FRAME_BYTES + 1) })))).toBe('TOO_LARGE');
    expect(codeOf(() => decodeRelayMessage(encodeFarmMessage({ t: 'close', code: 5, reason: '' })))).toBe('BAD_FIELD');
  });

  it('builds subjects only from safe tokens', () => {
    expect(instanceSubject('lab-1', 'place')).toBe('anbox-oob.farm.instance.lab-1.place');
    expect(() => instanceSubject('a.>', 'place')).toThrow();
    expect(() => relaySubject('lab-1', 'zz', 'to-client')).toThrow();
    expect(() => relaySubject('a.>', '0'.repeat(32), 'to-client')).toThrow();
    expect(() => relaySubject('a.*', '0'.repeat(32), 'to-client')).toThrow();
    expect(relaySubject('lab-1', '0'.repeat(32), 'to-instance')).toBe(`anbox-oob.farm.relay.lab-1.${'0'.repeat(32)}.to-instance`);
    expect(defaultInstanceName('lab-1.example.org')).toBe('lab-1_example_org');
  });
});
