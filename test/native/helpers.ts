import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { accept, close, connectUnix, listenUnix } from '../../src/native/addon.js';

export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const errno = os.constants.errno;

/** A fresh private directory for socket files; remove it with removeTempDir. */
export function makeTempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'anbox-native-'));
}

export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** The open-file flags of one of our descriptors, from /proc/self/fdinfo. */
export function fdFlags(fd: number): number {
  const match = /^flags:\s*([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (match === null) throw new Error(`no flags line for fd ${fd}`);
  return parseInt(match[1], 8);
}

export function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Asserts that a native call returned a descriptor (not -errno) and gives it back. */
export function expectFd(rc: number): number {
  expect(rc, `expected a descriptor, got ${rc}`).toBeGreaterThanOrEqual(0);
  return rc;
}

/** A listening socket plus one accepted connection: [listener, client end, server end]. */
export function connectedPair(socketPath: string): { listener: number; client: number; server: number; closeAll(): void } {
  const listener = expectFd(listenUnix(socketPath, 16));
  const client = expectFd(connectUnix(socketPath));
  const server = expectFd(accept(listener));
  return {
    listener,
    client,
    server,
    closeAll() {
      for (const fd of [client, server, listener]) close(fd);
    },
  };
}

/** Resolves after the event loop has turned a few times (timers + immediates). */
export function settle(ms = 30): Promise<void> {
  return new Promise((resolve) => setTimeout(() => setImmediate(resolve), ms));
}
