import { afterAll, beforeAll } from 'vitest';
import { startDaemon, type DaemonHandle } from './daemon.js';
import { startFakeChannel, type FakeChannel } from './echo-platform.js';
import { makeTempDir, removeTempDir } from './temp-dir.js';

export interface DaemonWithChannel {
  /** The test file's own temp dir (service socket, socket dir). */
  readonly dir: string;
  readonly daemon: DaemonHandle;
  /** A fake platform end of data channel `foo`, echoing. */
  readonly channel: FakeChannel;
}

/**
 * For one test file: a real `anbox-oob proxy` (log level warn) in a fresh temp dir, with a fake
 * channel `foo`, started before the file's tests and stopped (dir removed) after them. Call at
 * the top level of the file; read the fields inside tests, once beforeAll has run.
 */
export function useDaemonWithChannel(): DaemonWithChannel {
  let dir: string | undefined;
  let daemon: DaemonHandle | undefined;
  let channel: FakeChannel | undefined;
  beforeAll(async () => {
    dir = makeTempDir();
    daemon = await startDaemon(dir, ['--log-level', 'warn']);
    channel = await startFakeChannel(daemon.socketDir, 'foo');
  });
  afterAll(async () => {
    await channel?.close();
    await daemon?.stop();
    if (dir !== undefined) removeTempDir(dir);
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useDaemonWithChannel: read inside a test (its beforeAll has not run)');
    return value;
  };
  return {
    get dir() {
      return started(dir);
    },
    get daemon() {
      return started(daemon);
    },
    get channel() {
      return started(channel);
    },
  };
}
