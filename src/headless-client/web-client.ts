/**
 * A headless web client: what a page using the Anbox Streaming SDK with `dataChannels` does, on
 * node-datachannel instead of a browser. It creates a session through the Stream Gateway, signals
 * over the WebSocket (API version 2 by default: the server offers; version 1: this side offers) and
 * opens the `control` channel plus one data channel per name, un-negotiated, in order.
 */
import { PeerConnection, type DataChannel } from 'node-datachannel';
import pino, { type Logger } from 'pino';
import WebSocket from 'ws';
import { CONTROL_CHANNEL } from '../channels/channel-name.js';
import { WebClientChannel } from './channel.js';
import { createGatewaySession, toLibdatachannelIceServers, type GatewaySession, type SessionPlacement } from './gateway.js';
import { errorMessage, guarded } from './guard.js';
import { selectedCandidatePair, type CandidatePairInfo } from '../platform/candidate-pair.js';
import { parseIceServer } from '../platform/ice-servers.js';
import {
  encodeBase64,
  mLineIndexOf,
  parseServerSignal,
  SignalingProtocolError,
  stripAttributePrefix,
  type ApiVersion,
  type ClientSignal,
  type ServerSignal,
} from './signaling.js';

export { WebClientChannel, type ChannelMessage, type ChannelState, type WebClientChannelEvents } from './channel.js';
export { GatewayError, type GatewayErrorKind, type GatewaySession } from './gateway.js';

/** The SDK takes at most this many data channels (besides `control`). */
export const MAX_DATA_CHANNELS = 5;
/** Like the SDK: ICE "disconnected" for this long ends the session. */
const DISCONNECTED_GRACE_MS = 10_000;

export interface WebClientOptions {
  /** Stream Gateway base URL, e.g. http://127.0.0.1:8777 */
  gateway: string;
  token: string;
  /** Data channel names, in the order they are created (at most 5, unique, not "control"). */
  channels: string[];
  log?: Logger;
  /** Signaling API version; default 2 (the SDK's default). */
  apiVersion?: ApiVersion;
  /**
   * `opened` rejects (and the session is torn down) when the channels are not all open by then;
   * default 30 s. The gateway's session request (POST, response body included) is bounded by it too.
   */
  openTimeoutMs?: number;
  /** Allow more than 5 channels (to test a server's limit); the SDK itself refuses. */
  allowTooManyChannels?: boolean;
  /**
   * STUN/TURN servers of this client's own (`stun:HOST[:PORT]`, `turn:USER:PASSWORD@HOST[:PORT]`),
   * used besides the gateway's metadata.stun_servers: a page can configure its own too.
   */
  iceServers?: string[];
  /** Where a farm gateway should place the session (docs/farm.md); a single `serve` ignores it. */
  placement?: SessionPlacement;
  /**
   * Keep the signaling WebSocket open once ICE is connected (the SDK closes it then). A farm
   * gateway closes it with 1011 and a reason naming the instance when the instance vanished or
   * stopped; that reason ends the session at once, where the peer would otherwise wait for ICE's
   * consent timeout (about 30 s) and fail without saying which instance went.
   */
  keepSignalingOpen?: boolean;
}

export interface WebClientCloseInfo {
  /** `local`: close() was called; `remote`: the server ended the session; `error`: signaling or WebRTC failed. */
  initiator: 'local' | 'remote' | 'error';
  reason: string;
}

export interface WebClient {
  readonly session: GatewaySession;
  readonly apiVersion: ApiVersion;
  /** The data channels, in the order given (without `control`). */
  readonly channels: readonly WebClientChannel[];
  /** Throws for a name that was not requested. */
  channel(name: string): WebClientChannel;
  /** Resolves when `control` and every data channel are open; rejects on failure or timeout. */
  readonly opened: Promise<void>;
  /** Resolves (never rejects) once the session is over, whoever ended it. */
  readonly closed: Promise<WebClientCloseInfo>;
  readonly isClosed: boolean;
  /** Control-channel messages from the server (`{type, data}` JSON), as the SDK's messageReceived. */
  onControlMessage(listener: (type: string, data: unknown) => void): void;
  /** The ICE path in use (host/srflx/prflx/relay on each side), once connected; else undefined. */
  candidatePair(): CandidatePairInfo | undefined;
  /**
   * Ends the session as the SDK's stop() does, after flushing: waits for queued sends (up to
   * `flushTimeoutMs`, default 10 s; 0 skips flushing and draining), closes the data channels, lets
   * SCTP drain what it still holds (an estimate: libdatachannel gives no acknowledgement and
   * aborts the association on close), sends `stream::disconnect` on `control`, then closes the
   * WebSocket and the peer connection.
   */
  close(options?: { flushTimeoutMs?: number }): Promise<void>;
}

