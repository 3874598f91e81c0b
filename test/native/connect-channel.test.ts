import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { accept, ChannelConnectStage, close, connectChannel, connectChannelAt, lastChannelConnectFailure, listenUnix, openDirectory, waitFd, WaitEvent } from '../../src/native/addon.js';
import { O_CLOEXEC, O_NONBLOCK, errno, expectFd, fdFlags, makeTempDir, openFdCount, removeTempDir } from './helpers.js';

let dir: string;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => {
  removeTempDir(dir);
});

describe('connectChannel', () => {
  it('connects to a listening socket, blocking or not as asked, close-on-exec, leaving only that descriptor', () => {
    const socketPath = path.join(dir, 'webrtc_data_foo');
    const listener = expectFd(listenUnix(socketPath, 8));
    try {
      const before = openFdCount();
      const blocking = expectFd(connectChannel(socketPath, true));
      const nonBlocking = expectFd(connectChannel(socketPath, false));
      expect(openFdCount()).toBe(before + 2); // the O_PATH pins are gone
      expect(fdFlags(blocking) & O_NONBLOCK).toBe(0);
      expect(fdFlags(nonBlocking) & O_NONBLOCK).toBe(O_NONBLOCK);
      expect(fdFlags(blocking) & O_CLOEXEC).toBe(O_CLOEXEC);
      // Both reached this listener: two connections are pending on it.
      const first = expectFd(accept(listener));
      const second = expectFd(accept(listener));
      for (const fd of [blocking, nonBlocking, first, second]) close(fd);
    } finally {
      close(listener);
    }
  });

  it('never follows a symlink, even to a listening socket', () => {
    const real = path.join(dir, 'real.sock');
    const listener = expectFd(listenUnix(real, 8));
    try {
      const link = path.join(dir, 'webrtc_data_link');
      fs.symlinkSync(real, link);
      const before = openFdCount();
      expect(connectChannel(link, true)).toBeLessThan(0);
      expect(lastChannelConnectFailure).toEqual({ stage: ChannelConnectStage.NOT_A_SOCKET, symlink: true });
      expect(openFdCount()).toBe(before);
      expect(accept(listener)).toBe(-errno.EAGAIN); // nothing reached the socket behind the link
    } finally {
      close(listener);
    }
  });

  it('tells a file that is not a socket, a missing entry and a socket nobody listens on apart', () => {
    const file = path.join(dir, 'webrtc_data_file');
    fs.writeFileSync(file, '');
    expect(connectChannel(file, true)).toBe(-errno.ENOTSOCK);
    expect(lastChannelConnectFailure).toEqual({ stage: ChannelConnectStage.NOT_A_SOCKET, symlink: false });

    expect(connectChannel(path.join(dir, 'webrtc_data_absent'), true)).toBe(-errno.ENOENT);
    expect(lastChannelConnectFailure.stage).toBe(ChannelConnectStage.OPEN);

    const stale = path.join(dir, 'webrtc_data_stale');
    close(expectFd(listenUnix(stale, 8))); // the file stays, nobody listens
    expect(connectChannel(stale, true)).toBe(-errno.ECONNREFUSED);
    expect(lastChannelConnectFailure.stage).toBe(ChannelConnectStage.CONNECT);
  });

  it('reports a full backlog as EAGAIN at the connect stage', () => {
    const socketPath = path.join(dir, 'webrtc_data_busy');
    const listener = expectFd(listenUnix(socketPath, 0));
    const connected: number[] = [];
    try {
      let rc = 0;
      for (let i = 0; i < 64 && rc >= 0; i++) {
        rc = connectChannel(socketPath, false);
        if (rc >= 0) connected.push(rc);
      }
      expect(rc).toBe(-errno.EAGAIN);
      expect(lastChannelConnectFailure.stage).toBe(ChannelConnectStage.CONNECT);
    } finally {
      for (const fd of connected) close(fd);
      close(listener);
    }
  });
});

