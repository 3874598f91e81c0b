/**
 * A minimal stand-in for the platform's gateway and signaling server, written from the protocol
 * description only (not from the platform's code), so the headless client's conformance can be
 * checked on its own: `POST /1.0/sessions/` (201, Macaroon auth), then the WebSocket signaling with
 * node-datachannel as the server's peer — the offerer in API v2 (with a negotiated bootstrap channel,
 * id 1, so its offer has an m=application line), the answerer in v1 — trickling its candidates.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PeerConnection, type DataChannel } from 'node-datachannel';
import { WebSocketServer, type WebSocket } from 'ws';

export interface FakePlatformOptions {
  token?: string;
  /** a=max-message-size the server advertises (libdatachannel's local maxMessageSize). */
  maxMessageSize?: number;
  /** max_api_version in resp:discover; default 2. */
  maxApiVersion?: number;
  /** Channel names the server closes right after they open (as the platform does for rejected names). */
  rejectChannels?: string[];
  /** Never answer `settings` (no offer): the client's open timeout must fire. */
  ignoreSettings?: boolean;
  /** Serve the files of this directory for GET requests (the page under test), same origin as the gateway. */
  staticDir?: string;
}

export type Received = Record<string, unknown> & { type: string };

export interface FakeChannel {
  readonly label: string;
  readonly dc: DataChannel;
  readonly messages: (string | Buffer)[];
  /** Resolves with the messages once `predicate(messages)` holds. */
  waitFor(predicate: (messages: (string | Buffer)[]) => boolean, timeoutMs?: number): Promise<(string | Buffer)[]>;
  /** Sends text or binary, chunked to the client's max message size, paced by the buffered amount. */
  send(data: string | Buffer): Promise<void>;
  readonly closed: Promise<void>;
  isClosed(): boolean;
}

export interface FakeSession {
  readonly id: string;
  /** Signaling messages from the client, in order, parsed. */
  readonly signals: Received[];
  /** Messages received on the client's `control` channel. */
  readonly controlMessages: string[];
  readonly channels: Map<string, FakeChannel>;
  /** Labels of the browser-created channels in the order they arrived (control included). */
  readonly channelOrder: string[];
  channel(label: string, timeoutMs?: number): Promise<FakeChannel>;
  waitForControl(predicate: (messages: string[]) => boolean, timeoutMs?: number): Promise<string[]>;
  /** Sends a raw text frame on the signaling WebSocket, if still open. */
  sendSignal(frame: string): void;
  /** Ends the session from the server's side: closes the peer connection. */
  close(): void;
  readonly wsClosed: Promise<void>;
  readonly pcClosed: Promise<void>;
}

export interface FakePlatform {
  readonly url: string;
  readonly token: string;
  readonly sessions: FakeSession[];
  /** Resolves with the next session whose WebSocket connects (or the first one not yet taken). */
  nextSession(timeoutMs?: number): Promise<FakeSession>;
  close(): Promise<void>;
}

