/**
 * A port free for both UDP and TCP on one address, for servers that take a port number and
 * cannot be told "any" (coturn listens on both transports on the same port).
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

export async function freeUdpAndTcpPort(address = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const udp = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    const port = await new Promise<number>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, address, () => resolve(udp.address().port));
    });
    const tcpFree = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, address, () => server.close(() => resolve(true)));
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (tcpFree) return port;
  }
  throw new Error(`no port free for both UDP and TCP on ${address} after 50 attempts`);
}
