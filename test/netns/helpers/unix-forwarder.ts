/**
 * A Unix socket that forwards every connection to a TCP port on this machine's loopback.
 *
 * The fake adb server (test/helpers/fake-adb-server.ts) listens on 127.0.0.1 of the test's own
 * network namespace, which a process inside a lab host cannot reach. A Unix socket on the file
 * system is not tied to a network namespace, so the real `adb` client of a lab host reaches the
 * fake through ADB_SERVER_SOCKET=localfilesystem:<path> and this forwarder.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface UnixForwarder {
  readonly path: string;
  close(): Promise<void>;
}

export async function forwardUnixToTcp(path: string, port: number): Promise<UnixForwarder> {
  const sockets = new Set<Socket>();
  const keep = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server: Server = createServer((client) => {
    const upstream = createConnection(port, '127.0.0.1');
    keep(client);
    keep(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return {
    path,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
