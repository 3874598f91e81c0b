import { afterEach, beforeEach } from 'vitest';
import type { PlatformOptions } from '../../../src/platform/platform.js';
import { startHarness, type Harness } from './harness.js';
import type { StreamClient } from './stream-client.js';

export interface HarnessPerTest {
  /** The current test's harness (a stand-in that forwards to it; read it inside tests only). */
  readonly h: Harness;
  /** Push every StreamClient a test starts: they are closed after it, before the platform. */
  readonly clients: StreamClient[];
}

/**
 * A fresh platform harness for every test of the file: started in beforeEach; after each test its
 * clients are closed, then the platform, and its temp dir removed. Call at the file's (or a
 * describe's) top level.
 */
export function useHarnessPerTest(options: Partial<PlatformOptions> = {}): HarnessPerTest {
  let current: Harness | undefined;
  const clients: StreamClient[] = [];
  beforeEach(async () => {
    current = await startHarness(options);
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    const done = current;
    current = undefined;
    await done?.close();
  });
  // Harness's methods are closures (no `this`), so forwarding each property read is enough.
  const h = new Proxy({} as Harness, {
    get(_target, key) {
      if (current === undefined) throw new Error('useHarnessPerTest: the harness exists only while a test runs');
      return Reflect.get(current, key) as unknown;
    },
  });
  return { h, clients };
}
