/**
 * A farm of real processes for the fault tests: `anbox-oob gateway` and `anbox-oob serve --nats`
 * of this worktree's build, `anbox-oob client` as the browser, and apps connected to an
 * instance's channels through its data-proxy service. Everything started here is remembered and
 * stopped by `stopAll()` (call it in afterEach).
 */
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { connectAppWhenUp } from '../../helpers/connect-app.js';
import { spawnCli } from '../../helpers/cli.js';
import { startDaemon, type DaemonHandle } from '../../helpers/daemon.js';
import { freeUdpAndTcpPort } from '../../helpers/free-port.js';
import { makeTempDir, removeTempDir } from '../../helpers/temp-dir.js';
import { waitFor } from '../../platform/helpers/harness.js';

export const FARM_TOKEN = 'farm-faults-token-0123456789';
export const AUTH = { Authorization: `Macaroon root=${FARM_TOKEN}` };
/** Deadlines of the condition waits: generous, for a loaded 2-core machine. */
export const LONG = 30_000;

const children = new Set<ChildProcess>();
const cleanups: (() => Promise<void> | void)[] = [];

export async function stopAll(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const child of [...children]) await kill(child, 'SIGKILL');
}

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, 'exit') as Promise<[number | null]>;
  child.kill(signal);
  const [code] = await exited;
  return code;
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  port: number;
  stderr(): string;
  events(): Record<string, unknown>[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `anbox-oob gateway --nats URL` on 127.0.0.1:PORT (a free one unless given); resolves at its ready block. */
export async function startGateway(natsUrl: string, options: { port?: number; args?: string[] } = {}): Promise<GatewayProcess> {
  const port = options.port ?? (await freeUdpAndTcpPort());
  const child = track(spawnCli(['gateway', '--nats', natsUrl, '--listen', `127.0.0.1:${port}`, '--token', FARM_TOKEN, '--log-level', 'debug', ...(options.args ?? [])]));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // The ready block (stderr) and the farm.gateway.ready log line (stdout) come down two pipes: wait for both.
  await waitFor(() => (/anbox-oob gateway is ready/.test(stderr) && stdout.includes('"farm.gateway.ready"')) || child.exitCode !== null, 'the gateway ready block and log line', LONG);
  if (child.exitCode !== null) throw new Error(`the gateway exited (${child.exitCode}):\n${stderr}\n${stdout}`);
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    stderr: () => stderr,
    events: () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    stop: (signal = 'SIGTERM') => kill(child, signal),
  };
}

/** `anbox-oob serve --nats URL --instance-name NAME` in a fresh temp dir (removed by stopAll). */
export async function startInstance(natsUrl: string, name: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<DaemonHandle> {
  const dir = makeTempDir('aoob-faults-');
  cleanups.push(() => removeTempDir(dir));
  const daemon = await startDaemon(dir, ['--nats', natsUrl, '--instance-name', name, '--heartbeat-ms', '500', ...args], { command: 'serve', env });
  track(daemon.child);
  return daemon;
}

export interface InstancesAnswer {
  status: number;
  nats?: string;
  names: string[];
  instances: { name: string; state: string; session: string | null; device: string | null }[];
}

export async function listInstances(gatewayUrl: string): Promise<InstancesAnswer> {
  const response = await fetch(`${gatewayUrl}/1.0/instances`, { headers: AUTH, signal: AbortSignal.timeout(5_000) });
  const body = (await response.json()) as { nats?: string; metadata?: { name: string; state: string; session: string | null; device: string | null }[] };
  const instances = body.metadata ?? [];
  return { status: response.status, nats: body.nats, instances, names: instances.map((i) => i.name).sort() };
}

/** Polls GET /1.0/instances until `check` holds; returns that answer. */
export async function untilInstances(gatewayUrl: string, check: (answer: InstancesAnswer) => boolean, what: string): Promise<InstancesAnswer> {
  let last: InstancesAnswer | undefined;
  let pending = false;
  await waitFor(() => {
    if (last !== undefined && check(last)) return true;
    if (!pending) {
      pending = true;
      void listInstances(gatewayUrl)
        .then((answer) => (last = answer))
        .catch(() => undefined)
        .finally(() => (pending = false));
    }
    return false;
  }, `${what} (last GET /1.0/instances: ${JSON.stringify(last)})`, LONG);
  return last!;
}

export interface SessionAnswer {
  status: number;
  retryAfter: string | null;
  error?: string;
  metadata?: { id: string; url: string; stun_servers: { urls: string[]; username?: string; password?: string }[] };
}

export async function postSession(gatewayUrl: string, body: Record<string, unknown> = {}): Promise<SessionAnswer> {
  const response = await fetch(`${gatewayUrl}/1.0/sessions/`, { method: 'POST', headers: { ...AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  const json = (await response.json()) as { error?: string; metadata?: SessionAnswer['metadata'] };
  return { status: response.status, retryAfter: response.headers.get('retry-after'), error: json.error, metadata: json.metadata };
}

export interface ClientProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** The session id from the "connected" line. */
  session(): string | undefined;
  write(text: string): void;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `anbox-oob client --gateway URL --channel NAME`, stdin a pipe (written by `write`), stdout raw. */
export function startClient(gatewayUrl: string, channel: string, args: string[] = []): ClientProcess {
  const child = track(spawnCli(['client', '--gateway', gatewayUrl, '--token', FARM_TOKEN, '--channel', channel, '--log-level', 'info', ...args], { stdio: ['pipe', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin!.on('error', () => undefined);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    session: () => /\(session ([^;)\s]+)/.exec(stderr)?.[1],
    write: (text) => void child.stdin!.write(text),
    exited,
    stop: (signal = 'SIGTERM') => kill(child, signal),
  };
}

export async function untilConnected(client: ClientProcess): Promise<string> {
  await waitFor(() => /anbox-oob client: connected/.test(client.stderr()) || client.child.exitCode !== null, 'the client connected', LONG);
  if (client.child.exitCode !== null) throw new Error(`the client exited (${client.child.exitCode}):\n${client.stderr()}`);
  return client.session()!;
}

export interface AppConnection {
  socket: Socket;
  received(): string;
}

/** An app on the instance's host: connect(channel) through the instance's data-proxy service. */
export async function connectAppThroughService(instance: DaemonHandle, channel: string): Promise<AppConnection> {
  const socket = await connectAppWhenUp(instance.servicePath, channel, 'the instance', LONG);
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  socket.on('error', () => undefined);
  cleanups.push(() => void socket.destroy());
  return { socket, received: () => received };
}

/** Data both ways: client stdin → app, app → client stdout; `tag` makes each round distinct. */
export async function proveDataFlows(client: ClientProcess, app: AppConnection, tag: string): Promise<void> {
  client.write(`to-app ${tag}\n`);
  await waitFor(() => app.received().includes(`to-app ${tag}`), `"${tag}" from the client at the app (app read ${JSON.stringify(app.received().slice(-200))})`, LONG);
  app.socket.write(`to-client ${tag}\n`);
  await waitFor(() => client.stdout().includes(`to-client ${tag}`), `"${tag}" from the app at the client (client stdout ${JSON.stringify(client.stdout().slice(-200))})`, LONG);
}
