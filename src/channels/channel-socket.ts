/** What lstat(2) tells about a directory entry (fs.Stats and fs.Dirent-like objects both fit). */
export interface EntryKind {
  isSocket(): boolean;
  isSymbolicLink(): boolean;
}

/**
 * Whether a `webrtc_data_<name>` entry can be a channel at all: a Unix socket itself, never a
 * symlink (lstat, not stat: a symlink could lead the daemon to any socket on the machine that it
 * may open, and hand it to a client). The socket-dir watcher counts only such entries, and the
 * daemon's connect() connects only to them (the addon's connectChannel applies the same test,
 * S_ISSOCK on the entry opened with O_PATH | O_NOFOLLOW, or on fstatat(AT_SYMLINK_NOFOLLOW) of it in
 * the held socket dir (connectChannelAt), in C: keep the three in step).
 */
export function isChannelSocketEntry(kind: EntryKind): boolean {
  return kind.isSocket() && !kind.isSymbolicLink();
}
