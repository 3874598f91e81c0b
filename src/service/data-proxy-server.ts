import { dirname } from 'node:path';
import { UnixListener } from '../io/unix-listener.js';
import * as native from '../native/addon.js';
import type { Logger } from '../log/logger.js';
import { RateLimitedLog, type LogRateLimitOptions } from '../log/rate-limited-log.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../wire/framing.js';
import type { PeerCredentials } from './binder-service.js';
import { ensureTrustedDirectory } from '../io/trusted-directory.js';
import { BufferBudget } from './buffer-budget.js';
import { Dispatcher } from './dispatcher.js';
import { DataProxyService } from './data-proxy-service.js';
import { IpcSession } from './ipc-session.js';
import { encodeErrorReplyFrame } from './reply-error.js';
import { ServiceError } from './service-error.js';
import { DEFAULT_SERVICE_LIMITS, type ServiceLimits } from './service-limits.js';
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
  /** Connection, byte and time bounds; each unset one takes its default (service-limits.ts). */
  limits?: Partial<ServiceLimits>;
  /** Rate limit of the lines peers cause (tests shorten the window). */
  logRateLimit?: Partial<LogRateLimitOptions>;
}

export interface DataProxyStats {
  connectionsAccepted: number;
  transactionsServed: number;
  transactionsRefused: number;
  openConnections: number;
  openStreams: number;
  connectionsRejected: number;
  bufferedBytes: number;
}

/** An unknown peer (SO_PEERCRED failed) gets uid -1, which is never allowed. */
const UNKNOWN_PEER: PeerCredentials = { pid: 0, uid: -1, gid: -1 };
const SERVICE_SOCKET_MODE = 0o660;

/**
 * The directories the daemon makes and must trust, in the order it checks them, with the words its
 * messages use (`anbox-oob` checks them before it takes the socket-dir lock, then the server again).
 */
export function daemonDirectories(servicePath: string, socketDir: string): { dir: string; mode: number; what: string; flag: string }[] {
  return [
    { dir: dirname(servicePath), mode: 0o755, what: "service socket's directory", flag: '--service-socket' },
    { dir: socketDir, mode: 0o750, what: 'socket dir', flag: '--socket-dir' },
  ];
}
const DRAIN_TIMEOUT_MS = 5000;

/**
 * The data-proxy daemon: org.anbox.webrtc.IDataProxyService and the service manager on one Unix
 * socket. Ties the listener, the sessions and the dispatcher together; owns the socket file.
 */
export class DataProxyServer {
  private readonly listener: UnixListener;
  private readonly sessions = new Set<IpcSession>();
  /** Stream-mode pipes, each with its peer's uid (they count against the connection caps). */
  private readonly streams = new Map<StreamBridge, number>();
  private readonly log: Logger;
  private readonly limiter: RateLimitedLog;
  private readonly budget: BufferBudget;
  readonly limits: ServiceLimits;
  private closing: Promise<void> | undefined;
  private readonly counters = { connectionsAccepted: 0, transactionsServed: 0, transactionsRefused: 0, connectionsRejected: 0 };
  readonly dispatcher: Dispatcher;
  readonly allowedUids: ReadonlySet<number>;
  /** org.anbox.webrtc.IDataProxyService (holds the socket dir open when it is trusted). */
  readonly dataProxy: DataProxyService;

  private constructor(readonly options: DataProxyServerOptions) {
    this.log = options.log;
    this.limits = { ...DEFAULT_SERVICE_LIMITS, ...definedOnly(options.limits ?? {}) };
    this.limiter = new RateLimitedLog(this.log, options.logRateLimit);
    this.budget = new BufferBudget(this.limits.maxBufferedBytes);
    const ownUid = process.getuid?.() ?? 0;
    this.allowedUids = new Set([ownUid, 0, ...(options.allowUids ?? [])]);
    this.dispatcher = new Dispatcher(this.allowedUids);
    this.dispatcher.register(new ServiceManager(this.dispatcher));
    // Throws UnsafeDirectoryError (src/io/trusted-directory.ts) when a directory cannot be trusted.
    let socketDirShared = false;
    for (const { dir, mode, what, flag } of daemonDirectories(options.servicePath, options.socketDir)) {
      for (const warning of ensureTrustedDirectory(dir, mode, { what, flag, allowShared: options.allowSharedDir })) {
        if (dir === options.socketDir) socketDirShared = true;
        this.log.warn({ event: 'daemon.insecure_directory', dir: warning.dir, problem: warning.problem }, warning.message);
      }
    }
    // A socket dir that only we (or root) can write is held open for the fast connect path; one
    // --allow-shared-dir let through keeps the pinned path (docs/protocol.md, "connect").
    this.dataProxy = new DataProxyService(options.socketDir, { trustedDir: !socketDirShared });
    this.dispatcher.register(this.dataProxy);
    try {
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
    } catch (error) {
      this.dataProxy.close(); // the held socket dir: a failed start leaves no descriptor behind
      throw error;
    }
  }

