import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { DataProxyClient, DataProxyError } from '../../client/data-proxy-client.js';
import { resolveServicePath, SERVICE_SOCKET_ENV } from '../../config/paths.js';
import { Status } from '../../parcel/status.js';
import {
  decodeStatusReply,
  encodeStatusRequest,
  STATUS_SERVICE_NAME,
  TRANSACTION_getStatus,
  type AdbStatus,
  type BroadcastRecord,
  type StatusDocument,
} from '../../service/status-service.js';
import { describeClientError } from '../client-errors.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command } from '../command.js';
import { sharedPathOption } from '../client-paths.js';
import { runFarmStatus } from '../farm-status.js';
import { NATS_OPTIONS, natsSettings } from '../nats-options.js';

/** How many recent broadcasts the readable summary shows (--json has all the daemon sent). */
const SUMMARY_BROADCASTS = 10;

const HELP = `Usage: anbox-oob status [--service-socket PATH] [--json]
       anbox-oob status --nats URL [--json]

Asks the running daemon (service ${STATUS_SERVICE_NAME}, getStatus) what it knows and prints:
the data channels that exist now, its connection counters, adb's state (is the device reachable, is
the adb reverse to the service in place), and the recent channel broadcasts with what became of
each at every sink (adb, command hook, local receivers).

Options:
  --service-socket PATH   the daemon's socket (env ${SERVICE_SOCKET_ENV}; else "service-socket" in
                          the daemons' config file; default as \`anbox-oob proxy\`)
  --json                  print the daemon's JSON document as it is (fields: docs/protocol.md)
  --nats URL              instead, list the farm's instances (docs/farm.md): asks every
                          \`serve --nats\` instance to announce itself and prints name, state, device,
                          channels, session and when it was last heard (NATS auth/TLS options as
                          \`anbox-oob gateway --help\` shows; no gateway needed)
  -h, --help              show this help

Exit status: 0 on success, 1 when no daemon answers (or it has no status service), 2 on usage errors.`;

export interface StatusIo {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
}

export const statusCommand: Command = {
  name: 'status',
  summary: "the daemon's channels, counters and recent broadcasts with their delivery results",
  help: HELP,
  run(argv) {
    return runStatus(argv, { stdout: process.stdout, stderr: process.stderr, env: process.env });
  },
};

/** The whole command, on injectable streams. Returns the exit code; throws UsageError for bad arguments. */
export async function runStatus(argv: string[], io: StatusIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { 'service-socket': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, ...NATS_OPTIONS },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`${HELP}\n`);
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new UsageError(`status takes no arguments (got "${positionals[0]}")`);
  const nats = natsSettings(values, io.env);
  if (nats !== undefined) {
    if (values['service-socket'] !== undefined) throw new UsageError('give --nats or --service-socket, not both');
    return runFarmStatus(nats, values.json ?? false, io);
  }
  const servicePath = resolveServicePath(sharedPathOption('service-socket', values['service-socket'], io.env), { env: io.env });
  const fail = (message: string) => {
    io.stderr.write(`anbox-oob status: ${message}\n`);
    return EXIT_FAILURE;
  };

  const client = new DataProxyClient({ servicePath });
  let document: StatusDocument;
  try {
    const reply = await client.transact(STATUS_SERVICE_NAME, TRANSACTION_getStatus, encodeStatusRequest());
    if (reply.status !== Status.OK) {
      if (reply.errorCode === 'UNKNOWN_SERVICE') {
        return fail(`the daemon at ${servicePath} has no status service (${STATUS_SERVICE_NAME}): it is an older version; restart it with this one`);
      }
      return fail(describeClientError(new DataProxyError(reply.status, reply.errorCode, reply.message || `getStatus failed with status ${reply.status}`)));
    }
    document = decodeStatusReply(reply.data);
  } catch (error) {
    return fail(describeClientError(error));
  } finally {
    client.close();
  }
  io.stdout.write(values.json ? `${JSON.stringify(document, null, 2)}\n` : formatStatus(document, servicePath));
  return EXIT_OK;
}

