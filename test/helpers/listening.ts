import { listeningUnixSocketPaths } from '../../src/io/unix-socket-table.js';

/**
 * True once a socket at `path` is listening (/proc/net/unix), not merely bound: the file of a
 * channel socket exists from bind(), a moment before listen(), and a connect in that moment is
 * refused (ECONNREFUSED). On a loaded 2-core machine a test polling for the file hit it.
 */
export function isListening(path: string): boolean {
  return listeningUnixSocketPaths().has(path);
}
