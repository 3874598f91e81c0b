import nodeDataChannel from 'node-datachannel';

/**
 * Releases node-datachannel's native runtime (its threads, and every connection still open in this
 * process). Only for a process that is about to exit, after Platform.close(): it closes every peer
 * connection of the process, not just the platform's.
 */
export function releaseWebRtcRuntime(): void {
  try {
    nodeDataChannel.cleanup();
  } catch {
    // Exiting anyway.
  }
}
