/**
 * Child process of the bridge benchmark (./bridge-throughput.ts); not a benchmark itself. One end of
 * one data channel, driven by JSON lines on stdin, answering with JSON lines on stdout (stdout
 * carries nothing else; diagnostics go to stderr).
 *
 *   node dist/bench/bridge-peer.js raw-platform [SOCKET]   the raw baseline's "platform": a plain
 *       node-datachannel PeerConnection that accepts the peer's channel and sends with the bridge's
 *       flow control (1 MiB high-water mark, resume on buffered-amount-low at 256 KiB). With SOCKET
 *       it also listens there: the "minimal forwarder" (see the forward command)
 *   node dist/bench/bridge-peer.js raw-peer                the raw baseline's "browser": creates the
 *       channel like the headless client does and drives it through the same WebClientChannel
 *   node dist/bench/bridge-peer.js web-peer GATEWAY TOKEN  the headless client (connectWebClient)
 *       against the real platform, channel "bench"
 *
 * The two peers run the same code over a WebClientChannel, so the raw baseline and the bridged run
 * differ only in what is on the other side: a PeerConnection in one process, or the platform with
 * its socket bridge plus the app at the far end of the Unix socket.
 *
 * Commands (stdin):  {cmd:'signal', description|candidate}  (raw roles: the other side's signaling)
 *                    {cmd:'expect', id, bytes}  count incoming bytes; answers {type:'ready', id} at
 *                        once and {type:'received', id, bytes, messages, firstBytes, intervalMs} once
 *                        `bytes` have arrived (interval = first message to last, on this process's clock)
 *                    {cmd:'send', id, bytes, chunk}  send `bytes` as binary messages of `chunk` bytes;
 *                        answers {type:'sent', id, ms}
 *                    {cmd:'echo', id, on}  send every message back as it came (text stays text)
 *                    {cmd:'ping', id, count, size}  raw-platform only: `count` sequential round trips
 *                        of a `size`-byte text message; answers {type:'pinged', id, latenciesNs}
 *                    {cmd:'forward', id, on}  raw-platform with SOCKET only: bytes read from the
 *                        socket go to the channel as one text message per read, channel messages are
 *                        written to the socket (a bridge in a few lines, for comparison with the real one)
 *                    {cmd:'quit'}
 * Events (stdout):   {type:'signal', ...} (raw roles), {type:'open', maxMessageSize}, {type:'error', message}
 * The process exits when stdin ends (the benchmark is gone) or on quit.
 */
import { createServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import nodeDataChannel, { type DataChannel, type PeerConnection } from 'node-datachannel';
import pino from 'pino';
import { WebClientChannel, connectWebClient, type WebClient } from '../src/headless-client/web-client.js';

/** The bridge's marks (src/platform/bridge/channel-bridge.ts DEFAULT_HIGH_WATER_MARK / DEFAULT_LOW_WATER_MARK). */
const HIGH_WATER_MARK = 1024 * 1024;
const LOW_WATER_MARK = 256 * 1024;
const CHANNEL = 'bench';

type Role = 'raw-platform' | 'raw-peer' | 'web-peer';
type Message = string | Buffer;

interface Command {
  cmd: string;
  id?: number;
  bytes?: number;
  chunk?: number;
  count?: number;
  size?: number;
  on?: boolean;
  description?: { sdp: string; type: string };
  candidate?: { candidate: string; mid: string };
}

const role = process.argv[2] as Role;
if (role !== 'raw-platform' && role !== 'raw-peer' && role !== 'web-peer') {
  process.stderr.write(`bridge-peer: unknown role ${String(role)}\n`);
  process.exit(2);
}

function emit(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function report(what: string, error: unknown): void {
  const message = `${role}: ${what}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
  process.stderr.write(`${message}\n`);
  try {
    emit({ type: 'error', message });
  } catch {
    // stdout gone: the benchmark has ended
  }
}

/** Every node-datachannel callback goes through this: a throw out of one aborts the process. */
function guard<A extends unknown[]>(what: string, fn: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (error) {
      report(what, error);
    }
  };
}

nodeDataChannel.initLogger('Warning', (level, message) => {
  try {
    process.stderr.write(`${role} libdatachannel ${level}: ${message}\n`);
  } catch {
    // never throw out of a native callback
  }
});

const byteLength = (m: Message) => (typeof m === 'string' ? Buffer.byteLength(m) : m.length);

// ---------------------------------------------------------------------------------------------
// The two kinds of endpoint: send side with flow control, and a message callback

interface Endpoint {
  /** Binary messages in order, paced by the buffered amount; resolves when the last is handed over. */
  sendBulk(total: number, chunk: number): Promise<void>;
  /** One message now (echo, ping). */
  sendOne(message: Message): void;
  onMessage: (message: Message) => void;
  close(): Promise<void>;
}

/** Everything stays referenced here for the life of the process (a collected channel stalls). */
const keep: unknown[] = [];

/** The raw "platform": plain DataChannel, the bridge's marks. */
function rawPlatformEndpoint(dc: DataChannel): Endpoint {
  const lowWaiters: (() => void)[] = [];
  dc.setBufferedAmountLowThreshold(LOW_WATER_MARK);
  const endpoint: Endpoint = {
    onMessage: () => undefined,
    async sendBulk(total, chunk) {
      const block = Buffer.alloc(chunk, 0xa5);
      block[0] = 0xff; // never valid UTF-8, as the bridge's binary messages (its reads of random bytes)
      for (let sent = 0; sent < total; ) {
        if (dc.bufferedAmount() > HIGH_WATER_MARK) {
          await new Promise<void>((resolve) => {
            lowWaiters.push(resolve);
            // Fallback poll, as the bridge's (250 ms), should the event be missed.
            const timer = setInterval(() => {
              if (dc.bufferedAmount() <= LOW_WATER_MARK) {
                clearInterval(timer);
                resolve();
              }
            }, 250);
            lowWaiters.push(() => clearInterval(timer));
          });
          continue;
        }
        const n = Math.min(chunk, total - sent);
        dc.sendMessageBinary(n === chunk ? block : block.subarray(0, n));
        sent += n;
      }
    },
    sendOne(message) {
      if (typeof message === 'string') dc.sendMessage(message);
      else dc.sendMessageBinary(message);
    },
    async close() {
      dc.close();
    },
  };
  dc.onBufferedAmountLow(guard('onBufferedAmountLow', () => {
    for (const wake of lowWaiters.splice(0)) wake();
  }));
  dc.onMessage(guard('onMessage', (msg: string | Buffer | ArrayBuffer) => endpoint.onMessage(typeof msg === 'string' || Buffer.isBuffer(msg) ? msg : Buffer.from(msg))));
  dc.onError(guard('onError', (error: string) => report('data channel error', error)));
  dc.onClosed(guard('onClosed', () => undefined));
  return endpoint;
}

/** A peer: the headless client's WebClientChannel (its own queue and 1 MiB / 256 KiB marks). */
function peerEndpoint(channel: WebClientChannel, close: () => Promise<void>): Endpoint {
  const endpoint: Endpoint = {
    onMessage: () => undefined,
    async sendBulk(total, chunk) {
      const block = Buffer.alloc(chunk, 0xa5);
      block[0] = 0xff;
      for (let sent = 0; sent < total; ) {
        const n = Math.min(chunk, total - sent);
        await channel.send(n === chunk ? block : block.subarray(0, n));
        sent += n;
      }
    },
    sendOne(message) {
      void channel.send(message).catch((error: unknown) => report('echo send', error));
    },
    close,
  };
  channel.on('message', (message) => {
    try {
      endpoint.onMessage(message);
    } catch (error) {
      report('message handler', error);
    }
  });
  return endpoint;
}

// ---------------------------------------------------------------------------------------------
// Set-up per role

let pc: PeerConnection | undefined;
let client: WebClient | undefined;
/**
 * Local candidates wait until the remote description is applied, as the platform does
 * (src/platform/peer-session.ts, releaseLocalCandidates): otherwise the answerer can start ICE and
 * DTLS before the offerer has applied the answer with its fingerprint, and libdatachannel fails the
 * handshake ("unknown CA"), which happens on a loaded machine.
 */
let remoteDescriptionSet = false;
const heldCandidates: { candidate: string; mid: string }[] = [];
const endpointReady = new Promise<Endpoint>((resolve, reject) => {
  void setUp(resolve).catch(reject);
});
endpointReady.catch((error: unknown) => {
  report('set-up', error);
  process.exitCode = 1;
});

async function setUp(resolve: (endpoint: Endpoint) => void): Promise<void> {
  if (role === 'web-peer') {
    const [gateway, token] = process.argv.slice(3);
    if (!gateway || !token) throw new Error('usage: bridge-peer web-peer GATEWAY TOKEN');
    const log = pino({ level: 'warn', name: 'bench-web-peer' }, pino.destination(2));
    client = await connectWebClient({ gateway, token, channels: [CHANNEL], log });
    await client.opened;
    const channel = client.channel(CHANNEL);
    const c = client;
    resolve(peerEndpoint(channel, () => c.close({ flushTimeoutMs: 0 })));
    emit({ type: 'open', maxMessageSize: channel.maxMessageSize() });
    return;
  }

  const peer = new nodeDataChannel.PeerConnection(role, { iceServers: [] });
  pc = peer;
  peer.onLocalDescription(guard('onLocalDescription', (sdp: string, type: string) => emit({ type: 'signal', description: { sdp, type } })));
  peer.onLocalCandidate(guard('onLocalCandidate', (candidate: string, mid: string) => {
    if (remoteDescriptionSet) emit({ type: 'signal', candidate: { candidate, mid } });
    else heldCandidates.push({ candidate, mid });
  }));
  peer.onStateChange(guard('onStateChange', (state: string) => {
    if (state === 'failed' || state === 'closed') process.stderr.write(`${role}: peer connection ${state}\n`);
  }));

  if (role === 'raw-platform') {
    // As the platform: the channel comes from the peer.
    peer.onDataChannel(guard('onDataChannel', (dc: DataChannel) => {
      keep.push(dc);
      const open = () => {
        resolve(rawPlatformEndpoint(dc));
        emit({ type: 'open', maxMessageSize: dc.maxMessageSize() });
      };
      if (dc.isOpen()) open();
      else dc.onOpen(guard('onOpen', open));
    }));
    return;
  }

  // raw-peer: as the headless client, create the channel and drive it through a WebClientChannel.
  const log = pino({ level: 'warn', name: 'bench-raw-peer' }, pino.destination(2));
  const channel = new WebClientChannel(CHANNEL, log);
  const dc = peer.createDataChannel(CHANNEL);
  keep.push(dc, channel);
  channel.attach(dc);
  await channel.whenOpen();
  resolve(peerEndpoint(channel, async () => channel.close()));
  emit({ type: 'open', maxMessageSize: channel.maxMessageSize() });
}

// ---------------------------------------------------------------------------------------------
// Commands

/** raw-platform SOCKET: the minimal forwarder's listener (one connection). */
let forwardServer: { connection: Promise<Socket>; onData: (chunk: Buffer) => void } | undefined;
if (role === 'raw-platform' && process.argv[3]) {
  const path = process.argv[3];
  let accepted!: (socket: Socket) => void;
  const state = { connection: new Promise<Socket>((resolve) => (accepted = resolve)), onData: (_chunk: Buffer) => undefined as void };
  forwardServer = state;
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      try {
        state.onData(chunk);
      } catch (error) {
        report('forward', error);
      }
    });
    accepted(socket);
  });
  keep.push(server);
  server.listen(path);
}

let quitting = false;

async function quit(code: number): Promise<void> {
  if (quitting) return;
  quitting = true;
  try {
    const endpoint = await Promise.race([endpointReady, new Promise<undefined>((r) => setTimeout(() => r(undefined), 100))]).catch(() => undefined);
    await endpoint?.close().catch(() => undefined);
    pc?.close();
  } catch {
    // exiting anyway
  }
  // libdatachannel's threads must not keep the process alive.
  try {
    nodeDataChannel.cleanup();
  } catch {
    // exiting anyway
  }
  process.exit(code);
}

async function handle(command: Command): Promise<void> {
  switch (command.cmd) {
    case 'signal': {
      if (!pc) throw new Error('signal for a role without its own PeerConnection');
      if (command.description) {
        pc.setRemoteDescription(command.description.sdp, command.description.type as 'offer' | 'answer');
        remoteDescriptionSet = true;
        for (const candidate of heldCandidates.splice(0)) emit({ type: 'signal', candidate });
      }
      if (command.candidate) pc.addRemoteCandidate(command.candidate.candidate, command.candidate.mid);
      return;
    }
    case 'quit':
      await quit(0);
      return;
  }
  const endpoint = await endpointReady;
  const id = command.id;
  switch (command.cmd) {
    case 'expect': {
      const total = command.bytes ?? 0;
      let received = 0;
      let messages = 0;
      let first = 0;
      let firstBytes = 0;
      endpoint.onMessage = (message) => {
        const n = byteLength(message);
        if (received === 0) {
          first = performance.now();
          firstBytes = n;
        }
        received += n;
        messages++;
        if (received >= total) {
          const intervalMs = performance.now() - first;
          endpoint.onMessage = () => undefined;
          emit({ type: 'received', id, bytes: received, messages, firstBytes, intervalMs });
        }
      };
      emit({ type: 'ready', id });
      return;
    }
    case 'send': {
      const started = performance.now();
      await endpoint.sendBulk(command.bytes ?? 0, command.chunk ?? 65536);
      emit({ type: 'sent', id, ms: performance.now() - started });
      return;
    }
    case 'echo': {
      endpoint.onMessage = command.on ? (message) => endpoint.sendOne(message) : () => undefined;
      emit({ type: 'ok', id });
      return;
    }
    case 'forward': {
      const server = forwardServer;
      if (!server) throw new Error('forward needs raw-platform SOCKET');
      const socket = await server.connection;
      if (command.on) {
        endpoint.onMessage = (message) => socket.write(message);
        server.onData = (chunk) => endpoint.sendOne(chunk.toString('utf8'));
      } else {
        endpoint.onMessage = () => undefined;
        server.onData = () => undefined;
      }
      emit({ type: 'ok', id });
      return;
    }
    case 'ping': {
      const count = command.count ?? 0;
      const payload = 'x'.repeat(command.size ?? 100);
      const latencies: number[] = [];
      for (let i = 0; i < count; i++) {
        const t0 = process.hrtime.bigint();
        await new Promise<void>((resolve) => {
          let got = 0;
          endpoint.onMessage = (message) => {
            got += byteLength(message);
            if (got >= payload.length) resolve();
          };
          endpoint.sendOne(payload);
        });
        latencies.push(Number(process.hrtime.bigint() - t0));
      }
      endpoint.onMessage = () => undefined;
      emit({ type: 'pinged', id, latenciesNs: latencies });
      return;
    }
    default:
      throw new Error(`unknown command ${JSON.stringify(command.cmd)}`);
  }
}

// Commands run one after the other, in order.
let chain: Promise<void> = Promise.resolve();
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === '') return;
  chain = chain.then(async () => {
    try {
      await handle(JSON.parse(line) as Command);
    } catch (error) {
      report(`command ${line.slice(0, 80)}`, error);
    }
  });
});
lines.on('close', () => void chain.then(() => quit(0)));
process.on('SIGTERM', () => void quit(0));
