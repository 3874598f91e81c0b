import type { Logger } from '../log/logger.js';
import { guard } from './guard.js';
import type { PeerSession, SignalSink } from './peer-session.js';
import type { PlatformEvent } from './platform-events.js';
import type { SignalingTransport } from './signaling-transport.js';

/** The highest signaling API version this server speaks; advertised in resp:discover. */
export const MAX_API_VERSION = 2;
/** After this many protocol errors on one WebSocket the server closes it (1008). */
export const MAX_PROTOCOL_ERRORS = 10;
/** Messages waiting to be handled (while a previous session's bridges close) before the server gives up. */
export const MAX_QUEUED_MESSAGES = 500;

/** What a signaling connection needs from the platform. */
export interface SignalingHost {
  /**
   * Ends the streaming peer (awaiting its bridges' closing), then starts a new one for `session`.
   * Resolves undefined when the platform is closing or the session is gone.
   */
  startPeer(session: string, apiVersion: 1 | 2, signal: SignalSink): Promise<PeerSession | undefined>;
  emit(event: PlatformEvent): void;
}

/** A protocol violation: answered with {"type":"error","message":…}. */
class SignalingError extends Error {
  override readonly name = 'SignalingError';
  constructor(
    message: string,
    /** Close the WebSocket with this code and reason after answering. */
    readonly close?: { code: number; reason: string },
  ) {
    super(message);
  }
}

type Message = Record<string, unknown> & { type: string };

/**
 * The server side of one signaling connection (the local gateway's WebSocket, or a farm relay over
 * NATS: any SignalingTransport), API versions 1 and 2, as the Anbox Streaming SDK
 * speaks them (JSON text frames; SDPs and candidates in base64):
 *
 * - v2: discover → resp:discover; settings{api_version:2} → the server creates the peer and sends
 *   offer; the browser answers; candidates both ways (base64 of "candidate:…", sdpMid, sdpMLineIndex).
 * - v1: settings{api_version:1} (or none); the browser sends offer{sdp, dataChannels}; the server
 *   answers.
 *
 * Messages are handled one at a time, in order: starting a peer waits for the previous session's
 * bridges to close, and candidates that arrive meanwhile wait their turn. A misbehaving client gets
 * {"type":"error","message":…} (which makes the SDK abort), and after repeated errors or a binary
 * frame, a close; other sessions are not affected. Closing the WebSocket does not end the peer: the
 * SDK closes it by itself once ICE is connected.
 */
