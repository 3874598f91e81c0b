import { chmodSync, existsSync, statSync, unlinkSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { Server, type Socket } from 'node:net';
import { channelSocketPath } from '../../channels/channel-name.js';
import { ListenError, removeStaleSocket } from '../../io/unix-listener.js';
import type { Logger } from '../../log/logger.js';
import * as native from '../../native/addon.js';
import { ensureTrustedDirectory } from '../../io/trusted-directory.js';
import { CHANNEL_SOCKET_MODES, DEFAULT_CHANNEL_SOCKET_MODE, formatMode } from './channel-socket-mode.js';
import type { DataChannelPort } from './data-channel-port.js';
import { effectiveMaxMessageSize, messageByteLength, Utf8Chunker, type BrowserMessage } from './utf8-chunker.js';

/**
 * The bridge between ONE WebRTC data channel (a DataChannelPort) and its Unix stream socket
 * `<socketDir>/webrtc_data_<name>`. The same policies, for users, are in ./README.md.
 *
 * Socket file: created when the bridge opens (mode socketMode, default 0600, applied through umask before bind so no
 * wider mode is ever visible), removed when it closes, and only if it is still ours (same inode).
 * A stale socket file left by a crash is replaced; a live listener at the path is never stolen
 * (ListenError ADDRESS_IN_USE); a file that is not a socket is left alone (NOT_A_SOCKET).
 *
 * Connections: ONE app connection per channel at a time. A new connection REPLACES the current one:
 * the old one gets EOF (end(): it still reads what was already written to it) and is destroyed after
 * `graceMs` unless it closes first; bytes it wrote that the bridge had not read yet are discarded
 * (counted in stats.droppedToBrowserBytes, logged); from then on the browser's data goes to the new
 * one. So an app that reconnects after a crash is never locked out by a stale descriptor (one leaked
 * into a child process, say).
 * Half-close: an app's EOF (shutdown of its write side) does not end the connection, it may still
 * read (like `echo req | socat - UNIX-CONNECT:…`). An app that has gone away entirely is noticed at
 * the next write (EPIPE): the bytes of the failed writes are held again, in order, for the next app.
 *
 * Socket → browser: every read goes through a Utf8Chunker (text when the read is valid UTF-8, else
 * binary; never a split character; at most min(remote max-message-size, 256 KiB) per message). The
 * 1–3 bytes of an incomplete character at the end of a read wait at most `carryFlushMs` for the rest,
 * then go as binary. When the channel's bufferedAmount() is above `highWaterMark` the bridge stops
 * reading the socket (pause) and resumes on handleBufferedAmountLow(), fired when it falls to
 * `lowWaterMark` (set as the channel's threshold at open; a 250 ms poll is the fallback should the
 * event never come). Bytes alone do not bound the queue: tiny messages cost far more than their
 * bytes (1-byte writes of a slowly read channel, say). So the bridge also counts messages sent since
 * the channel's buffer was last seen empty, and pauses above `maxQueuedMessages` (default 4096)
 * until the buffer is empty again. A send returning false means "queued", not failure. A send that throws is
 * caught, logged against the channel, and closes the app connection. Nothing here throws into its
 * caller: in the platform these run inside node-datachannel callbacks, where a throw aborts the
 * process.
 *
 * Browser → socket: text is written as its UTF-8 bytes, binary as is. Data channels have no
 * receive-side flow control, so the bridge bounds what it holds: `maxBufferedToSocketBytes` (default
 * 8 MiB) counts bytes handed to the app socket but not yet flushed (`socket.writableLength`) plus
 * bytes held while no app is connected.
 * - While no app is connected, messages are held, in order, and flushed to the next app that
 *   connects. When holding a message would pass the bound, that message is REFUSED (dropped whole,
 *   counted in stats.droppedFromBrowserBytes, a warning logged once per episode, a 'refused' event):
 *   the oldest data is kept, so the next app reads a clean beginning rather than a stream with a hole
 *   it cannot see at its start.
 * - While an app is connected, its unflushed bytes may pass the bound for a short while: node-datachannel
 *   delivers messages in batches, and while the event loop runs a batch nothing can be flushed, so a
 *   stall of the loop (GC, a loaded machine) turns into a burst even for an app that reads as fast as
 *   it can. The app is judged NOT READING, and its connection closed, when a message would take its
 *   unflushed bytes past twice the bound (the hard limit), or past the bound while they have been
 *   above the bound for `overflowAfterMs` (default 1000 ms) already. Closing: a warning, an
 *   'overflow' event, stats.connectionsClosedForOverflow; the bytes it had not flushed are counted as
 *   dropped, and that message and later ones are held for the next app.
 * - Bytes taken back from a vanished app (above) were inside the limit when written; holding them
 *   again is not refused, so held data can briefly reach twice the bound.
 * So browser → socket data of one channel never takes more than twice maxBufferedToSocketBytes.
 * Never silent loss (every dropped byte is counted and logged), never unbounded memory.
 * Accounting: bytesFromBrowser = bytesToApp + droppedFromBrowserBytes + heldBytes. bytesToApp counts
 * bytes the socket accepted; bytes an app never read before it closed are beyond anyone's knowledge.
 */

export const DEFAULT_MAX_BUFFERED_TO_SOCKET_BYTES = 8 * 1024 * 1024;
export const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
export const DEFAULT_LOW_WATER_MARK = 256 * 1024;
export const DEFAULT_OVERFLOW_AFTER_MS = 1000;
export const DEFAULT_GRACE_MS = 1000;
export const DEFAULT_CARRY_FLUSH_MS = 20;
export const DEFAULT_MAX_QUEUED_MESSAGES = 4096;
const BACKPRESSURE_POLL_MS = 250;
/** Polled faster while paused on the message count: the buffer's bytes say little about it then. */
const MESSAGE_BACKPRESSURE_POLL_MS = 20;

export interface ChannelBridgeOptions {
  socketDir: string;
  /** Channel name; validated by the shared validator (ChannelNameError when refused). */
  name: string;
  port: DataChannelPort;
  /** Send everything to the browser as binary messages (`--binary`). */
  binary?: boolean;
  /** File mode of the socket, one of CHANNEL_SOCKET_MODES; default DEFAULT_CHANNEL_SOCKET_MODE (0600). */
  socketMode?: number;
  /** --allow-shared-dir: the socket dir's owner and writability problems are logged, not refused. */
  allowSharedDir?: boolean;
  log: Logger;
  /** Bound of browser → socket data held in memory (see above; twice this is the hard limit). Default 8 MiB. */
  maxBufferedToSocketBytes?: number;
  /** How long an app's unflushed bytes may stay above maxBufferedToSocketBytes before it is judged not reading. Default 1000 ms. */
  overflowAfterMs?: number;
  /** Stop reading the socket while port.bufferedAmount() is above this. Default 1 MiB. */
  highWaterMark?: number;
  /** The channel's buffered-amount-low threshold; reading resumes at or below it. Default 256 KiB. */
  lowWaterMark?: number;
  /** Stop reading the socket while more messages than this may be queued in the channel. Default 4096. */
  maxQueuedMessages?: number;
  /** How long a replaced or closing connection may take to finish after EOF before it is destroyed. Default 1000 ms. */
  graceMs?: number;
  /**
   * How long the 1 to 3 bytes of an incomplete UTF-8 sequence at the end of a read may wait for the
   * rest before they are sent as binary. Default 20 ms.
   */
  carryFlushMs?: number;
  /** Told about connections and losses; a throw from it is logged and ignored. */
  onEvent?: (event: ChannelBridgeEvent) => void;
}

export type ChannelBridgeEvent =
  | { readonly type: 'connected'; readonly channel: string; readonly connection: number; readonly flushedBytes: number }
  | { readonly type: 'replaced'; readonly channel: string; readonly connection: number; readonly by: number; readonly discardedBytes: number }
  | {
      readonly type: 'disconnected';
      readonly channel: string;
      readonly connection: number;
      readonly reason: string;
      readonly bytesFromApp: number;
      readonly bytesToApp: number;
    }
  | {
      readonly type: 'overflow';
      readonly channel: string;
      readonly connection: number;
      readonly bufferedBytes: number;
      readonly limit: number;
      readonly droppedBytes: number;
    }
  | { readonly type: 'refused'; readonly channel: string; readonly bytes: number; readonly heldBytes: number; readonly limit: number }
  | { readonly type: 'send-failed'; readonly channel: string; readonly connection: number; readonly error: string }
  | { readonly type: 'closed'; readonly channel: string; readonly reason: string };

export interface ChannelBridgeStats {
  /** Socket → browser: bytes and messages handed to the data channel. */
  bytesToBrowser: number;
  messagesToBrowser: number;
  textMessagesToBrowser: number;
  binaryMessagesToBrowser: number;
  /** Socket → browser bytes read but never sent (a send threw, or the bridge closed). */
  droppedToBrowserBytes: number;
  /** Browser → socket: what the browser sent. */
  bytesFromBrowser: number;
  messagesFromBrowser: number;
  /** Browser → socket bytes handed to an app socket. */
  bytesToApp: number;
  /** Browser → socket bytes held now, while no app is connected. */
  heldBytes: number;
  /** Browser → socket bytes lost: refused at the bound, unflushed on an overflowed or vanished app connection, held at close. */
  droppedFromBrowserBytes: number;
  connectionsServed: number;
  connectionsReplaced: number;
  connectionsClosedForOverflow: number;
  sendFailures: number;
  /** Times reading the socket was paused because the channel's buffer was above the high-water mark. */
  backpressurePauses: number;
  /** Of those, pauses because too many messages were queued (whatever their bytes). */
  messageBackpressurePauses: number;
}

interface Connection {
  readonly id: number;
  readonly socket: Socket;
  readonly chunker: Utf8Chunker;
  /** Why it is being closed; undefined while it is the current connection. */
  retiredBecause: string | undefined;
  /** The socket error that ended it, if any. */
  failure: string | undefined;
  graceTimer: NodeJS.Timeout | undefined;
  /** When its unflushed bytes went above maxBufferedToSocketBytes (undefined: they are not). */
  aboveBoundSince: number | undefined;
  carryTimer: NodeJS.Timeout | undefined;
  bytesFromApp: number;
  bytesToApp: number;
  /** Failed writes held again for the next app (count, and where the next one goes in `held`). */
  heldAgain: number;
  bytesHeldAgain: number;
  readonly closed: Promise<void>;
}

export class ChannelBridge {
  readonly name: string;
  readonly path: string;
  private readonly port: DataChannelPort;
  private readonly log: Logger;
  private readonly binary: boolean;
  private readonly maxBuffered: number;
  private readonly overflowAfterMs: number;
  private readonly highWaterMark: number;
  private readonly lowWaterMark: number;
  private readonly graceMs: number;
  private readonly carryFlushMs: number;
  private readonly onEvent: ((event: ChannelBridgeEvent) => void) | undefined;
  private readonly server: Server;
  private readonly inode: number;
  private readonly connections = new Set<Connection>();
  private current: Connection | undefined;
  private nextConnectionId = 1;
  private held: Buffer[] = [];
  private heldTotal = 0;
  private refusing = false;
  private backpressured = false;
  private backpressurePoll: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  /** Set first thing in close(), before any of its work. */
  private isClosed = false;
  private readonly counters: ChannelBridgeStats = {
    bytesToBrowser: 0,
    messagesToBrowser: 0,
    textMessagesToBrowser: 0,
    binaryMessagesToBrowser: 0,
    droppedToBrowserBytes: 0,
    bytesFromBrowser: 0,
    messagesFromBrowser: 0,
    bytesToApp: 0,
    heldBytes: 0,
    droppedFromBrowserBytes: 0,
    connectionsServed: 0,
    connectionsReplaced: 0,
    connectionsClosedForOverflow: 0,
    sendFailures: 0,
    backpressurePauses: 0,
    messageBackpressurePauses: 0,
  };
  private readonly maxQueuedMessages: number;
  /** Messages sent since the channel's buffer was last seen empty: an upper bound of those queued. */
  private messagesSinceEmpty = 0;
  private pausedOnMessages = false;

  /**
   * Creates the listening socket (and the socket dir again if it was deleted) and returns the bridge.
   * Rejects with ChannelNameError (bad name or path too long for sun_path), ListenError
   * (ADDRESS_IN_USE: a live listener is there; NOT_A_SOCKET; LISTEN_FAILED, e.g. the directory cannot
   * be made) or RangeError (inconsistent limits).
   */
  static async open(options: ChannelBridgeOptions): Promise<ChannelBridge> {
    const path = channelSocketPath(options.socketDir, options.name);
    const limits = checkLimits(options);
    const mode = options.socketMode ?? DEFAULT_CHANNEL_SOCKET_MODE;
    if (!CHANNEL_SOCKET_MODES.includes(mode)) throw new RangeError(`socketMode must be one of ${CHANNEL_SOCKET_MODES.map(formatMode).join(', ')}, got ${formatMode(mode)}`);
    ensureTrustedSocketDir(options.socketDir, options.log, options.allowSharedDir ?? false);
    removeStaleSocket(path);
    // umask before bind: the file is created with `mode` and never visible with a wider one. The native
    // listener is used (rather than server.listen(path)) because libuv unlinks a path it bound when
    // the server closes, whoever owns the file by then; here the file is removed only if still ours.
    const previousUmask = process.umask(0o777 & ~mode);
    let fd: number;
    try {
      fd = native.listenUnix(path, 511);
    } finally {
      process.umask(previousUmask);
    }
    if (fd < 0) throw listenError(path, fd);
    let inode: number;
    try {
      chmodSync(path, mode); // umask already did it; this only makes the mode exact
      inode = statSync(path).ino;
    } catch (error) {
      native.close(fd);
      unlinkIfInode(path, undefined);
      throw new ListenError('LISTEN_FAILED', `cannot set up ${path}: ${String(error)}`);
    }
    // From here the server's handle owns the descriptor (it closes it on failure or close).
    const server = new Server({ allowHalfOpen: true });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ fd }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      if (server.listening) server.close();
      unlinkIfInode(path, inode);
      throw new ListenError('LISTEN_FAILED', `cannot listen on ${path}: ${String(error)}`);
    }
    return new ChannelBridge(options, path, server, inode, limits, mode);
  }

  private constructor(options: ChannelBridgeOptions, path: string, server: Server, inode: number, limits: Limits, mode: number) {
    this.name = options.name;
    this.path = path;
    this.port = options.port;
    this.log = options.log.child({ channel: options.name });
    this.binary = options.binary ?? false;
    this.maxBuffered = limits.maxBuffered;
    this.overflowAfterMs = limits.overflowAfterMs;
    this.highWaterMark = limits.highWaterMark;
    this.maxQueuedMessages = limits.maxQueuedMessages;
    this.lowWaterMark = limits.lowWaterMark;
    this.graceMs = limits.graceMs;
    this.carryFlushMs = limits.carryFlushMs;
    this.onEvent = options.onEvent;
    this.server = server;
    this.inode = inode;
    server.on('connection', (socket: Socket) => this.guard('accepting a connection', () => this.accept(socket)));
    server.on('error', (error: Error) => this.log.error({ event: 'channel.listener_failed', err: error }, 'channel socket listener failed'));
    this.guard('setting the buffered-amount-low threshold', () => this.port.setBufferedAmountLowThreshold(this.lowWaterMark));
    this.log.info({ event: 'channel.socket_listening', path, mode: mode.toString(8), maxBufferedToSocketBytes: this.maxBuffered }, 'channel socket listening');
  }

  /** A copy of the counters. */
  get stats(): ChannelBridgeStats {
    return { ...this.counters, heldBytes: this.heldTotal };
  }

  /** Whether an app is connected now. */
  get connected(): boolean {
    return this.current !== undefined;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** A message from the browser: written to the app socket (text as UTF-8), or held. Never throws. */
  handleBrowserMessage(message: string | Buffer): void {
    this.guard('handling a browser message', () => {
      const bytes = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
      this.counters.messagesFromBrowser++;
      this.counters.bytesFromBrowser += bytes.length;
      if (this.isClosed) {
        this.counters.droppedFromBrowserBytes += bytes.length;
        this.log.warn({ event: 'channel.late_message_dropped', bytes: bytes.length }, 'browser message after the bridge closed: dropped');
        return;
      }
      const connection = this.current;
      if (connection && !connection.socket.destroyed) {
        const unflushed = connection.socket.writableLength;
        const after = unflushed + bytes.length;
        if (after <= this.maxBuffered) {
          connection.aboveBoundSince = undefined;
          this.writeToApp(connection, bytes);
          return;
        }
        const now = Date.now();
        connection.aboveBoundSince ??= now;
        if (after <= 2 * this.maxBuffered && now - connection.aboveBoundSince < this.overflowAfterMs) {
          this.writeToApp(connection, bytes); // a burst: give the app time to drain it
          return;
        }
        this.overflow(connection, unflushed, now - connection.aboveBoundSince);
      }
      this.hold(bytes);
    });
  }

  /** The channel's buffered amount fell to the low-water mark: read the socket again. Never throws. */
  handleBufferedAmountLow(): void {
    this.guard('resuming after buffered-amount-low', () => this.releaseBackpressure());
  }

  /**
   * Closes the app connections (the app sees EOF; destroyed after the grace period if it does not
   * close) and the listener, and removes the socket file if it is still ours. Held browser data is
   * counted as dropped. Idempotent: later calls return the same promise. Never rejects.
   */
  close(reason: string): Promise<void> {
    if (this.closing) return this.closing;
    this.isClosed = true;
    this.closing = this.shutdown(reason).catch((error: unknown) => this.log.error({ event: 'channel.close_failed', err: error }, 'closing the channel bridge failed'));
    return this.closing;
  }

  private async shutdown(reason: string): Promise<void> {
    clearInterval(this.backpressurePoll);
    this.backpressurePoll = undefined;
    // Unlink before the descriptor closes: after close, another process may bind the same path.
    unlinkIfInode(this.path, this.inode);
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const heldBytes = this.heldTotal;
    if (heldBytes > 0) {
      this.counters.droppedFromBrowserBytes += heldBytes;
      this.log.warn({ event: 'channel.held_data_dropped', bytes: heldBytes }, 'channel closed while holding browser data no app read: dropped');
    }
    this.held = [];
    this.heldTotal = 0;
    this.counters.heldBytes = 0;
    const pending: Promise<void>[] = [];
    for (const connection of this.connections) {
      this.retire(connection, `bridge closed: ${reason}`, true);
      pending.push(connection.closed);
    }
    await Promise.all(pending);
    await serverClosed;
    this.log.info({ event: 'channel.socket_closed', reason, stats: this.stats }, 'channel socket closed');
    this.emit({ type: 'closed', channel: this.name, reason });
  }

  private accept(socket: Socket): void {
    if (this.isClosed) {
      socket.destroy();
      return;
    }
    let resolveClosed!: () => void;
    const remoteMax = this.safePortCall(() => this.port.maxMessageSize(), Number.NaN);
    const connection: Connection = {
      id: this.nextConnectionId++,
      socket,
      chunker: new Utf8Chunker({ maxMessageSize: effectiveMaxMessageSize(remoteMax), binary: this.binary }),
      retiredBecause: undefined,
      failure: undefined,
      graceTimer: undefined,
      aboveBoundSince: undefined,
      carryTimer: undefined,
      bytesFromApp: 0,
      bytesToApp: 0,
      heldAgain: 0,
      bytesHeldAgain: 0,
      closed: new Promise<void>((resolve) => (resolveClosed = resolve)),
    };
    this.connections.add(connection);
    socket.on('data', (chunk: Buffer) => this.guard('reading the app socket', () => this.fromApp(connection, chunk)));
    socket.on('end', () => this.guard('ending the app stream', () => this.appEnded(connection)));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      this.guard('handling an app socket error', () => {
        // EPIPE / ECONNRESET: the app went away. Node destroys the socket; 'close' follows.
        // Its failed writes come back through writeToApp's callbacks and are held again.
        connection.failure ??= `socket error: ${error.code ?? error.message}`;
        this.detach(connection, true);
      }),
    );
    socket.on('close', () => {
      this.guard('closing an app connection', () => this.connectionClosed(connection));
      resolveClosed();
    });

    const previous = this.current;
    if (previous) {
      const discarded = previous.socket.readableLength;
      this.counters.connectionsReplaced++;
      if (discarded > 0) this.counters.droppedToBrowserBytes += discarded;
      this.log.info(
        { event: 'channel.app_replaced', connection: previous.id, by: connection.id, discardedUnreadBytes: discarded },
        'app connection replaced by a new one; the old one gets EOF',
      );
      this.emit({ type: 'replaced', channel: this.name, connection: previous.id, by: connection.id, discardedBytes: discarded });
      this.retire(previous, `replaced by connection ${connection.id}`, true);
    }
    this.current = connection;
    this.counters.connectionsServed++;
    if (this.backpressured) socket.pause();
    const flushed = this.flushHeld(connection);
    this.log.info({ event: 'channel.app_connected', connection: connection.id, flushedBytes: flushed }, 'app connected');
    this.emit({ type: 'connected', channel: this.name, connection: connection.id, flushedBytes: flushed });
  }

  private fromApp(connection: Connection, chunk: Buffer): void {
    connection.bytesFromApp += chunk.length;
    if (connection !== this.current) {
      // Read before a pause took effect on a retired connection: its stream is over for the browser.
      this.counters.droppedToBrowserBytes += chunk.length;
      return;
    }
    if (!this.sendToBrowser(connection, connection.chunker.push(chunk))) {
      this.retire(connection, 'send to the browser failed', false, false);
      return;
    }
    this.checkBackpressure();
    this.scheduleCarryFlush(connection);
  }

  /**
   * Carried bytes of an incomplete character wait for the next read, but not forever: a binary stream
   * can pause on what looks like the start of a character, and a request/response protocol would then
   * wait for bytes the browser never gets. After carryFlushMs without data they go as binary. Not
   * while reading is paused for backpressure (the rest is probably in the socket): the timer is
   * started again on resume.
   */
  private scheduleCarryFlush(connection: Connection): void {
    clearTimeout(connection.carryTimer);
    connection.carryTimer = undefined;
    if (connection.chunker.carriedBytes === 0 || this.backpressured) return;
    connection.carryTimer = setTimeout(
      () =>
        this.guard('flushing carried bytes', () => {
          connection.carryTimer = undefined;
          if (connection !== this.current || this.backpressured) return;
          if (!this.sendToBrowser(connection, connection.chunker.end())) this.retire(connection, 'send to the browser failed', false, false);
        }),
      this.carryFlushMs,
    );
    connection.carryTimer.unref();
  }

  private appEnded(connection: Connection): void {
    // Half-close: the app stopped writing and may still read (allowHalfOpen). Flush the carried bytes.
    if (connection !== this.current) return;
    if (!this.sendToBrowser(connection, connection.chunker.end())) this.retire(connection, 'send to the browser failed', false, false);
  }

  /**
   * Sends messages in order. false when a send threw: that is logged against the channel, counted,
   * and the rest (plus the chunker's carried bytes) is counted as dropped; the caller closes the app
   * connection.
   */
  private sendToBrowser(connection: Connection, messages: BrowserMessage[]): boolean {
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i];
      try {
        // false = queued by the channel, not a failure.
        if (message.type === 'text') this.port.sendText(message.text);
        else this.port.sendBinary(message.data);
      } catch (error) {
        let lost = connection.chunker.carriedBytes;
        for (let j = i; j < messages.length; j++) lost += messageByteLength(messages[j]);
        this.counters.droppedToBrowserBytes += lost;
        this.counters.sendFailures++;
        const text = error instanceof Error ? error.message : String(error);
        this.log.error({ event: 'channel.send_failed', connection: connection.id, err: error, lostBytes: lost }, 'sending to the browser failed; closing the app connection');
        this.emit({ type: 'send-failed', channel: this.name, connection: connection.id, error: text });
        return false;
      }
      const bytes = messageByteLength(message);
      this.messagesSinceEmpty++;
      this.counters.messagesToBrowser++;
      this.counters.bytesToBrowser += bytes;
      if (message.type === 'text') this.counters.textMessagesToBrowser++;
      else this.counters.binaryMessagesToBrowser++;
    }
    return true;
  }

  private checkBackpressure(): void {
    if (this.backpressured) return;
    const amount = this.safePortCall(() => this.port.bufferedAmount(), 0);
    if (amount === 0) this.messagesSinceEmpty = 0;
    const onMessages = this.messagesSinceEmpty > this.maxQueuedMessages;
    if (amount <= this.highWaterMark && !onMessages) return;
    this.backpressured = true;
    this.pausedOnMessages = onMessages && amount <= this.highWaterMark;
    this.counters.backpressurePauses++;
    if (this.pausedOnMessages) this.counters.messageBackpressurePauses++;
    this.current?.socket.pause();
    this.log.debug(
      { event: 'channel.backpressure_paused', bufferedAmount: amount, highWaterMark: this.highWaterMark, queuedMessages: this.messagesSinceEmpty, maxQueuedMessages: this.maxQueuedMessages },
      'channel buffer above the high-water mark or message count; pausing the app socket',
    );
    // Fallback should the buffered-amount-low event never be delivered; the only way out of a pause on messages.
    this.backpressurePoll = setInterval(
      () =>
        this.guard('polling the buffered amount', () => {
          if (this.drainedEnough()) this.releaseBackpressure();
        }),
      this.pausedOnMessages ? MESSAGE_BACKPRESSURE_POLL_MS : BACKPRESSURE_POLL_MS,
    );
    this.backpressurePoll.unref();
  }

  /** A pause on bytes ends at the low-water mark; one on messages when the buffer is empty. */
  private drainedEnough(): boolean {
    const amount = this.safePortCall(() => this.port.bufferedAmount(), 0);
    if (amount === 0) this.messagesSinceEmpty = 0;
    return this.pausedOnMessages ? amount === 0 : amount <= this.lowWaterMark && this.messagesSinceEmpty <= this.maxQueuedMessages;
  }

  private releaseBackpressure(): void {
    if (!this.backpressured) return;
    if (!this.isClosed && !this.drainedEnough()) return;
    this.backpressured = false;
    this.pausedOnMessages = false;
    clearInterval(this.backpressurePoll);
    this.backpressurePoll = undefined;
    if (this.isClosed) return;
    this.log.debug({ event: 'channel.backpressure_resumed' }, 'channel buffer drained; resuming the app socket');
    const current = this.current;
    if (!current) return;
    current.socket.resume();
    this.scheduleCarryFlush(current);
  }

  private writeToApp(connection: Connection, bytes: Buffer): void {
    connection.bytesToApp += bytes.length;
    this.counters.bytesToApp += bytes.length;
    connection.socket.write(bytes, (error) => {
      if (error) this.guard('taking back a failed write', () => this.writeFailed(connection, bytes));
    });
  }

  /**
   * A write did not reach the app. If the app went away by itself (EPIPE, ECONNRESET: typically found
   * by this very write, since a half-closed connection is kept), the bytes are held again, in their
   * order and ahead of anything held since, for the next app. If the bridge closed the connection
   * (overflow, replacement grace over, bridge closed), they are counted as dropped.
   */
  private writeFailed(connection: Connection, bytes: Buffer): void {
    connection.bytesToApp -= bytes.length;
    this.counters.bytesToApp -= bytes.length;
    if (connection.retiredBecause !== undefined || this.isClosed) {
      this.counters.droppedFromBrowserBytes += bytes.length;
      return;
    }
    this.held.splice(connection.heldAgain++, 0, bytes);
    this.heldTotal += bytes.length;
    this.counters.heldBytes = this.heldTotal;
    connection.bytesHeldAgain += bytes.length;
  }

  private hold(bytes: Buffer): void {
    const heldBytes = this.heldTotal;
    if (heldBytes + bytes.length > this.maxBuffered) {
      this.counters.droppedFromBrowserBytes += bytes.length;
      // Loud once per episode (until an app connects), then per message at debug.
      if (!this.refusing) {
        this.refusing = true;
        this.log.warn(
          { event: 'channel.data_refused', bytes: bytes.length, heldBytes, limit: this.maxBuffered },
          'no app connected and the buffer for it is full: refusing browser data (dropped; see stats.droppedFromBrowserBytes)',
        );
      } else {
        this.log.debug({ event: 'channel.data_refused', bytes: bytes.length, heldBytes }, 'refusing browser data');
      }
      this.emit({ type: 'refused', channel: this.name, bytes: bytes.length, heldBytes, limit: this.maxBuffered });
      return;
    }
    this.held.push(bytes);
    this.heldTotal += bytes.length;
    this.counters.heldBytes = this.heldTotal;
  }

  private flushHeld(connection: Connection): number {
    const held = this.held;
    this.held = [];
    this.heldTotal = 0;
    let flushed = 0;
    for (const bytes of held) {
      flushed += bytes.length;
      this.writeToApp(connection, bytes);
    }
    this.counters.heldBytes = 0;
    if (this.refusing) {
      this.refusing = false;
      this.log.warn({ event: 'channel.data_refused_total', droppedFromBrowserBytes: this.counters.droppedFromBrowserBytes }, 'app connected; browser data refused while none was, in total so far');
    }
    return flushed;
  }

  private overflow(connection: Connection, unflushed: number, aboveBoundForMs: number): void {
    this.counters.connectionsClosedForOverflow++;
    this.log.warn(
      { event: 'channel.app_overflow', connection: connection.id, unflushedBytes: unflushed, limit: this.maxBuffered, aboveBoundForMs },
      'the app is not reading: browser data would pass the buffer bound; closing the app connection (its unflushed bytes are dropped, later data is held for the next app)',
    );
    this.emit({ type: 'overflow', channel: this.name, connection: connection.id, bufferedBytes: unflushed, limit: this.maxBuffered, droppedBytes: unflushed });
    this.retire(connection, 'overflow: the app did not read the browser data', false);
  }

  /**
   * Takes a connection out of service, once. graceful: end() (the app reads what was already written,
   * then EOF) and destroy after graceMs unless it closes first; otherwise destroy now, counting its
   * unflushed bytes as dropped. flushToBrowser: send what its chunker carries first.
   */
  private retire(connection: Connection, reason: string, graceful: boolean, flushToBrowser = true): void {
    if (connection.retiredBecause !== undefined) return;
    connection.retiredBecause = reason;
    this.detach(connection, flushToBrowser);
    const socket = connection.socket;
    if (socket.destroyed) return;
    socket.pause();
    if (!graceful) {
      this.destroy(connection);
      return;
    }
    socket.end();
    connection.graceTimer = setTimeout(
      () =>
        this.guard('ending the grace period', () => {
          if (socket.destroyed) return;
          this.log.debug({ event: 'channel.app_destroyed', connection: connection.id, unflushedBytes: socket.writableLength }, 'grace period over; destroying the connection');
          this.destroy(connection);
        }),
      this.graceMs,
    );
    connection.graceTimer.unref();
  }

  /** Its unflushed writes fail and are counted as dropped (writeFailed). */
  private destroy(connection: Connection): void {
    connection.socket.destroy();
  }

  /** Stops using the connection for new data; flushToBrowser: send what its chunker carries (a failure is only counted). */
  private detach(connection: Connection, flushToBrowser: boolean): void {
    if (this.current !== connection) return;
    clearTimeout(connection.carryTimer);
    connection.carryTimer = undefined;
    this.current = undefined;
    if (!flushToBrowser) return;
    if (this.isClosed) {
      // The channel is going away with the bridge: carried bytes of an incomplete character are not sent.
      this.counters.droppedToBrowserBytes += connection.chunker.carriedBytes;
      connection.chunker.end();
      return;
    }
    this.sendToBrowser(connection, connection.chunker.end());
  }

  private connectionClosed(connection: Connection): void {
    clearTimeout(connection.graceTimer);
    clearTimeout(connection.carryTimer);
    this.connections.delete(connection);
    // Still current: the app closed (or reset) the connection itself.
    this.detach(connection, true);
    const reason = connection.retiredBecause ?? connection.failure ?? 'the app closed the connection';
    this.log.info(
      { event: 'channel.app_disconnected', connection: connection.id, reason, bytesFromApp: connection.bytesFromApp, bytesToApp: connection.bytesToApp, bytesHeldAgain: connection.bytesHeldAgain },
      'app disconnected',
    );
    this.emit({
      type: 'disconnected',
      channel: this.name,
      connection: connection.id,
      reason,
      bytesFromApp: connection.bytesFromApp,
      bytesToApp: connection.bytesToApp,
    });
  }

  private emit(event: ChannelBridgeEvent): void {
    if (!this.onEvent) return;
    try {
      this.onEvent(event);
    } catch (error) {
      this.log.error({ event: 'channel.event_handler_failed', bridgeEvent: event.type, err: error }, 'channel bridge event handler threw; ignored');
    }
  }

  private safePortCall<T>(call: () => T, fallback: T): T {
    try {
      return call();
    } catch (error) {
      this.log.warn({ event: 'channel.call_failed', err: error }, 'data channel call failed');
      return fallback;
    }
  }

  /** Runs `body`, logging instead of throwing: these run in socket and node-datachannel callbacks. */
  private guard(what: string, body: () => void): void {
    try {
      body();
    } catch (error) {
      this.log.error({ event: 'channel.bridge_failed', err: error, what }, `channel bridge failed while ${what}`);
    }
  }
}

