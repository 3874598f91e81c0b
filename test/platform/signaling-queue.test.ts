/**
 * SignalingConnection's bound on messages waiting to be handled, over any SignalingTransport (the
 * local WebSocket or a farm relay, whose frames a NATS peer can publish as fast as it likes). A fake
 * transport delivers the frames synchronously, so they are all waiting before the first is handled.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MAX_QUEUED_MESSAGES, SignalingConnection, type SignalingHost } from '../../src/platform/signaling.js';
import type { SignalingTransport } from '../../src/platform/signaling-transport.js';

class FakeTransport implements SignalingTransport {
  open = true;
  readonly sent: Record<string, unknown>[] = [];
  readonly closes: { code: number; reason: string }[] = [];
  private readonly messageListeners: ((text: string, binary: boolean) => void)[] = [];
  private readonly closeListeners: ((code: number) => void)[] = [];

  send(text: string): void {
    if (this.open) this.sent.push(JSON.parse(text) as Record<string, unknown>);
  }

  close(code: number, reason: string): void {
    if (!this.open) return;
    this.open = false;
    this.closes.push({ code, reason });
    for (const listener of this.closeListeners) listener(code);
  }

  onMessage(listener: (text: string, binary: boolean) => void): void {
    this.messageListeners.push(listener);
  }

  onClose(listener: (code: number) => void): void {
    this.closeListeners.push(listener);
  }

  onError(): void {}

  deliver(text: string, count: number): void {
    for (let i = 0; i < count; i++) for (const listener of this.messageListeners) listener(text, false);
  }
}

const host: SignalingHost = { startPeer: () => Promise.resolve(undefined), emit: () => undefined };

function connection(): FakeTransport {
  const transport = new FakeTransport();
  new SignalingConnection(transport, 's1', host, pino({ level: 'silent' }), 60_000);
  return transport;
}

/** Lets the queued handlers run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('SignalingConnection: messages waiting', () => {
  it(`handles ${MAX_QUEUED_MESSAGES} waiting messages, each answered`, async () => {
    const transport = connection();
    transport.deliver(JSON.stringify({ type: 'discover' }), MAX_QUEUED_MESSAGES);
    await settle();
    expect(transport.closes).toEqual([]);
    expect(transport.sent.filter((m) => m.type === 'resp:discover')).toHaveLength(MAX_QUEUED_MESSAGES);
  });

  it(`closes with 1008 at message ${MAX_QUEUED_MESSAGES + 1} waiting, once, and handles none of the waiting ones after`, async () => {
    const transport = connection();
    transport.deliver(JSON.stringify({ type: 'discover' }), MAX_QUEUED_MESSAGES + 100);
    await settle();
    expect(transport.closes).toEqual([{ code: 1008, reason: 'too many messages waiting' }]);
    expect(transport.sent).toEqual([{ type: 'error', message: `more than ${MAX_QUEUED_MESSAGES} messages waiting` }]);
  });
});
