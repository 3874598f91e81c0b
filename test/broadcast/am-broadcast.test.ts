import { describe, expect, it } from 'vitest';
import { adbBroadcastArgs, amBroadcastWords, parseAmBroadcastOutput, validateAmBroadcastTarget } from '../../src/broadcast/adb/am-broadcast.js';
import { deviceShellCommand, quoteForDeviceShell } from '../../src/broadcast/adb/shell-quote.js';
import { shellWords } from './helpers.js';


const HOSTILE = ['a b', '$(reboot)', '`reboot`', "it's", ';', '*', '', "''", '\\', '"x"', 'a\nb', '--user', '$HOME', '&&', '|', '> /sdcard/x', '#'];

describe('quoteForDeviceShell', () => {
  it('wraps in single quotes and escapes single quotes', () => {
    expect(quoteForDeviceShell('foo')).toBe("'foo'");
    expect(quoteForDeviceShell('')).toBe("''");
    expect(quoteForDeviceShell("it's")).toBe("'it'\\''s'");
    expect(quoteForDeviceShell('$(reboot)')).toBe("'$(reboot)'");
  });

  it('survives a real shell: every hostile word comes back as itself, empty ones included', () => {
    expect(shellWords(deviceShellCommand(HOSTILE))).toEqual(HOSTILE);
  });

  it('refuses NUL', () => {
    expect(() => quoteForDeviceShell('a\0b')).toThrow(/NUL/);
  });
});

describe('amBroadcastWords / adbBroadcastArgs', () => {
  it('builds the Anbox broadcast', () => {
    expect(amBroadcastWords('created', ['foo', 'bar'])).toEqual([
      'am', 'broadcast', '-a', 'com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS',
      '--es', 'event', 'created', '--esa', 'data-channel-names', 'foo,bar',
    ]);
  });

  it('adds the target switches', () => {
    expect(amBroadcastWords('destroyed', ['x'], { package: 'com.example.app', includeBackground: true, user: 'current' }).slice(10)).toEqual([
      '-p', 'com.example.app', '--receiver-include-background', '--user', 'current',
    ]);
    expect(amBroadcastWords('created', ['x'], { component: 'com.example.app/.Receiver' }).slice(10)).toEqual(['-n', 'com.example.app/.Receiver']);
  });

  it('quotes every device-side word and leaves the local serial alone', () => {
    const args = adbBroadcastArgs({ event: 'created', names: ['foo.bar', 'baz-1'] }, { serial: 'emulator-5554' });
    expect(args).toEqual([
      '-s', 'emulator-5554', 'shell',
      "'am'", "'broadcast'", "'-a'", "'com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS'",
      "'--es'", "'event'", "'created'", "'--esa'", "'data-channel-names'", "'foo.bar,baz-1'",
    ]);
    expect(adbBroadcastArgs({ event: 'created', names: ['x'] })[0]).toBe('shell');
  });

  it('hostile names reach the device shell as single words', () => {
    const names = HOSTILE.filter((n) => n.length > 0);
    const args = adbBroadcastArgs({ event: 'destroyed', names });
    // adb joins the words after "shell" with spaces; the device's sh splits them again.
    expect(shellWords(args.slice(1).join(' '))).toEqual(amBroadcastWords('destroyed', names));
    expect(shellWords(args.slice(1).join(' ')).at(-1)).toBe(names.join(','));
  });

  it('refuses what cannot travel: commas, empty names, no names, bad targets', () => {
    expect(() => amBroadcastWords('created', ['a,b'])).toThrow(/--esa/);
    expect(() => amBroadcastWords('created', [''])).toThrow(/--esa/);
    expect(() => amBroadcastWords('created', [])).toThrow(/at least one/);
    expect(() => validateAmBroadcastTarget({ package: 'a', component: 'a/.B' })).toThrow(/not both/);
    expect(() => validateAmBroadcastTarget({ component: 'nocls' })).toThrow(/PKG\/CLS/);
    expect(() => validateAmBroadcastTarget({ user: 'me; reboot' })).toThrow(/user/);
    expect(() => validateAmBroadcastTarget({ package: '$(reboot)' })).toThrow(/package/);
  });
});

describe('parseAmBroadcastOutput', () => {
  it('success is "Broadcast completed: result="', () => {
    const out = 'Broadcasting: Intent { act=x flg=0x400000 (has extras) }\nBroadcast completed: result=0\n';
    expect(parseAmBroadcastOutput(out)).toEqual({ ok: true, detail: 'delivered (Broadcast completed: result=0)' });
  });

  it('an Error: line or an exception is a failure, even with exit code 0', () => {
    expect(parseAmBroadcastOutput('Error: Bad component name: x\n')).toEqual({ ok: false, detail: 'am: Error: Bad component name: x' });
    expect(parseAmBroadcastOutput('Broadcasting: Intent { }\n', 'java.lang.SecurityException: Permission Denial: not allowed\n')).toEqual({
      ok: false,
      detail: 'am: java.lang.SecurityException: Permission Denial: not allowed',
    });
    expect(parseAmBroadcastOutput('Exception occurred while executing \'broadcast\':\nBroadcast completed: result=0\n').ok).toBe(false);
  });

  it('no completion line is a failure (e.g. am missing over the legacy shell service)', () => {
    expect(parseAmBroadcastOutput('/system/bin/sh: am: not found\n')).toEqual({ ok: false, detail: 'am: unexpected output: /system/bin/sh: am: not found' });
    expect(parseAmBroadcastOutput('')).toEqual({ ok: false, detail: 'am printed nothing' });
  });
});
