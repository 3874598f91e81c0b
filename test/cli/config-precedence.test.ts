/**
 * The config file with real daemons: flags > environment > config file > defaults, proven on a
 * spawned `serve` (and `proxy`, `platform`), plus the usage errors of a bad file and `--help`.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OPTION_ENV } from '../../src/cli/daemon-options.js';
import { runCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { cleanEnv, startDaemonProcess, stopAllDaemons } from './helpers/daemon-process.js';

let dir: string;

beforeEach(() => {
  dir = makeTempDir('aoob-cfg-');
});

afterEach(async () => {
  await stopAllDaemons();
  removeTempDir(dir);
});

function writeConfig(path: string, config: Record<string, unknown>, mode = 0o600): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, JSON.stringify(config));
  chmodSync(path, mode);
  return path;
}

/** A config that sets every path and the token, so that each level of precedence shows. */
function fullConfig(): Record<string, unknown> {
  return {
    listen: '127.0.0.1:0',
    token: 'config-token-0123456789',
    'socket-dir': join(dir, 'config-sockets'),
    'service-socket': join(dir, 'config.sock'),
    'receivers-dir': join(dir, 'config-receivers'),
    'log-format': 'json',
    'broadcast-window': 0,
  };
}

describe('serve with a config file', () => {
  it('flags beat the environment, which beats the file, which beats the defaults', async () => {
    const file = writeConfig(join(dir, 'explicit.json'), fullConfig());
    const envSockets = join(dir, 'env-sockets');
    const serve = startDaemonProcess(
      ['serve', '--config', file, '--token', 'flag-token-0123456789'],
      cleanEnv({ HOME: dir, XDG_RUNTIME_DIR: join(dir, 'runtime'), ANBOX_OOB_TOKEN: 'env-token-0123456789', ANBOX_OOB_SOCKET_DIR: envSockets }),
    );
    const ready = await serve.line('serve.ready');
    // token: flag > env > file; socket dir: env > file; service socket: file > default.
    expect(ready).toMatchObject({ token: 'flag-token-0123456789', socketDir: envSockets, servicePath: join(dir, 'config.sock'), configFile: file });
    expect(serve.output()).toContain(`  config file     ${file}\n`); // the start-up banner
    expect(String(ready.gateway)).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    expect(serve.lines().find((l) => l.event === 'daemon.started')).toMatchObject({ socketDirSource: 'env', servicePathSource: 'config' });
    expect(serve.lines().find((l) => l.event === 'platform.started')).toMatchObject({ tokenSource: 'flag' });
    expect(serve.lines().find((l) => l.event === 'config.loaded')).toMatchObject({ configFile: file, configSource: 'flag' });
    expect(serve.lines().find((l) => l.event === 'broadcasts.started')).toMatchObject({ receiversDir: join(dir, 'config-receivers'), batchWindowMs: 0 });
    expect(await serve.stop()).toBe(0);
  });

  it('reads $XDG_CONFIG_HOME/anbox-oob/config.json by default, the environment still winning', async () => {
    const file = writeConfig(join(dir, 'xdg', 'anbox-oob', 'config.json'), fullConfig());
    const serve = startDaemonProcess(['serve'], cleanEnv({ HOME: dir, XDG_CONFIG_HOME: join(dir, 'xdg'), ANBOX_OOB_TOKEN: 'env-token-0123456789' }));
    const ready = await serve.line('serve.ready');
    expect(ready).toMatchObject({ token: 'env-token-0123456789', socketDir: join(dir, 'config-sockets'), configFile: file });
    expect(serve.lines().find((l) => l.event === 'platform.started')).toMatchObject({ tokenSource: 'env' });
    expect(serve.lines().find((l) => l.event === 'daemon.started')).toMatchObject({ socketDirSource: 'config', servicePathSource: 'config' });
    expect(await serve.stop()).toBe(0);
  });

  it('takes the file from ANBOX_OOB_CONFIG; the file beats the defaults', async () => {
    const file = writeConfig(join(dir, 'env.json'), fullConfig());
    const serve = startDaemonProcess(['serve'], cleanEnv({ HOME: dir, XDG_RUNTIME_DIR: join(dir, 'runtime'), ANBOX_OOB_CONFIG: file }));
    const ready = await serve.line('serve.ready');
    expect(ready).toMatchObject({ token: 'config-token-0123456789', configFile: file });
    expect(serve.lines().find((l) => l.event === 'platform.started')).toMatchObject({ tokenSource: 'config' });
    expect(serve.lines().find((l) => l.event === 'config.loaded')).toMatchObject({ configSource: 'env' });
    // A private file holding the token is fine: no warning.
    expect(serve.lines().some((l) => l.event === 'config.insecure_file')).toBe(false);
    expect(await serve.stop()).toBe(0);
  });

  it('warns when a file holding the token is readable by others', async () => {
    const file = writeConfig(join(dir, 'open.json'), fullConfig(), 0o644);
    const serve = startDaemonProcess(['serve', '--config', file], cleanEnv({ HOME: dir, XDG_RUNTIME_DIR: join(dir, 'runtime') }));
    await serve.line('serve.ready');
    const warning = serve.lines().find((l) => l.event === 'config.insecure_file');
    expect(warning).toMatchObject({ configFile: file, level: 40 });
    expect(String(warning?.msg)).toContain(`chmod 600 ${file}`);
    expect(await serve.stop()).toBe(0);
  });

  it('takes --log-level from the file; the start-up lines print anyway; a flag beats the file', async () => {
    const file = writeConfig(join(dir, 'quiet.json'), { ...fullConfig(), 'log-level': 'warn' });
    const env = cleanEnv({ HOME: dir, XDG_RUNTIME_DIR: join(dir, 'runtime') });
    const quiet = startDaemonProcess(['serve', '--config', file], env);
    await quiet.line('serve.ready');
    expect(quiet.lines().some((l) => l.event === 'daemon.started')).toBe(true);
    expect(quiet.lines().some((l) => l.event === 'config.loaded')).toBe(true);
    expect(await quiet.stop()).toBe(0);
    // info lines that are not start-up announcements stay quiet, up to the exit.
    expect(quiet.lines().filter((l) => l.event === 'broadcasts.started' || l.event === 'daemon.stopping')).toEqual([]);

    const loud = startDaemonProcess(['serve', '--config', file, '--log-level', 'info'], env);
    await loud.line('serve.ready');
    expect(await loud.stop()).toBe(0);
    expect(loud.lines().some((l) => l.event === 'broadcasts.started')).toBe(true);
    expect(loud.lines().some((l) => l.event === 'daemon.stopping')).toBe(true);
  });

  it('says no config file when there is none', async () => {
    const serve = startDaemonProcess(['serve', '--listen', '127.0.0.1:0', '--log-format', 'json'], cleanEnv({ HOME: dir, XDG_RUNTIME_DIR: join(dir, 'runtime') }));
    const ready = await serve.line('serve.ready');
    expect(ready.configFile).toBeNull();
    expect(serve.output()).toContain('  config file     none\n'); // the start-up banner
    expect(serve.lines().some((l) => l.event === 'config.loaded')).toBe(false);
    expect(await serve.stop()).toBe(0);
  });
});

