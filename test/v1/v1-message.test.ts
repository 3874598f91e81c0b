import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/cli.js';
import { checkV1Message, encodeV1ControlMessage, MAX_V1_DATA_BYTES, MAX_V1_TYPE_BYTES, SDK_HANDLED_CONTROL_TYPES } from '../../src/v1/v1-message.js';

describe('v1 messages (pure)', () => {
  it('encodes exactly {"type":T,"data":D}, both strings, in that order, parseable as the SDK does', () => {
    const text = encodeV1ControlMessage('greeting', '{"a":"ü\\n"}');
    expect(text).toBe('{"type":"greeting","data":"{\\"a\\":\\"ü\\\\n\\"}"}');
    const msg = JSON.parse(text) as { type: unknown; data: unknown };
    expect(msg).toEqual({ type: 'greeting', data: '{"a":"ü\\n"}' });
  });

  it('counts the limits in UTF-8 bytes: 256 KiB of type and 1 MiB of data pass, one byte more does not', () => {
    expect(checkV1Message('t'.repeat(MAX_V1_TYPE_BYTES), 'd'.repeat(MAX_V1_DATA_BYTES))).toBeUndefined();
    expect(checkV1Message('t'.repeat(MAX_V1_TYPE_BYTES + 1), '')).toMatchObject({ sent: false, code: 'TYPE_TOO_LARGE' });
    expect(checkV1Message('t', 'd'.repeat(MAX_V1_DATA_BYTES + 1))).toMatchObject({ sent: false, code: 'DATA_TOO_LARGE' });
    // 2-byte characters: half as many fit.
    expect(checkV1Message('t', 'é'.repeat(MAX_V1_DATA_BYTES / 2))).toBeUndefined();
    expect(checkV1Message('t', 'é'.repeat(MAX_V1_DATA_BYTES / 2) + 'x')).toMatchObject({ code: 'DATA_TOO_LARGE' });
  });

  it("refuses the SDK's own control types, null arguments and an empty type; allows types the SDK passes on", () => {
    expect(SDK_HANDLED_CONTROL_TYPES).toEqual(expect.arrayContaining(['open-camera', 'show-ime', 'hide-ime', 'vhal-prop-configs', 'activate-sensor']));
    for (const type of SDK_HANDLED_CONTROL_TYPES) expect(checkV1Message(type, '')).toMatchObject({ sent: false, code: 'RESERVED_TYPE' });
    expect(checkV1Message(null, 'x')).toMatchObject({ code: 'NULL_ARGUMENT' });
    expect(checkV1Message('x', null)).toMatchObject({ code: 'NULL_ARGUMENT' });
    expect(checkV1Message('', 'x')).toMatchObject({ code: 'EMPTY_TYPE' });
    for (const type of ['stream::custom', 'vhal', 'Open-Camera', 'show-ime ', 'greeting']) expect(checkV1Message(type, '')).toBeUndefined();
  });

  it("the served page's copy of the SDK's control types (src/web/app.js, no imports there) is the same list", () => {
    const app = readFileSync(join(REPO_ROOT, 'src', 'web', 'app.js'), 'utf8');
    const match = /const SDK_CONTROL_TYPES = (\[[^\]]*\]);/.exec(app);
    expect(match, 'SDK_CONTROL_TYPES in src/web/app.js').not.toBeNull();
    expect(JSON.parse(match![1]!.replace(/'/g, '"'))).toEqual(SDK_HANDLED_CONTROL_TYPES);
  });
});
