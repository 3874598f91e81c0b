import { describe, expect, it } from 'vitest';
import { defaultRuntimeDir, resolveRuntimePaths } from '../../src/config/paths.js';

describe('runtime paths', () => {
  const never = () => false;
  const always = () => true;

  it('uses $XDG_RUNTIME_DIR/anbox first', () => {
    expect(defaultRuntimeDir({ env: { XDG_RUNTIME_DIR: '/run/user/1000' }, uid: 1000, isWritable: always })).toBe('/run/user/1000/anbox');
  });

  it('falls back to /run/user/<uid>/anbox when it is writable, else the temp dir', () => {
    expect(defaultRuntimeDir({ env: {}, uid: 1234, isWritable: (d) => d === '/run/user/1234' })).toBe('/run/user/1234/anbox');
    expect(defaultRuntimeDir({ env: {}, uid: 1234, isWritable: never, tmp: '/tmp' })).toBe('/tmp/anbox-oob-1234');
  });

  it('puts the sockets and the service socket side by side', () => {
    const paths = resolveRuntimePaths({ env: { XDG_RUNTIME_DIR: '/r' }, isWritable: never });
    expect(paths).toMatchObject({ socketDir: '/r/anbox/sockets', servicePath: '/r/anbox/data-proxy.sock', socketDirSource: 'default', servicePathSource: 'default' });
  });

  it('lets flags win over the environment, which wins over defaults', () => {
    const env = { XDG_RUNTIME_DIR: '/r', ANBOX_OOB_SOCKET_DIR: '/env/sockets', ANBOX_OOB_SERVICE_SOCKET: '/env/svc.sock' };
    expect(resolveRuntimePaths({ env })).toMatchObject({ socketDir: '/env/sockets', servicePath: '/env/svc.sock', socketDirSource: 'env' });
    expect(resolveRuntimePaths({ env, socketDirFlag: '/flag/s', servicePathFlag: '/flag/p.sock' })).toMatchObject({
      socketDir: '/flag/s',
      servicePath: '/flag/p.sock',
      servicePathSource: 'flag',
    });
  });

  it('keeps the default service socket independent of --socket-dir, so clients find it without flags', () => {
    const paths = resolveRuntimePaths({ env: { XDG_RUNTIME_DIR: '/r' }, socketDirFlag: '/elsewhere' });
    expect(paths.servicePath).toBe('/r/anbox/data-proxy.sock');
  });
});
