import type { RawData, WebSocket } from 'ws';
import { closeReason, sendableCloseCode } from './websocket-close.js';

/**
 * What SignalingConnection runs over: one text-frame channel to the client. The local gateway's
 * WebSocket and a farm relay over NATS (src/farm/instance/relay-transport.ts) both implement it, so
 * a session signals identically whichever way the client reached this instance.
 */
export interface SignalingTransport {
  /** Whether frames can still be sent. */
  readonly open: boolean;
  /** One text frame; dropped (never thrown) when closed; `onError` hears of a send that failed. */
  send(text: string, onError?: (error: Error) => void): void;
  /** Closes with a WebSocket close code and reason; idempotent. */
  close(code: number, reason: string): void;
  /** Every frame received; `binary` frames are not part of the protocol (the connection refuses them). */
  onMessage(listener: (text: string, binary: boolean) => void): void;
  /** Once, when the transport is closed by either side. */
  onClose(listener: (code: number) => void): void;
  /** Transport failures worth a log line (not protocol errors). */
  onError(listener: (error: Error) => void): void;
}

/** The local gateway's signaling WebSocket as a SignalingTransport. */
export class WebSocketTransport implements SignalingTransport {
  constructor(private readonly ws: WebSocket) {}

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  send(text: string, onError?: (error: Error) => void): void {
    if (!this.open) return;
    this.ws.send(text, (error) => {
      if (error) onError?.(error);
    });
  }

  close(code: number, reason: string): void {
    this.ws.close(sendableCloseCode(code), closeReason(reason));
  }

  onMessage(listener: (text: string, binary: boolean) => void): void {
    this.ws.on('message', (data: RawData, isBinary: boolean) => listener(rawToString(data), isBinary));
  }

  onClose(listener: (code: number) => void): void {
    this.ws.on('close', (code: number) => listener(code));
  }

  onError(listener: (error: Error) => void): void {
    this.ws.on('error', listener);
  }
}

function rawToString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
