import { ListenError } from '../io/unix-listener.js';
import { DataProxyServer } from '../service/data-proxy-server.js';
import { EXIT_FAILURE, EXIT_OK } from './command.js';
import type { DaemonSettings } from './daemon-options.js';

/**
 * Runs the data-proxy daemon until SIGTERM/SIGINT: stop accepting, answer what is in flight,
 * remove the socket file, exit 0. A second signal exits at once.
 */
export async function runDataProxyDaemon(settings: DaemonSettings, role: string): Promise<number> {
  const { log, paths } = settings;
  let server: DataProxyServer;
  try {
    server = DataProxyServer.start({ servicePath: paths.servicePath, socketDir: paths.socketDir, allowUids: settings.allowUids, log });
  } catch (error) {
    const message = error instanceof ListenError || error instanceof Error ? error.message : String(error);
    log.fatal({ event: 'daemon.start_failed', servicePath: paths.servicePath }, message);
    return EXIT_FAILURE;
  }
  // The daemon must outlive bugs in one request: log them loudly and keep serving.
  process.on('uncaughtException', (error) => log.error({ event: 'daemon.uncaught_exception', err: error }, 'unexpected error; still serving'));
  process.on('unhandledRejection', (error) => log.error({ event: 'daemon.unhandled_rejection', err: error }, 'unexpected rejection; still serving'));
  // The paths in use are always printed, whatever --log-level says.
  const announce = log.levelVal > 30 && log.level !== 'silent' ? log.child({}, { level: 'info' }) : log;
  announce.info(
    {
      event: 'daemon.started',
      role,
      servicePath: paths.servicePath,
      servicePathSource: paths.servicePathSource,
      socketDir: paths.socketDir,
      socketDirSource: paths.socketDirSource,
      allowedUids: [...server.allowedUids],
    },
    `data-proxy daemon serving org.anbox.webrtc.IDataProxyService on ${paths.servicePath}; channel sockets in ${paths.socketDir}`,
  );
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ event: 'daemon.forced_exit', signal }, 'second signal: exiting at once');
        process.exit(EXIT_FAILURE);
      }
      stopping = true;
      log.info({ event: 'daemon.stopping', signal }, 'stopping: no new connections, finishing replies in flight');
      void server.close().then(() => resolve(EXIT_OK));
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