describe('client commands find a daemon configured by the file', () => {
  it('status, connect and call use "service-socket" from the same file when no flag or variable says otherwise', async () => {
    const file = writeConfig(join(dir, 'xdg', 'anbox-oob', 'config.json'), fullConfig());
    const env = cleanEnv({ HOME: dir, XDG_CONFIG_HOME: join(dir, 'xdg'), XDG_RUNTIME_DIR: join(dir, 'runtime') });
    const serve = startDaemonProcess(['serve'], env);
    expect(await serve.line('serve.ready')).toMatchObject({ servicePath: join(dir, 'config.sock'), configFile: file });
    const status = await runCli(['status', '--json'], { env });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(String(serve.child.pid));
    const connect = await runCli(['connect', 'missing'], { env });
    expect(connect.code).toBe(1);
    expect(connect.stderr).toContain('CHANNEL_NOT_FOUND');
    const call = await runCli(['call', 'manager', '4', 'i32', '15'], { env });
    expect(call.code).toBe(0);
    // The variable still wins over the file, as for the daemon.
    const elsewhere = await runCli(['status'], { env: { ...env, ANBOX_OOB_SERVICE_SOCKET: join(dir, 'nothing.sock') } });
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr + elsewhere.stdout).toContain(join(dir, 'nothing.sock'));
    expect(await serve.stop()).toBe(0);
  });
});

