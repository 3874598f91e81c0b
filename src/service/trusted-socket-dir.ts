import * as native from '../native/addon.js';

/**
 * The socket dir held open as a directory descriptor, for the daemon's fast connect path
 * (connectChannelAt): only when the directory is trusted, i.e. ensureTrustedDirectory let it through
 * without a --allow-shared-dir warning, and the directory actually opened is still owned by this uid
 * or root and not writable by group or others (checked on the descriptor, so a directory swapped
 * between the check and the open is caught). Then no other user can create or swap an entry in it,
 * and checking an entry with fstatat before connecting it by path leaves no race another user could
 * win. Anything else (a shared dir, an open that fails) gives undefined: the pinned path is used.
 */
export class TrustedSocketDir {
  private constructor(private fdValue: number) {}

  /** Opens `dir` if it can be trusted (see above); undefined otherwise. The caller closes what it gets. */
  static open(dir: string, uid = process.getuid?.() ?? 0): TrustedSocketDir | undefined {
    const opened = native.openDirectory(dir);
    if (typeof opened === 'number') return undefined;
    if ((opened.uid !== uid && opened.uid !== 0) || (opened.mode & 0o022) !== 0) {
      native.close(opened.fd);
      return undefined;
    }
    return new TrustedSocketDir(opened.fd);
  }

  /** The held descriptor; -1 once closed. */
  get fd(): number {
    return this.fdValue;
  }

  close(): void {
    if (this.fdValue < 0) return;
    native.close(this.fdValue);
    this.fdValue = -1;
  }
}
