import { randomBytes } from 'node:crypto';
import { chmodSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ensureTrustedDirectory, type DirectoryWarning } from '../../io/trusted-directory.js';
import { decodeChannelStatusIntent, IntentCodecError, type ReceivedBroadcast } from './intent-codec.js';
import { RECEIVERS_DIR_MODE, resolveReceiversDir } from './receivers-dir.js';
import { bindDatagramSocket, closeDatagramSocket, createDatagramSocket, errnoName, fitsSocketPath, type UnixDgramSocket } from './unix-dgram.js';

/** Mode of a receiver's socket file: only its owner (the daemon runs as the same user) may send to it. */
export const RECEIVER_SOCKET_MODE = 0o600;

export interface ListenForBroadcastsOptions {
  /** The receivers directory; default resolveReceiversDir() (env ANBOX_OOB_RECEIVERS_DIR, else `<runtime>/receivers`). Created 0700 when missing. */
  dir?: string;
  /** The socket's file name in `dir`; default `<pid>-<8 hex digits>.sock`. */
  name?: string;
  /** Each broadcast, in arrival order. An exception it throws goes to onError. */
  onBroadcast(broadcast: ReceivedBroadcast): void;
  /** Undecodable datagrams (IntentCodecError) and socket errors; the listener keeps listening. Default: ignored. */
  onError?(error: Error): void;
  /** Use a directory another uid owns or group/others may write (--allow-shared-dir); see directoryWarnings. */
  allowSharedDir?: boolean;
}

export interface BroadcastListener {
  /** The bound socket's path. */
  readonly path: string;
  /** What allowSharedDir let through (empty without it), for the caller to show. */
  readonly directoryWarnings: readonly string[];
  /** Closes the socket and unlinks its file. Idempotent. */
  close(): Promise<void>;
}

/** Binding failed: path too long, directory unusable, name taken. */
export class ReceiverError extends Error {
  override readonly name = 'ReceiverError';
  constructor(
    readonly code: 'PATH_TOO_LONG' | 'BIND_FAILED' | 'DIRECTORY_UNUSABLE',
    message: string,
  ) {
    super(message);
  }
}

const NAME_ATTEMPTS = 5;

/**
 * Binds a Unix datagram socket in the receivers directory and calls onBroadcast for every intent
 * the daemon sends there (docs/broadcasts.md). Empty datagrams are ignored. The socket keeps the
 * process alive until close().
 */
export async function listenForBroadcasts(options: ListenForBroadcastsOptions): Promise<BroadcastListener> {
  const dir = options.dir ?? resolveReceiversDir().dir;
  const onError = options.onError ?? (() => undefined);
  // The same checks as the daemon's (src/io/trusted-directory.ts): in a directory someone else
  // controls, they could take our socket's place or read what is meant for us.
  let warnings: DirectoryWarning[];
  try {
    warnings = ensureTrustedDirectory(dir, RECEIVERS_DIR_MODE, { what: 'receivers dir', flag: '--receivers-dir', allowShared: options.allowSharedDir });
  } catch (error) {
    throw new ReceiverError('DIRECTORY_UNUSABLE', (error as Error).message);
  }

  for (let attempt = 1; ; attempt++) {
    const path = join(dir, options.name ?? `${process.pid}-${randomBytes(4).toString('hex')}.sock`);
    if (!fitsSocketPath(path)) {
      throw new ReceiverError('PATH_TOO_LONG', `${path} is longer than a Unix socket path may be (107 bytes); use a shorter receivers directory`);
    }
    const socket = createDatagramSocket();
    socket.on('message', (buf) => onDatagram(buf, options.onBroadcast, onError));
    try {
      await bindDatagramSocket(socket, path);
    } catch (error) {
      closeDatagramSocket(socket);
      const name = errnoName((error as { code?: number }).code);
      if (name === 'EADDRINUSE' && options.name === undefined && attempt < NAME_ATTEMPTS) continue;
      throw new ReceiverError('BIND_FAILED', `cannot bind a datagram socket at ${path}: ${name}`);
    }
    // After bind: until chmod the socket has the umask's mode, inside a directory only we may enter.
    try {
      chmodSync(path, RECEIVER_SOCKET_MODE);
    } catch {
      // A file system without modes for sockets: the directory's mode protects it.
    }
    socket.on('error', (error) => onError(new Error(`receiver socket ${path}: ${errnoName(error.code)}`)));
    return makeListener(socket, path, warnings.map((w) => w.message));
  }
}

function onDatagram(buf: Buffer, onBroadcast: (broadcast: ReceivedBroadcast) => void, onError: (error: Error) => void): void {
  // unix-dgram calls this synchronously from its poll callback: nothing may escape.
  try {
    if (buf.length === 0) return;
    let broadcast: ReceivedBroadcast;
    try {
      broadcast = decodeChannelStatusIntent(buf);
    } catch (error) {
      onError(error instanceof IntentCodecError ? error : new Error(String(error)));
      return;
    }
    onBroadcast(broadcast);
  } catch (error) {
    try {
      onError(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // onError itself failed: drop it rather than crash inside the addon's callback.
    }
  }
}

function makeListener(socket: UnixDgramSocket, path: string, directoryWarnings: readonly string[]): BroadcastListener {
  let closing: Promise<void> | undefined;
  return {
    path,
    directoryWarnings,
    close() {
      closing ??= (async () => {
        // Unlink first: from then on the daemon sees ENOENT, never a stale file to clean up.
        try {
          unlinkSync(path);
        } catch {
          // Already removed (by the daemon, or by hand).
        }
        socket.removeAllListeners('message');
        closeDatagramSocket(socket);
      })();
      return closing;
    },
  };
}