export class SignalingConnection implements SignalSink {
  private readonly log: Logger;
  private apiVersion: 1 | 2 | undefined;
  private settingsReceived = false;
  private peer: PeerSession | undefined;
  private startingPeer = false;
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private errors = 0;
  private closed = false;
  private setupTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly transport: SignalingTransport,
    readonly session: string,
    private readonly host: SignalingHost,
    log: Logger,
    /** The client must start its session (settings or offer) within this, or the WebSocket is closed. */
    setupTimeoutMs: number,
  ) {
    this.log = log.child({ session, signaling: true });
    // Before a peer exists nothing needs this WebSocket: a client that opens it and stays silent
    // is bounded tightly. After setup, quiet is normal; the platform's pings check liveness.
    this.setupTimer = setTimeout(
      guard(this.log, { what: 'signaling setup timeout', session }, () => {
        this.setupTimer = undefined;
        if (this.peer || this.startingPeer || this.closed) return;
        this.log.warn({ event: 'signaling.setup_timeout', timeoutMs: setupTimeoutMs }, `no settings or offer within ${setupTimeoutMs} ms; closing the signaling WebSocket`);
        this.send({ type: 'error', message: `no settings or offer within ${setupTimeoutMs} ms` });
        this.close(1008, 'session setup timed out');
      }),
      setupTimeoutMs,
    );
    this.setupTimer.unref();
    transport.onMessage(guard(this.log, { what: 'signaling message', session }, (text: string, isBinary: boolean) => this.enqueue(text, isBinary)));
    transport.onClose(guard(this.log, { what: 'signaling close', session }, (code: number) => this.onClose(code)));
    transport.onError((error: Error) => this.log.warn({ event: 'signaling.socket_error', err: error }, 'signaling WebSocket error'));
    this.log.info({ event: 'signaling.open' }, 'signaling WebSocket connected');
  }

  get open(): boolean {
    return !this.closed && this.transport.open;
  }

  send(message: Record<string, unknown>): void {
    if (!this.open) return;
    this.transport.send(JSON.stringify(message), (error) => this.log.debug({ event: 'signaling.send_failed', err: error }, 'signaling send failed'));
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.transport.close(code, reason);
  }

  private enqueue(data: string, isBinary: boolean): void {
    if (this.closed) return;
    if (++this.queued > MAX_QUEUED_MESSAGES) {
      this.protocolError(new SignalingError(`more than ${MAX_QUEUED_MESSAGES} messages waiting`, { code: 1008, reason: 'too many messages waiting' }));
      return;
    }
    this.queue = this.queue
      .then(() => this.handle(data, isBinary))
      .catch((error: unknown) => {
        if (error instanceof SignalingError) this.protocolError(error);
        else {
          this.log.error({ event: 'signaling.failed', err: error }, 'handling a signaling message failed');
          this.protocolError(new SignalingError(`internal error: ${error instanceof Error ? error.message : String(error)}`));
        }
      })
      .finally(() => {
        this.queued--;
      });
  }

  private async handle(text: string, isBinary: boolean): Promise<void> {
    if (this.closed) return;
    if (isBinary) throw new SignalingError('binary frames are not part of the signaling protocol; send JSON text frames', { code: 1003, reason: 'binary frames are not accepted' });
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new SignalingError(`malformed JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!isMessage(parsed)) throw new SignalingError('a signaling message is a JSON object with a string "type"');
    this.log.debug({ event: 'signaling.received', type: parsed.type }, `received ${parsed.type}`);
    switch (parsed.type) {
      case 'discover':
        this.send({ type: 'resp:discover', max_api_version: MAX_API_VERSION, capabilities: [] });
        return;
      case 'settings':
        return this.onSettings(parsed);
      case 'offer':
        return this.onOffer(parsed);
      case 'answer':
        return this.onAnswer(parsed);
      case 'candidate':
        return this.onCandidate(parsed);
      default:
        throw new SignalingError(`unknown message type ${JSON.stringify(parsed.type).slice(0, 80)}`);
    }
  }

  private async onSettings(message: Message): Promise<void> {
    if (this.settingsReceived) throw new SignalingError('settings already received');
    const version = message.api_version;
    if (version !== 1 && version !== 2) {
      throw new SignalingError(`unsupported api_version ${JSON.stringify(version) ?? 'undefined'}; this server speaks 1 and 2`);
    }
    if (this.peer || this.startingPeer) throw new SignalingError('settings must come before the offer');
    this.settingsReceived = true;
    this.apiVersion = version;
    const channels = message.data_channels;
    if (version === 2 && channels !== undefined && !(Array.isArray(channels) && channels.every((c) => typeof c === 'string'))) {
      throw new SignalingError('data_channels must be an array of channel names');
    }
    this.log.info(
      { event: 'signaling.settings', apiVersion: version, dataChannels: channels, video: message.enable_video, audio: message.enable_speaker },
      `client settings: API version ${version}`,
    );
    if (version === 2) {
      const peer = await this.startPeer(2);
      if (peer) peer.makeOffer();
    }
  }

  private async onOffer(message: Message): Promise<void> {
    if (this.apiVersion === 2) throw new SignalingError('with API version 2 the server makes the offer; send an answer');
    if (this.peer || this.startingPeer) throw new SignalingError('offer already received');
    const sdp = decodeSdp(message.sdp, 'offer');
    this.apiVersion = 1;
    this.log.info({ event: 'signaling.offer', dataChannels: message.dataChannels }, 'client offer (API version 1)');
    const peer = await this.startPeer(1);
    if (!peer) return;
    try {
      peer.acceptOffer(sdp);
    } catch (error) {
      // The error first: ending the peer closes this WebSocket.
      this.protocolError(new SignalingError(`cannot use the offer: ${errorText(error)}`));
      void peer.end('the client offer was refused');
    }
  }

  private onAnswer(message: Message): void {
    if (this.apiVersion !== 2 || !this.peer) throw new SignalingError('answer without an offer from the server');
    if (this.peer.hasRemoteDescription) throw new SignalingError('answer already received');
    const sdp = decodeSdp(message.sdp, 'answer');
    try {
      this.peer.acceptAnswer(sdp);
    } catch (error) {
      // The error first: ending the peer closes this WebSocket.
      this.protocolError(new SignalingError(`cannot use the answer: ${errorText(error)}`));
      void this.peer.end('the client answer was refused');
    }
  }

  private onCandidate(message: Message): void {
    if (!this.peer) throw new SignalingError('candidate before an offer');
    if (typeof message.candidate !== 'string') throw new SignalingError('candidate must be a base64 string');
    const decoded = decodeBase64(message.candidate);
    if (decoded === undefined) throw new SignalingError('candidate is not valid base64');
    const line = decoded.trim().replace(/^a=/, '');
    if (line === '') return; // end of candidates
    if (!line.startsWith('candidate:')) throw new SignalingError('candidate must be base64 of a "candidate:…" line');
    const mid = typeof message.sdpMid === 'string' ? message.sdpMid : typeof message.sdpMLineIndex === 'number' ? String(message.sdpMLineIndex) : '0';
    this.peer.addRemoteCandidate(line, mid);
  }

  private async startPeer(version: 1 | 2): Promise<PeerSession | undefined> {
    this.startingPeer = true;
    try {
      const peer = await this.host.startPeer(this.session, version, this);
      if (!peer) {
        this.close(1001, 'session gone');
        return undefined;
      }
      if (this.closed) {
        // The WebSocket closed while the previous session was ending: this peer can never connect.
        void peer.end('signaling closed before the offer/answer exchange completed');
        return undefined;
      }
      this.peer = peer;
      return peer;
    } finally {
      this.startingPeer = false;
    }
  }

  private protocolError(error: SignalingError): void {
    this.errors++;
    this.log.warn({ event: 'signaling.protocol_error', message: error.message }, `signaling: ${error.message}`);
    this.host.emit({ type: 'signaling-error', session: this.session, message: error.message });
    this.send({ type: 'error', message: error.message });
    if (error.close) this.close(error.close.code, error.close.reason);
    else if (this.errors >= MAX_PROTOCOL_ERRORS) this.close(1008, 'too many protocol errors');
  }

  private onClose(code: number): void {
    this.closed = true;
    clearTimeout(this.setupTimer);
    this.log.info({ event: 'signaling.closed', code }, 'signaling WebSocket closed');
    const peer = this.peer;
    if (!peer) return;
    peer.detachSignal(this);
    // The SDK closes the WebSocket once ICE is connected: that must not end the session. Before the
    // descriptions were exchanged, though, the peer can never connect.
    if (!peer.hasRemoteDescription) void peer.end('signaling closed before the offer/answer exchange completed');
  }
}

function isMessage(value: unknown): value is Message {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as { type?: unknown }).type === 'string';
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeBase64(value: string): string | undefined {
  const compact = value.replace(/\s+/g, '');
  if (!BASE64.test(compact) || compact.length % 4 === 1) return undefined;
  return Buffer.from(compact, 'base64').toString('utf8');
}

function decodeSdp(value: unknown, what: 'offer' | 'answer'): string {
  if (typeof value !== 'string') throw new SignalingError(`${what} needs "sdp": the SDP in base64`);
  const sdp = decodeBase64(value);
  if (sdp === undefined || !sdp.startsWith('v=0')) throw new SignalingError(`${what} "sdp" is not base64 of an SDP (v=0 …)`);
  return sdp;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
