import { describe, expect, it } from 'vitest';
import { prettyLine } from '../../src/log/pretty-line.js';

describe('prettyLine', () => {
  it('shows the message, the event, and only the fields the message does not already show', () => {
    const line = prettyLine({
      level: 30,
      time: 1,
      pid: 7,
      msg: 'served on /run/x.sock',
      event: 'transaction.served',
      servicePath: '/run/x.sock',
      peerPid: 42,
      peerUid: 0,
      name: 'anbox-oob',
    });
    expect(line).toBe('served on /run/x.sock [transaction.served] peerPid=42 peerUid=0');
  });

  it('quotes strings with spaces or equals signs, prints arrays and objects as JSON, drops null and empty arrays', () => {
    const line = prettyLine({ msg: 'm', reason: 'no such file', url: 'http://h/?a=b', names: ['a', 'b'], gone: null, none: [], extra: { k: 1 } });
    expect(line).toBe('m reason="no such file" url="http://h/?a=b" names=["a","b"] extra={"k":1}');
  });

  it('puts an error stack under the line, indented; an error without a stack becomes error=…', () => {
    const withStack = prettyLine({ msg: 'failed', err: { message: 'boom', stack: 'Error: boom\n    at x' } });
    expect(withStack).toBe('failed\n    Error: boom\n        at x');
    expect(prettyLine({ msg: 'failed', error: 'ENOENT' })).toBe('failed error="ENOENT"');
  });
});