/** Live clients, so that neither a client nor its native objects is garbage-collected mid-session. */
const live = new Set<WebClientImpl>();

/**
 * Creates a session through the gateway and starts signaling. Resolves once the signaling
 * WebSocket is open (wait on `opened` for the channels); rejects with a GatewayError when the
 * gateway refuses (401: wrong token) or cannot be reached, or when the WebSocket cannot connect.
 */
export async function connectWebClient(options: WebClientOptions): Promise<WebClient> {
  const names = [...options.channels];
  if (names.length === 0) throw new TypeError('at least one data channel name is needed');
  if (names.length > MAX_DATA_CHANNELS && !options.allowTooManyChannels) {
    throw new TypeError(`at most ${MAX_DATA_CHANNELS} data channels are allowed (the SDK's limit), not ${names.length}`);
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (name === CONTROL_CHANNEL) throw new TypeError('"control" is the SDK\'s own channel and cannot be a data channel name');
    if (seen.has(name)) throw new TypeError(`data channel "${name}" is listed twice`);
    seen.add(name);
  }
  const apiVersion = options.apiVersion ?? 2;
  if (apiVersion !== 1 && apiVersion !== 2) throw new TypeError(`apiVersion must be 1 or 2, not ${String(apiVersion)}`);
  const log = options.log ?? pino({ level: 'silent' });
  const ownServers = ownIceServers(options.iceServers ?? []);
  // The session request is bounded by the same time as the channels' opening (the CLI's --timeout).
  const session = await createGatewaySession({ gateway: options.gateway, token: options.token, placement: options.placement, timeoutMs: options.openTimeoutMs ?? 30_000 });
  log.debug({ session: session.id }, 'gateway session created');
  const withOwnServers: GatewaySession = { ...session, stunServers: [...session.stunServers, ...ownServers] };
  const client = new WebClientImpl(withOwnServers, names, apiVersion, log.child({ session: session.id }), options.openTimeoutMs ?? 30_000, options.keepSignalingOpen ?? false);
  await client.start();
  return client;
}

