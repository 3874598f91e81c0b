import { AdbReverse, ADB_REVERSE_NOT_CONFIGURED } from '../broadcast/adb/adb-reverse.js';
import { AdbSink } from '../broadcast/adb/adb-sink.js';
import { ChannelBroadcasts } from '../broadcast/channel-broadcasts.js';
import { CommandSink } from '../broadcast/command-sink.js';
import { LocalReceiversSink } from '../broadcast/local/local-receivers-sink.js';
import type { BroadcastSink, ChannelBroadcast, DeliveryResult } from '../broadcast/types.js';
import type { Logger } from '../log/logger.js';
import type { DataProxyServer } from '../service/data-proxy-server.js';
import { StatusService, type AdbStatus, type StatusSnapshot } from '../service/status-service.js';
import type { BroadcastSettings } from './broadcast-options.js';
import { join } from 'node:path';
import { CHANNEL_SOCKET_PREFIX } from '../channels/channel-name.js';
import { acceptedUnixConnections } from '../io/unix-socket-table.js';

/** Per channel, the app connections its socket has now; undefined when /proc/net/unix cannot be read. */
function appConnections(socketDir: string, channels: readonly string[]): Record<string, number> | undefined {
  let accepted: Map<string, number>;
  try {
    accepted = acceptedUnixConnections();
  } catch {
    return undefined;
  }
  return Object.fromEntries(channels.map((name) => [name, accepted.get(join(socketDir, `${CHANNEL_SOCKET_PREFIX}${name}`)) ?? 0]));
}

/**
 * With --adb (and not --no-adb-reverse): starts keeping `adb [-s SERIAL] reverse
 * localabstract:anbox-oob-data-proxy localfilesystem:<servicePath>` in place, in the background (never
 * waits for adb). The caller closes it (which removes the reverse) before it stops serving.
 */
export function startAdbReverse(servicePath: string, settings: BroadcastSettings, log: Logger, env: NodeJS.ProcessEnv = process.env): AdbReverse | undefined {
  if (!settings.adb?.reverse) return undefined;
  return new AdbReverse({
    logger: log,
    servicePath,
    serial: settings.adb.serial,
    adbPath: settings.adb.adbPath,
    env,
    recheckMs: settings.adb.reverseRecheckMs,
  }).start();
}

/** The adb sink, remembering when its last result came (to tell which verdict on the device is newest). */
class TimedSink implements BroadcastSink {
  readonly name: string;
  last: { ok: boolean; detail: string; at: number } | undefined;

  constructor(private readonly inner: BroadcastSink) {
    this.name = inner.name;
  }

  async deliver(broadcast: ChannelBroadcast): Promise<DeliveryResult> {
    const result = await this.inner.deliver(broadcast);
    this.last = { ok: result.ok, detail: result.detail, at: Date.now() };
    return result;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * Starts the channel broadcasts of the data-proxy daemon (socket-dir watcher → batcher → adb hook,
 * command hook, local receivers) and registers the status service that reports on them (and on
 * `reverse`, the adb reverse, when there is one).
 */
export async function startChannelBroadcasts(
  server: DataProxyServer,
  socketDir: string,
  settings: BroadcastSettings,
  log: Logger,
  platformStatus?: () => Record<string, unknown> | undefined,
  reverse?: AdbReverse,
  allowSharedDir = false,
): Promise<{ close(): Promise<void> }> {
  const startedAt = Date.now();
  const local = new LocalReceiversSink({ dir: settings.receiversDir, log, allowSharedDir });
  // A receivers dir someone else controls stops the start (it is made later, when missing).
  local.checkDirectory();
  const sinks: BroadcastSink[] = [local];
  let adbSink: TimedSink | undefined;
  if (settings.adb) {
    adbSink = new TimedSink(new AdbSink({ logger: log, serial: settings.adb.serial, adbPath: settings.adb.adbPath, target: settings.adb.target }));
    sinks.push(adbSink);
  }
  if (settings.hook) sinks.push(new CommandSink({ logger: log, command: settings.hook.command, args: settings.hook.args }));
  // Set once the watcher has started; until then status reports no channels and no broadcasts.
  let broadcasts: ChannelBroadcasts | undefined;
  const adbStatus = (): AdbStatus => {
    if (!settings.adb) return { configured: false, serial: null, reachable: 'not configured', reverse: ADB_REVERSE_NOT_CONFIGURED, reverseSockets: null };
    const serial = settings.adb.serial ?? (process.env.ANDROID_SERIAL || null);
    // The newest verdict on the device: the last broadcast's, or the reverse's last adb run.
    const sent = adbSink?.last ?? broadcasts?.stats().sinks.find((s) => s.sink === adbSink?.name)?.last;
    const sentAt = adbSink?.last?.at ?? 0;
    const checked = reverse?.lastCheck;
    let reachable: string;
    if (checked && (!sent || checked.at >= sentAt)) reachable = checked.reachable ? 'yes' : `no: ${checked.detail}`;
    else if (sent) reachable = sent.ok ? 'yes' : `no: ${sent.detail}`;
    else reachable = 'unknown (nothing sent yet)';
    return {
      configured: true,
      serial,
      reachable,
      reverse: reverse?.state ?? ADB_REVERSE_NOT_CONFIGURED,
      reverseSockets: reverse ? { device: reverse.deviceSide, host: reverse.hostSide } : null,
    };
  };
  const snapshot = (): StatusSnapshot => ({
    channels: broadcasts?.channels() ?? [],
    appConnections: appConnections(socketDir, broadcasts?.channels() ?? []),
    connections: server.stats,
    broadcasts: (broadcasts?.recent() ?? []).map(({ broadcast, results }) => ({
      ...broadcast,
      results,
      pending: sinks.map((s) => s.name).filter((name) => !results.some((r) => r.sink === name)),
    })),
    adb: adbStatus(),
    socketDir,
    local: { dir: settings.receiversDir },
    startedAt,
    platform: platformStatus?.(),
  });
  // Registered before the first await: the service socket is already accepting, and a status request
  // made right after the daemon started must find the service (it answered UNKNOWN_SERVICE before).
  server.dispatcher.register(new StatusService(snapshot));
  broadcasts = await ChannelBroadcasts.start({ socketDir, logger: log, sinks, batchWindowMs: settings.batchWindowMs });
  log.info(
    {
      event: 'broadcasts.started',
      sinks: sinks.map((s) => s.name),
      receiversDir: settings.receiversDir,
      batchWindowMs: settings.batchWindowMs,
      adbSerial: adbStatus().serial,
      adbReverse: reverse ? `${reverse.deviceSide} -> ${reverse.hostSide}` : null,
    },
    `channel broadcasts: watching ${socketDir}; delivering to ${sinks.map((s) => s.name).join(', ')} (local receivers in ${settings.receiversDir})`,
  );
  return { close: () => broadcasts.close() };
}
