import { hostname } from 'node:os';
import { FarmStartError, InstanceAgent } from '../farm/instance/instance-agent.js';
import { ListenError } from '../io/unix-listener.js';
import type { Logger } from '../log/logger.js';
import type { Platform } from '../platform/platform.js';
import { formatMode } from '../platform/bridge/channel-socket-mode.js';
import { daemonDirectories, DataProxyServer } from '../service/data-proxy-server.js';
import { ensureTrustedDirectory, UnsafeDirectoryError } from '../io/trusted-directory.js';
import { lockSocketDir, SocketDirLockedError, type LockRole, type SocketDirLock } from '../service/socket-dir-lock.js';
import { isSocketFile, removeStaleChannelSockets } from '../service/stale-sockets.js';
import { cliInvocation } from './cli-invocation.js';
import { serveBanner } from './serve-banner.js';
import { PlatformApiService, type V1MessageSender } from '../service/platform-api-service.js';
import { sendOverPlatformLink } from '../v1/link-client.js';
import { PlatformLinkServer } from '../v1/link-server.js';
import { refused } from '../v1/v1-message.js';
import { EXIT_FAILURE, EXIT_OK } from './command.js';
import { startAdbReverse, startChannelBroadcasts } from './daemon-broadcasts.js';
import type { DaemonSettings, PlatformSettings } from './daemon-options.js';
import type { InstanceSettings } from './instance-options.js';

/** One running part of a daemon process, stopped on SIGTERM/SIGINT. */
interface DaemonPart {
  name: string;
  close(): Promise<void>;
}

/**
 * The parts a daemon starts, in order. A start that throws fails the daemon (exit 1, the message
 * logged as fatal); the parts already started are closed first.
 */
type PartStarter = (log: Logger) => Promise<DaemonPart> | DaemonPart;

/**
 * Runs the data-proxy daemon until SIGTERM/SIGINT: stop accepting, answer what is in flight,
 * remove the socket file, exit 0. A second signal exits at once.
 */
export function runDataProxyDaemon(settings: DaemonSettings, role: string): Promise<number> {
  // v1 messages go to a separately running `anbox-oob platform` over the platform link.
  const v1: V1MessageSender = (type, data) => sendOverPlatformLink(settings.paths.socketDir, type, data);
  return runDaemon(settings, role, [(log) => lockDirectory(settings, ['proxy'], role, log), (log) => startProxy(settings, role, log, v1)]);
}

/**
 * Runs the WebRTC platform (gateway, signaling, channel sockets) until SIGTERM/SIGINT: the session
 * ends, every channel socket is removed, the server stops, exit 0.
 */
export function runPlatformDaemon(settings: DaemonSettings, platform: PlatformSettings): Promise<number> {
  return runDaemon(settings, 'platform', [(log) => lockDirectory(settings, ['platform'], 'platform', log), (log) => startPlatform(settings, platform, log, 'platform', { platformLink: true })]);
}

/** `serve`: the platform and the data-proxy daemon in one process, sharing one socket directory. */
export function runServe(settings: DaemonSettings, platform: PlatformSettings, farm?: InstanceSettings): Promise<number> {
  let started: Platform | undefined;
  // v1 messages: in process, no platform link.
  const v1: V1MessageSender = (type, data) => started?.sendV1Message(type, data) ?? refused('NO_PLATFORM', 'the WebRTC platform has not started yet');
  return runDaemon(settings, 'serve', [
    (log) => lockDirectory(settings, ['platform', 'proxy'], 'serve', log),
    (log) => startProxy(settings, 'serve', log, v1, () => (started ? { ...started.stats } : undefined)),
    async (log) => {
      const part = await startPlatform(settings, platform, log, 'serve');
      started = part.platform;
      return part;
    },
    ...(farm ? [(log: Logger) => startInstanceAgent(settings, farm, started!, log)] : []),
    (log) => {
      const p = started!;
      const example = `${settings.paths.socketDir}/webrtc_data_foo`;
      const configFile = settings.configFile?.path ?? null;
      const cli = cliInvocation();
      // The banner: everything a person needs, once; the log lines after it do not repeat the URL or token.
      process.stderr.write(
        serveBanner({ pageUrl: p.pageUrl, token: p.token, tokenSource: tokenSourceText(settings, platform, p.tokenGenerated), socketDir: settings.paths.socketDir, servicePath: settings.paths.servicePath, configFile, cli, example }),
      );
      announcer(log).info(
        {
          event: 'serve.ready',
          role: 'serve',
          pageUrl: p.pageUrl,
          gateway: p.url,
          token: p.token,
          socketDir: settings.paths.socketDir,
          servicePath: settings.paths.servicePath,
          configFile,
          next: `${cli} connect foo`,
        },
        'ready (the banner above has the page, the token, the paths and the next command)',
      );
      return { name: 'announcement', close: async () => undefined };
    },
  ]);
}