class WebClientImpl implements WebClient {
  readonly channels: WebClientChannel[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<WebClientCloseInfo>;
  #ws: WebSocket | undefined;
  #pc: PeerConnection | undefined;
  #control: DataChannel | undefined;
  /** Every native DataChannel, kept referenced for the client's lifetime. */
  readonly #nativeChannels: DataChannel[] = [];
  #resolveOpened!: () => void;
  #rejectOpened!: (error: Error) => void;
  #resolveClosed!: (info: WebClientCloseInfo) => void;
  #closeInfo: WebClientCloseInfo | undefined;
  #closing: Promise<void> | undefined;
  #remoteDescriptionSet = false;
  #pendingCandidates: { candidate: string; sdpMid: string }[] = [];
  #heldLocalCandidates: { type: 'candidate'; candidate: string; sdpMid: string; sdpMLineIndex: number }[] = [];
  #openTimer: NodeJS.Timeout | undefined;
  #disconnectedTimer: NodeJS.Timeout | undefined;
  #controlListeners: ((type: string, data: unknown) => void)[] = [];
  #controlOpen = false;
  #channelsCreated = false;

  constructor(
    readonly session: GatewaySession,
    private readonly names: string[],
    readonly apiVersion: ApiVersion,
    private readonly log: Logger,
    private readonly openTimeoutMs: number,
    private readonly keepSignalingOpen: boolean,
  ) {
    this.opened = new Promise<void>((resolve, reject) => {
      this.#resolveOpened = resolve;
      this.#rejectOpened = reject;
    });
    // Nobody has to await `opened`: a failure is also reported through `closed`.
    this.opened.catch(() => undefined);
    this.closed = new Promise<WebClientCloseInfo>((resolve) => (this.#resolveClosed = resolve));
  }

  get isClosed(): boolean {
    return this.#closeInfo !== undefined;
  }

  channel(name: string): WebClientChannel {
    const channel = this.channels.find((c) => c.name === name);
    if (!channel) throw new Error(`no data channel "${name}" in this client (it has ${this.names.map((n) => `"${n}"`).join(', ')})`);
    return channel;
  }

  onControlMessage(listener: (type: string, data: unknown) => void): void {
    this.#controlListeners.push(listener);
  }

  candidatePair(): CandidatePairInfo | undefined {
    return this.#pc && this.#closeInfo === undefined ? selectedCandidatePair(this.#pc) : undefined;
  }

  /** Opens the WebSocket, then (as the SDK on ws open) creates the peer connection and channels and sends discover. */
  async start(): Promise<void> {
    live.add(this);
    const ws = new WebSocket(this.session.url);
    this.#ws = ws;
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', (error) => reject(error));
        ws.once('unexpected-response', (_request, response) => {
          reject(new Error(`the signaling server refused the WebSocket: HTTP ${response.statusCode ?? '?'}`));
          response.resume();
        });
      });
    } catch (error) {
      const message = `cannot open the signaling WebSocket ${this.session.url}: ${errorMessage(error)}`;
      this.#finish({ initiator: 'error', reason: message });
      ws.terminate();
      throw new Error(message);
    }
    ws.on('error', (error) => this.log.debug({ error: error.message }, 'signaling WebSocket error'));
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        this.log.warn('ignored a binary signaling frame');
        return;
      }
      const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
      this.#onSignal(text);
    });
    ws.on('close', (code, reason) => {
      this.log.debug({ code, reason: reason.toString() }, 'signaling WebSocket closed');
      // As in the SDK, the WebSocket is only needed until ICE connects; closing it before the
      // peer connection is up means signaling failed.
      if (!this.#remoteDescriptionSet && this.#closeInfo === undefined) {
        this.#fail(`the signaling WebSocket closed before negotiation finished (code ${code}${reason.length > 0 ? `: ${reason.toString()}` : ''})`);
      }
      // A farm gateway closes the signaling WebSocket with 1011 when the session's instance
      // vanished, restarted or ended the session (docs/farm.md): the peer may take ICE's
      // consent timeout to notice, so the gateway's reason (it names the instance) ends it now.
      // Other closes after negotiation leave the session alone: a gateway going away (1001)
      // does not stop WebRTC, which flows directly.
      else if (code === 1011 && this.#closeInfo === undefined && this.#closing === undefined) {
        this.#fail(`the gateway ended the session (1011${reason.length > 0 ? `: ${reason.toString()}` : ''})`);
      }
    });
    try {
      this.#createPeerConnection();
    } catch (error) {
      this.#fail(`cannot create the peer connection: ${errorMessage(error)}`);
      throw new Error(`cannot create the peer connection: ${errorMessage(error)}`);
    }
    this.#openTimer = setTimeout(() => this.#fail(`the data channels did not all open within ${this.openTimeoutMs} ms`), this.openTimeoutMs);
    this.#openTimer.unref();
    this.#sendSignal({ type: 'discover' });
  }

  #createPeerConnection(): void {
    const pc = new PeerConnection(`anbox-oob-client-${this.session.id}`, {
      iceServers: toLibdatachannelIceServers(this.session.stunServers),
      // The browser does not offer in API v2: creating channels must not start a negotiation.
      disableAutoNegotiation: true,
    });
    this.#pc = pc;
    const log = this.log;
    pc.onLocalDescription(guarded(log, 'onLocalDescription', (sdp: string, type: string) => this.#onLocalDescription(sdp, type)));
    pc.onLocalCandidate(guarded(log, 'onLocalCandidate', (candidate: string, mid: string) => this.#onLocalCandidate(candidate, mid)));
    pc.onStateChange(guarded(log, 'onStateChange', (state: string) => this.#onStateChange(state)));
    pc.onIceStateChange(guarded(log, 'onIceStateChange', (state: string) => this.#onIceStateChange(state)));
    pc.onDataChannel(
      guarded(log, 'onDataChannel', (dc: DataChannel) => {
        // Not part of the protocol: keep it referenced and close it.
        this.#nativeChannels.push(dc);
        log.warn({ label: dc.getLabel() }, 'the server opened an unexpected data channel; closing it');
        dc.close();
      }),
    );

    // As the SDK: `control` first, then one channel per name, un-negotiated, in that order.
    // libdatachannel announces channels created before the connection is up in an order of its
    // own (the reverse, in 0.24), while Chromium's arrive in creation order. To show the server
    // the browser's order, the named channels are created as soon as `control` is open (on an
    // established association each is announced at once, in creation order).
    for (const name of this.names) {
      const channel = new WebClientChannel(name, log);
      channel.on('open', () => this.#checkOpened());
      channel.on('close', () => {
        if (this.#closeInfo === undefined && this.#closing === undefined) {
          this.log.info({ channel: name }, 'data channel closed by the server');
          this.#checkOpened();
        }
      });
      this.channels.push(channel);
    }
    const control = pc.createDataChannel(CONTROL_CHANNEL);
    this.#control = control;
    this.#nativeChannels.push(control);
    control.onOpen(
      guarded(log, 'control.onOpen', () => {
        this.#controlOpen = true;
        this.#createDataChannels();
        this.#checkOpened();
      }),
    );
    control.onMessage(guarded(log, 'control.onMessage', (msg: string | Buffer | ArrayBuffer) => this.#onControlMessage(msg)));
    control.onError(guarded(log, 'control.onError', (err: string) => log.warn({ error: err }, 'control channel error')));
    control.onClosed(
      guarded(log, 'control.onClosed', () => {
        this.#controlOpen = false;
        if (this.#closeInfo === undefined && this.#closing === undefined) this.#end('remote', 'the server closed the control channel');
      }),
    );
  }

  #createDataChannels(): void {
    const pc = this.#pc;
    if (!pc || this.#closeInfo !== undefined || this.#channelsCreated) return;
    this.#channelsCreated = true;
    for (const channel of this.channels) {
      const dc = pc.createDataChannel(channel.name);
      this.#nativeChannels.push(dc);
      channel.attach(dc);
    }
  }

  #checkOpened(): void {
    if (this.#closeInfo !== undefined) return;
    const notOpen = this.channels.filter((c) => c.state !== 'open');
    const closedEarly = notOpen.find((c) => c.state === 'closed');
    if (closedEarly) {
      clearTimeout(this.#openTimer);
      this.#rejectOpened(new Error(`data channel "${closedEarly.name}" was closed by the server before it opened (rejected name or too many channels?)`));
      return;
    }
    if (this.#controlOpen && notOpen.length === 0) {
      clearTimeout(this.#openTimer);
      const path = this.candidatePair();
      this.log.info(
        { channels: this.names, ...(path ? { localCandidate: path.local, remoteCandidate: path.remote, localAddress: path.localAddress, remoteAddress: path.remoteAddress } : {}) },
        'all data channels open',
      );
      this.#resolveOpened();
    }
  }

  #sendSignal(message: ClientSignal): void {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      this.log.debug({ type: message.type }, 'signaling WebSocket not open; message not sent');
      return;
    }
    this.log.trace({ message }, 'signaling →');
    ws.send(JSON.stringify(message), (error) => {
      if (error) this.log.debug({ error: error.message, type: message.type }, 'signaling send failed');
    });
  }

  #onSignal(frame: string): void {
    let signal: ServerSignal;
    try {
      signal = parseServerSignal(frame);
    } catch (error) {
      if (error instanceof SignalingProtocolError) {
        this.log.warn({ error: error.message }, 'ignored a malformed signaling message');
        return;
      }
      throw error;
    }
    this.log.trace({ type: signal.type }, 'signaling ←');
    const pc = this.#pc;
    if (!pc || this.#closeInfo !== undefined) return;
    try {
      switch (signal.type) {
        case 'resp:discover':
          if (this.apiVersion > signal.maxApiVersion) {
            this.#fail(`the server supports signaling API version ${signal.maxApiVersion} at most; this client uses ${this.apiVersion}`);
            return;
          }
          this.#sendSettings();
          break;
        case 'offer':
          if (this.apiVersion !== 2) {
            this.log.warn('ignored an offer: in API version 1 this client offers');
            return;
          }
          pc.setRemoteDescription(signal.sdp, 'offer');
          this.#remoteDescriptionSet = true;
          // Auto-negotiation is off: create the answer explicitly (onLocalDescription sends it).
          pc.setLocalDescription();
          this.#applyPendingCandidates();
          break;
        case 'answer':
          if (this.apiVersion !== 1) {
            this.log.warn('ignored an answer: in API version 2 the server offers');
            return;
          }
          pc.setRemoteDescription(signal.sdp, 'answer');
          this.#remoteDescriptionSet = true;
          this.#applyPendingCandidates();
          break;
        case 'candidate':
          if (signal.candidate.length === 0) return; // end-of-candidates
          if (this.#remoteDescriptionSet) this.#addCandidate(signal.candidate, signal.sdpMid);
          else this.#pendingCandidates.push({ candidate: signal.candidate, sdpMid: signal.sdpMid });
          break;
        case 'error':
          this.#fail(`the signaling server reported an error: ${signal.message}`);
          break;
        case 'unknown':
          this.log.debug({ type: signal.rawType }, 'ignored an unknown signaling message');
          break;
      }
    } catch (error) {
      this.#fail(`signaling failed on "${signal.type}": ${errorMessage(error)}`);
    }
  }

  #sendSettings(): void {
    if (this.apiVersion === 2) {
      this.#sendSignal({
        type: 'settings',
        api_version: 2,
        data_channels: [...this.names],
        enable_speaker: false,
        enable_microphone: false,
        enable_video: false,
        enable_camera: false,
      });
    } else {
      this.#sendSignal({ type: 'settings', api_version: 1 });
      // In API version 1 the client offers (onLocalDescription sends it).
      this.#pc?.setLocalDescription('offer');
    }
  }

  #onLocalDescription(sdp: string, type: string): void {
    if (this.apiVersion === 2 && type === 'answer') this.#sendSignal({ type: 'answer', sdp: encodeBase64(sdp) });
    else if (this.apiVersion === 1 && type === 'offer') this.#sendSignal({ type: 'offer', sdp: encodeBase64(sdp), dataChannels: [...this.names] });
    else this.log.debug({ type }, 'local description not sent');
  }

  #onLocalCandidate(candidate: string, mid: string): void {
    const text = stripAttributePrefix(candidate);
    if (text.length === 0) return;
    const sdp = this.#pc?.localDescription()?.sdp ?? '';
    this.#heldLocalCandidates.push({ type: 'candidate', candidate: encodeBase64(text), sdpMid: mid, sdpMLineIndex: mLineIndexOf(sdp, mid) });
    this.#releaseLocalCandidates();
  }

  /**
   * Our candidates go out only once the peer's description is applied (API v1: the answer). Until
   * the peer knows our address it cannot start ICE; otherwise a fast answerer's DTLS ClientHello can
   * arrive before the answer carrying its fingerprint is applied, and libdatachannel then fails the
   * handshake ("certificate verify failed") — the mirror of the race the platform avoids the same way.
   */
  #releaseLocalCandidates(): void {
    if (!this.#remoteDescriptionSet) return;
    for (const message of this.#heldLocalCandidates.splice(0)) this.#sendSignal(message);
  }

  #addCandidate(candidate: string, sdpMid: string): void {
    try {
      this.#pc?.addRemoteCandidate(candidate, sdpMid);
    } catch (error) {
      // One bad candidate (e.g. an unresolvable mDNS name) must not end the session.
      this.log.debug({ candidate, error: errorMessage(error) }, 'remote candidate not added');
    }
  }

  #applyPendingCandidates(): void {
    for (const { candidate, sdpMid } of this.#pendingCandidates.splice(0)) this.#addCandidate(candidate, sdpMid);
    this.#releaseLocalCandidates();
  }

  #onStateChange(state: string): void {
    this.log.debug({ state }, 'peer connection state');
    if (state === 'failed') this.#fail('the WebRTC connection failed');
    else if (state === 'closed' && this.#closing === undefined) this.#end('remote', 'the WebRTC connection was closed');
  }

  #onIceStateChange(state: string): void {
    this.log.debug({ state }, 'ICE state');
    switch (state) {
      case 'connected':
      case 'completed':
        clearTimeout(this.#disconnectedTimer);
        this.#disconnectedTimer = undefined;
        // As the SDK: the WebSocket is done once ICE is connected (unless kept to hear a farm gateway).
        if (!this.keepSignalingOpen && this.#ws && this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1000);
        break;
      case 'disconnected':
        if (this.#disconnectedTimer === undefined) {
          this.#disconnectedTimer = setTimeout(() => this.#fail('lost the WebRTC connection'), DISCONNECTED_GRACE_MS);
          this.#disconnectedTimer.unref();
        }
        break;
      case 'failed':
        this.#fail('ICE failed: no WebRTC connection could be established');
        break;
      default:
        break;
    }
  }

  #onControlMessage(msg: string | Buffer | ArrayBuffer): void {
    const text = typeof msg === 'string' ? msg : Buffer.from(msg instanceof ArrayBuffer ? new Uint8Array(msg) : msg).toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.log.warn({ text: text.slice(0, 200) }, 'ignored a control message that is not JSON');
      return;
    }
    const record = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
    const type = typeof record.type === 'string' ? record.type : '';
    this.log.debug({ type }, 'control message');
    for (const listener of this.#controlListeners) {
      try {
        listener(type, record.data);
      } catch (error) {
        this.log.error({ err: error }, 'control message listener failed');
      }
    }
  }

  close(options: { flushTimeoutMs?: number } = {}): Promise<void> {
    this.#closing ??= this.#closeGracefully(options.flushTimeoutMs ?? 10_000);
    return this.#closing;
  }

  async #closeGracefully(flushTimeoutMs: number): Promise<void> {
    if (this.#closeInfo !== undefined) return;
    clearTimeout(this.#openTimer);
    const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
    // 1. Everything queued is handed to SCTP.
    await Promise.race([Promise.all(this.channels.map((c) => c.flush())), sleep(flushTimeoutMs)]);
    // 2. The data channels close: each stream reset follows the data already sent on it.
    const drainMs = flushTimeoutMs > 0 ? Math.max(0, ...this.channels.map((c) => c.drainEstimateMs())) : 0;
    for (const channel of this.channels) channel.close();
    // 3. Closing the peer connection aborts SCTP and drops whatever usrsctp still holds, and
    //    stream::disconnect (on another stream) could overtake that data and make the server end
    //    the session first: give the association time to drain.
    if (drainMs > 0) {
      this.log.debug({ drainMs }, 'letting SCTP drain before disconnecting');
      await Promise.race([sleep(drainMs), this.closed]);
    }
    // 4. stream::disconnect on control, as the SDK's stop(); then give the server a moment to
    //    end the session itself, so the message is not lost to our own abort.
    const control = this.#control;
    if (control && this.#controlOpen && this.#closeInfo === undefined) {
      try {
        control.sendMessage(JSON.stringify({ type: 'stream::disconnect', data: {} }));
        // At least 100 ms (for the message to leave usrsctp), at most 500 ms.
        const started = Date.now();
        while (this.#closeInfo === undefined && Date.now() - started < 500) {
          if (Date.now() - started >= 100 && (!this.#controlOpen || control.bufferedAmount() === 0)) break;
          await sleep(10);
        }
      } catch (error) {
        this.log.debug({ error: errorMessage(error) }, 'stream::disconnect not sent');
      }
    }
    this.#end('local', 'closed by the client');
  }

  #fail(reason: string): void {
    if (this.#closeInfo !== undefined) return;
    this.log.warn({ reason }, 'session failed');
    this.#end('error', reason);
  }

  /** Tears everything down once; settles `opened` (if still pending) and `closed`. */
  #end(initiator: WebClientCloseInfo['initiator'], reason: string): void {
    if (this.#closeInfo !== undefined) return;
    const info: WebClientCloseInfo = { initiator, reason };
    this.#closeInfo = info;
    clearTimeout(this.#openTimer);
    clearTimeout(this.#disconnectedTimer);
    this.#rejectOpened(new Error(reason));
    if (initiator !== 'error') this.log.info({ initiator, reason }, 'session closed');
    const ws = this.#ws;
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) {
      try {
        ws.close(1000);
      } catch {
        ws.terminate();
      }
    }
    for (const channel of this.channels) channel.markClosed(reason);
    try {
      this.#pc?.close();
    } catch (error) {
      this.log.debug({ error: errorMessage(error) }, 'closing the peer connection failed');
    }
    this.#finish(info);
  }

  #finish(info: WebClientCloseInfo): void {
    this.#closeInfo ??= info;
    // Keep the native objects referenced a little longer: libdatachannel finishes closing asynchronously.
    setTimeout(() => live.delete(this), 1000).unref();
    this.#resolveClosed(this.#closeInfo);
  }
}

/** The client's own ICE servers as gateway-style entries; a malformed URL is the caller's error. */
function ownIceServers(urls: string[]): GatewaySession['stunServers'] {
  return urls.map((url) => {
    try {
      return parseIceServer(url).browser;
    } catch (error) {
      throw new TypeError(errorMessage(error));
    }
  });
}
