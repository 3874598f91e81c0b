import { lstat, readdir, unlink } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../log/logger.js';
import { checkTrustedDirectory, ensureTrustedDirectory, type DirectoryPolicy, type DirectoryWarning } from '../../io/trusted-directory.js';
import type { BroadcastSink, ChannelBroadcast, DeliveryResult } from '../types.js';
import { encodeChannelStatusIntent } from './intent-codec.js';
import { RECEIVERS_DIR_MODE } from './receivers-dir.js';
import { closeDatagramSocket, createDatagramSocket, errnoName, fitsSocketPath, sendDatagram, type UnixDgramSocket } from './unix-dgram.js';

const { errno } = constants;

export const LOCAL_SINK_NAME = 'local';

export interface LocalReceiversSinkOptions {
  /** The receivers directory (resolveReceiversDir()); created with mode 0700 when missing. */
  dir: string;
  /** Gone receivers at debug, busy ones and failures at warn. Default: silent. */
  log?: Logger;
  /** --allow-shared-dir: a directory owned or writable by others is used, with a warning. */
  allowSharedDir?: boolean;
}

/** How one broadcast fared at the local receivers. */
export interface LocalDeliveryCounts {
  /** Datagram sockets found in the directory (gone ones included, ignored entries not). */
  receivers: number;
  delivered: number;
  /** Nobody bound to the socket any more (ECONNREFUSED), or it vanished meanwhile (ENOENT). */
  gone: number;
  /** Of the gone ones, how many stale socket files this delivery unlinked. */
  removed: number;
  /** Queue full (EAGAIN/ENOBUFS): the receiver missed this broadcast. */
  busy: number;
  /** Any other failure (EACCES, ...): the receiver missed this broadcast. */
  failed: number;
  /** Sockets that are not datagram sockets (EPROTOTYPE): not receivers, left alone. */
  ignored: number;
}

/** A DeliveryResult with the counts behind its detail. */
export interface LocalDeliveryResult extends DeliveryResult {
  counts: LocalDeliveryCounts;
}

type Outcome = 'delivered' | 'gone' | 'busy' | 'failed' | 'ignored';

interface InodeId {
  dev: number;
  ino: number;
}

interface SendOutcome {
  outcome: Outcome;
  reason: string;
  /** For a refused send: the file that refused it, to be unlinked. */
  inode?: InodeId;
}

/**
 * The 'local' sink: every broadcast goes, as one datagram holding an encoded ChannelStatusIntent,
 * to every Unix datagram socket in the receivers directory (docs/broadcasts.md).
 *
 * - The directory is listed on every delivery; entries that are not sockets are skipped.
 * - A socket nobody is bound to any more (ECONNREFUSED: its process exited without unlinking it)
 *   is a gone receiver: its file is unlinked (only if it is still the same inode).
 * - Sends never block: a receiver whose queue is full (EAGAIN/ENOBUFS) misses this broadcast,
 *   which is counted as busy in the result and logged. Each receiver has a send socket of its
 *   own, because the datagrams waiting in a receiver's queue are charged to the SENDER's send
 *   buffer: with one shared socket, a receiver that never reads would soon make every send fail.
 * - The result is ok when every live receiver got the broadcast, or when there are none.
 */
export class LocalReceiversSink implements BroadcastSink {
  readonly name = LOCAL_SINK_NAME;
  readonly dir: string;
  private readonly log: Logger | undefined;
  private readonly senders = new Map<string, UnixDgramSocket>();
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private warnedDir: string | undefined;
  private readonly allowSharedDir: boolean;
  /** --allow-shared-dir warnings already logged (once each, not per broadcast). */
  private readonly warnedShared = new Set<string>();
  /** Receivers that missed the last broadcast because their queue was full. */
  private busy = new Set<string>();

  constructor(options: LocalReceiversSinkOptions) {
    this.dir = options.dir;
    this.log = options.log;
    this.allowSharedDir = options.allowSharedDir ?? false;
  }

  /**
   * Throws UnsafeDirectoryError when the directory exists and cannot be trusted (another uid owns
   * it, group or others may write it, it is a symlink: whoever controls it could put their own
   * socket in place of a receiver's and read every broadcast). A missing directory is fine.
   * Delivery checks again every time (and makes the directory when missing).
   */
  checkDirectory(): void {
    const result = checkTrustedDirectory(this.dir, this.policy());
    if (result !== 'missing') this.warnShared(result);
  }

  private policy(): DirectoryPolicy {
    return { what: 'receivers dir', flag: '--receivers-dir', allowShared: this.allowSharedDir };
  }

