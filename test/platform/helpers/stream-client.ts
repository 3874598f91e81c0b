/**
 * A test client written against the Anbox Streaming SDK's protocol (the SDK's
 * AnboxStreamGatewayConnector + AnboxWebRTCManager), with node-datachannel in place of the browser:
 *
 *   POST {gateway}/1.0/sessions/ (or /join) → metadata.url → WebSocket →
 *   peer connection, data channel `control`, then one channel per name → {"type":"discover"} →
 *   resp:discover → settings {api_version, data_channels, …} →
 *   v2: server offer → answer; v1: client offer {sdp, dataChannels} → server answer →
 *   candidates both ways (base64 of "candidate:…" without "a=", sdpMid, sdpMLineIndex) →
 *   ICE connected → the WebSocket is closed, as the SDK does.
 *
 * Every node-datachannel object is referenced for the client's lifetime and has onClosed /
 * onStateChange registered (node-datachannel keeps the process alive otherwise).
 */
import nodeDataChannel, { type DataChannel, type PeerConnection, type Track } from 'node-datachannel';
import WebSocket from 'ws';

export interface GatewayMetadata {
  id: string;
  url: string;
  stun_servers: unknown[];
}

export async function createSession(gateway: string, token: string): Promise<GatewayMetadata> {
  const response = await fetch(`${gateway}/1.0/sessions/`, {
    method: 'POST',
    headers: { Authorization: `Macaroon root=${token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ app: 'test', region: '', joinable: false, screen: { width: 1280, height: 720, fps: 60, density: 240 }, extra_data: null }),
  });
  if (response.status !== 201) throw new Error(`create session: HTTP ${response.status}: ${await response.text()}`);
  const body = (await response.json()) as { status: string; metadata: GatewayMetadata };
  if (body.status !== 'success') throw new Error(`create session: ${JSON.stringify(body)}`);
  return body.metadata;
}

export async function joinSession(gateway: string, token: string, id: string): Promise<GatewayMetadata> {
  const response = await fetch(`${gateway}/1.0/sessions/${id}/join`, {
    method: 'POST',
    headers: { Authorization: `Macaroon root=${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ screen: { width: 1280, height: 720 } }),
  });
  if (response.status !== 200) throw new Error(`join session: HTTP ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { metadata: GatewayMetadata }).metadata;
}

export class ClientChannel {
  readonly messages: (string | Buffer)[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;
  isOpen = false;
  isClosed = false;
  private waiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    readonly dc: DataChannel,
  ) {
    let resolveOpen!: () => void;
    let resolveClosed!: () => void;
    this.opened = new Promise((r) => (resolveOpen = r));
    this.closed = new Promise((r) => (resolveClosed = r));
    dc.onOpen(() => {
      this.isOpen = true;
      resolveOpen();
    });
    dc.onClosed(() => {
      this.isClosed = true;
      resolveClosed();
      this.notify();
    });
    dc.onError(() => undefined);
    dc.onMessage((message) => {
      this.messages.push(typeof message === 'string' ? message : Buffer.from(message as ArrayBuffer));
      this.notify();
    });
  }

  /** Everything received so far, as bytes. */
  bytes(): Buffer {
    return Buffer.concat(this.messages.map((m) => (typeof m === 'string' ? Buffer.from(m) : m)));
  }

  send(data: string | Buffer): void {
    if (typeof data === 'string') this.dc.sendMessage(data);
    else this.dc.sendMessageBinary(data);
  }

  /** Waits until `check()` holds (re-checked on every message and on close). */
  async until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`channel ${this.name}: timed out waiting for ${what}; received ${JSON.stringify(this.bytes().toString())}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export interface StreamClientOptions {
  /** Changes the SDP sent to the server (a hostile peer's a=max-message-size:1, say); the local description is unchanged. */
  rewriteLocalSdp?: (sdp: string) => string;
  gateway: string;
  token: string;
  /** Data channel names, created after `control` in this order. */
  channels: string[];
  apiVersion?: 1 | 2;
  /** Join this session instead of creating one. */
  join?: string;
  /** Close the WebSocket once connected, as the SDK does (default true). */
  closeWebSocketOnConnect?: boolean;
  /** v1: add an inactive audio and a receive-only video m-line to the offer, as the SDK's v1 transceivers do. */
  mediaLines?: boolean;
  /** libdatachannel's local max message size (advertised as a=max-message-size); default its own (256 KiB). */
  maxMessageSize?: number;
}

export class StreamClient {
  readonly channels = new Map<string, ClientChannel>();
  readonly signalingErrors: string[] = [];
  /** Every signaling message received, in order. */
  readonly received: Record<string, unknown>[] = [];
  readonly control: ClientChannel;
  readonly connected: Promise<void>;
  readonly pc: PeerConnection;
  readonly ws: WebSocket;
  readonly tracks: Track[] = [];
  state = 'new';
  private remoteSet = false;
  private pendingCandidates: { candidate: string; mid: string }[] = [];
  /** v1: our candidates wait until the server's answer is applied (see the constructor). */
  private heldLocal: Record<string, unknown>[] | undefined;

  private constructor(
    readonly metadata: GatewayMetadata,
    readonly options: StreamClientOptions,
  ) {
    const apiVersion = options.apiVersion ?? 2;
    this.pc = new nodeDataChannel.PeerConnection('test-client', { iceServers: [], disableAutoNegotiation: true, ...(options.maxMessageSize ? { maxMessageSize: options.maxMessageSize } : {}) });
    let resolveConnected!: () => void;
    let rejectConnected!: (error: Error) => void;
    this.connected = new Promise((resolve, reject) => {
      resolveConnected = resolve;
      rejectConnected = reject;
    });
    this.connected.catch(() => undefined);
    this.pc.onStateChange((state) => {
      this.state = state;
      if (state === 'connected') {
        resolveConnected();
        if (options.closeWebSocketOnConnect ?? true) this.ws.close();
      }
      if (state === 'failed' || state === 'closed') rejectConnected(new Error(`peer connection ${state}`));
    });
    // v1: libdatachannel fails the DTLS handshake when the peer's ClientHello comes before the
    // answer with its fingerprint is applied (a browser buffers it). The server could reach us
    // through our candidates before its answer arrives, so they are held until then.
    if (apiVersion === 1) this.heldLocal = [];
    this.pc.onLocalCandidate((candidate, mid) => {
      const line = candidate.replace(/^a=/, '');
      const message = { type: 'candidate', candidate: b64(line), sdpMid: mid, sdpMLineIndex: 0 };
      if (this.heldLocal) this.heldLocal.push(message);
      else this.signal(message);
    });
    this.pc.onLocalDescription((localSdp, type) => {
      const sdp = options.rewriteLocalSdp ? options.rewriteLocalSdp(localSdp) : localSdp;
      if (type === 'offer') this.signal({ type: 'offer', sdp: b64(sdp), dataChannels: options.channels });
      else this.signal({ type, sdp: b64(sdp) });
    });
    this.ws = new WebSocket(metadata.url);
    this.ws.on('error', () => undefined);
    this.ws.on('close', () => rejectConnected(new Error('signaling closed before the peer connected')));
    // As the SDK: on open, the peer connection and the channels, then discover.
    if (options.mediaLines) {
      for (const media of [new nodeDataChannel.Audio('audio', 'Inactive'), new nodeDataChannel.Video('video', 'RecvOnly')]) {
        const track = this.pc.addTrack(media);
        track.onClosed(() => undefined);
        this.tracks.push(track);
      }
    }
    this.control = new ClientChannel('control', this.pc.createDataChannel('control'));
    for (const name of options.channels) this.channels.set(name, new ClientChannel(name, this.pc.createDataChannel(name)));
    this.ws.on('open', () => this.signal({ type: 'discover' }));
    this.ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as Record<string, unknown>;
      this.received.push(message);
      switch (message.type) {
        case 'resp:discover':
          if ((message.max_api_version as number) < apiVersion) throw new Error('API version not supported by server');
          this.signal(
            apiVersion === 2
              ? { type: 'settings', api_version: 2, data_channels: options.channels, enable_speaker: false, enable_microphone: false, enable_video: false, enable_camera: false }
              : { type: 'settings', api_version: 1 },
          );
          if (apiVersion === 1) this.pc.setLocalDescription();
          break;
        case 'offer':
          this.pc.setRemoteDescription(unb64(message.sdp as string), 'offer');
          this.remoteSet = true;
          this.pc.setLocalDescription();
          this.flushCandidates();
          break;
        case 'answer': {
          this.pc.setRemoteDescription(unb64(message.sdp as string), 'answer');
          this.remoteSet = true;
          this.flushCandidates();
          const held = this.heldLocal ?? [];
          this.heldLocal = undefined;
          for (const m of held) this.signal(m);
          break;
        }
        case 'candidate': {
          const entry = { candidate: unb64(message.candidate as string), mid: String(message.sdpMid ?? '0') };
          if (this.remoteSet) this.pc.addRemoteCandidate(entry.candidate, entry.mid);
          else this.pendingCandidates.push(entry);
          break;
        }
        case 'error':
          this.signalingErrors.push(String(message.message));
          rejectConnected(new Error(`signaling error: ${String(message.message)}`));
          break;
        default:
          break;
      }
    });
  }

  /** Creates (or joins) a session and starts signaling; await `connected` or a channel's `opened`. */
  static async start(options: StreamClientOptions): Promise<StreamClient> {
    const metadata = options.join ? await joinSession(options.gateway, options.token, options.join) : await createSession(options.gateway, options.token);
    return new StreamClient(metadata, options);
  }

  get sessionId(): string {
    return this.metadata.id;
  }

  channel(name: string): ClientChannel {
    const channel = this.channels.get(name);
    if (!channel) throw new Error(`no channel ${name}`);
    return channel;
  }

  /** What the SDK's stop() sends on `control` before closing. */
  sendDisconnect(): void {
    this.control.dc.sendMessage(JSON.stringify({ type: 'stream::disconnect', data: {} }));
  }

  close(): void {
    for (const track of this.tracks) track.close();
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    for (const channel of [this.control, ...this.channels.values()]) {
      try {
        channel.dc.close();
      } catch {
        // already closed
      }
    }
    this.pc.close();
  }

  private signal(message: Record<string, unknown>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  private flushCandidates(): void {
    for (const { candidate, mid } of this.pendingCandidates) this.pc.addRemoteCandidate(candidate, mid);
    this.pendingCandidates = [];
  }
}

export function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

export function unb64(text: string): string {
  return Buffer.from(text, 'base64').toString('utf8');
}