  /** Listens at once (synchronously); throws ListenError when the path is taken or unusable. */
  static start(options: DataProxyServerOptions): DataProxyServer {
    return new DataProxyServer(options);
  }

  get stats(): DataProxyStats {
    return { ...this.counters, openConnections: this.sessions.size, openStreams: this.streams.size, bufferedBytes: this.budget.used };
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
    for (const stream of this.streams.keys()) stream.close();
    this.dataProxy.close();
    this.limiter.flush();
    this.log.info({ event: 'daemon.stopped', ...this.stats }, 'data-proxy daemon stopped');
  }

  private accept(fd: number): void {
    if (this.closing) {
      native.close(fd);
      return;
    }
    const creds = native.peerCredentials(fd);
    const peer = typeof creds === 'number' ? UNKNOWN_PEER : creds;
    const refusal = this.overCap(peer.uid);
    if (refusal) {
      this.reject(fd, peer, refusal);
      return;
    }
    this.counters.connectionsAccepted++;
    const session = new IpcSession(fd, peer, {
      dispatcher: this.dispatcher,
      log: this.log,
      limiter: this.limiter,
      budget: this.budget,
      frameTimeoutMs: this.limits.frameTimeoutMs,
      maxFrameBytes: this.options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      onClosed: (s) => this.sessions.delete(s),
      onTransaction: (outcome) => (outcome === 'served' ? this.counters.transactionsServed++ : this.counters.transactionsRefused++),
      onStream: (bridge, channel) => this.trackStream(bridge, channel, peer),
    });
    this.sessions.add(session);
    if (!this.dispatcher.isAllowed(peer) && this.limiter.allow('connection.denied', peer.uid)) {
      this.log.warn({ event: 'connection.denied', peerPid: peer.pid, peerUid: peer.uid }, 'connection from a uid that may not transact');
    }
  }

  /** Why a new connection of `uid` is one too many, or undefined when it fits. */
  private overCap(uid: number): string | undefined {
    const open = this.sessions.size + this.streams.size;
    if (open >= this.limits.maxConnections) {
      return `the daemon has ${open} connections open, its limit (--max-connections ${this.limits.maxConnections}); try again later`;
    }
    let ofUid = 0;
    for (const session of this.sessions) if (session.peer.uid === uid) ofUid++;
    for (const streamUid of this.streams.values()) if (streamUid === uid) ofUid++;
    if (ofUid >= this.limits.maxConnectionsPerUid) {
      return `uid ${uid} has ${ofUid} connections open, the limit per uid (--max-connections-per-uid ${this.limits.maxConnectionsPerUid}); close some first`;
    }
    return undefined;
  }

  /** One TOO_MANY_CONNECTIONS reply if the socket takes it at once (never queued), then closed. */
  private reject(fd: number, peer: PeerCredentials, reason: string): void {
    this.counters.connectionsRejected++;
    native.sendmsg(fd, encodeErrorReplyFrame(0, new ServiceError('TOO_MANY_CONNECTIONS', reason)), []);
    native.close(fd);
    if (this.limiter.allow('connection.rejected', peer.uid)) {
      this.log.warn({ event: 'connection.rejected', peerPid: peer.pid, peerUid: peer.uid, reason }, 'connection refused: too many connections');
    }
  }

  private trackStream(bridge: StreamBridge, channel: unknown, peer: PeerCredentials): void {
    this.streams.set(bridge, peer.uid);
    if (this.limiter.allow('stream.started', peer.uid)) {
      this.log.info({ event: 'stream.started', channel, peerPid: peer.pid, peerUid: peer.uid }, 'stream mode started');
    }
    void bridge.done.then((stats) => {
      this.streams.delete(bridge);
      if (this.limiter.allow('stream.ended', peer.uid)) this.log.info({ event: 'stream.ended', channel, peerUid: peer.uid, ...stats }, 'stream mode ended');
    });
  }
}

function definedOnly<T extends object>(values: Partial<T>): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}
