import type { DataChannel } from 'node-datachannel';
import type { DataChannelPort } from './data-channel-port.js';

/**
 * A node-datachannel DataChannel as a DataChannelPort. It only wraps the calls; it registers no
 * callback (node-datachannel keeps one callback per event, so the platform owns onMessage,
 * onBufferedAmountLow, onClosed… and forwards to the bridge, guarding each one: a throw inside a
 * node-datachannel callback aborts the process).
 *
 * It holds a reference to the channel for as long as the port lives: a garbage-collected
 * DataChannel destroys the native channel and the transfer silently stalls. The platform must still
 * keep its own reference to the PeerConnection.
 *
 * Contract kept from node-datachannel: send* return false when the message was queued rather than
 * sent at once (not a failure) and throw on failure (closed channel, message above the remote's
 * maxMessageSize()).
 */
export class NodeDataChannelPort implements DataChannelPort {
  readonly label: string;

  constructor(readonly channel: DataChannel) {
    this.label = channel.getLabel();
  }

  sendText(text: string): boolean {
    return this.channel.sendMessage(text);
  }

  sendBinary(data: Buffer): boolean {
    return this.channel.sendMessageBinary(data);
  }

  bufferedAmount(): number {
    return this.channel.bufferedAmount();
  }

  maxMessageSize(): number {
    return this.channel.maxMessageSize();
  }

  setBufferedAmountLowThreshold(bytes: number): void {
    this.channel.setBufferedAmountLowThreshold(bytes);
  }
}

/**
 * node-datachannel's onMessage hands over a string (text), a Buffer or, depending on the version, an
 * ArrayBuffer (binary): the form ChannelBridge.handleBrowserMessage takes.
 */
export function toBrowserMessage(message: string | Buffer | ArrayBuffer): string | Buffer {
  if (typeof message === 'string' || Buffer.isBuffer(message)) return message;
  return Buffer.from(message);
}
