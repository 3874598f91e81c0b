/**
 * A scripted FAKE GATEWAY for the instance tests: a plain NATS client speaking docs/farm.md, plus
 * (for a real WebRTC peer) the smallest HTTP + WebSocket front the headless web client needs, which
 * places the session over NATS and relays the signaling WebSocket over the relay subjects.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type NatsConnection, type Subscription } from 'nats';
import { WebSocketServer, type WebSocket } from 'ws';
import { relaySubject } from '../../../src/farm/subjects.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export type Json = Record<string, unknown>;

export class FakeGateway {
  private constructor(readonly nc: NatsConnection) {}

  static async connect(port: number): Promise<FakeGateway> {
    return new FakeGateway(await connect({ servers: `127.0.0.1:${port}`, name: 'fake gateway' }));
  }

  /** A request with a JSON (or raw text) body; the reply parsed. */
  async request(subject: string, body: Json | string): Promise<Json> {
    const payload = encoder.encode(typeof body === 'string' ? body : JSON.stringify(body));
    const reply = await this.nc.request(subject, payload, { timeout: 2000 });
    return JSON.parse(decoder.decode(reply.data)) as Json;
  }

  publish(subject: string, body: Json): void {
    this.nc.publish(subject, encoder.encode(JSON.stringify(body)));
  }

  /** Collects every JSON message on `subject`; `next(match)` resolves with the first (past or future) that matches. */
  collect(subject: string): Collector {
    return new Collector(this.nc.subscribe(subject));
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}

export class Collector {
  readonly messages: Json[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(private readonly subscription: Subscription) {
    void (async () => {
      for await (const msg of subscription) {
        this.messages.push(JSON.parse(decoder.decode(msg.data)) as Json);
        for (const waiter of [...this.waiters]) waiter();
      }
    })();
  }

  /** `since`: only messages from this index on (a `messages.length` taken earlier). */
  next(match: (message: Json) => boolean, what: string, since = 0, timeoutMs = 10_000): Promise<Json> {
    return new Promise((resolve, reject) => {
      let from = since;
      const check = () => {
        const found = this.messages.slice(from).find(match);
        from = this.messages.length;
        if (!found) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.messages.slice(-5))}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  close(): void {
    this.subscription.unsubscribe();
  }
}

export function newRelayId(): string {
  return randomBytes(16).toString('hex');
}

/**
 * The HTTP + WebSocket front: `POST /1.0/sessions/` places on `instance`; the signaling WebSocket
 * is relayed (to-client subscribed before the SignalOpen, as the real gateway does).
 */
export async function startGatewayFront(gateway: FakeGateway, instance: string): Promise<{ url: string; close(): Promise<void> }> {
  const secrets = new Map<string, string>();
  const server: Server = createServer((req, res) => {
    void (async () => {
      const reply = await gateway.request(`anbox-oob.farm.instance.${instance}.place`, { v: 1, gateway: 'fake-gw', request: {} });
      if (reply.ok !== true) {
        res.writeHead(503, { 'Content-Type': 'application/json' }).end(JSON.stringify({ type: 'error', status: 'Service Unavailable', status_code: 503, error: reply.message }));
        return;
      }
      const id = reply.session as string;
      secrets.set(id, reply.secret as string);
      const { port } = server.address() as AddressInfo;
      const metadata = { id, url: `ws://127.0.0.1:${port}/1.0/sessions/${id}/signaling`, stun_servers: reply.stunServers };
      res.writeHead(201, { 'Content-Type': 'application/json' }).end(JSON.stringify({ type: 'sync', status: 'success', status_code: 201, metadata }));
    })();
    req.resume();
  });
  const wss = new WebSocketServer({ server });
  const sockets = new Set<WebSocket>();
  wss.on('connection', (ws, req) => {
    sockets.add(ws);
    const id = /\/sessions\/([^/]+)\/signaling/.exec(req.url ?? '')?.[1] ?? '';
    const relay = newRelayId();
    const toClient = gateway.nc.subscribe(relaySubject(instance, relay, 'to-client'));
    const toInstance = relaySubject(instance, relay, 'to-instance');
    const early: string[] = [];
    let opened = false;
    ws.on('message', (data) => {
      const text = (data as Buffer).toString('utf8');
      if (opened) gateway.publish(toInstance, { t: 'frame', data: text });
      else early.push(text);
    });
    ws.on('close', (code) => {
      sockets.delete(ws);
      gateway.publish(toInstance, { t: 'close', code: code >= 1000 && code < 5000 && code !== 1005 && code !== 1006 ? code : 1000, reason: 'browser closed' });
      toClient.unsubscribe();
    });
    void (async () => {
      for await (const msg of toClient) {
        const message = JSON.parse(decoder.decode(msg.data)) as Json;
        if (message.t === 'frame') ws.send(message.data as string);
        else if (message.t === 'close') ws.close(message.code as number, message.reason as string);
      }
    })();
    void (async () => {
      await gateway.nc.flush();
      const reply = await gateway.request(`anbox-oob.farm.instance.${instance}.signal`, { v: 1, gateway: 'fake-gw', session: id, secret: secrets.get(id) ?? 'none', relay });
      if (reply.ok !== true) {
        ws.close(4000 + Number(reply.status), String(reply.message));
        return;
      }
      opened = true;
      for (const text of early.splice(0)) gateway.publish(toInstance, { t: 'frame', data: text });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