/** The data-proxy daemon with its channel broadcasts and status service. */
async function startProxy(
  settings: DaemonSettings,
  role: string,
  log: Logger,
  v1: V1MessageSender,
  platformStatus?: () => Record<string, unknown> | undefined,
): Promise<DaemonPart> {
  const { paths } = settings;
  // A socket file there now is either live (the start fails: ADDRESS_IN_USE) or stale and replaced.
  const staleService = isSocketFile(paths.servicePath);
  let server: DataProxyServer;
  try {
    server = DataProxyServer.start({ servicePath: paths.servicePath, socketDir: paths.socketDir, allowUids: settings.allowUids, allowSharedDir: settings.allowSharedDir, limits: settings.serviceLimits, log });
  } catch (error) {
    const message = error instanceof ListenError || error instanceof Error ? error.message : String(error);
    throw new StartFailure({ event: 'daemon.start_failed', servicePath: paths.servicePath }, message);
  }
  server.dispatcher.register(new PlatformApiService(v1, log));
  // The paths in use are always printed, whatever --log-level says.
  announcer(log).info(
    {
      event: 'daemon.started',
      role,
      servicePath: paths.servicePath,
      servicePathSource: paths.servicePathSource,
      socketDir: paths.socketDir,
      socketDirSource: paths.socketDirSource,
      allowedUids: [...server.allowedUids],
      // 'trusted-dir': the socket dir is held open and entries checked with fstatat (fast path);
      // 'pinned': each entry pinned with O_PATH (a --allow-shared-dir socket dir). docs/protocol.md.
      channelConnect: server.dataProxy.fastPath ? 'trusted-dir' : 'pinned',
    },
    `data-proxy daemon serving org.anbox.webrtc.IDataProxyService on ${paths.servicePath}; channel sockets in ${paths.socketDir}`,
  );
  if (staleService) {
    log.warn(
      { event: 'daemon.stale_socket_removed', path: paths.servicePath },
      `replaced the stale service socket ${paths.servicePath} (left by a daemon that did not stop cleanly)`,
    );
  }
  // With --adb: `adb reverse localabstract:anbox-oob-data-proxy localfilesystem:<service socket>`,
  // made and kept in the background; the start never waits for the device.
  const reverse = startAdbReverse(paths.servicePath, settings.broadcasts, log);
  let broadcasts: { close(): Promise<void> };
  try {
    broadcasts = await startChannelBroadcasts(server, paths.socketDir, settings.broadcasts, log, platformStatus, reverse, settings.allowSharedDir);
  } catch (error) {
    await reverse?.close();
    await server.close();
    throw new StartFailure({ event: 'broadcasts.start_failed', socketDir: paths.socketDir }, `cannot start channel broadcasts: ${(error as Error).message}`);
  }
  return {
    name: 'data-proxy daemon',
    close: async () => {
      // The device stops reaching the service first (removal bounded to a few seconds).
      await reverse?.close();
      await server.close();
      await broadcasts.close();
    },
  };
}

