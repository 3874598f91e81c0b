/**
 * Issue 9 item 9: a channel name may start with "-" ("--help", "-o" are valid names), and the
 * broadcast hook got it as an option: a hook parsing its arguments the usual way (Python's argparse
 * here) printed its help and "delivered" nothing, or took "-o" as an option. The daemon now runs
 * `HOOK [ARGS] <event> -- <names>`, so every name reaches the hook as an operand.
 * End to end: real `proxy`, channels made by real socat listeners, a real Python hook.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killAllSocat, startSocat, waitFor } from '../broadcast/helpers.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';

/** Records each run as one JSON line: what argparse made of the argv. */
const HOOK = `#!/usr/bin/env python3
import argparse, json, sys
parser = argparse.ArgumentParser()
parser.add_argument('log')
parser.add_argument('-o', '--output')
parser.add_argument('event')
parser.add_argument('names', nargs='*')
args = parser.parse_args()
with open(args.log, 'a') as f:
    f.write(json.dumps({'event': args.event, 'names': args.names, 'output': args.output}) + '\\n')
`;

let dir: string;
let daemon: DaemonHandle | undefined;

beforeAll(() => {
  const probe = spawnSync('python3', ['--version']);
  if (probe.error) throw new Error('python3 is missing: install it (apt-get install python3)');
  const socat = spawnSync('socat', ['-V']);
  if (socat.error) throw new Error('socat is missing: install it (apt-get install socat)');
});

afterEach(async () => {
  await killAllSocat();
  await daemon?.stop();
  daemon = undefined;
  if (dir) removeTempDir(dir);
});

describe('the broadcast hook and names that start with "-"', () => {
  it('gets every name as an operand after "--"', async () => {
    dir = makeTempDir('aoob-hook-');
    const hook = join(dir, 'hook.py');
    const log = join(dir, 'hook.log');
    writeFileSync(hook, HOOK);
    chmodSync(hook, 0o755);
    const socketDir = join(dir, 'sockets');
    mkdirSync(socketDir, { mode: 0o750 });
    daemon = await startDaemon(dir, ['--broadcast-hook', hook, '--broadcast-hook-arg', log, '--broadcast-window', '300']);
    // One batch: the three appear within the window.
    for (const name of ['--help', '-o', 'plain']) await startSocat(join(socketDir, `webrtc_data_${name}`));
    await waitFor(() => existsSync(log) && readFileSync(log, 'utf8').includes('plain'), 'the hook to record the created broadcast', 20_000);
    const runs = readFileSync(log, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { event: string; names: string[]; output: string | null });
    const names = runs.flatMap((r) => r.names).sort();
    expect(names).toEqual(['--help', '-o', 'plain']);
    expect(runs.every((r) => r.event === 'created' && r.output === null)).toBe(true);
    const results = daemon.logLines().filter((l) => l.event === 'broadcast.delivered' || l.event === 'broadcast.failed');
    expect(runs.length).toBeGreaterThan(0);
    expect(results.filter((l) => l.event === 'broadcast.delivered').length).toBeGreaterThan(0);
    expect(results.some((l) => l.event === 'broadcast.failed')).toBe(false);
  }, 60_000);
});