describe('proxy and platform read the same file', () => {
  it('proxy takes its service socket from the file', async () => {
    const file = writeConfig(join(dir, 'proxy.json'), { 'service-socket': join(dir, 'p.sock'), 'socket-dir': join(dir, 's'), 'log-format': 'json', 'allow-uid': [1234] });
    const proxy = startDaemonProcess(['proxy', '--config', file], cleanEnv({ HOME: dir, XDG_RUNTIME_DIR: join(dir, 'runtime') }));
    expect(await proxy.line('daemon.started')).toMatchObject({ servicePath: join(dir, 'p.sock'), servicePathSource: 'config', allowedUids: expect.arrayContaining([1234]) });
    expect(await proxy.stop()).toBe(0);
  });

  it('platform takes its listen address and token from the file, and skips the keys of the data-proxy daemon', async () => {
    const file = writeConfig(join(dir, 'platform.json'), {
      listen: '127.0.0.1:0',
      token: 'platform-config-token',
      'socket-dir': join(dir, 's'),
      'log-format': 'json',
      'service-socket': join(dir, 'p.sock'),
      adb: true,
    });
    const platform = startDaemonProcess(['platform', '--config', file], cleanEnv({ HOME: dir }));
    expect(await platform.line('platform.started')).toMatchObject({ token: 'platform-config-token', tokenSource: 'config' });
    expect(platform.lines().find((l) => l.event === 'config.loaded')).toMatchObject({ role: 'platform', ignoredKeys: ['service-socket', 'adb'] });
    expect(await platform.stop()).toBe(0);
  });

  it('a key no daemon command knows is still refused by each of them', async () => {
    const file = writeConfig(join(dir, 'typo.json'), { 'servce-socket': join(dir, 'p.sock') });
    for (const command of ['serve', 'proxy', 'platform']) {
      const result = await runCli([command, '--config', file], { env: cleanEnv({ HOME: dir }) });
      expect(result.code, command).toBe(2);
      expect(result.stderr).toContain(`config file ${file}: "servce-socket": unknown option`);
    }
  });
});

describe('a bad config file is a usage error (exit 2) naming the file and the key', () => {
  const cases: [string, Record<string, unknown> | string, string][] = [
    ['an unknown key', { listen: '127.0.0.1:0', lisen: 'x' }, '"lisen": unknown option'],
    ['a wrong type', { adb: 'yes' }, '"adb": must be true or false'],
    ['invalid JSON', '{"listen": ', 'not valid JSON'],
    ['a bad value', { listen: 'nowhere' }, '"listen" in config file'],
    ['a bad log level', { 'log-level': 'loud' }, '"log-level" in config file'],
  ];
  it.each(cases)('%s', async (_what, content, detail) => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    const result = await runCli(['serve', '--config', file], { env: cleanEnv({ HOME: dir, XDG_RUNTIME_DIR: join(dir, 'runtime') }) });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(file);
    expect(result.stderr).toContain(detail);
    expect(result.stderr).toContain('anbox-oob serve --help');
  });

  it('a missing file named by --config or ANBOX_OOB_CONFIG', async () => {
    const missing = join(dir, 'missing.json');
    for (const [args, env] of [
      [['serve', '--config', missing], {}],
      [['proxy'], { ANBOX_OOB_CONFIG: missing }],
    ] as const) {
      const result = await runCli([...args], { env: cleanEnv({ HOME: dir, XDG_RUNTIME_DIR: join(dir, 'runtime'), ...env }) });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain(`config file ${missing}`);
      expect(result.stderr).toContain('ENOENT');
    }
  });
});

describe('--help', () => {
  it.each([
    ['serve', ['ANBOX_OOB_SOCKET_DIR', 'ANBOX_OOB_SERVICE_SOCKET', 'ANBOX_OOB_LISTEN', 'ANBOX_OOB_TOKEN', 'ANDROID_SERIAL', 'ANBOX_OOB_RECEIVERS_DIR', 'ANBOX_OOB_ADB_RECHECK_MS']],
    ['proxy', ['ANBOX_OOB_SOCKET_DIR', 'ANBOX_OOB_SERVICE_SOCKET', 'ANDROID_SERIAL', 'ANBOX_OOB_RECEIVERS_DIR', 'ANBOX_OOB_ADB_RECHECK_MS']],
    ['platform', ['ANBOX_OOB_SOCKET_DIR', 'ANBOX_OOB_LISTEN', 'ANBOX_OOB_TOKEN']],
  ])('%s lists --config, the config file locations and every environment variable', async (command, variables) => {
    const help = await runCli([command, '--help']);
    expect(help.code).toBe(0);
    for (const text of ['--config FILE', 'ANBOX_OOB_CONFIG', '$XDG_CONFIG_HOME/anbox-oob/config.json', '~/.config/anbox-oob/config.json', 'XDG_RUNTIME_DIR', ...variables]) {
      expect(help.stdout, text).toContain(text);
    }
    const environment = help.stdout.slice(help.stdout.indexOf('Environment'));
    for (const [option, variable] of Object.entries(OPTION_ENV)) {
      if (!help.stdout.includes(`--${option} `)) continue;
      expect(environment, `${command}: ${variable}`).toContain(`${variable} `);
    }
  });
});
