/**
 * test/helpers/coturn.ts outside a lab: Debian's coturn on loopback, on a free port, ready when
 * its listeners are open, and gone (process and config directory) after stop().
 */
import { existsSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { startCoturn } from '../helpers/coturn.js';

/** A STUN Binding request (RFC 5389): type 0x0001, length 0, magic cookie, 12-byte transaction id. */
function bindingRequest(): Buffer {
  const message = Buffer.alloc(20);
  message.writeUInt16BE(0x0001, 0);
  message.writeUInt32BE(0x2112a442, 4);
  for (let i = 8; i < 20; i++) message[i] = i;
  return message;
}

describe('coturn helper', () => {
  it('starts on a free loopback port, answers a STUN binding request, and stops without leftovers', async () => {
    const turn = await startCoturn();
    try {
      expect(turn.url).toBe(`turn:${turn.user}:${turn.password}@127.0.0.1:${turn.port}`);
      const socket = createSocket('udp4');
      const answer = await new Promise<Buffer>((resolve, reject) => {
        socket.once('message', resolve);
        socket.once('error', reject);
        socket.send(bindingRequest(), turn.port, '127.0.0.1');
      });
      socket.close();
      // 0x0101: Binding success response.
      expect(answer.readUInt16BE(0)).toBe(0x0101);
    } finally {
      await turn.stop();
    }
    expect(turn.process.child.exitCode !== null || turn.process.child.signalCode !== null).toBe(true);
    expect(existsSync(`/proc/${turn.process.pid}`)).toBe(false);
  });
});
