/**
 * Issue 9 item 9: `anbox-oob listen` shows what it receives but does not vouch for it. A datagram
 * in its socket naming channels the daemon could never make (a name starting with "-", a terminal
 * escape sequence, a C1 control, a bidi override) is printed, flagged "valid": false with the
 * offending names and why, never dropped; no control or invisible character reaches the terminal
 * raw. Real `listen` process, real datagrams.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeChannelStatusIntent } from '../../src/broadcast/local/intent-codec.js';
import { closeDatagramSocket, createDatagramSocket, sendDatagram } from '../../src/broadcast/local/unix-dgram.js';
import { waitFor } from '../broadcast/helpers.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { cliArgv, killStarted, startProcess } from './helpers.js';

const ACTION = 'com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS';
const HOSTILE = ['ok', '\u001b]0;pwned\u0007', 'a\u009b2J', 'evil\u202etxt.exe', 'x\u007f', 'has,comma'];

let dir: string | undefined;

afterEach(async () => {
  await killStarted();
  if (dir) removeTempDir(dir);
  dir = undefined;
});

describe('listen and names the validator refuses', () => {
  it('prints them flagged, escaped, and still prints the valid broadcasts', async () => {
    dir = makeTempDir('aoob-lsn-');
    const receivers = join(dir, 'receivers');
    const listen = startProcess(cliArgv(['listen', '--receivers-dir', receivers, '--count', '3']));
    await waitFor(() => /receiving broadcasts at (\S+)/.test(listen.output()) || listen.child.exitCode !== null, 'listen to bind');
    const path = /receiving broadcasts at (\S+)/.exec(listen.output())?.[1];
    if (!path) throw new Error(`listen did not start:\n${listen.output()}`);
    let stdout = '';
    listen.child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));

    const sender = createDatagramSocket();
    try {
      expect(await sendDatagram(sender, encodeChannelStatusIntent({ sequence: 1, event: 'created', names: HOSTILE, timestamp: 1 }), path)).toBe(0);
      expect(await sendDatagram(sender, encodeChannelStatusIntent({ sequence: 2, event: 'created', names: ['--help'], timestamp: 2 }, 'com.example.FORGED'), path)).toBe(0);
      expect(await sendDatagram(sender, encodeChannelStatusIntent({ sequence: 3, event: 'destroyed', names: ['fine', '-dash-start'], timestamp: 3 }), path)).toBe(0);
    } finally {
      closeDatagramSocket(sender);
    }
    expect(await listen.exited).toBe(0);

    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    // Nothing outside printable ASCII reaches the terminal raw.
    expect(stdout).toMatch(/^[\x20-\x7e\n]*$/);

    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(first.names).toEqual(HOSTILE); // shown as received: JSON escapes decode to the same strings
    expect(first.valid).toBe(false);
    expect(first.invalidNames).toEqual(HOSTILE.slice(1));
    expect((first.problems as string[]).length).toBe(5);
    expect((first.problems as string[])[0]).toContain('control character U+001B');

    const second = JSON.parse(lines[1]!) as Record<string, unknown>;
    expect(second).toMatchObject({ sequence: 2, names: ['--help'], action: 'com.example.FORGED', valid: false, invalidNames: [] });
    expect(String((second.problems as string[])[0])).toContain(`not ${ACTION}`);

    // Valid names, even ones starting with "-", are plain broadcasts: the line is as before.
    expect(lines[2]).toBe(`{"sequence":3,"event":"destroyed","names":["fine","-dash-start"],"timestamp":3,"action":"${ACTION}"}`);
  }, 30_000);
});