async function startPlatform(
  settings: DaemonSettings,
  options: PlatformSettings,
  log: Logger,
  role: string,
  extras: { platformLink?: boolean } = {},
): Promise<DaemonPart & { platform: Platform }> {
  // Loaded here so that the client commands never load node-datachannel.
  const { Platform, PlatformStartError } = await import('../platform/platform.js');
  const { releaseWebRtcRuntime } = await import('../platform/webrtc-runtime.js');
  let platform: Platform;
  try {
    platform = await Platform.start({
      socketDir: settings.paths.socketDir,
      listen: options.listen,
      token: options.token,
      stunUrls: options.stunUrls,
      binary: options.binary,
      channelSocketMode: options.channelSocketMode,
      allowSharedDir: settings.allowSharedDir,
      log,
      maxConnections: options.gateway.maxConnections,
      idleTimeoutMs: options.gateway.idleTimeoutMs,
      allowOrigins: options.gateway.allowOrigins,
    });
  } catch (error) {
    const message = error instanceof PlatformStartError || error instanceof Error ? error.message : String(error);
    throw new StartFailure({ event: 'platform.start_failed', listen: options.listen }, message);
  }
  const source = tokenSourceText(settings, options, platform.tokenGenerated);
  announcer(log).info(
    {
      event: 'platform.started',
      role,
      pageUrl: platform.pageUrl,
      gateway: platform.url,
      token: platform.token,
      tokenSource: platform.tokenGenerated ? 'generated' : options.tokenSource,
      socketDir: settings.paths.socketDir,
      stunServers: options.stunUrls,
      binary: options.binary,
      channelSocketMode: formatMode(options.channelSocketMode),
    },
    role === 'serve'
      ? `WebRTC platform started (token ${source})`
      : `WebRTC platform: page ${platform.pageUrl} ; gateway ${platform.url} ; token ${platform.token} (${source}); channel sockets in ${settings.paths.socketDir}`,
  );
  for (const warning of options.gateway.warnings) log.warn({ event: warning.event }, warning.message);
  let link: PlatformLinkServer | undefined;
  if (extras.platformLink) {
    // How a separately running `anbox-oob proxy` reaches the session for v1 messages.
    try {
      link = new PlatformLinkServer({ socketDir: settings.paths.socketDir, send: (type, data) => platform.sendV1Message(type, data), log });
      log.info({ event: 'sendmessage.link_listening', path: link.path }, `out-of-band data v1: platform link on ${link.path}`);
    } catch (error) {
      log.warn({ event: 'sendmessage.link_failed', err: error }, `out-of-band data v1 unavailable: cannot listen for the data-proxy daemon: ${(error as Error).message}`);
    }
  }
  return {
    name: 'WebRTC platform',
    platform,
    close: async () => {
      link?.close();
      await platform.close();
      // node-datachannel's threads must not keep the exiting process alive.
      releaseWebRtcRuntime();
    },
  };
}

/** `serve --nats`: the instance joins the farm; closed before the platform (its session.ended goes out first). */
async function startInstanceAgent(settings: DaemonSettings, farm: InstanceSettings, platform: Platform, log: Logger): Promise<DaemonPart> {
  try {
    const agent = await InstanceAgent.start({
      nats: farm.nats,
      name: farm.name,
      labels: farm.labels,
      device: settings.broadcasts.adb?.serial ?? null,
      host: hostname(),
      intervalMs: farm.intervalMs,
      platform,
      log,
    });
    return { name: 'farm instance agent', close: () => agent.close() };
  } catch (error) {
    if (error instanceof FarmStartError) throw new StartFailure({ event: 'farm.instance.start_failed', instance: farm.name }, error.message);
    throw error;
  }
}

function tokenSourceText(settings: DaemonSettings, options: PlatformSettings, generated: boolean): string {
  if (generated) return 'generated at start';
  if (options.tokenSource === 'env') return 'from ANBOX_OOB_TOKEN';
  if (options.tokenSource === 'config') return `from ${settings.configFile?.path ?? 'the config file'}`;
  if (options.tokenSource === 'file') return `from ${options.gateway.tokenFile ?? 'the token file'}`;
  return 'from --token';
}

/**
 * Takes the socket directory's locks for `roles` (./service/socket-dir-lock.ts) before anything is
 * started, so that a second daemon on the same directory is refused with the first one's pid; then,
 * holding the platform lock, removes the channel sockets a killed daemon left behind and says so.
 */
