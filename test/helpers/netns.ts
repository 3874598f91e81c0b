/**
 * A lab of "hosts" on this machine (issue 13): one network namespace per host, all plugged into one
 * bridge that lives in a namespace of its own, so nothing is added to the machine's own network
 * and one lab cannot see another. Each host gets `eth0` with an address on a private /24 and its
 * loopback up; `reach` limits who a host may exchange packets with (nftables inside its namespace:
 * both directions are dropped, as a real firewall between two sites would).
 *
 * Needs root, iproute2 (`ip`) and, for `reach`, nftables (`nft`); .ci/run installs both. A missing
 * tool fails the test with a message saying what to install; nothing is skipped.
 *
 * `lab.destroy()` kills whatever still runs in the lab's namespaces and deletes them (their veths
 * and the bridge go with them). It is idempotent, and also runs when the process exits; a lab
 * left by a test process that was killed outright is swept by the next createLab.
 */
import { execFileSync } from 'node:child_process';

export const IP = process.env.ANBOX_OOB_IP ?? 'ip';
export const NFT = process.env.ANBOX_OOB_NFT ?? 'nft';

/** Every namespace a lab creates is called PREFIX<pid>-<lab>-<host>. */
export const LAB_PREFIX = 'aoob-lab-';

export interface LabOptions {
  /** Host names: short, [a-z0-9]; each becomes a namespace with an address. */
  hosts: string[];
  /**
   * host → the only hosts it may exchange packets with (both directions). A host not named here
   * reaches every host that does not exclude it.
   */
  reach?: Record<string, string[]>;
}

export interface LabHost {
  readonly name: string;
  /** The network namespace, for `ip netns exec`. */
  readonly ns: string;
  /** Its IPv4 address on the lab's /24. */
  readonly address: string;
  /** `argv` prefixed so that it runs inside this host's namespace. */
  wrap(argv: string[]): string[];
  /** Runs a command inside the namespace and returns its stdout (throws on a non-zero exit). */
  run(argv: string[]): string;
}

export interface Lab {
  /** e.g. 10.213.7.0/24 */
  readonly subnet: string;
  /** The namespace that holds the bridge. */
  readonly bridgeNs: string;
  readonly hosts: Readonly<Record<string, LabHost>>;
  /** The host of that name; throws for an unknown one. */
  host(name: string): LabHost;
  /** Every namespace the lab made (hosts and bridge). */
  namespaces(): string[];
  /** Kills what runs inside, deletes every namespace. Idempotent. */
  destroy(): void;
}

let labCounter = 0;
const liveLabs = new Set<Lab>();
let exitHookInstalled = false;

export class LabError extends Error {
  override readonly name = 'LabError';
}