function waitUntil<T>(check: () => T | undefined, describe: () => string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      const value = check();
      if (value !== undefined) {
        resolve(value);
        return;
      }
      if (Date.now() - started > timeoutMs) {
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`));
        return;
      }
      setTimeout(tick, 5);
    };
    tick();
  });
}

function safe<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (error) {
      console.error('fake platform callback failed:', error);
    }
  };
}

function makeChannel(dc: DataChannel, label: string): FakeChannel {
  const messages: (string | Buffer)[] = [];
  let closed = false;
  let resolveClosed!: () => void;
  const closedPromise = new Promise<void>((resolve) => (resolveClosed = resolve));
  dc.onMessage(safe((msg: string | Buffer | ArrayBuffer) => messages.push(typeof msg === 'string' ? msg : Buffer.isBuffer(msg) ? msg : Buffer.from(msg))));
  dc.onClosed(
    safe(() => {
      closed = true;
      resolveClosed();
    }),
  );
  dc.onError(safe(() => undefined));
  dc.setBufferedAmountLowThreshold(256 * 1024);
  return {
    label,
    dc,
    messages,
    closed: closedPromise,
    isClosed: () => closed,
    waitFor: (predicate, timeoutMs = 10_000) =>
      waitUntil(
        () => (predicate(messages) ? messages : undefined),
        () => `messages on "${label}" (have ${messages.length})`,
        timeoutMs,
      ),
    async send(data) {
      const max = Math.min(dc.maxMessageSize(), 256 * 1024);
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      for (let start = 0; start < bytes.length; start += max) {
        while (dc.bufferedAmount() > 1024 * 1024) await new Promise((r) => setTimeout(r, 2));
        const piece = bytes.subarray(start, start + max);
        if (typeof data === 'string') dc.sendMessage(piece.toString('utf8'));
        else dc.sendMessageBinary(piece);
      }
    },
  };
}

export async function startFakePlatform(options: FakePlatformOptions = {}): Promise<FakePlatform> {
  const token = options.token ?? randomBytes(12).toString('hex');
  const secrets = new Map<string, string>();
  const sessions: FakeSession[] = [];
  let taken = 0;
  /** Every native object, kept referenced until close(). */
  const keep: (PeerConnection | DataChannel)[] = [];

  const http: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && options.staticDir) {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const file = path === '/' ? 'index.html' : path.slice(1);
      const types: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };
      if (/^[a-z0-9_-]+\.(html|js|css)$/.test(file)) {
        readFile(join(options.staticDir, file)).then(
          (content) => {
            res.writeHead(200, { 'Content-Type': types[file.split('.').pop()!]! });
            res.end(content);
          },
          () => reply(404, { type: 'error', error: 'not found', error_code: 404 }),
        );
        return;
      }
    }
    if (req.method !== 'POST' || req.url !== '/1.0/sessions/') {
      reply(404, { type: 'error', error: 'not found', error_code: 404 });
      return;
    }
    const auth = req.headers.authorization ?? '';
    const match = /^macaroon\s+root=(.*)$/i.exec(auth);
    req.resume();
    if (!match || match[1] !== token) {
      reply(401, { type: 'error', error: 'invalid or missing token', error_code: 401 });
      return;
    }
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(16).toString('hex');
    secrets.set(id, secret);
    const { port } = http.address() as AddressInfo;
    reply(201, {
      type: 'sync',
      status: 'success',
      status_code: 201,
      metadata: { id, url: `ws://127.0.0.1:${port}/1.0/sessions/${id}/signaling?secret=${secret}`, stun_servers: [] },
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const id = /^\/1\.0\/sessions\/([0-9a-f]+)\/signaling$/.exec(url.pathname)?.[1];
    if (!id || secrets.get(id) !== url.searchParams.get('secret')) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => sessions.push(startSession(id, ws)));
  });

  function startSession(id: string, ws: WebSocket): FakeSession {
    const signals: Received[] = [];
    const controlMessages: string[] = [];
    const channels = new Map<string, FakeChannel>();
    const channelOrder: string[] = [];
    let pc: PeerConnection | undefined;
    let remoteSet = false;
    const pendingCandidates: { candidate: string; mid: string }[] = [];
    // Own candidates wait until the remote description is applied: otherwise the peer can reach us
    // and start DTLS before we know its fingerprint ("certificate verify failed"), as the platform does.
    const heldLocalCandidates: unknown[] = [];
    let resolveWsClosed!: () => void;
    const wsClosed = new Promise<void>((resolve) => (resolveWsClosed = resolve));
    let resolvePcClosed!: () => void;
    const pcClosed = new Promise<void>((resolve) => (resolvePcClosed = resolve));
    const send = (message: unknown) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
    };

    const createPc = (offerer: boolean) => {
      const peer = new PeerConnection(`fake-platform-${id}`, { iceServers: [], maxMessageSize: options.maxMessageSize });
      pc = peer;
      keep.push(peer);
      peer.onLocalDescription(safe((sdp: string, type: string) => send({ type, sdp: Buffer.from(sdp).toString('base64') })));
      peer.onLocalCandidate(
        safe((candidate: string, mid: string) => {
          const text = candidate.startsWith('a=') ? candidate.slice(2) : candidate;
          const message = { type: 'candidate', candidate: Buffer.from(text).toString('base64'), sdpMid: mid, sdpMLineIndex: 0 };
          if (remoteSet) send(message);
          else heldLocalCandidates.push(message);
        }),
      );
      peer.onStateChange(
        safe((state: string) => {
          if (state === 'closed' || state === 'failed') resolvePcClosed();
        }),
      );
      peer.onDataChannel(
        safe((dc: DataChannel) => {
          keep.push(dc);
          const label = dc.getLabel();
          channelOrder.push(label);
          if (label === 'control') {
            dc.onMessage(safe((msg: string | Buffer | ArrayBuffer) => controlMessages.push(typeof msg === 'string' ? msg : Buffer.from(msg as Buffer).toString())));
            return;
          }
          const channel = makeChannel(dc, label);
          channels.set(label, channel);
          if (options.rejectChannels?.includes(label)) setTimeout(() => dc.close(), 10);
        }),
      );
      if (offerer) {
        // libdatachannel offers an m=application line only when a channel exists.
        const bootstrap = peer.createDataChannel('bootstrap', { negotiated: true, id: 1 });
        keep.push(bootstrap);
      }
    };

    const addCandidate = (candidate: string, mid: string) => {
      if (!pc || !remoteSet) {
        pendingCandidates.push({ candidate, mid });
        return;
      }
      try {
        pc.addRemoteCandidate(candidate, mid);
      } catch {
        // ignore unusable candidates
      }
    };

    ws.on('message', (data) => {
      let message: Received;
      try {
        message = JSON.parse(String(data)) as Received;
      } catch {
        return;
      }
      signals.push(message);
      try {
        switch (message.type) {
          case 'discover':
            send({ type: 'resp:discover', max_api_version: options.maxApiVersion ?? 2, capabilities: [] });
            break;
          case 'settings':
            if (options.ignoreSettings) break;
            createPc(message.api_version === 2);
            break;
          case 'offer':
            pc?.setRemoteDescription(Buffer.from(String(message.sdp), 'base64').toString(), 'offer');
            remoteSet = true;
            for (const c of pendingCandidates.splice(0)) addCandidate(c.candidate, c.mid);
            for (const held of heldLocalCandidates.splice(0)) send(held);
            break;
          case 'answer':
            pc?.setRemoteDescription(Buffer.from(String(message.sdp), 'base64').toString(), 'answer');
            remoteSet = true;
            for (const c of pendingCandidates.splice(0)) addCandidate(c.candidate, c.mid);
            for (const held of heldLocalCandidates.splice(0)) send(held);
            break;
          case 'candidate':
            addCandidate(Buffer.from(String(message.candidate), 'base64').toString(), String(message.sdpMid ?? '0'));
            break;
          default:
            break;
        }
      } catch (error) {
        send({ type: 'error', message: String(error) });
      }
    });
    ws.on('close', () => resolveWsClosed());
    ws.on('error', () => undefined);

    return {
      id,
      signals,
      controlMessages,
      channels,
      channelOrder,
      wsClosed,
      pcClosed,
      channel: (label, timeoutMs = 10_000) =>
        waitUntil(
          () => channels.get(label),
          () => `channel "${label}" (have ${[...channels.keys()].join(', ') || 'none'})`,
          timeoutMs,
        ),
      waitForControl: (predicate, timeoutMs = 10_000) =>
        waitUntil(
          () => (predicate(controlMessages) ? controlMessages : undefined),
          () => `control messages (have ${JSON.stringify(controlMessages)})`,
          timeoutMs,
        ),
      sendSignal: (frame) => {
        if (ws.readyState === ws.OPEN) ws.send(frame);
      },
      close: () => pc?.close(),
    };
  }

  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    sessions,
    nextSession: (timeoutMs = 10_000) =>
      waitUntil(
        () => (sessions.length > taken ? sessions[taken++] : undefined),
        () => 'a signaling connection',
        timeoutMs,
      ),
    async close() {
      for (const client of wss.clients) client.terminate();
      for (const object of keep) {
        try {
          object.close();
        } catch {
          // already closed
        }
      }
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      // Give libdatachannel a moment to finish closing before the objects may be collected.
      await new Promise((r) => setTimeout(r, 100));
      keep.length = 0;
    },
  };
}
