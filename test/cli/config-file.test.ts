import { describe, expect, it } from 'vitest';
import { ConfigFileError, mergeOptionSources, parseConfigFile } from '../../src/cli/config-file.js';
import { OPTION_ENV, SERVE_OPTIONS } from '../../src/cli/daemon-options.js';
import { UsageError } from '../../src/cli/command.js';

const FILE = '/home/me/.config/anbox-oob/config.json';

function refusal(text: string): ConfigFileError {
  try {
    parseConfigFile(text, FILE, SERVE_OPTIONS);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigFileError);
    return error as ConfigFileError;
  }
  throw new Error(`accepted: ${text}`);
}

describe('parseConfigFile', () => {
  it('reads long option names as if they were flags', () => {
    const values = parseConfigFile(
      JSON.stringify({ listen: '127.0.0.1:9000', adb: true, stun: ['stun:a:3478', 'stun:b'], 'allow-uid': [1000, '1001'], 'broadcast-window': 0, token: 't' }),
      FILE,
      SERVE_OPTIONS,
    );
    expect(values).toEqual({ listen: '127.0.0.1:9000', adb: true, stun: ['stun:a:3478', 'stun:b'], 'allow-uid': ['1000', '1001'], 'broadcast-window': '0', token: 't' });
  });

  it('takes a JSON number for every numeric bound (service and gateway limits)', () => {
    const text = JSON.stringify({ 'max-connections': 100, 'max-connections-per-uid': 10, 'max-buffered-mib': 8, 'frame-timeout-ms': 5000, 'gateway-max-connections': 64, 'gateway-idle-timeout': 3000 });
    expect(parseConfigFile(text, FILE, SERVE_OPTIONS)).toEqual({
      'max-connections': '100',
      'max-connections-per-uid': '10',
      'max-buffered-mib': '8',
      'frame-timeout-ms': '5000',
      'gateway-max-connections': '64',
      'gateway-idle-timeout': '3000',
    });
  });

  it('takes a single value for a repeatable option, and treats false like an absent flag', () => {
    expect(parseConfigFile('{"stun": "stun:x", "binary": false, "adb": false}', FILE, SERVE_OPTIONS)).toEqual({ stun: ['stun:x'] });
    expect(parseConfigFile('{}', FILE, SERVE_OPTIONS)).toEqual({});
  });

  it('refuses unknown keys, naming the file and the key', () => {
    const error = refusal('{"listen": "1", "lisen": "127.0.0.1:1"}');
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toContain(FILE);
    expect(error.message).toContain('"lisen"');
    expect(error.message).toContain('unknown option');
    expect(error.key).toBe('lisen');
  });

  it('refuses keys that only make sense on the command line, and prototype keys', () => {
    for (const key of ['help', 'config', '--listen', 'toString', '__proto__']) {
      expect(refusal(JSON.stringify({ [key]: 'x' })).key, key).toBe(key);
    }
  });

  it.each([
    ['{"adb": "yes"}', 'adb', 'true or false'],
    ['{"listen": true}', 'listen', 'must be a string'],
    ['{"listen": ["a"]}', 'listen', 'not a list'],
    ['{"token": null}', 'token', 'not null'],
    ['{"stun": [1, {"a": 1}]}', 'stun', 'list of strings'],
    ['{"socket-dir": {"path": "/x"}}', 'socket-dir', 'an object'],
  ])('refuses a wrong type: %s', (text, key, detail) => {
    const error = refusal(text);
    expect(error.key).toBe(key);
    expect(error.message).toContain(`"${key}"`);
    expect(error.message).toContain(detail);
    expect(error.message).toContain(FILE);
  });

  it('refuses text that is not one JSON object', () => {
    expect(refusal('{"listen": ').message).toMatch(/not valid JSON/);
    expect(refusal('["listen"]').message).toMatch(/one JSON object/);
    expect(refusal('"x"').key).toBeUndefined();
  });
});

describe('mergeOptionSources', () => {
  const config = { listen: '127.0.0.1:3', token: 'from-config', 'log-level': 'debug', 'socket-dir': '/config/sockets' };

  it('lets flags win over the environment, and the environment over the config file', () => {
    const merged = mergeOptionSources({ listen: '127.0.0.1:1' }, config, OPTION_ENV, { ANBOX_OOB_TOKEN: 'from-env' });
    expect(merged.values).toEqual({ listen: '127.0.0.1:1', 'log-level': 'debug', 'socket-dir': '/config/sockets' });
    expect(merged.sources).toEqual({ listen: 'flag', token: 'env', 'log-level': 'config', 'socket-dir': 'config' });
  });

  it('ignores an empty environment variable, as the daemons do', () => {
    const merged = mergeOptionSources({}, config, OPTION_ENV, { ANBOX_OOB_TOKEN: '', ANBOX_OOB_SOCKET_DIR: '/env/sockets' });
    expect(merged.values.token).toBe('from-config');
    expect(merged.values['socket-dir']).toBeUndefined();
    expect(merged.sources['socket-dir']).toBe('env');
  });

  it('reports environment-only options as coming from the environment', () => {
    expect(mergeOptionSources({}, {}, OPTION_ENV, { ANDROID_SERIAL: 'emulator-5554' }).sources).toEqual({ 'adb-serial': 'env' });
  });

  it('knows the variable of every option that has one', () => {
    expect(OPTION_ENV).toEqual({
      'socket-dir': 'ANBOX_OOB_SOCKET_DIR',
      'service-socket': 'ANBOX_OOB_SERVICE_SOCKET',
      listen: 'ANBOX_OOB_LISTEN',
      token: 'ANBOX_OOB_TOKEN',
      'adb-serial': 'ANDROID_SERIAL',
      'receivers-dir': 'ANBOX_OOB_RECEIVERS_DIR',
    });
    for (const name of Object.keys(OPTION_ENV)) expect(Object.keys(SERVE_OPTIONS)).toContain(name);
  });
});
