import { describe, expect, it } from 'vitest';
import { serviceLimitSettings } from '../../src/cli/daemon-options.js';
import { UsageError } from '../../src/cli/command.js';
import { DEFAULT_SERVICE_LIMITS } from '../../src/service/service-limits.js';

describe('service bound options', () => {
  it('default to safe values when unset', () => {
    expect(serviceLimitSettings({})).toEqual(DEFAULT_SERVICE_LIMITS);
  });

  it('take whole numbers; --max-buffered-mib is in MiB', () => {
    expect(serviceLimitSettings({ 'max-connections': '10', 'max-connections-per-uid': '2', 'max-buffered-mib': '8', 'frame-timeout-ms': '500' })).toEqual({
      maxConnections: 10,
      maxConnectionsPerUid: 2,
      maxBufferedBytes: 8 * 1024 * 1024,
      frameTimeoutMs: 500,
    });
  });

  it('refuse zero, negatives and non-numbers with a usage error naming the flag', () => {
    for (const [name, value] of [['max-connections', '0'], ['max-connections-per-uid', '-1'], ['max-buffered-mib', 'lots'], ['frame-timeout-ms', '1.5']] as const) {
      expect(() => serviceLimitSettings({ [name]: value })).toThrow(UsageError);
      expect(() => serviceLimitSettings({ [name]: value })).toThrow(`--${name}`);
    }
  });
});