/** Creates the lab; on any failure, whatever was already made is removed before the error. */
export function createLab(options: LabOptions): Lab {
  checkPrerequisites(options);
  sweepOrphans();
  const id = ++labCounter;
  const stem = `${LAB_PREFIX}${process.pid}-${id}-`;
  // Inside its own namespaces a lab cannot clash with the machine; varying the /24 per lab still
  // keeps addresses apart in logs and in case a test ever routes two labs together.
  const second = 200 + (process.pid % 50);
  const third = (id * 7 + Math.floor(process.pid / 50)) % 254 + 1;
  const subnet = `10.${second}.${third}.0/24`;
  const bridgeNs = `${stem}br`;
  const made: string[] = [];
  const hosts: Record<string, LabHost> = {};
  const lab: Lab = {
    subnet,
    bridgeNs,
    hosts,
    host(name) {
      const host = hosts[name];
      if (!host) throw new LabError(`the lab has no host "${name}" (hosts: ${Object.keys(hosts).join(', ')})`);
      return host;
    },
    namespaces: () => [...made],
    destroy() {
      if (!liveLabs.delete(lab)) return;
      removeNamespaces(made);
    },
  };
  liveLabs.add(lab);
  installExitHook();
  try {
    ip(['netns', 'add', bridgeNs]);
    made.push(bridgeNs);
    ip(['-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', bridgeNs, 'link', 'set', 'br0', 'up']);
    options.hosts.forEach((name, index) => {
      const ns = `${stem}${name}`;
      const address = `10.${second}.${third}.${index + 10}`;
      ip(['netns', 'add', ns]);
      made.push(ns);
      // Both ends are created straight in their namespaces: nothing ever appears in the root one.
      ip(['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `p${index}`, 'netns', bridgeNs]);
      ip(['-n', bridgeNs, 'link', 'set', `p${index}`, 'master', 'br0']);
      ip(['-n', bridgeNs, 'link', 'set', `p${index}`, 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      // IPv4 only: link-local IPv6 would give ICE a second path the isolation rules do not cover.
      execIn(ns, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
      ip(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      hosts[name] = {
        name,
        ns,
        address,
        wrap: (argv) => [IP, 'netns', 'exec', ns, ...argv],
        run: (argv) => execIn(ns, argv),
      };
    });
    for (const [name, allowed] of Object.entries(options.reach ?? {})) {
      const host = lab.host(name);
      isolate(host, allowed.map((peer) => lab.host(peer).address));
    }
  } catch (error) {
    lab.destroy();
    throw error;
  }
  return lab;
}

/** nftables in the host's namespace: loopback and the allowed addresses in, out; nothing else. */
function isolate(host: LabHost, allowed: string[]): void {
  const set = allowed.length > 0 ? `{ ${allowed.join(', ')} }` : undefined;
  const ruleset = [
    'table inet lab {',
    '  chain in {',
    '    type filter hook input priority 0; policy drop;',
    '    iif "lo" accept',
    ...(set ? [`    ip saddr ${set} accept`] : []),
    '  }',
    '  chain out {',
    '    type filter hook output priority 0; policy drop;',
    '    oif "lo" accept',
    ...(set ? [`    ip daddr ${set} accept`] : []),
    '  }',
    '}',
  ].join('\n');
  execFileSync(IP, ['netns', 'exec', host.ns, NFT, '-f', '-'], { input: ruleset, stdio: ['pipe', 'pipe', 'pipe'] });
}

function checkPrerequisites(options: LabOptions): void {
  if (process.getuid?.() !== 0) {
    throw new LabError('network-namespace labs need root (ip netns add); run the tests as root, as .ci/run does');
  }
  requireTool(IP, ['-V'], 'iproute2');
  if (options.reach && Object.keys(options.reach).length > 0) requireTool(NFT, ['--version'], 'nftables');
  const seen = new Set<string>();
  for (const name of options.hosts) {
    if (!/^[a-z0-9]{1,12}$/.test(name) || name === 'br') throw new LabError(`lab host name "${name}": use 1-12 characters of a-z 0-9 (not "br")`);
    if (seen.has(name)) throw new LabError(`lab host "${name}" named twice`);
    seen.add(name);
  }
  if (options.hosts.length === 0 || options.hosts.length > 200) throw new LabError('a lab has 1 to 200 hosts');
}

function requireTool(command: string, args: string[], pkg: string): void {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
  } catch (error) {
    throw new LabError(`"${command}" is missing or broken (apt-get install -y ${pkg}): ${(error as Error).message}`);
  }
}

function ip(args: string[]): string {
  try {
    return execFileSync(IP, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new LabError(`ip ${args.join(' ')} failed: ${stderr.trim() || (error as Error).message}`);
  }
}

function execIn(ns: string, argv: string[]): string {
  return ip(['netns', 'exec', ns, ...argv]);
}

/** Kills every process still inside, then deletes the namespaces (veths and bridge go with them). */
function removeNamespaces(namespaces: string[]): void {
  for (const ns of namespaces) {
    let pids: string[] = [];
    try {
      pids = execFileSync(IP, ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(/\s+/).filter(Boolean);
    } catch {
      // already gone
    }
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
  }
  for (const ns of [...namespaces].reverse()) {
    try {
      execFileSync(IP, ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}

/** The lab namespaces (of any process) that exist now. */
export function listLabNamespaces(): string[] {
  const out = execFileSync(IP, ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(LAB_PREFIX));
}

/** Labs whose test process no longer exists (killed with SIGKILL: no exit hook ran). */
function sweepOrphans(): void {
  const orphans = listLabNamespaces().filter((name) => {
    const pid = Number(name.slice(LAB_PREFIX.length).split('-')[0]);
    if (!Number.isSafeInteger(pid) || pid === process.pid) return false;
    try {
      process.kill(pid, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ESRCH';
    }
  });
  if (orphans.length > 0) removeNamespaces(orphans);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const lab of [...liveLabs]) lab.destroy();
  });
}