/** The readable summary `anbox-oob status` prints. */
export function formatStatus(document: StatusDocument, servicePath: string): string {
  const lines: string[] = [];
  const uptime = typeof document.startedAt === 'number' ? `, up ${formatDuration(document.generatedAt - document.startedAt)}` : '';
  lines.push(`daemon: ${servicePath} (pid ${document.pid}${uptime})`);
  if (document.socketDir) lines.push(`socket dir: ${document.socketDir}`);
  const channels = document.channels ?? [];
  if (channels.length === 0) lines.push('channels: none');
  else {
    lines.push(`channels (${channels.length}):`);
    for (const name of channels) lines.push(`  ${name.padEnd(Math.max(...channels.map((n) => n.length)))}  ${appState(document.appConnections?.[name])}`);
  }
  const c = document.connections;
  if (c) {
    lines.push(
      `service connections: ${c.connectionsAccepted} accepted, ${c.openConnections} open (including this status request); ` +
        `transactions: ${c.transactionsServed} served, ${c.transactionsRefused} refused; streams open: ${c.openStreams}`,
    );
  }
  const adb = document.adb;
  if (adb) {
    lines.push(
      adb.configured
        ? `adb: enabled, serial ${adb.serial ?? "adb's default"}, reachable: ${adb.reachable}`
        : `adb: not enabled (start the daemon with --adb to broadcast to a device)`,
    );
    // Older daemons send no `reverse`.
    if (adb.configured && typeof adb.reverse === 'string') lines.push(`adb reverse: ${formatReverse(adb)}`);
  }
  if (document.local) lines.push(`local receivers: ${document.local.dir}`);
  if (document.platform && Object.keys(document.platform).length > 0) lines.push(...formatPlatform(document.platform));
  const broadcasts = document.broadcasts ?? [];
  if (broadcasts.length === 0) {
    lines.push('broadcasts: none yet');
  } else {
    const shown = broadcasts.slice(-SUMMARY_BROADCASTS);
    lines.push(`recent broadcasts (${shown.length === broadcasts.length ? `${broadcasts.length}` : `last ${shown.length} of ${broadcasts.length}`}, oldest first):`);
    for (const record of shown) lines.push(...formatBroadcast(record));
  }
  if (document.truncated) lines.push('(some broadcasts were left out to keep the reply small)');
  return `${lines.join('\n')}\n`;
}

function appState(count: number | undefined): string {
  if (count === undefined) return 'app: unknown (/proc/net/unix unreadable)';
  if (count === 0) return 'no app attached';
  return count === 1 ? 'app attached' : `app attached (${count} connections: the newest replaces the others)`;
}

/** The platform's counters (src/platform/platform-events.ts PlatformStats), as sentences; unknown fields as key=value. */
function formatPlatform(platform: Record<string, unknown>): string[] {
  const n = (key: string) => (typeof platform[key] === 'number' ? String(platform[key]) : '?');
  const lines = [
    'platform:',
    `  sessions: ${n('sessionsCreated')} created, ${n('sessionsJoined')} joined, ${n('sessionsKnown')} known`,
    `  peers: ${n('peersStarted')} started, ${n('peersEnded')} ended`,
    `  channels: ${n('channelsOpened')} opened, ${n('channelsClosed')} closed, ${n('channelsRejected')} rejected`,
    `  signaling: ${n('signalingConnections')} connections, ${n('signalingRefused')} refused, ${n('signalingErrors')} errors`,
    `  gateway: ${n('connectionsDropped')} connections dropped at the connection cap, ${n('authFailures')} requests with a wrong or missing token`,
  ];
  const active = platform.active as { session?: string; peer?: number; state?: string; channels?: string[] } | null | undefined;
  lines.push(
    active && typeof active === 'object'
      ? `  streaming now: session ${active.session} (peer ${active.peer}, ${active.state}), channels: ${(active.channels ?? []).join(', ') || 'none'}`
      : '  streaming now: no browser connected',
  );
  const known = new Set([
    'sessionsCreated',
    'sessionsJoined',
    'sessionsKnown',
    'peersStarted',
    'peersEnded',
    'channelsOpened',
    'channelsClosed',
    'channelsRejected',
    'signalingConnections',
    'signalingRefused',
    'signalingErrors',
    'connectionsDropped',
    'authFailures',
    'active',
  ]);
  const other = Object.entries(platform).filter(([key]) => !known.has(key));
  if (other.length > 0) lines.push(`  other: ${other.map(([key, value]) => `${key}=${JSON.stringify(value)}`).join(', ')}`);
  return lines;
}

/** "in place (localabstract:… -> localfilesystem:…)", "pending: <hint>", "not configured (--no-adb-reverse)". */
function formatReverse(adb: AdbStatus): string {
  if (adb.reverse === 'not configured') return 'not configured (--no-adb-reverse)';
  const sockets = adb.reverseSockets ? ` (${adb.reverseSockets.device} -> ${adb.reverseSockets.host})` : '';
  return adb.reverse === 'in place' ? `in place${sockets}: apps on the device can connect` : `${adb.reverse}${sockets}`;
}

function formatBroadcast(record: BroadcastRecord): string[] {
  const time = new Date(record.timestamp).toISOString().replace('T', ' ').replace('Z', '');
  const lines = [`  #${record.sequence}  ${time}  ${record.event.padEnd(9)} ${record.names.join(', ')}`];
  const width = Math.max(6, ...record.results.map((r) => r.sink.length), ...(record.pending ?? []).map((s) => s.length));
  for (const result of record.results) {
    const attempts = result.attempts > 1 ? ` (${result.attempts} attempts)` : '';
    lines.push(`      ${result.sink.padEnd(width)}  ${result.ok ? 'ok    ' : 'FAILED'}  ${result.detail}${attempts}`);
  }
  for (const sink of record.pending ?? []) lines.push(`      ${sink.padEnd(width)}  ...     in progress`);
  if (record.results.length === 0 && (record.pending ?? []).length === 0) lines.push('      (no sinks)');
  return lines;
}

function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${m % 60}m`;
}