  private warnShared(warnings: readonly DirectoryWarning[]): void {
    for (const warning of warnings) {
      if (this.warnedShared.has(warning.message)) continue;
      this.warnedShared.add(warning.message);
      this.log?.warn({ event: 'daemon.insecure_directory', dir: warning.dir, problem: warning.problem }, warning.message);
    }
  }

  /** Sends the broadcast to every receiver. Never throws; concurrent calls run one after another. */
  deliver(broadcast: ChannelBroadcast): Promise<LocalDeliveryResult> {
    const run = this.queue.then(() => this.deliverNow(broadcast));
    this.queue = run.catch(() => undefined);
    return run.catch((error: unknown) => this.result(false, `internal error: ${(error as Error).message}`, emptyCounts()));
  }

  /** Closes the per-receiver send sockets. Later deliveries fail with "sink closed". */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    for (const socket of this.senders.values()) closeDatagramSocket(socket);
    this.senders.clear();
  }

  private async deliverNow(broadcast: ChannelBroadcast): Promise<LocalDeliveryResult> {
    const counts = emptyCounts();
    if (this.closed) return this.result(false, 'sink closed', counts);
    let datagram: Buffer;
    try {
      datagram = encodeChannelStatusIntent(broadcast);
    } catch (error) {
      return this.result(false, `cannot encode the broadcast: ${(error as Error).message}`, counts);
    }
    let names: string[];
    try {
      names = await this.listSockets();
    } catch (error) {
      return this.result(false, `cannot list the receivers directory ${this.dir}: ${(error as Error).message}`, counts);
    }
    const missed: string[] = [];
    const failures: string[] = [];
    const ignored: string[] = [];
    for (const name of names) {
      const path = join(this.dir, name);
      const { outcome, reason, inode } = await this.sendTo(path, datagram);
      if (outcome !== 'ignored') counts.receivers++;
      switch (outcome) {
        case 'delivered':
          counts.delivered++;
          break;
        case 'gone':
          counts.gone++;
          if (await this.removeStale(path, inode)) counts.removed++;
          break;
        case 'busy':
          counts.busy++;
          missed.push(name);
          break;
        case 'failed':
          counts.failed++;
          failures.push(`${name}: ${reason}`);
          break;
        case 'ignored':
          counts.ignored++;
          ignored.push(name);
          break;
      }
    }
    // Send sockets of receivers that left the directory are no longer needed.
    const present = new Set(names.map((name) => join(this.dir, name)));
    for (const [path, socket] of this.senders) {
      if (!present.has(path)) {
        closeDatagramSocket(socket);
        this.senders.delete(path);
      }
    }
    // Logged when a receiver becomes busy, not for every broadcast it keeps missing.
    const newlyBusy = missed.filter((name) => !this.busy.has(name));
    if (newlyBusy.length > 0) {
      this.log?.warn(
        { event: 'broadcast.local.busy', sequence: broadcast.sequence, receivers: newlyBusy, dir: this.dir },
        'local receivers miss broadcasts: their queue is full (they do not read their socket); counted in each broadcast\'s result',
      );
    }
    const recovered = [...this.busy].filter((name) => !missed.includes(name) && present.has(join(this.dir, name)));
    if (recovered.length > 0) this.log?.info({ event: 'broadcast.local.recovered', sequence: broadcast.sequence, receivers: recovered }, 'local receivers read again');
    this.busy = new Set(missed);
    if (failures.length > 0) {
      this.log?.warn({ event: 'broadcast.local.failed', sequence: broadcast.sequence, failures, dir: this.dir }, 'local receivers could not be sent a broadcast');
    }
    const ok = counts.busy === 0 && counts.failed === 0;
    return this.result(ok, describe(counts, missed, failures, ignored), counts);
  }

  /**
   * Names of the sockets in the directory, sorted; creates the directory when missing. Throws
   * (the delivery fails, naming the reason) when the directory cannot be trusted: checked on every
   * delivery, since it may have been replaced since the start.
   */
  private async listSockets(): Promise<string[]> {
    const existing = checkTrustedDirectory(this.dir, this.policy());
    if (existing === 'missing') {
      this.warnShared(ensureTrustedDirectory(this.dir, RECEIVERS_DIR_MODE, this.policy()));
      if (this.warnedDir !== this.dir) {
        this.warnedDir = this.dir;
        this.log?.info({ event: 'broadcast.local.dir_created', dir: this.dir }, 'created the local receivers directory');
      }
      return [];
    }
    this.warnShared(existing);
    const entries = await readdir(this.dir, { withFileTypes: true });
    // Dirent types come from d_type, or from lstat where the file system has none.
    return entries
      .filter((entry) => entry.isSocket())
      .map((entry) => entry.name)
      .sort();
  }

  /**
   * One datagram to one receiver. The socket file's inode is taken before sending, so that a gone
   * receiver's file is removed only if it is still the file that refused the datagram.
   */
  private async sendTo(path: string, datagram: Buffer): Promise<SendOutcome> {
    let inode: InodeId | undefined;
    try {
      const stats = await lstat(path);
      if (!stats.isSocket()) return { outcome: 'gone', reason: 'replaced by a file that is not a socket' };
      inode = { dev: stats.dev, ino: stats.ino };
    } catch {
      return { outcome: 'gone', reason: 'ENOENT' };
    }
    if (!fitsSocketPath(path)) return { outcome: 'failed', reason: 'path longer than 107 bytes (sun_path); use a shorter receivers directory or file name' };
    let socket = this.senders.get(path);
    if (!socket) {
      try {
        socket = createDatagramSocket();
      } catch (error) {
        return { outcome: 'failed', reason: `cannot create a socket: ${errnoName((error as { code?: number }).code)}` };
      }
      // Unbound and unconnected, it neither receives nor emits 'error' for sends with a callback;
      // a listener keeps any future 'error' from throwing.
      socket.on('error', (error) => this.log?.warn({ event: 'broadcast.local.socket_error', path, error: errnoName(error.code) }, 'local receivers: socket error'));
      this.senders.set(path, socket);
    }
    const result = await sendDatagram(socket, datagram, path);
    if (result === 0) return { outcome: 'delivered', reason: '' };
    const code = -result;
    if (code === errno.ECONNREFUSED || code === errno.ENOENT) {
      this.dropSender(path);
      return { outcome: 'gone', reason: errnoName(result), inode: code === errno.ECONNREFUSED ? inode : undefined };
    }
    if (code === errno.EAGAIN || code === errno.EWOULDBLOCK || code === errno.ENOBUFS || result === 1) {
      return { outcome: 'busy', reason: errnoName(result) };
    }
    if (code === errno.EPROTOTYPE) {
      this.dropSender(path);
      return { outcome: 'ignored', reason: 'not a datagram socket' };
    }
    return { outcome: 'failed', reason: errnoName(result) };
  }

  /** Unlinks a gone receiver's socket file, unless another socket replaced it since `sent` was taken. */
  private async removeStale(path: string, sent: InodeId | undefined): Promise<boolean> {
    if (!sent) return false;
    try {
      const now = await lstat(path);
      if (now.ino !== sent.ino || now.dev !== sent.dev) return false;
      await unlink(path);
      this.log?.debug({ event: 'broadcast.local.receiver_gone', path }, 'removed the socket of a local receiver that has gone away');
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') this.log?.warn({ event: 'broadcast.local.remove_failed', path, error: code }, 'cannot remove a stale receiver socket');
      return false;
    }
  }

  private dropSender(path: string): void {
    const socket = this.senders.get(path);
    if (!socket) return;
    closeDatagramSocket(socket);
    this.senders.delete(path);
  }

  private result(ok: boolean, detail: string, counts: LocalDeliveryCounts): LocalDeliveryResult {
    return { sink: this.name, ok, detail, attempts: 1, counts };
  }
}

