import type { Logger } from '../log/logger.js';
import { FdConnection } from '../io/fd-connection.js';
import { UnixListener } from '../io/unix-listener.js';
import * as native from '../native/addon.js';
import { FrameDecoder } from '../wire/framing.js';
import { decodeLinkRequest, encodeLinkReply, MAX_LINK_REQUEST_BYTES, platformApiSocketPath } from './link-codec.js';
import type { V1SendResult } from './v1-message.js';

/** At most this many link connections at once; more are closed at accept. */
export const MAX_LINK_CONNECTIONS = 8;
/** A connection must deliver its whole request within this time. */
export const LINK_REQUEST_TIMEOUT_MS = 10_000;
const LINK_SOCKET_MODE = 0o600;

export interface PlatformLinkServerOptions {
  socketDir: string;
  /** Sends one v1 message on the live session (Platform.sendV1Message). */
  send(type: string, data: string): V1SendResult;
  log: Logger;
  /** Default LINK_REQUEST_TIMEOUT_MS; shorter in tests. */
  requestTimeoutMs?: number;
}

/**
 * The platform's end of the platform link (see link-codec.ts): `anbox-oob platform` listens on
 * `<socket-dir>/.platform-api` so that a separately running `anbox-oob proxy` can reach the live
 * session. Only peers with the platform's own uid are served (SO_PEERCRED); everything a peer can
 * make it hold is bounded: connections, request bytes (checked before buffering), time.
 */
export class PlatformLinkServer {
  private readonly listener: UnixListener;
  /** Open link connections, each with the function that ends it (its request timer included). */
  private readonly connections = new Map<FdConnection, () => void>();
  private readonly ownUid = process.getuid?.() ?? 0;

  constructor(private readonly options: PlatformLinkServerOptions) {
    this.listener = new UnixListener({
      path: platformApiSocketPath(options.socketDir),
      mode: LINK_SOCKET_MODE,
      onConnection: (fd) => this.accept(fd),
      onAcceptError: (errno) => options.log.error({ event: 'sendmessage.link_accept_failed', errno: native.errnoName(errno) }, 'platform link: cannot accept connections'),
    });
  }

  get path(): string {
    return this.listener.path;
  }

  /** Stops listening and ends every open connection, clearing its request timer (none fires later). */
  close(): void {
    this.listener.close();
    for (const finish of [...this.connections.values()]) finish();
  }

  private accept(fd: number): void {
    const log = this.options.log;
    const creds = native.peerCredentials(fd);
    const uid = typeof creds === 'number' ? -1 : creds.uid;
    if (uid !== this.ownUid) {
      native.close(fd);
      log.warn({ event: 'sendmessage.link_refused', peerUid: uid, reason: 'uid' }, `platform link: refused a connection from uid ${uid}; only uid ${this.ownUid} may send v1 messages`);
      return;
    }
    if (this.connections.size >= MAX_LINK_CONNECTIONS) {
      native.close(fd);
      log.warn({ event: 'sendmessage.link_refused', peerUid: uid, reason: 'busy' }, `platform link: more than ${MAX_LINK_CONNECTIONS} connections at once; one closed`);
      return;
    }
    const decoder = new FrameDecoder(MAX_LINK_REQUEST_BYTES);
    let answered = false;
    const finish = () => {
      clearTimeout(timer);
      this.connections.delete(connection);
      connection.destroy();
    };
    const connection = new FdConnection(
      fd,
      {
        onData: (bytes, fds) => {
          for (const received of fds) native.close(received);
          if (answered) return;
          let body: Buffer | null;
          try {
            decoder.push(bytes);
            body = decoder.next();
          } catch (error) {
            log.warn({ event: 'sendmessage.link_refused', peerUid: uid, reason: 'frame' }, `platform link: ${(error as Error).message}`);
            finish();
            return;
          }
          if (body === null) return;
          answered = true;
          let result: V1SendResult;
          try {
            const { type, data } = decodeLinkRequest(body);
            result = this.options.send(type, data);
          } catch (error) {
            log.warn({ event: 'sendmessage.link_refused', peerUid: uid, reason: 'frame' }, `platform link: ${(error as Error).message}`);
            finish();
            return;
          }
          connection.write(encodeLinkReply(result));
          void connection.flushed().then(finish);
        },
        onClose: () => finish(),
      },
      { maxPendingWriteBytes: 64 * 1024 },
    );
    this.connections.set(connection, finish);
    const timeoutMs = this.options.requestTimeoutMs ?? LINK_REQUEST_TIMEOUT_MS;
    const timer = setTimeout(() => {
      log.warn({ event: 'sendmessage.link_refused', peerUid: uid, reason: 'timeout' }, `platform link: no complete request within ${timeoutMs / 1000} s; closed`);
      finish();
    }, timeoutMs);
    timer.unref();
  }
}
