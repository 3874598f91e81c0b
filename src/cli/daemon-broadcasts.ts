import { AdbSink } from '../broadcast/adb/adb-sink.js';
import { ChannelBroadcasts } from '../broadcast/channel-broadcasts.js';
import { CommandSink } from '../broadcast/command-sink.js';
import { LocalReceiversSink } from '../broadcast/local/local-receivers-sink.js';
import type { BroadcastSink } from '../broadcast/types.js';
import type { Logger } from '../log/logger.js';
import type { DataProxyServer } from '../service/data-proxy-server.js';
import { StatusService, type AdbStatus, type StatusSnapshot } from '../service/status-service.js';
import type { BroadcastSettings } from './broadcast-options.js';

/**
 * Starts the channel broadcasts of the data-proxy daemon (socket-dir watcher → batcher → adb hook,
 * command hook, local receivers) and registers the status service that reports on them.
 */
export async function startChannelBroadcasts(
  server: DataProxyServer,
  socketDir: string,
  settings: BroadcastSettings,
  log: Logger,
  platformStatus?: () => Record<string, unknown> | undefined,
): Promise<{ close(): Promise<void> }> {
  const startedAt = Date.now();
  const sinks: BroadcastSink[] = [new LocalReceiversSink({ dir: settings.receiversDir, log })];
  let adbSink: AdbSink | undefined;
  if (settings.adb) {
    adbSink = new AdbSink({ logger: log, serial: settings.adb.serial, adbPath: settings.adb.adbPath, target: settings.adb.target });
    sinks.push(adbSink);
  }
  if (settings.hook) sinks.push(new CommandSink({ logger: log, command: settings.hook.command, args: settings.hook.args }));
  const broadcasts = await ChannelBroadcasts.start({ socketDir, logger: log, sinks, batchWindowMs: settings.batchWindowMs });
  const adbStatus = (): AdbStatus => {
    if (!settings.adb) return { configured: false, serial: null, reachable: 'not configured' };
    const serial = settings.adb.serial ?? process.env.ANDROID_SERIAL ?? null;
    const last = broadcasts.stats().sinks.find((s) => s.sink === adbSink?.name)?.last;
    const reachable = !last ? 'unknown (nothing sent yet)' : last.ok ? 'yes' : `no: ${last.detail}`;
    return { configured: true, serial, reachable };
  };
  const snapshot = (): StatusSnapshot => ({
    channels: broadcasts.channels(),
    connections: server.stats,
    broadcasts: broadcasts.recent().map(({ broadcast, results }) => ({
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
  server.dispatcher.register(new StatusService(snapshot));
  log.info(
    { event: 'broadcasts.started', sinks: sinks.map((s) => s.name), receiversDir: settings.receiversDir, batchWindowMs: settings.batchWindowMs, adbSerial: adbStatus().serial },
    `channel broadcasts: watching ${socketDir}; delivering to ${sinks.map((s) => s.name).join(', ')} (local receivers in ${settings.receiversDir})`,
  );
  return { close: () => broadcasts.close() };
}
