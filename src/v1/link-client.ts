import { createConnection } from 'node:net';
import { FrameDecoder } from '../wire/framing.js';
import { decodeLinkReply, encodeLinkRequest, MAX_LINK_REPLY_BYTES, platformApiSocketPath } from './link-codec.js';
import { refused, type V1SendResult } from './v1-message.js';

/** How long the daemon waits for the platform's answer. */
export const LINK_REPLY_TIMEOUT_MS = 10_000;

/**
 * The daemon's end of the platform link (see link-codec.ts): one connection per message. Never
 * throws: every failure is a refusal the service returns as `false` with its reason.
 */
export function sendOverPlatformLink(socketDir: string, type: string, data: string, timeoutMs = LINK_REPLY_TIMEOUT_MS): Promise<V1SendResult> {
  const path = platformApiSocketPath(socketDir);
  return new Promise((resolve) => {
    const socket = createConnection(path);
    const decoder = new FrameDecoder(MAX_LINK_REPLY_BYTES);
    let settled = false;
    const settle = (result: V1SendResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => settle(refused('SEND_FAILED', `the platform did not answer within ${timeoutMs / 1000} s (${path})`)), timeoutMs);
    socket.on('connect', () => socket.write(encodeLinkRequest(type, data)));
    socket.on('data', (chunk) => {
      try {
        decoder.push(chunk);
        const body = decoder.next();
        if (body !== null) settle(decodeLinkReply(body));
      } catch (error) {
        settle(refused('SEND_FAILED', `the platform's answer is unreadable: ${(error as Error).message}`));
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
        settle(refused('NO_PLATFORM', `no WebRTC platform is running for this socket directory (${path} does not answer); start \`anbox-oob platform\` with the same --socket-dir, or use \`anbox-oob serve\``));
      } else {
        settle(refused('SEND_FAILED', `cannot reach the platform at ${path}: ${error.message}`));
      }
    });
    socket.on('close', () => settle(refused('SEND_FAILED', `the platform closed the link without answering (${path})`)));
  });
}
