// The Android sample's protocol code against the REAL daemon (`dist/src/cli/main.js proxy`): a Java
// client (Java 16+ Unix-domain SocketChannel; Java cannot receive SCM_RIGHTS, so stream mode, as the
// app's emulator flavor over adb reverse) connects to a channel of a fake platform, exchanges data
// both ways (1 MiB up, echoed back, while reading on a thread of its own), half-closes, checks every
// interface-token layout, and checks the error replies for an unknown and an invalid channel name.
// Needs `npm run build` first (`npm test` does it) and a JDK 17+; a missing JDK fails, never skips.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { compileTestProgram, requireJdk, run, SuiteSetup, TEST_MAIN_CLASS, type RunResult } from './java-toolchain.js';

const CHANNEL = 'foo';

interface PlatformConnection {
  received: Buffer[];
  ended: boolean;
}

let dir: string | undefined;
let daemon: DaemonHandle | undefined;
let platform: net.Server | undefined;
const connections: PlatformConnection[] = [];
const sockets = new Set<net.Socket>();
let result: RunResult;

/**
 * Stands in for the WebRTC platform's side of channel `foo`: greets with "welcome\n", echoes every
 * chunk behind "echo:", and answers the client's EOF with "bye\n" and its own EOF (half-close).
 */
async function startPlatform(socketDir: string): Promise<net.Server> {
  mkdirSync(socketDir, { recursive: true });
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const connection: PlatformConnection = { received: [], ended: false };
    connections.push(connection);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write('welcome\n');
    socket.on('data', (chunk: Buffer) => {
      connection.received.push(chunk);
      socket.write(Buffer.concat([Buffer.from('echo:'), chunk]));
    });
    socket.on('end', () => {
      connection.ended = true;
      socket.end('bye\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(join(socketDir, `webrtc_data_${CHANNEL}`), () => resolve());
  });
  return server;
}

const setup = new SuiteSetup();

beforeAll(async () => {
  await setup.run(async () => {
    requireJdk();
    dir = makeTempDir('aoob-jd-');
    const classpath = await compileTestProgram(join(dir, 'java'));
    daemon = await startDaemon(dir);
    platform = await startPlatform(daemon.socketDir);
    result = await run('java', ['-cp', classpath, TEST_MAIN_CLASS, 'daemon', daemon.servicePath, CHANNEL, 'nope'], 90_000);
  });
}, 240_000);

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  if (platform) await new Promise<void>((resolve) => platform!.close(() => resolve()));
  if (daemon) await daemon.stop();
  if (dir) removeTempDir(dir);
});

function report(): string {
  return `java stdout:\n${result.stdout}\njava stderr:\n${result.stderr}\ndaemon:\n${daemon?.output() ?? ''}`;
}

describe('android-sample Java client against the real daemon (stream mode over a Unix socket)', () => {
  it('passes every check of the Java program', () => {
    setup.ready();
    const failures = result.stdout.split('\n').filter((line) => line.startsWith('FAIL'));
    expect(failures, report()).toEqual([]);
    expect(result.code, report()).toBe(0);
    expect(result.stdout).toMatch(/^PASS daemon: \d+ checks, 0 failures$/m);
  });

  it('connects, and the channel gets exactly what the Java client sent, then its EOF', () => {
    setup.ready();
    expect(result.stdout).toContain(`STEP connected ${CHANNEL}`);
    const sent = /^SENT (\d+) ([0-9a-f]{64})$/m.exec(result.stdout);
    expect(sent, report()).not.toBeNull();
    const first = connections[0];
    expect(first, 'the platform saw no connection').toBeDefined();
    const received = Buffer.concat(first.received);
    expect(received.length).toBe(Number(sent![1]));
    expect(received.subarray(0, 16).toString()).toBe('hello from java\n');
    expect(createHash('sha256').update(received).digest('hex')).toBe(sent![2]);
    // shutdownOutput() on the Java side reached the channel as EOF (the half-close is forwarded).
    expect(first.ended).toBe(true);
    // What came back: greeting + echoes of 1 MiB + goodbye.
    const back = Number(/^RECEIVED (\d+)$/m.exec(result.stdout)?.[1]);
    expect(back).toBeGreaterThan(received.length + 'welcome\n'.length + 'bye\n'.length);
  });

  it('works with the interface-token layouts of Android 6–9, 10 and 11+', () => {
    setup.ready();
    for (const layout of ['API28', 'API29', 'API30']) expect(result.stdout).toContain(`STEP layout ${layout} ok`);
    const texts = connections.slice(1).map((c) => Buffer.concat(c.received).toString());
    expect(texts).toEqual(['layout API28\n', 'layout API29\n', 'layout API30\n']);
  });

  it('reports the error reply for an unknown channel (status -2, CHANNEL_NOT_FOUND) and an invalid name', () => {
    setup.ready();
    expect(result.stdout).toMatch(/^REFUSED nope status=-2 code=CHANNEL_NOT_FOUND message=.*nope.*$/m);
    expect(result.stdout).toMatch(/^REFUSED \.\.\/etc status=-22 code=INVALID_CHANNEL_NAME message=.+$/m);
    // The daemon logged both refusals, and served the four stream connects.
    const lines = daemon!.logLines();
    const refused = lines.filter((line) => line.event === 'transaction.refused').map((line) => line.errorCode);
    expect(refused).toEqual(expect.arrayContaining(['CHANNEL_NOT_FOUND', 'INVALID_CHANNEL_NAME']));
    expect(lines.filter((line) => line.event === 'transaction.served').length).toBeGreaterThanOrEqual(4);
  });
});
