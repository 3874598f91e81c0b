/**
 * The README's "Several hosts: the farm" try-it block (between `<!-- farm-try:begin … -->` and
 * `<!-- farm-try:end -->`), followed line by line as a reader types it, with real processes:
 * nats-server, `anbox-oob gateway`, two `anbox-oob serve --nats`, `status --nats` (lab-1 and lab-2
 * listed, free), `client` through the gateway and `connect foo` against lab-1's service socket in a
 * "second terminal": a line each way, then `status --nats` shows lab-1 streaming, and Ctrl-D ends
 * the client cleanly.
 *
 * Departures, all textual and listed here: `anbox-oob` is a shim on PATH running this checkout's
 * dist/src/cli/main.js; the ports 4222, 8780, 8801 and 8802 become free ones and `/tmp/farm` this
 * test's temp dir (so that parallel runs and a developer's own farm never collide); HOME and
 * XDG_RUNTIME_DIR point into the temp dir. Each `CMD &` line runs as its own process (`exec CMD`
 * under bash); `status` runs again while the instances' first heartbeats are on their way (a reader
 * would run it again too); `client` and `connect` get a pipe for stdin, as a terminal would.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, CLI } from '../helpers/cli.js';
import { freeUdpAndTcpPort } from '../helpers/free-port.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { cleanEnv } from '../cli/helpers/daemon-process.js';
import { waitFor } from '../platform/helpers/harness.js';
import { readmeBlock } from './helpers/readme-block.js';
import { startProc, type Proc } from './helpers/process.js';

let dir: string;
let env: NodeJS.ProcessEnv;
const procs: Proc[] = [];

/** The block's commands: `\` continuations joined, `&` noted. */
function parseCommands(block: string): { command: string; background: boolean }[] {
  const joined = block.replace(/\\\n\s*/g, '');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => (line.endsWith(' &') ? { command: line.slice(0, -2).trim(), background: true } : { command: line, background: false }));
}

beforeAll(() => {
  assertBuilt();
  dir = makeTempDir('aoob-readme-farm-');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'anbox-oob'), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`);
  chmodSync(join(bin, 'anbox-oob'), 0o755);
  for (const sub of ['home', 'run']) mkdirSync(join(dir, sub), { mode: 0o700 });
  env = cleanEnv({ PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: join(dir, 'home'), XDG_RUNTIME_DIR: join(dir, 'run') });
  const probe = spawnSync('nats-server', ['--version']);
  if (probe.error || probe.status !== 0) throw new Error('nats-server is missing: apt-get install nats-server (.ci/run installs it)');
});

afterAll(async () => {
  for (const proc of procs.reverse()) await proc.stop();
  if (dir) removeTempDir(dir);
});

describe("README: the farm's try-it block, line by line", () => {
  it('nats-server, gateway, two instances, status, a client through the gateway and connect on lab-1', { timeout: 120_000 }, async () => {
    const ports = new Map<string, number>();
    for (const port of ['4222', '8780', '8801', '8802']) ports.set(port, await freeUdpAndTcpPort());
    const substitute = (command: string) => {
      let text = command.replaceAll('/tmp/farm', join(dir, 'farm'));
      for (const [from, to] of ports) text = text.replace(new RegExp(`\\b${from}\\b`, 'g'), String(to));
      return text;
    };
    const commands = parseCommands(readmeBlock('farm-try'));
    // What the README's prose says about these lines is asserted below; its shape first.
    expect(commands.map((c) => c.command.split(' ').slice(0, 2).join(' '))).toEqual([
      '(umask 077',
      'nats-server -a',
      'anbox-oob gateway',
      'anbox-oob serve',
      'anbox-oob serve',
      'anbox-oob status',
      'anbox-oob client',
      'anbox-oob connect',
    ]);
    const bash = (label: string, command: string, stdin: 'ignore' | 'pipe' = 'ignore') => {
      const proc = startProc(label, ['bash', '-c', `exec ${command}`], { env, stdio: [stdin, 'pipe', 'pipe'] });
      procs.push(proc);
      return proc;
    };

    let statusCommand = '';
    let client: Proc | undefined;
    let connect: Proc | undefined;
    for (const [index, { command: original, background }] of commands.entries()) {
      const command = substitute(original);
      const label = `line ${index + 1}: ${original.slice(0, 40)}`;
      if (background) {
        bash(label, command);
      } else if (original.startsWith('anbox-oob status')) {
        statusCommand = command;
        let listed = '';
        for (let attempt = 0; attempt < 20 && !(/^lab-1\s+free/m.test(listed) && /^lab-2\s+free/m.test(listed)); attempt++) {
          if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 500));
          const status = bash(label, command);
          const code = await status.exited;
          listed = status.stdout();
          expect(code, `${command}\n${status.stderr()}`).toBe(0);
        }
        expect(listed, `${command}: both instances, free`).toMatch(/^lab-1\s+free/m);
        expect(listed).toMatch(/^lab-2\s+free/m);
      } else if (original.startsWith('anbox-oob client')) {
        client = bash(label, command, 'pipe');
        await waitFor(() => /connected: channel foo open/.test(client!.stderr()) || client!.child.exitCode !== null, `the client's "connected" line:\n${client.stderr()}`, 30_000);
        expect(client.stderr()).toMatch(/connected: channel foo open/);
      } else if (original.startsWith('anbox-oob connect')) {
        connect = bash(label, command, 'pipe');
        await waitFor(() => connect!.stderr().includes('connected to channel "foo"') || connect!.child.exitCode !== null, `connect's line:\n${connect.stderr()}`);
        expect(connect.stderr()).toContain('connected to channel "foo"');
      } else {
        const result = spawnSync('bash', ['-c', command], { env, encoding: 'utf8', timeout: 10_000 });
        expect(result.status, `${command}\n${result.stderr}`).toBe(0);
      }
    }

    // A line typed in either terminal comes out of the other.
    client!.child.stdin!.write('typed at the client\n');
    await waitFor(() => connect!.stdout() === 'typed at the client\n', `the client's line at connect: ${JSON.stringify(connect!.stdout())}`);
    connect!.child.stdin!.write('typed at the app on lab-1\n');
    await waitFor(() => client!.stdout() === 'typed at the app on lab-1\n', `the app's line at the client: ${JSON.stringify(client!.stdout())}`);

    // status --nats now shows lab-1 streaming.
    let listed = '';
    for (let attempt = 0; attempt < 20 && !/^lab-1\s+streaming/m.test(listed); attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 250));
      const status = bash('status again', statusCommand);
      await status.exited;
      listed = status.stdout();
    }
    expect(listed).toMatch(/^lab-1\s+streaming\s+-\s+foo\s/m);
    expect(listed).toMatch(/^lab-2\s+free/m);

    // Ctrl-D at the client: it disconnects and exits 0.
    client!.child.stdin!.end();
    expect(await client!.exited, client!.stderr()).toBe(0);
    connect!.child.stdin!.end();
    await connect!.exited;
  });
});
