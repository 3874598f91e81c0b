import { describe, expect, it } from 'vitest';
import { ChannelNameError, channelSocketPath, validateChannelName } from '../../src/channels/channel-name.js';

function problem(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ChannelNameError);
    return (error as ChannelNameError).problem;
  }
}

describe('validateChannelName', () => {
  it.each(['foo', 'a', 'my-channel_2.0', 'A'.repeat(64), '...', '-x', 'control'])('accepts %j', (name) => {
    expect(validateChannelName(name)).toBe(name);
  });

  it.each([
    ['', 'EMPTY'],
    ['.', 'DOT_NAME'],
    ['..', 'DOT_NAME'],
    ['a/b', 'BAD_CHARACTER'],
    ['/', 'BAD_CHARACTER'],
    ['a\u0000b', 'BAD_CHARACTER'],
    ['a,b', 'BAD_CHARACTER'],
    ['a b', 'BAD_CHARACTER'],
    ['new\nline', 'BAD_CHARACTER'],
    ['\u007f', 'BAD_CHARACTER'],
    ["quote'", 'BAD_CHARACTER'],
    ['$(reboot)', 'BAD_CHARACTER'],
    ['é', 'BAD_CHARACTER'],
    ['x'.repeat(65), 'TOO_LONG'],
  ])('refuses %j (%s)', (name, expected) => {
    expect(problem(() => validateChannelName(name))).toBe(expected);
  });

  it('names control characters by code point', () => {
    expect(() => validateChannelName('a\u0001')).toThrow(/U\+0001/);
  });
});

describe('channelSocketPath', () => {
  it('joins the socket dir and the prefixed name', () => {
    expect(channelSocketPath('/run/user/1000/anbox/sockets', 'foo')).toBe('/run/user/1000/anbox/sockets/webrtc_data_foo');
  });

  it('refuses paths that overflow sun_path (107 bytes)', () => {
    const dir = '/' + 'd'.repeat(107 - '/webrtc_data_'.length - 8 - 1);
    expect(Buffer.byteLength(channelSocketPath(dir, 'x'.repeat(8)))).toBe(107);
    expect(problem(() => channelSocketPath(dir, 'x'.repeat(9)))).toBe('PATH_TOO_LONG');
  });

  it('validates the name first', () => {
    expect(problem(() => channelSocketPath('/tmp', '../etc'))).toBe('BAD_CHARACTER');
  });
});
