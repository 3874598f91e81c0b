import { Socket } from 'node:net';

export interface StreamBridgeStats {
  toChannelBytes: number;
  fromChannelBytes: number;
}

/**
 * Stream mode after the OK reply: the IPC connection and the channel connection become one byte
 * pipe, both directions, with the kernel's socket buffers and Node's stream backpressure between
 * them. Half-close is forwarded: when one side stops writing (EOF), the other side's writer is
 * ended, and the opposite direction stays open so replies in flight still arrive. When both
 * directions are done, or on any error, both descriptors are closed. Takes ownership of both.
 */
export class StreamBridge {
  private readonly ipc: Socket;
  private readonly channel: Socket;
  private finished = false;
  readonly stats: StreamBridgeStats = { toChannelBytes: 0, fromChannelBytes: 0 };
  readonly done: Promise<StreamBridgeStats>;

  constructor(ipcFd: number, channelFd: number, alreadyReceived: Buffer) {
    this.ipc = new Socket({ fd: ipcFd, readable: true, writable: true, allowHalfOpen: true });
    this.channel = new Socket({ fd: channelFd, readable: true, writable: true, allowHalfOpen: true });
    let resolveDone!: (stats: StreamBridgeStats) => void;
    this.done = new Promise((resolve) => (resolveDone = resolve));
    if (alreadyReceived.length > 0) {
      this.stats.toChannelBytes += alreadyReceived.length;
      this.channel.write(alreadyReceived);
    }
    this.ipc.on('data', (chunk: Buffer) => (this.stats.toChannelBytes += chunk.length));
    this.channel.on('data', (chunk: Buffer) => (this.stats.fromChannelBytes += chunk.length));
    this.ipc.pipe(this.channel);
    this.channel.pipe(this.ipc);
    let closed = 0;
    const onClose = () => {
      if (++closed === 2) {
        this.finished = true;
        resolveDone(this.stats);
      }
    };
    for (const socket of [this.ipc, this.channel]) {
      // Errors (EPIPE, ECONNRESET) end the pipe; they are expected when a peer vanishes.
      socket.on('error', () => this.close());
      socket.on('close', onClose);
    }
  }

  /** Ends both directions at once (daemon shutdown). */
  close(): void {
    if (this.finished) return;
    this.ipc.destroy();
    this.channel.destroy();
  }
}
