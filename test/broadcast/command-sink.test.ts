import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COMMAND_SINK_DEFAULTS, CommandSink } from '../../src/broadcast/command-sink.js';
import type { ChannelBroadcast } from '../../src/broadcast/types.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { captureLogger } from './helpers.js';

let dir: string;
const sinks: CommandSink[] = [];

beforeEach(() => {
  dir = makeTempDir('aoob-hook-');
});

afterEach(async () => {
  for (const sink of sinks.splice(0)) await sink.close();
  removeTempDir(dir);
});

function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

function makeSink(command: string, args: string[] = [], timeoutMs?: number): CommandSink {
  const { logger } = captureLogger();
  const sink = new CommandSink({ logger, command, args, timeoutMs, env: { PATH: process.env.PATH } });
  sinks.push(sink);
  return sink;
}

const BROADCAST: ChannelBroadcast = { sequence: 7, event: 'created', names: ['foo', 'bar.baz'], timestamp: 1_700_000_000_123 };

describe('CommandSink (--broadcast-hook)', () => {
  it('documents its timeout', () => {
    expect(COMMAND_SINK_DEFAULTS.timeoutMs).toBe(10_000);
  });

  it('passes the event, "--" and the names as arguments after the fixed ones, the details as environment and stdin', async () => {
    const out = join(dir, 'out');
    const hook = script(
      'hook',
      `out="$1"; shift
       { for a in "$@"; do printf 'arg=%s\\n' "$a"; done
         printf 'event=%s\\nchannels=%s\\nsequence=%s\\naction=%s\\ntimestamp=%s\\n' "$ANBOX_OOB_EVENT" "$ANBOX_OOB_CHANNELS" "$ANBOX_OOB_SEQUENCE" "$ANBOX_OOB_ACTION" "$ANBOX_OOB_TIMESTAMP"
         printf 'stdin=%s\\n' "$(cat)"; } > "$out"`,
    );
    const result = await makeSink(hook, [out, 'fixed arg']).deliver(BROADCAST);
    expect(result).toEqual({ sink: 'hook', ok: true, detail: 'delivered', attempts: 1 });
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines).toEqual([
      'arg=fixed arg',
      'arg=created',
      'arg=--',
      'arg=foo',
      'arg=bar.baz',
      'event=created',
      'channels=foo,bar.baz',
      'sequence=7',
      'action=com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS',
      'timestamp=1700000000123',
      `stdin=${JSON.stringify({ action: 'com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS', event: 'created', names: ['foo', 'bar.baz'], sequence: 7, timestamp: 1_700_000_000_123 })}`,
    ]);
  });

  it('runs no shell: metacharacters in fixed arguments stay literal', async () => {
    const out = join(dir, 'literal');
    const hook = script('hook', `printf '%s|' "$@" > "${out}"`);
    expect((await makeSink(hook, ['$(id)', ';', '*']).deliver(BROADCAST)).ok).toBe(true);
    expect(readFileSync(out, 'utf8')).toBe('$(id)|;|*|created|--|foo|bar.baz|');
  });

  it('a non-zero exit is a failure carrying the end of stderr', async () => {
    const hook = script('hook', `echo "cannot reach the device" >&2; exit 4`);
    const result = await makeSink(hook).deliver(BROADCAST);
    expect(result).toEqual({ sink: 'hook', ok: false, detail: 'hook exited with code 4: cannot reach the device', attempts: 1 });
  });

  it('a hook that does not finish is killed at the timeout and reported', async () => {
    const hook = script('hook', 'exec sleep 30');
    const result = await makeSink(hook, [], 200).deliver(BROADCAST);
    expect(result).toMatchObject({ ok: false, detail: 'hook timed out after 200 ms' });
  });

  it('a missing hook is a failure, and the sink keeps working', async () => {
    const sink = makeSink(join(dir, 'nope'));
    expect(await sink.deliver(BROADCAST)).toMatchObject({ ok: false, detail: `hook not found: ${join(dir, 'nope')}` });
    expect(await sink.deliver({ ...BROADCAST, sequence: 8 })).toMatchObject({ ok: false });
  });

  it('a hook that ignores stdin is fine', async () => {
    const hook = script('hook', 'exit 0');
    expect((await makeSink(hook).deliver(BROADCAST)).ok).toBe(true);
  });

  it('refuses an empty command', () => {
    const { logger } = captureLogger();
    expect(() => new CommandSink({ logger, command: '' })).toThrow(/empty/);
  });
});
