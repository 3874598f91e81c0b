/**
 * `anbox-oob send-message`: help, usage errors (exit 2), and the stdin bound (data above 1 MiB is
 * refused before anything is read further or sent). Needs `npm run build`.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';

let dir: string;

beforeAll(() => {
  dir = makeTempDir('aoob-v1-cli-');
});

afterAll(() => removeTempDir(dir));

describe('anbox-oob send-message', () => {
  it('is listed in --help and explains itself', async () => {
    expect((await runCli(['--help'])).stdout).toContain('send-message');
    const help = await runCli(['send-message', '--help']);
    expect(help.code).toBe(0);
    const text = help.stdout.replace(/\s+/g, ' ');
    for (const wanted of ['messageReceived', '"-" reads the data from stdin', 'the SDK handles itself', 'open-camera', '262144', '--service-socket']) {
      expect(text).toContain(wanted);
    }
  });

  it('exits 2 with a pointer to --help when TYPE or DATA is missing', async () => {
    const result = await runCli(['send-message', 'only-type']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('send-message takes a type and data');
    expect(result.stderr).toContain('--help');
  });

  it('refuses stdin above 1 MiB without sending, and says why', async () => {
    const result = await runCli(['send-message', 'big', '-', '--service-socket', join(dir, 'none.sock')], { input: 'x'.repeat(1024 * 1024 + 1) });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('stdin holds more than 1048576 bytes, the data limit; not sent');
  });

  it('says how to start a daemon when there is none', async () => {
    const result = await runCli(['send-message', 't', 'd', '--service-socket', join(dir, 'none.sock')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no data-proxy daemon at');
  });
});
