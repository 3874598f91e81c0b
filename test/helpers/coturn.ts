/**
 * Debian's coturn (`turnserver`) as a TURN server for the tests: a generated config (one static
 * long-term user, no TLS/DTLS, no admin CLI, logs on stdout), optionally inside a lab host's
 * namespace. The tests fail (never skip) when it is missing; .ci/run installs `coturn`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnInNamespace, type NsProcess } from './ns-process.js';
import { freeUdpAndTcpPort } from './free-port.js';

export const TURNSERVER = process.env.ANBOX_OOB_TURNSERVER ?? 'turnserver';

export interface CoturnOptions {
  /** Run inside this network namespace; default: this one. */
  ns?: string;
  /** Address to listen on and to relay from. Default 127.0.0.1 (then loopback peers are allowed). */
  address?: string;
  /** Default: 3478 inside a namespace (it is empty), a free port otherwise. */
  port?: number;
  user?: string;
  password?: string;
  /** The relay port range; default 49152-49251. */
  minPort?: number;
  maxPort?: number;
}

export interface CoturnHandle {
  readonly address: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** turn:USER:PASSWORD@ADDRESS:PORT, as --turn/--stun take it. */
  readonly url: string;
  readonly process: NsProcess;
  /** Stops it and removes its config directory. Idempotent. */
  stop(): Promise<void>;
}

/** Starts coturn and resolves once its UDP and TCP listeners are open. */
export async function startCoturn(options: CoturnOptions = {}): Promise<CoturnHandle> {
  const address = options.address ?? '127.0.0.1';
  const port = options.port ?? (options.ns !== undefined ? 3478 : await freeUdpAndTcpPort(address));
  const user = options.user ?? 'anbox';
  const password = options.password ?? 'turn-secret';
  const dir = mkdtempSync(join(tmpdir(), 'anbox-oob-coturn-'));
  const config = [
    `listening-ip=${address}`,
    `listening-port=${port}`,
    `relay-ip=${address}`,
    `min-port=${options.minPort ?? 49152}`,
    `max-port=${options.maxPort ?? 49251}`,
    'lt-cred-mech',
    `user=${user}:${password}`,
    'realm=anbox-oob.test',
    'no-tls',
    'no-dtls',
    'no-cli',
    'no-multicast-peers',
    // One test machine: loopback peers are the point when it runs outside a lab.
    ...(address.startsWith('127.') ? ['allow-loopback-peers'] : []),
    'log-file=stdout',
    'simple-log',
    'verbose',
    `pidfile=${join(dir, 'turnserver.pid')}`,
    // Without it coturn opens /var/lib/turn/turndb, shared by every run.
    `userdb=${join(dir, 'turndb')}`,
  ].join('\n');
  writeFileSync(join(dir, 'turnserver.conf'), config + '\n');
  let proc: NsProcess;
  try {
    proc = spawnInNamespace(options.ns, [TURNSERVER, '-c', join(dir, 'turnserver.conf')]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot run ${TURNSERVER} (apt-get install -y coturn): ${(error as Error).message}`);
  }
  const stop = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const escaped = address.replace(/\./g, '\\.');
    await proc.waitForLine(new RegExp(`UDP listener opened on: ?${escaped}:${port}\\b`), 15_000);
    await proc.waitForLine(new RegExp(`TCP listener opened on ?: ?${escaped}:${port}\\b`), 15_000);
  } catch (error) {
    await stop();
    // Outside a namespace spawn fails with ENOENT (or a shell's 127); inside one, `ip netns exec`
    // itself runs and says "exec of … failed".
    const missing = /ENOENT/.test(String(error)) || /exited \(127\)/.test(String(error)) || /exec of ".*" failed/.test(String(error));
    throw new Error(missing ? `${TURNSERVER} is missing (apt-get install -y coturn): ${(error as Error).message}` : (error as Error).message);
  }
  return { address, port, user, password, url: `turn:${user}:${password}@${address}:${port}`, process: proc, stop };
}
