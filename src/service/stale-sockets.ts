import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CHANNEL_SOCKET_PREFIX } from '../channels/channel-name.js';
import { ListenError, removeStaleSocket } from '../io/unix-listener.js';

/**
 * Removes the channel sockets a killed daemon left behind (`webrtc_data_*` socket files nobody
 * listens on) and returns their channel names, so that the start-up can say what it cleaned. Live
 * listeners (a channel made by hand with socat, say) are left alone and never connected to when the
 * kernel's table lists them. Run only with the socket directory's platform lock held.
 */
export function removeStaleChannelSockets(socketDir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(socketDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const entry of entries.sort()) {
    if (!entry.startsWith(CHANNEL_SOCKET_PREFIX)) continue;
    const path = join(socketDir, entry);
    if (!isSocketFile(path)) continue;
    try {
      removeStaleSocket(path);
    } catch (error) {
      if (error instanceof ListenError) continue; // live, or not ours to judge
      throw error;
    }
    if (!isSocketFile(path)) removed.push(entry.slice(CHANNEL_SOCKET_PREFIX.length));
  }
  return removed;
}

/** True when `path` is a socket file (not following a symlink). */
export function isSocketFile(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return false;
  }
}
