import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodeChannelStatusIntent,
  encodeChannelStatusIntent,
  IntentCodecError,
  MAX_INTENT_BYTES,
} from '../../../src/broadcast/local/intent-codec.js';
import { CHANNEL_STATUS_ACTION, type ChannelBroadcast } from '../../../src/broadcast/types.js';
import { REPO_ROOT } from '../../helpers/cli.js';

/** The annotated example of docs/broadcasts.md, byte for byte. */
const DOC_EXAMPLE = [
  '0a 32',
  '63 6f 6d 2e 63 61 6e 6f 6e 69 63 61 6c 2e 61 6e 62 6f 78 2e 42 52 4f 41 44 43 41 53 54 5f',
  '44 41 54 41 5f 43 48 41 4e 4e 45 4c 53 5f 53 54 41 54 55 53',
  '12 07 63 72 65 61 74 65 64',
  '1a 03 66 6f 6f',
  '20 01',
  '28 80 d0 95 ff bc 31',
].join(' ');

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

function codecError(fn: () => unknown): IntentCodecError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(IntentCodecError);
    return error as IntentCodecError;
  }
  throw new Error('expected an IntentCodecError');
}

describe('ChannelStatusIntent codec', () => {
  it('encodes the documented example byte for byte, and decodes it back', () => {
    const broadcast: ChannelBroadcast = { sequence: 1, event: 'created', names: ['foo'], timestamp: 1_700_000_000_000 };
    const bytes = encodeChannelStatusIntent(broadcast);
    expect(bytes.toString('hex')).toBe(hex(DOC_EXAMPLE).toString('hex'));
    expect(bytes.length).toBe(75);
    expect(decodeChannelStatusIntent(hex(DOC_EXAMPLE))).toEqual({ ...broadcast, action: CHANNEL_STATUS_ACTION });
  });

  it('the example in docs/broadcasts.md is the one tested here', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'broadcasts.md'), 'utf8');
    for (const line of ['0a 32', '12 07 63 72 65 61 74 65 64', '1a 03 66 6f 6f', '20 01', '28 80 d0 95 ff bc 31']) expect(doc).toContain(line);
    expect(doc).toContain('as the 75 bytes of its datagram');
  });

  it('round-trips several names, both events, large values and odd names', () => {
    const cases: ChannelBroadcast[] = [
      { sequence: 2, event: 'destroyed', names: ['foo', 'bar'], timestamp: 1_700_000_000_250 },
      { sequence: Number.MAX_SAFE_INTEGER, event: 'created', names: ['a.b_c-D9', 'x'.repeat(64)], timestamp: 0 },
      { sequence: 0, event: 'created', names: [], timestamp: Date.now() },
      { sequence: 7, event: 'destroyed', names: ['ünïcødé', 'emoji-😀'], timestamp: 1 },
    ];
    for (const broadcast of cases) {
      expect(decodeChannelStatusIntent(encodeChannelStatusIntent(broadcast))).toEqual({ ...broadcast, action: CHANNEL_STATUS_ACTION });
    }
  });

  it('keeps the order of names and repeats field 3 per name', () => {
    const bytes = encodeChannelStatusIntent({ sequence: 2, event: 'destroyed', names: ['foo', 'bar'], timestamp: 1_700_000_000_250 });
    expect(bytes.toString('hex')).toContain(hex('1a 03 66 6f 6f 1a 03 62 61 72').toString('hex'));
  });

  it('sends another action when asked, and decodes whatever action came', () => {
    const bytes = encodeChannelStatusIntent({ sequence: 1, event: 'created', names: ['a'], timestamp: 5 }, 'org.example.ACTION');
    expect(decodeChannelStatusIntent(bytes).action).toBe('org.example.ACTION');
  });

  it('skips unknown fields and accepts any field order', () => {
    // timestamp, names, unknown field 9 (varint), event, unknown field 10 (bytes), sequence, unknown fixed32/fixed64
    const bytes = hex('28 05  1a 01 61  48 96 01  12 07 63 72 65 61 74 65 64  52 02 ff ff  20 03  6d 01 02 03 04  71 01 02 03 04 05 06 07 08');
    expect(decodeChannelStatusIntent(bytes)).toEqual({ sequence: 3, event: 'created', names: ['a'], timestamp: 5, action: '' });
  });

  it('reports malformed datagrams with typed errors', () => {
    expect(codecError(() => decodeChannelStatusIntent(hex('ff'))).code).toBe('MALFORMED_INTENT');
    expect(codecError(() => decodeChannelStatusIntent(hex('0a 05 ab'))).code).toBe('MALFORMED_INTENT');
    expect(codecError(() => decodeChannelStatusIntent(Buffer.alloc(0))).code).toBe('UNKNOWN_EVENT');
    expect(codecError(() => decodeChannelStatusIntent(hex('12 03 66 6f 6f'))).code).toBe('UNKNOWN_EVENT');
    const huge = codecError(() => decodeChannelStatusIntent(hex('12 07 63 72 65 61 74 65 64 20 ff ff ff ff ff ff ff ff ff 01')));
    expect(huge.code).toBe('VALUE_OUT_OF_RANGE');
    expect(huge.message).toContain('18446744073709551615');
  });

  it('refuses broadcasts the format cannot carry', () => {
    const base: ChannelBroadcast = { sequence: 1, event: 'created', names: ['a'], timestamp: 1 };
    expect(codecError(() => encodeChannelStatusIntent({ ...base, sequence: -1 })).code).toBe('VALUE_OUT_OF_RANGE');
    expect(codecError(() => encodeChannelStatusIntent({ ...base, timestamp: 1.5 })).code).toBe('VALUE_OUT_OF_RANGE');
    expect(codecError(() => encodeChannelStatusIntent({ ...base, event: 'changed' as unknown as 'created' })).code).toBe('UNKNOWN_EVENT');
    expect(codecError(() => encodeChannelStatusIntent({ ...base, names: [42 as unknown as string] })).code).toBe('INVALID_NAME');
    const many = Array.from({ length: 1100 }, (_, i) => `${'n'.repeat(58)}${String(i).padStart(6, '0')}`);
    const tooLarge = codecError(() => encodeChannelStatusIntent({ ...base, names: many }));
    expect(tooLarge.code).toBe('INTENT_TOO_LARGE');
    expect(tooLarge.message).toContain(String(MAX_INTENT_BYTES));
  });
});