describe('connectChannelAt (the trusted-directory fast path)', () => {
  let dirFd: number;
  beforeEach(() => {
    const opened = openDirectory(dir);
    if (typeof opened === 'number') throw new Error(`openDirectory: ${opened}`);
    dirFd = opened.fd;
  });
  afterEach(() => {
    close(dirFd);
  });

  it('connects to a listening socket, blocking or not as asked, close-on-exec, leaving only that descriptor', () => {
    const socketPath = path.join(dir, 'webrtc_data_foo');
    const listener = expectFd(listenUnix(socketPath, 8));
    try {
      const before = openFdCount();
      const blocking = expectFd(connectChannelAt(dirFd, 'webrtc_data_foo', socketPath, true));
      const nonBlocking = expectFd(connectChannelAt(dirFd, 'webrtc_data_foo', socketPath, false));
      expect(openFdCount()).toBe(before + 2);
      expect(fdFlags(blocking) & O_NONBLOCK).toBe(0);
      expect(fdFlags(nonBlocking) & O_NONBLOCK).toBe(O_NONBLOCK);
      expect(fdFlags(blocking) & O_CLOEXEC).toBe(O_CLOEXEC);
      const first = expectFd(accept(listener));
      const second = expectFd(accept(listener));
      for (const fd of [blocking, nonBlocking, first, second]) close(fd);
    } finally {
      close(listener);
    }
  });

  it('never follows a symlink, even to a listening socket in the same directory', () => {
    const real = path.join(dir, 'webrtc_data_real');
    const listener = expectFd(listenUnix(real, 8));
    try {
      const link = path.join(dir, 'webrtc_data_link');
      fs.symlinkSync(real, link);
      const before = openFdCount();
      expect(connectChannelAt(dirFd, 'webrtc_data_link', link, true)).toBe(-errno.ENOTSOCK);
      expect(lastChannelConnectFailure).toEqual({ stage: ChannelConnectStage.NOT_A_SOCKET, symlink: true });
      expect(openFdCount()).toBe(before);
      expect(accept(listener)).toBe(-errno.EAGAIN);
    } finally {
      close(listener);
    }
  });

  it('tells a file that is not a socket, a directory, a missing entry and a socket nobody listens on apart', () => {
    fs.writeFileSync(path.join(dir, 'webrtc_data_file'), '');
    expect(connectChannelAt(dirFd, 'webrtc_data_file', path.join(dir, 'webrtc_data_file'), true)).toBe(-errno.ENOTSOCK);
    expect(lastChannelConnectFailure).toEqual({ stage: ChannelConnectStage.NOT_A_SOCKET, symlink: false });
    fs.mkdirSync(path.join(dir, 'webrtc_data_dir'));
    expect(connectChannelAt(dirFd, 'webrtc_data_dir', path.join(dir, 'webrtc_data_dir'), true)).toBe(-errno.ENOTSOCK);
    expect(lastChannelConnectFailure).toEqual({ stage: ChannelConnectStage.NOT_A_SOCKET, symlink: false });

    expect(connectChannelAt(dirFd, 'webrtc_data_absent', path.join(dir, 'webrtc_data_absent'), true)).toBe(-errno.ENOENT);
    expect(lastChannelConnectFailure.stage).toBe(ChannelConnectStage.OPEN);

    const stale = path.join(dir, 'webrtc_data_stale');
    close(expectFd(listenUnix(stale, 8)));
    expect(connectChannelAt(dirFd, 'webrtc_data_stale', stale, true)).toBe(-errno.ECONNREFUSED);
    expect(lastChannelConnectFailure.stage).toBe(ChannelConnectStage.CONNECT);
  });

  it('reports a full backlog as EAGAIN at the connect stage', () => {
    const socketPath = path.join(dir, 'webrtc_data_busy');
    const listener = expectFd(listenUnix(socketPath, 0));
    const connected: number[] = [];
    try {
      let rc = 0;
      for (let i = 0; i < 64 && rc >= 0; i++) {
        rc = connectChannelAt(dirFd, 'webrtc_data_busy', socketPath, false);
        if (rc >= 0) connected.push(rc);
      }
      expect(rc).toBe(-errno.EAGAIN);
      expect(lastChannelConnectFailure.stage).toBe(ChannelConnectStage.CONNECT);
    } finally {
      for (const fd of connected) close(fd);
      close(listener);
    }
  });

  it('refuses entry names with a slash (only an entry of the held directory is checked)', () => {
    expect(() => connectChannelAt(dirFd, 'a/b', path.join(dir, 'a', 'b'), true)).toThrow(TypeError);
    expect(() => connectChannelAt(dirFd, '', dir, true)).toThrow(TypeError);
  });
});

describe('openDirectory', () => {
  it('opens a directory close-on-exec and tells its owner and mode', () => {
    fs.chmodSync(dir, 0o750);
    const opened = openDirectory(dir);
    if (typeof opened === 'number') throw new Error(`openDirectory: ${opened}`);
    expect(opened.uid).toBe(process.getuid!());
    expect(opened.mode).toBe(0o750);
    expect(fdFlags(opened.fd) & O_CLOEXEC).toBe(O_CLOEXEC);
    close(opened.fd);
  });

  it('refuses a symlink as the final component, a file and a missing path', () => {
    const sub = path.join(dir, 'real');
    fs.mkdirSync(sub);
    fs.symlinkSync(sub, path.join(dir, 'link'));
    // O_DIRECTORY | O_NOFOLLOW: Linux says ENOTDIR for a symlink (the link itself is no directory).
    expect(openDirectory(path.join(dir, 'link'))).toBe(-errno.ENOTDIR);
    fs.writeFileSync(path.join(dir, 'file'), '');
    expect(openDirectory(path.join(dir, 'file'))).toBe(-errno.ENOTDIR);
    expect(openDirectory(path.join(dir, 'absent'))).toBe(-errno.ENOENT);
  });
});

describe('waitFd', () => {
  it('returns 0 after the timeout and the events once ready', () => {
    const socketPath = path.join(dir, 'w.sock');
    const listener = expectFd(listenUnix(socketPath, 8));
    try {
      expect(waitFd(listener, WaitEvent.READABLE, 20)).toBe(0);
      const client = expectFd(connectChannel(socketPath, false));
      expect(waitFd(listener, WaitEvent.READABLE, 1000) & WaitEvent.READABLE).toBe(WaitEvent.READABLE);
      expect(waitFd(client, WaitEvent.WRITABLE, 1000) & WaitEvent.WRITABLE).toBe(WaitEvent.WRITABLE);
      close(client);
      // A closed descriptor is an event (POLLNVAL, 0x20), not an errno. (poll ignores -1 altogether: 0.)
      expect(waitFd(client, WaitEvent.READABLE, 0) & 0x20).toBe(0x20);
      expect(waitFd(-1, WaitEvent.READABLE, 0)).toBe(0);
    } finally {
      close(listener);
    }
  });
});
