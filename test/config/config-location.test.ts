import { describe, expect, it } from 'vitest';
import { defaultConfigPath, resolveConfigLocation } from '../../src/config/config-location.js';

const home = () => '/home/fallback';

describe('config file location', () => {
  it('takes --config first, then ANBOX_OOB_CONFIG; both must exist', () => {
    const env = { ANBOX_OOB_CONFIG: '/env/c.json', XDG_CONFIG_HOME: '/xdg' };
    expect(resolveConfigLocation('/flag/c.json', env, home)).toEqual({ path: '/flag/c.json', source: 'flag', required: true });
    expect(resolveConfigLocation(undefined, env, home)).toEqual({ path: '/env/c.json', source: 'env', required: true });
  });

  it('defaults to $XDG_CONFIG_HOME/anbox-oob/config.json, read only if present', () => {
    expect(resolveConfigLocation(undefined, { XDG_CONFIG_HOME: '/xdg', HOME: '/h' }, home)).toEqual({
      path: '/xdg/anbox-oob/config.json',
      source: 'default',
      required: false,
    });
  });

  it('falls back to ~/.config when XDG_CONFIG_HOME is unset or relative', () => {
    expect(defaultConfigPath({ HOME: '/h' }, home)).toBe('/h/.config/anbox-oob/config.json');
    expect(defaultConfigPath({ HOME: '/h', XDG_CONFIG_HOME: 'relative' }, home)).toBe('/h/.config/anbox-oob/config.json');
    expect(defaultConfigPath({}, home)).toBe('/home/fallback/.config/anbox-oob/config.json');
  });
});
