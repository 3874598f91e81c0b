import type { Socket } from 'node:net';

/** Resolves on 'drain'; rejects when the socket closes or fails first. */
export function drained(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onClose = () => {
      cleanup();
      reject(new Error('the app connection closed while writing'));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    socket.on('drain', onDrain);
    socket.on('close', onClose);
    socket.on('error', onError);
  });
}