interface Limits {
  maxBuffered: number;
  overflowAfterMs: number;
  highWaterMark: number;
  lowWaterMark: number;
  graceMs: number;
  carryFlushMs: number;
  maxQueuedMessages: number;
}

function checkLimits(options: ChannelBridgeOptions): Limits {
  const maxBuffered = options.maxBufferedToSocketBytes ?? DEFAULT_MAX_BUFFERED_TO_SOCKET_BYTES;
  const highWaterMark = options.highWaterMark ?? Math.max(DEFAULT_HIGH_WATER_MARK, options.lowWaterMark ?? 0);
  const lowWaterMark = options.lowWaterMark ?? Math.min(DEFAULT_LOW_WATER_MARK, highWaterMark);
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const carryFlushMs = options.carryFlushMs ?? DEFAULT_CARRY_FLUSH_MS;
  const overflowAfterMs = options.overflowAfterMs ?? DEFAULT_OVERFLOW_AFTER_MS;
  const maxQueuedMessages = options.maxQueuedMessages ?? DEFAULT_MAX_QUEUED_MESSAGES;
  for (const [name, value] of Object.entries({ maxBufferedToSocketBytes: maxBuffered, overflowAfterMs, highWaterMark, lowWaterMark, graceMs, carryFlushMs, maxQueuedMessages })) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
  if (maxBuffered < 1) throw new RangeError('maxBufferedToSocketBytes must be at least 1');
  if (lowWaterMark > highWaterMark) throw new RangeError(`lowWaterMark (${lowWaterMark}) must not exceed highWaterMark (${highWaterMark})`);
  if (maxQueuedMessages < 1) throw new RangeError('maxQueuedMessages must be at least 1');
  return { maxBuffered, overflowAfterMs, highWaterMark, lowWaterMark, graceMs, carryFlushMs, maxQueuedMessages };
}