function lockDirectory(settings: DaemonSettings, roles: LockRole[], role: string, log: Logger): DaemonPart {
  const { socketDir } = settings.paths;
  const locks: SocketDirLock[] = [];
  const releaseAll = () => {
    for (const lock of locks.splice(0).reverse()) lock.release();
  };
  try {
    // Checked as the parts will check them, before the lock is made in the socket dir; the parts
    // check again and log what --allow-shared-dir let through. A platform alone has no service socket.
    const directories = daemonDirectories(settings.paths.servicePath, socketDir).filter((d) => roles.includes('proxy') || d.dir === socketDir);
    for (const { dir, mode, what, flag } of directories) ensureTrustedDirectory(dir, mode, { what, flag, allowShared: settings.allowSharedDir });
    for (const lockRole of roles) locks.push(lockSocketDir(socketDir, lockRole));
  } catch (error) {
    releaseAll();
    if (error instanceof SocketDirLockedError) {
      throw new StartFailure({ event: 'daemon.socket_dir_locked', socketDir, lockPath: error.lockPath, ownerPid: error.ownerPid, role }, error.message);
    }
    if (error instanceof UnsafeDirectoryError && role === 'platform') throw new StartFailure({ event: 'platform.start_failed', socketDir, role }, error.message);
    if (error instanceof UnsafeDirectoryError) throw new StartFailure({ event: 'daemon.start_failed', socketDir, role }, error.message);
    throw new StartFailure({ event: 'daemon.start_failed', socketDir, role }, `cannot lock the socket directory ${socketDir}: ${(error as Error).message}`);
  }
  for (const lock of locks) {
    if (lock.replacedStale) {
      log.info({ event: 'daemon.stale_lock_replaced', lockPath: lock.path, stalePid: lock.replacedStale.pid }, `replaced the stale lock ${lock.path} (pid ${lock.replacedStale.pid} is gone)`);
    }
  }
  if (roles.includes('platform')) {
    const removed = removeStaleChannelSockets(socketDir);
    if (removed.length > 0) {
      log.warn(
        { event: 'daemon.stale_channel_sockets_removed', socketDir, channels: removed },
        `removed ${removed.length} stale channel socket(s) left by a daemon that did not stop cleanly: ${removed.join(', ')}`,
      );
    }
  }
  return { name: 'socket directory lock', close: async () => releaseAll() };
}

class StartFailure extends Error {
  constructor(
    readonly fields: Record<string, unknown>,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Starts the parts in order, then waits for SIGTERM/SIGINT and closes them in reverse order.
 * A second signal exits at once. The handlers are in place before the first part starts: a
 * signal that came between a ready line and the handlers would otherwise kill the process with
 * its sockets left behind. A signal during the start stops the daemon once the start is over.
 */
async function runDaemon(settings: DaemonSettings, role: string, starters: PartStarter[]): Promise<number> {
  const { log } = settings;
  let signalled: NodeJS.Signals | undefined;
  let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
  const stop = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ event: 'daemon.forced_exit', signal }, 'second signal: exiting at once');
      process.exit(EXIT_FAILURE);
    }
    signalled = signal;
    onSignal?.(signal);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  try {
    logConfigFile(settings, role);
    const parts: DaemonPart[] = [];
    try {
      for (const start of starters) {
        if (signalled) break;
        parts.push(await start(log));
      }
    } catch (error) {
      const fields = error instanceof StartFailure ? error.fields : { event: 'daemon.start_failed', role };
      log.fatal(fields, error instanceof Error ? error.message : String(error));
      await closeParts(log, parts);
      return EXIT_FAILURE;
    }
    // The daemon must outlive bugs in one request: log them loudly and keep serving.
    process.on('uncaughtException', (error) => log.error({ event: 'daemon.uncaught_exception', err: error }, 'unexpected error; still serving'));
    process.on('unhandledRejection', (error) => log.error({ event: 'daemon.unhandled_rejection', err: error }, 'unexpected rejection; still serving'));
    const signal = signalled ?? (await new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve)));
    log.info({ event: 'daemon.stopping', signal, role }, 'stopping: no new connections, finishing what is in flight, removing sockets');
    await closeParts(log, parts);
    return EXIT_OK;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}

async function closeParts(log: Logger, parts: DaemonPart[]): Promise<void> {
  for (const part of [...parts].reverse()) {
    try {
      await part.close();
    } catch (error) {
      log.error({ event: 'daemon.stop_failed', part: part.name, err: error }, `stopping the ${part.name} failed`);
    }
  }
}

/** Which config file the options came from (always shown), and what is wrong with it. */
function logConfigFile(settings: DaemonSettings, role: string): void {
  const { configFile, log } = settings;
  if (configFile) {
    const ignored = configFile.ignoredKeys.length > 0 ? ` (${configFile.ignoredKeys.join(', ')}: not options of ${role})` : '';
    announcer(log).info(
      { event: 'config.loaded', role, configFile: configFile.path, configSource: configFile.source, ignoredKeys: configFile.ignoredKeys },
      `options read from config file ${configFile.path}${ignored}`,
    );
  }
  for (const warning of settings.configWarnings) log.warn({ event: warning.event, configFile: warning.file }, warning.message);
}

/** A logger that prints at info even under a quieter --log-level: the paths, URLs and token are always shown. */
function announcer(log: Logger): Logger {
  return log.levelVal > 30 && log.level !== 'silent' ? log.child({}, { level: 'info' }) : log;
}
