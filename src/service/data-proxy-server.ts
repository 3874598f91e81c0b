import { dirname } from 'node:path';
import { UnixListener } from '../io/unix-listener.js';
import * as native from '../native/addon.js';
import type { Logger } from '../log/logger.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../wire/framing.js';
import type { PeerCredentials } from './binder-service.js';
import { ensureTrustedDirectory } from '../io/trusted-directory.js';
import { Dispatcher } from './dispatcher.js';
import { DataProxyService } from './data-proxy-service.js';
import { IpcSession } from './ipc-session.js';
import { ServiceManager } from './service-manager.js';
import type { StreamBridge } from './stream-bridge.js';

export interface DataProxyServerOptions {
  servicePath: string;
  socketDir: string;
  /** Uids allowed to transact besides this process's own uid and root. */
  allowUids?: Iterable<number>;
  log: Logger;
  maxFrameBytes?: number;
  /** --allow-shared-dir: directories owned or writable by others are used, with a warning. */
  allowSharedDir?: boolean;
}

export interface DataProxyStats {
  connectionsAccepted: number;
  transactionsServed: number;
  transactionsRefused: number;
  openConnections: number;
  openStreams: number;
}

/** An unknown peer (SO_PEERCRED failed) gets uid -1, which is never allowed. */
const UNKNOWN_PEER: PeerCredentials = { pid: 0, uid: -1, gid: -1 };
const SERVICE_SOCKET_MODE = 0o660;
const DRAIN_TIMEOUT_MS = 5000;

/**
 * The data-proxy daemon: org.anbox.webrtc.IDataProxyService and the service manager on one Unix
 * socket. Ties the listener, the sessions and the dispatcher together; owns the socket file.
 */
export class DataProxyServer {
  private readonly listener: UnixListener;
  private readonly sessions = new Set<IpcSession>();
  private readonly streams = new Set<StreamBridge>();
  private readonly log: Logger;
  private closing: Promise<void> | undefined;
  private readonly counters = { connectionsAccepted: 0, transactionsServed: 0, transactionsRefused: 0 };
  readonly dispatcher: Dispatcher;
  readonly allowedUids: ReadonlySet<number>;

  private constructor(readonly options: DataProxyServerOptions) {
    this.log = options.log;
    const ownUid = process.getuid?.() ?? 0;
    this.allowedUids = new Set([ownUid, 0, ...(options.allowUids ?? [])]);
    this.dispatcher = new Dispatcher(this.allowedUids);
    this.dispatcher.register(new ServiceManager(this.dispatcher));
    this.dispatcher.register(new DataProxyService(options.socketDir));
    // Throws UnsafeDirectoryError (src/io/trusted-directory.ts) when a directory cannot be trusted.
    for (const [dir, mode, what, flag] of [
      [dirname(options.servicePath), 0o755, "service socket's directory", '--service-socket'],
      [options.socketDir, 0o750, 'socket dir', '--socket-dir'],
    ] as const) {
      for (const warning of ensureTrustedDirectory(dir, mode, { what, flag, allowShared: options.allowSharedDir })) {
        this.log.warn({ event: 'daemon.insecure_directory', dir: warning.dir, problem: warning.problem }, warning.message);
      }
    }
    this.listener = new UnixListener({
      path: options.servicePath,
      mode: SERVICE_SOCKET_MODE,
      onConnection: (fd) => this.accept(fd),
      onAcceptError: (errno) =>
        this.log.error(
          { event: 'daemon.accept_failed', errno: native.errnoName(errno) },
          'cannot accept connections; if out of descriptors, new clients wait until some close (raise ulimit -n)',
        ),
      onAcceptResumed: () => this.log.info({ event: 'daemon.accept_resumed' }, 'accepting connections again'),
    });
  }

  /** Listens at once (synchronously); throws ListenError when the path is taken or unusable. */
  static start(options: DataProxyServerOptions): DataProxyServer {
    return new DataProxyServer(options);
  }

  get stats(): DataProxyStats {
    return { ...this.counters, openConnections: this.sessions.size, openStreams: this.streams.size };
  }

  /** Stops accepting, answers the transactions in flight, ends stream pipes, removes the socket. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.listener.close();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_TIMEOUT_MS)));
    await Promise.race([Promise.all([...this.sessions].map((session) => session.drain())), timeout]);
    clearTimeout(timer);
    for (const session of this.sessions) session.close();
    for (const stream of this.streams) stream.close();
    this.log.info({ event: 'daemon.stopped', ...this.stats }, 'data-proxy daemon stopped');
  }

  private accept(fd: number): void {
    if (this.closing) {
      native.close(fd);
      return;
    }
    this.counters.connectionsAccepted++;
    const creds = native.peerCredentials(fd);
    const peer = typeof creds === 'number' ? UNKNOWN_PEER : creds;
    const session = new IpcSession(fd, peer, {
      dispatcher: this.dispatcher,
      log: this.log,
      maxFrameBytes: this.options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      onClosed: (s) => this.sessions.delete(s),
      onTransaction: (outcome) => (outcome === 'served' ? this.counters.transactionsServed++ : this.counters.transactionsRefused++),
      onStream: (bridge, channel) => this.trackStream(bridge, channel, peer),
    });
    this.sessions.add(session);
    if (!this.dispatcher.isAllowed(peer)) {
      this.log.warn({ event: 'connection.denied', peerPid: peer.pid, peerUid: peer.uid }, 'connection from a uid that may not transact');
    }
  }

  private trackStream(bridge: StreamBridge, channel: unknown, peer: PeerCredentials): void {
    this.streams.add(bridge);
    this.log.info({ event: 'stream.started', channel, peerPid: peer.pid, peerUid: peer.uid }, 'stream mode started');
    void bridge.done.then((stats) => {
      this.streams.delete(bridge);
      this.log.info({ event: 'stream.ended', channel, ...stats }, 'stream mode ended');
    });
  }
}