function listenError(path: string, negErrno: number): ListenError {
  const { errno } = osConstants;
  if (negErrno === -errno.EADDRINUSE) {
    return new ListenError('ADDRESS_IN_USE', `${path} is in use; stop the process using it or choose another socket dir`);
  }
  if (negErrno === -errno.ENAMETOOLONG) {
    return new ListenError('PATH_TOO_LONG', `${path} is longer than a Unix socket path may be (107 bytes); choose a shorter socket dir`);
  }
  return new ListenError('LISTEN_FAILED', `cannot listen on ${path}: ${native.errnoName(negErrno)}`);
}

/** The mode the platform gives the socket dir (as at start: Platform.start). */
const SOCKET_DIR_MODE = 0o750;

/**
 * Before every channel socket is made, the socket dir gets the checks of the start again
 * (src/io/trusted-directory.ts): it may have been replaced meanwhile. It can also vanish under a
 * running platform (`rm -rf`, a tmp cleaner, a logout removing /run/user/<uid>): the next channel
 * makes it again, with the same checks (so a directory another user planted in its place is refused),
 * rather than every channel failing with ENOENT until a restart. Logged once per re-creation.
 */
function ensureTrustedSocketDir(socketDir: string, log: Logger, allowShared: boolean): void {
  const existed = existsSync(socketDir);
  try {
    for (const warning of ensureTrustedDirectory(socketDir, SOCKET_DIR_MODE, { what: 'socket dir', flag: '--socket-dir', allowShared })) {
      if (!existed) log.warn({ event: 'platform.insecure_directory', dir: warning.dir, problem: warning.problem }, warning.message);
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ListenError('LISTEN_FAILED', existed ? message : `the socket dir ${socketDir} is gone and cannot be made again: ${message}`);
  }
  if (!existed) {
    log.warn({ event: 'channel.socket_dir_recreated', socketDir }, `the socket dir ${socketDir} was missing (deleted while the platform ran?): made it again`);
  }
}

/** Removes `path` if it is still the file with `inode` (any file when inode is undefined). */
function unlinkIfInode(path: string, inode: number | undefined): void {
  try {
    if (inode === undefined || statSync(path).ino === inode) unlinkSync(path);
  } catch {
    // Already removed by someone else: nothing of ours to clean.
  }
}
