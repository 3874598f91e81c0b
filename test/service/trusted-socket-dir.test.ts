/**
 * The daemon's trusted-directory fast path (docs/protocol.md, section 5), below the wire: when the
 * held socket dir is used (TrustedSocketDir), when it is not, and that every failure it cannot
 * answer itself (the directory made again, a full backlog) goes through the pinned path.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { accept, close, listenUnix } from '../../src/native/addon.js';
import { connectChannelSocket } from '../../src/service/channel-connector.js';
import { DataProxyService } from '../../src/service/data-proxy-service.js';
import { ServiceError } from '../../src/service/service-error.js';
import { TrustedSocketDir } from '../../src/service/trusted-socket-dir.js';
import { expectFd, openFdCount } from '../native/helpers.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';

let root: string;
let socketDir: string;
beforeEach(() => {
  root = makeTempDir('aoob-trusted-');
  socketDir = path.join(root, 'sockets');
  fs.mkdirSync(socketDir, { mode: 0o750 });
  fs.chmodSync(socketDir, 0o750);
});
afterEach(() => {
  removeTempDir(root);
});

describe('TrustedSocketDir', () => {
  it('holds a directory only we can write, and lets go of it on close', () => {
    const before = openFdCount();
    const held = TrustedSocketDir.open(socketDir);
    expect(held).toBeDefined();
    expect(openFdCount()).toBe(before + 1);
    held!.close();
    held!.close(); // idempotent
    expect(held!.fd).toBe(-1);
    expect(openFdCount()).toBe(before);
  });

  it('refuses a directory group or others can write, one owned by another uid, and a symlink, leaving no descriptor', () => {
    const before = openFdCount();
    fs.chmodSync(socketDir, 0o770);
    expect(TrustedSocketDir.open(socketDir)).toBeUndefined();
    fs.chmodSync(socketDir, 0o757);
    expect(TrustedSocketDir.open(socketDir)).toBeUndefined();
    fs.chmodSync(socketDir, 0o750);
    const uid = process.getuid!();
    fs.chownSync(socketDir, uid + 12345, 0); // another uid's (the tests run as root: chown works)
    expect(TrustedSocketDir.open(socketDir, uid)).toBeUndefined();
    fs.chownSync(socketDir, uid, 0);
    if (uid === 0) {
      const asAnother = TrustedSocketDir.open(socketDir, 4242); // root owns it: trusted by any uid
      expect(asAnother).toBeDefined();
      asAnother?.close();
    }
    fs.symlinkSync(socketDir, path.join(root, 'link'));
    expect(TrustedSocketDir.open(path.join(root, 'link'))).toBeUndefined();
    expect(openFdCount()).toBe(before);
  });
});

describe('DataProxyService and the fast path', () => {
  it('takes it only when told the socket dir is trusted, and the directory really is', () => {
    const trusted = new DataProxyService(socketDir, { trustedDir: true });
    const untold = new DataProxyService(socketDir);
    fs.chmodSync(socketDir, 0o770);
    const shared = new DataProxyService(socketDir, { trustedDir: true });
    try {
      expect(trusted.fastPath).toBe(true);
      expect(untold.fastPath).toBe(false);
      expect(shared.fastPath).toBe(false);
    } finally {
      for (const service of [trusted, untold, shared]) service.close();
    }
    expect(trusted.fastPath).toBe(false);
  });
});

describe('connectChannelSocket with a held socket dir', () => {
  let held: TrustedSocketDir;
  beforeEach(() => {
    held = TrustedSocketDir.open(socketDir)!;
  });
  afterEach(() => {
    held.close();
  });
  const trusted = () => ({ dirFd: held.fd, entry: 'webrtc_data_foo' });

  it('connects through the held directory', () => {
    const socketPath = path.join(socketDir, 'webrtc_data_foo');
    const listener = expectFd(listenUnix(socketPath, 8));
    try {
      const fd = connectChannelSocket('foo', socketPath, { blocking: true, trusted: trusted() });
      expect(typeof fd).toBe('number');
      close(expectFd(accept(listener)));
      close(fd as number);
    } finally {
      close(listener);
    }
  });

  it('still connects after the socket dir was removed and made again (the held one is gone: pinned path)', () => {
    fs.rmSync(socketDir, { recursive: true });
    fs.mkdirSync(socketDir, { mode: 0o750 });
    const socketPath = path.join(socketDir, 'webrtc_data_foo');
    const listener = expectFd(listenUnix(socketPath, 8));
    try {
      const fd = connectChannelSocket('foo', socketPath, { blocking: false, trusted: trusted() });
      expect(typeof fd).toBe('number');
      close(expectFd(accept(listener)));
      close(fd as number);
    } finally {
      close(listener);
    }
  });

  it('answers CHANNEL_NOT_FOUND for a missing entry, and CHANNEL_BUSY after retrying a full backlog on the pinned path', async () => {
    const socketPath = path.join(socketDir, 'webrtc_data_foo');
    expect(() => connectChannelSocket('foo', socketPath, { blocking: true, trusted: trusted() })).toThrow(ServiceError);
    try {
      connectChannelSocket('foo', socketPath, { blocking: true, trusted: trusted() });
    } catch (error) {
      expect((error as ServiceError).code).toBe('CHANNEL_NOT_FOUND');
    }
    const listener = expectFd(listenUnix(socketPath, 0));
    const connected: number[] = [];
    try {
      let result: number | Promise<number> = 0;
      for (let i = 0; i < 64 && typeof result === 'number'; i++) {
        result = connectChannelSocket('foo', socketPath, { blocking: false, trusted: trusted() });
        if (typeof result === 'number') connected.push(result);
      }
      expect(result).toBeInstanceOf(Promise);
      // Accepting one makes room: the retry (pinned path) gets in.
      close(expectFd(accept(listener)));
      const fd = await result;
      connected.push(fd);
    } finally {
      for (const fd of connected) close(fd);
      close(listener);
    }
  });
});
