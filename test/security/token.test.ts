/**
 * Issue 9, item 7: the gateway token. `--token T` is visible to every uid in ps; a 1-character token
 * was accepted; CORS `*` with Private Network Access let any page guess tokens at ~1,800/s with a
 * warn line each. Now: --token-file and ANBOX_OOB_TOKEN (a token on argv is warned about), at least
 * 16 characters for a given token (usage error, exit 2), failed token checks rate-limited (429 +
 * Retry-After) and logged as a summary, CORS narrowable with --allow-origin.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { logEvent, startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { startHarness, TEST_TOKEN, type Harness } from '../platform/helpers/harness.js';
import { createSession } from '../platform/helpers/stream-client.js';

let dir: string;
let daemon: DaemonHandle | undefined;
let h: Harness | undefined;

beforeEach(() => {
  dir = makeTempDir('aoob-sec-token-');
  daemon = undefined;
  h = undefined;
});

afterEach(async () => {
  await daemon?.stop();
  await h?.platform.close();
  if (h) removeTempDir(h.dir);
  removeTempDir(dir);
});

function daemonArgs(): string[] {
  return ['--socket-dir', join(dir, 'sockets'), '--service-socket', join(dir, 'svc.sock'), '--receivers-dir', join(dir, 'r'), '--listen', '127.0.0.1:0'];
}

describe('given tokens', () => {
  it('a short token is a usage error (exit 2) from --token, ANBOX_OOB_TOKEN and --token-file, naming where it came from', async () => {
    const fromFlag = await runCli(['serve', ...daemonArgs(), '--token', 'x'], { env: { ANBOX_OOB_TOKEN: '' } });
    expect(fromFlag.code).toBe(2);
    expect(fromFlag.stderr).toMatch(/--token.*1 characters; at least 16/);
    const fromEnv = await runCli(['platform', ...daemonArgs().slice(0, 2), '--listen', '127.0.0.1:0'], { env: { ANBOX_OOB_TOKEN: 'short' } });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toMatch(/ANBOX_OOB_TOKEN.*5 characters; at least 16/);
    const file = join(dir, 'token');
    writeFileSync(file, 'tiny\n', { mode: 0o600 });
    const fromFile = await runCli(['serve', ...daemonArgs(), '--token-file', file], { env: { ANBOX_OOB_TOKEN: '' } });
    expect(fromFile.code).toBe(2);
    expect(fromFile.stderr).toMatch(/--token-file.*4 characters; at least 16/);
  });

  it('--token-file: the token is read from the file (first line), used by the gateway, and not on the command line', async () => {
    const token = 'file-token-0123456789abcdef';
    const file = join(dir, 'token');
    writeFileSync(file, `${token}\n`);
    chmodSync(file, 0o600);
    daemon = await startDaemon(dir, ['--token-file', file], { command: 'serve', env: { ANBOX_OOB_TOKEN: '' } });
    const started = logEvent(daemon, 'platform.started');
    expect(started).toMatchObject({ token, tokenSource: 'file' });
    expect(logEvent(daemon, 'platform.token_on_command_line')).toBeUndefined();
    expect(logEvent(daemon, 'platform.insecure_token_file')).toBeUndefined();
    const meta = await createSession(String(started?.gateway), token);
    expect(meta.url).toMatch(/^ws:\/\//);
    const cmdline = (await import('node:fs')).readFileSync(`/proc/${daemon.pid}/cmdline`, 'utf8');
    expect(cmdline).not.toContain(token);
  });

  it('--token on the command line works but gets a warning naming --token-file and the variable', async () => {
    daemon = await startDaemon(dir, ['--token', 'argv-token-0123456789'], { command: 'serve', env: { ANBOX_OOB_TOKEN: '' } });
    const warning = logEvent(daemon, 'platform.token_on_command_line');
    expect(warning?.level).toBe(40);
    expect(String(warning?.msg)).toMatch(/ps.*--token-file.*ANBOX_OOB_TOKEN/);
  });
});

describe('failed token checks', () => {
  it('guessing is rate-limited (429 with Retry-After) and logged as a summary, not a line per guess', async () => {
    h = await startHarness();
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 60; i++) {
      const response = await fetch(`${h.platform.url}/1.0/sessions/`, {
        method: 'POST',
        headers: { Authorization: `Macaroon root=guess-${i}-0123456789`, 'Content-Type': 'application/json', Origin: 'https://evil.example' },
        body: '{}',
      });
      statuses.push(response.status);
      if (response.status === 429) retryAfter ??= response.headers.get('retry-after');
      await response.arrayBuffer();
    }
    const unauthorized = statuses.filter((s) => s === 401).length;
    const limited = statuses.filter((s) => s === 429).length;
    expect(unauthorized + limited).toBe(60);
    // The burst (10 per address) and a little refill: the rest were never compared.
    expect(unauthorized).toBeLessThanOrEqual(20);
    expect(limited).toBeGreaterThanOrEqual(40);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    // One line for the first failure, then a summary (flushed at close at the latest).
    expect(h.lines.filter((l) => l.event === 'gateway.unauthorized').length).toBe(1);
    await h.platform.close();
    const summaries = h.lines.filter((l) => l.event === 'gateway.auth_failures');
    expect(summaries.length).toBeGreaterThanOrEqual(1);
    const total = summaries.reduce((n, l) => n + Number(l.failures) + Number(l.limited), 0);
    expect(total).toBe(60);
  });
});

describe('CORS', () => {
  async function preflight(url: string, origin: string): Promise<Response> {
    return fetch(`${url}/1.0/sessions/`, {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization, content-type',
        'Access-Control-Request-Private-Network': 'true',
      },
    });
  }

  it('default: every origin (the SDK page is served from elsewhere); the token still guards', async () => {
    h = await startHarness();
    const response = await preflight(h.platform.url, 'https://any.example');
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
  });

  it('--allow-origin: only the listed origins get CORS (and Private Network Access) headers', async () => {
    h = await startHarness({ allowOrigins: ['https://app.example'] });
    const good = await preflight(h.platform.url, 'https://app.example');
    expect(good.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(good.headers.get('access-control-allow-private-network')).toBe('true');
    expect(good.headers.get('vary')).toMatch(/Origin/);
    const evil = await preflight(h.platform.url, 'https://evil.example');
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    expect(evil.headers.get('access-control-allow-private-network')).toBeNull();
    // The POST answer too: a browser would not hand it to the evil page.
    const post = await fetch(`${h.platform.url}/1.0/sessions/`, {
      method: 'POST',
      headers: { Authorization: `Macaroon root=${TEST_TOKEN}`, 'Content-Type': 'application/json', Origin: 'https://evil.example' },
      body: '{}',
    });
    expect(post.status).toBe(201);
    expect(post.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('--allow-origin takes origins only: a path or a non-http scheme is a usage error', async () => {
    for (const bad of ['https://app.example/page', 'ftp://app.example', 'app.example']) {
      const result = await runCli(['serve', ...daemonArgs(), '--allow-origin', bad], { env: { ANBOX_OOB_TOKEN: '' } });
      expect(result.code, bad).toBe(2);
      expect(result.stderr).toContain('--allow-origin');
    }
  });
});
