/**
 * Issue 9 item 5: channel sockets must not bypass the daemon's allow-list. A member of the socket's
 * group (uid 65534 with root's group, through setpriv), refused by the daemon, used to write
 * straight into the browser through webrtc_data_foo (0660). With the default mode (0600) only the
 * owner and root connect directly; other uids get the channel from the daemon when --allow-uid lets
 * them. --channel-socket-mode (or the config key) opens it to the group again, on purpose.
 */
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectWebClient, type WebClient } from '../../src/headless-client/web-client.js';
import { waitFor } from '../broadcast/helpers.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { asUid, cliArgv, NOBODY, requireRootAnd, run } from './helpers.js';

const TOKEN = 'channel-socket-mode-token';
/** Root's group: the group the channel sockets (made by root) and the socket dir belong to. */
const GROUP_MEMBER = asUid(NOBODY, [0]);

let dir: string;
let daemon: DaemonHandle | undefined;
let client: WebClient | undefined;

beforeAll(() => {
  requireRootAnd('socat');
});

afterEach(async () => {
  client?.close();
  client = undefined;
  await daemon?.stop();
  daemon = undefined;
  if (dir) removeTempDir(dir);
});

/** serve (with `args`) and a headless web client with channel foo open; returns what the browser receives. */
async function serveWithChannel(args: string[]): Promise<{ received: () => string; socketPath: string }> {
  dir = makeTempDir('aoob-mode-');
  chmodSync(dir, 0o755); // the other uid must reach the service socket and the socket dir
  daemon = await startDaemon(dir, args, { command: 'serve', env: { ANBOX_OOB_TOKEN: TOKEN } });
  const gateway = String(daemon.logLines().find((l) => l.event === 'serve.ready')?.gateway);
  client = await connectWebClient({ gateway, token: TOKEN, channels: ['foo'], openTimeoutMs: 60_000 });
  await client.opened;
  let text = '';
  client.channel('foo').on('message', (m) => (text += typeof m === 'string' ? m : m.toString('utf8')));
  const socketPath = join(daemon.socketDir, 'webrtc_data_foo');
  await waitFor(() => daemon!.logLines().some((l) => l.event === 'channel.open' && l.channel === 'foo'), 'channel foo open at the platform', 30_000);
  return { received: () => text, socketPath };
}

describe('the default channel socket mode (0600)', () => {
  it('a group member refused by the daemon cannot write straight into the browser', async () => {
    const { received, socketPath } = await serveWithChannel([]);
    expect(statSync(socketPath).mode & 0o777).toBe(0o600);
    expect(daemon!.logLines().find((l) => l.event === 'platform.started')?.channelSocketMode).toBe('0600');

    // Through the daemon: refused (not on --allow-uid).
    const viaDaemon = await run(cliArgv(['connect', 'foo', '--service-socket', daemon!.servicePath], GROUP_MEMBER), { input: 'via the daemon\n' });
    expect(viaDaemon.code).toBe(1);
    expect(viaDaemon.stderr).toContain('PERMISSION_DENIED');

    // Straight to the channel socket: refused by the file mode.
    const direct = await run([...GROUP_MEMBER, 'socat', '-', `UNIX-CONNECT:${socketPath}`], { input: 'injected\n' });
    expect(direct.code).not.toBe(0);
    expect(direct.stderr).toContain('Permission denied');

    // The owner's data still flows, and nothing of the refused uid's did.
    const owner = await run(cliArgv(['connect', 'foo', '--service-socket', daemon!.servicePath]), { input: 'from the owner\n' });
    expect(owner.code, owner.stderr).toBe(0);
    await waitFor(() => received().includes('from the owner\n'), 'the owner\'s line at the browser');
    expect(received()).not.toContain('injected');
    expect(received()).not.toContain('via the daemon');
  }, 120_000);

  it('the same uid on --allow-uid gets the channel from the daemon (the way in for other uids)', async () => {
    // It reaches the service socket (0660) as a member of its group, and is allowed by uid.
    const { received } = await serveWithChannel(['--allow-uid', String(NOBODY)]);
    const allowed = await run(cliArgv(['connect', 'foo', '--service-socket', daemon!.servicePath], GROUP_MEMBER), { input: 'allowed uid\n' });
    expect(allowed.code, allowed.stderr).toBe(0);
    await waitFor(() => received().includes('allowed uid\n'), 'the allowed uid\'s line at the browser');
  }, 120_000);
});

describe('"channel-socket-mode": "0660" in the config file', () => {
  it('lets the group connect directly, as chosen', async () => {
    const configDir = makeTempDir('aoob-modecfg-');
    try {
      const config = join(configDir, 'config.json');
      writeFileSync(config, JSON.stringify({ 'channel-socket-mode': '0660' }));
      const { received, socketPath } = await serveWithChannel(['--config', config]);
      expect(statSync(socketPath).mode & 0o777).toBe(0o660);
      const direct = await run([...GROUP_MEMBER, 'socat', '-', `UNIX-CONNECT:${socketPath}`], { input: 'group member\n' });
      expect(direct.code, direct.stderr).toBe(0);
      await waitFor(() => received().includes('group member\n'), 'the group member\'s line at the browser');
    } finally {
      removeTempDir(configDir);
    }
  }, 120_000);
});

describe('--channel-socket-mode values', () => {
  it('refuses a mode that is not 0600, 0660 or 0666, naming the ones it takes', async () => {
    for (const bad of ['0644', '0700', '777', 'rw', '0o1600']) {
      const result = await run(cliArgv(['serve', '--channel-socket-mode', bad, '--listen', '127.0.0.1:0']));
      expect(result.code, `${bad}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toContain(`--channel-socket-mode takes 0600, 0660, 0666 (octal), not "${bad}"`);
    }
  });
});