function emptyCounts(): LocalDeliveryCounts {
  return { receivers: 0, delivered: 0, gone: 0, removed: 0, busy: 0, failed: 0, ignored: 0 };
}

/** "3 receivers; 2 delivered; 1 gone (removed); 0 busy" (+ who missed it and why). */
function describe(counts: LocalDeliveryCounts, missed: string[], failures: string[], ignored: string[]): string {
  if (counts.receivers === 0) {
    return ignored.length > 0 ? `no local receivers; ${ignored.length} ignored (not datagram sockets: ${ignored.join(', ')})` : 'no local receivers';
  }
  const parts = [
    `${counts.receivers} receiver${counts.receivers === 1 ? '' : 's'}`,
    `${counts.delivered} delivered`,
    `${counts.gone} gone${counts.gone > 0 ? (counts.removed === counts.gone ? ' (removed)' : ` (${counts.removed} removed)`) : ''}`,
    `${counts.busy} busy${missed.length > 0 ? ` (queue full, missed this broadcast: ${missed.join(', ')})` : ''}`,
  ];
  if (counts.failed > 0) parts.push(`${counts.failed} failed (${failures.join('; ')})`);
  if (counts.ignored > 0) parts.push(`${counts.ignored} ignored (not datagram sockets: ${ignored.join(', ')})`);
  return parts.join('; ');
}
