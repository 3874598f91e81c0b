import { describe, expect, it } from 'vitest';
import { closeReason, MAX_CLOSE_REASON_BYTES, sendableCloseCode } from '../../src/platform/websocket-close.js';

describe('WebSocket close frames', () => {
  it('keeps a reason that fits, and cuts a longer one to 123 bytes at a character boundary', () => {
    expect(closeReason('instance "lab-1" stopped answering')).toBe('instance "lab-1" stopped answering');
    expect(closeReason('a'.repeat(200))).toBe('a'.repeat(MAX_CLOSE_REASON_BYTES));
    // 'é' is 2 bytes: 61 of them are 122 bytes, the 62nd would make 124.
    expect(closeReason('é'.repeat(100))).toBe('é'.repeat(61));
    // '😀' is 4 bytes (a surrogate pair in JS): 30 are 120 bytes, the 31st would make 124.
    const emoji = closeReason('😀'.repeat(40));
    expect(emoji).toBe('😀'.repeat(30));
    expect(Buffer.byteLength(closeReason('x' + '€'.repeat(60)))).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES);
    expect(closeReason('x' + '€'.repeat(60))).toBe('x' + '€'.repeat(40));
  });

  it('sends only codes a close frame may carry', () => {
    for (const code of [1000, 1001, 1003, 1008, 1011, 1014, 3000, 4999]) expect(sendableCloseCode(code)).toBe(code);
    for (const code of [999, 1004, 1005, 1006, 1015, 2999, 5000]) expect(sendableCloseCode(code)).toBe(1011);
  });
});
