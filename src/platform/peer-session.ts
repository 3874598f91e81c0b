import nodeDataChannel, { type DataChannel, type PeerConnection, type Track } from 'node-datachannel';
import { channelSocketPath, ChannelNameError, CONTROL_CHANNEL } from '../channels/channel-name.js';
import type { Logger } from '../log/logger.js';
import { ChannelBridge } from './bridge/channel-bridge.js';
import { NodeDataChannelPort, toBrowserMessage } from './bridge/node-datachannel-port.js';
import { remoteMaxMessageSizeRefusal } from './bridge/utf8-chunker.js';
import { selectedCandidatePair } from './candidate-pair.js';
import { attempt, guard } from './guard.js';
import type { ActivePeerInfo, PlatformEvent } from './platform-events.js';
import { refused, SENT, type V1SendResult } from '../v1/v1-message.js';

/** The SDK's own limit: an AnboxStream takes at most 5 data channels besides `control`. */
export const MAX_CHANNELS_PER_SESSION = 5;
/**
 * The server's own negotiated channel, created only so that libdatachannel puts an m=application
 * line in its offer (API v2). The offerer owns odd SCTP stream ids and browsers open at most 1024
 * streams, so 1023 never collides with a browser channel. The browser never sees it.
 */
export const BOOTSTRAP_CHANNEL_ID = 1023;
const BOOTSTRAP_CHANNEL_LABEL = 'anbox-oob-bootstrap';
/** Browser data arriving before a channel's socket is ready is held, up to this bound. */
const MAX_PENDING_BEFORE_BRIDGE_BYTES = 4 * 1024 * 1024;
/** Remote candidates received before the remote description are held, up to this many. */
const MAX_PENDING_CANDIDATES = 200;
/**
 * The platform's own max message size (libdatachannel's local limit, advertised as
 * a=max-message-size; its default is 256 KiB). libdatachannel sends nothing larger than the smaller
 * of this and the client's limit, so at the default no v1 message above 256 KiB could reach even a
 * client that accepts more (Firefox advertises 1 GB). 1.5 MiB carries a v1 message at Anbox's
 * limits (256 KiB type + 1 MiB data + the JSON around them, unescaped). Channel data is unaffected:
 * the bridge cuts its messages at 256 KiB whatever this says.
 */
export const PLATFORM_MAX_MESSAGE_BYTES = 1536 * 1024;
/** v1 messages waiting in the control channel's send buffer; above this the client is not reading. */
export const MAX_CONTROL_BUFFERED_BYTES = 4 * 1024 * 1024;
/** The SDK gives up after 5 minutes without ICE; so does the server. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5 * 60 * 1000;
/** The SDK ends a session after 10 s of ICE "disconnected"; the server waits a little longer. */
export const DEFAULT_DISCONNECTED_GRACE_MS = 15 * 1000;

/** Where the peer's offer/answer and candidates go: the session's signaling WebSocket, while it is open. */
export interface SignalSink {
  readonly open: boolean;
  send(message: Record<string, unknown>): void;
  close(code: number, reason: string): void;
}

export interface PeerSessionOptions {
  session: string;
  peer: number;
  apiVersion: 1 | 2;
  socketDir: string;
  binary: boolean;
  /** Mode of the channel sockets (--channel-socket-mode). */
  channelSocketMode: number;
  /** --allow-shared-dir, for the socket dir's checks when a channel opens. */
  allowSharedDir: boolean;
  /** node-datachannel's iceServers (`stun:…`, `turn:user:pass@…`). */
  iceServers: string[];
  log: Logger;
  emit: (event: PlatformEvent) => void;
  signal: SignalSink;
  connectTimeoutMs?: number;
  disconnectedGraceMs?: number;
}

interface BridgedChannel {
  readonly name: string;
  readonly dc: DataChannel;
  readonly log: Logger;
  bridge: ChannelBridge | undefined;
  /** Settles with the bridge, or undefined when it could not be opened. */
  opening: Promise<ChannelBridge | undefined>;
  closing: Promise<void> | undefined;
  /** Browser messages that arrived before the bridge was ready. */
  pending: (string | Buffer)[];
  pendingBytes: number;
}

/**
 * One WebRTC connection of a session: the node-datachannel PeerConnection, the browser's data
 * channels and their ChannelBridges. It owns every node-datachannel callback and guards each one.
 *
 * It keeps a reference to the PeerConnection and to every DataChannel it was handed (a garbage
 * collected DataChannel destroys the native channel and its transfer stalls), and registers
 * onClosed on every channel and onStateChange on the connection (without them node-datachannel
 * keeps the process alive after close()).
 */
export class PeerSession {
  readonly session: string;
  readonly peer: number;
  readonly apiVersion: 1 | 2;
  private readonly pc: PeerConnection;
  private readonly log: Logger;
  private readonly options: PeerSessionOptions;
  private signal: SignalSink | undefined;
  private bootstrap: DataChannel | undefined;
  private control: DataChannel | undefined;
  private readonly channels = new Map<string, BridgedChannel>();
  /** Channels refused or otherwise not bridged, kept referenced until they report closed. */
  private readonly unbridged = new Set<DataChannel>();
  private readonly openOrder: string[] = [];
  private readonly tracks: Track[] = [];
  private pendingCandidates: { candidate: string; mid: string }[] = [];
  /** Local candidates not sent yet: see releaseLocalCandidates(). */
  private heldLocalCandidates: Record<string, unknown>[] = [];
  private localDescriptionSent = false;
  private remoteDescriptionSet = false;
  private localMids: string[] | undefined;
  private state: ActivePeerInfo['state'] = 'signaling';
  private ending: Promise<void> | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private disconnectedTimer: NodeJS.Timeout | undefined;

  constructor(options: PeerSessionOptions) {
    this.options = options;
    this.session = options.session;
    this.peer = options.peer;
    this.apiVersion = options.apiVersion;
    this.signal = options.signal;
    this.log = options.log.child({ session: options.session, peer: options.peer });
    this.pc = new nodeDataChannel.PeerConnection(`anbox-oob-${options.session.slice(0, 8)}-${options.peer}`, {
      iceServers: options.iceServers,
      maxMessageSize: PLATFORM_MAX_MESSAGE_BYTES,
    });
    const ctx = (what: string) => ({ what, session: this.session });
    this.pc.onLocalDescription(guard(this.log, ctx('onLocalDescription'), (sdp, type) => this.onLocalDescription(sdp, type)));
    this.pc.onLocalCandidate(guard(this.log, ctx('onLocalCandidate'), (candidate, mid) => this.onLocalCandidate(candidate, mid)));
    this.pc.onStateChange(guard(this.log, ctx('onStateChange'), (state) => this.onStateChange(state)));
    this.pc.onGatheringStateChange(guard(this.log, ctx('onGatheringStateChange'), (state) => this.log.debug({ event: 'peer.gathering', state }, `ICE gathering ${state}`)));
    this.pc.onDataChannel(guard(this.log, ctx('onDataChannel'), (dc) => this.onDataChannel(dc)));
    // API v1 offers carry audio/video m-lines (the SDK's transceivers); libdatachannel answers them
    // inactive and may hand over a Track per line: referenced and given onClosed, never used.
    this.pc.onTrack(
      guard(this.log, ctx('onTrack'), (track) => {
        this.tracks.push(track);
        track.onClosed(guard(this.log, ctx('track onClosed'), () => undefined));
        this.log.debug({ event: 'peer.track_ignored', mid: track.mid() }, 'ignoring a media track: data channels only');
      }),
    );
    this.connectTimer = setTimeout(
      guard(this.log, ctx('connect timeout'), () => {
        if (this.state === 'signaling') void this.end(`not connected within ${Math.round((options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS) / 1000)} s`);
      }),
      options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    );
    this.connectTimer.unref();
  }

  get info(): ActivePeerInfo {
    return { session: this.session, peer: this.peer, apiVersion: this.apiVersion, state: this.state, channels: [...this.openOrder] };
  }

  get ended(): boolean {
    return this.ending !== undefined;
  }

  /** Whether the remote description (the browser's answer in v2, its offer in v1) has been applied. */
  get hasRemoteDescription(): boolean {
    return this.remoteDescriptionSet;
  }

  /**
   * Out-of-band data v1: one text message on the SDK's `control` channel (see src/v1). Only while
   * connected with the control channel open; never larger than the client's max-message-size
   * (node-datachannel would throw, and Chromium advertises 262144 bytes).
   */
  sendControlText(text: string): V1SendResult {
    const control = this.control;
    if (this.state !== 'connected' || !control) {
      return refused('NO_SESSION', `session ${this.session} is ${this.state === 'connected' ? 'connected but its control channel is not open' : this.state}`);
    }
    const ctx = { what: 'v1 send on control', session: this.session, channel: CONTROL_CHANNEL };
    if (!attempt(this.log, ctx, () => control.isOpen(), false)) return refused('NO_SESSION', `the control channel of session ${this.session} is closed`);
    const bytes = Buffer.byteLength(text, 'utf8');
    const max = attempt(this.log, ctx, () => control.maxMessageSize(), 0);
    if (max > 0 && bytes > max) {
      return refused(
        'TOO_LARGE_FOR_CLIENT',
        `the control message would be ${bytes} bytes (JSON, UTF-8); at most ${max} fit one message to this client ` +
          `(the smaller of its a=max-message-size and the platform's ${PLATFORM_MAX_MESSAGE_BYTES}); Chromium takes 262144`,
      );
    }
    const buffered = attempt(this.log, ctx, () => control.bufferedAmount(), 0);
    if (buffered > MAX_CONTROL_BUFFERED_BYTES) {
      return refused('CLIENT_NOT_READING', `${buffered} bytes are still waiting on the control channel (limit ${MAX_CONTROL_BUFFERED_BYTES}); the client is not reading`);
    }
    try {
      control.sendMessage(text); // false only means "queued": still sent, in order
    } catch (error) {
      return refused('SEND_FAILED', `the control channel refused the message: ${(error as Error).message}`);
    }
    return SENT;
  }

  /** The signaling WebSocket closed: descriptions and candidates from now on have nowhere to go. */
  detachSignal(signal: SignalSink): void {
    if (this.signal === signal) this.signal = undefined;
  }

  /**
   * API v2: the server offers. libdatachannel includes m=application only when a data channel exists,
   * so the bootstrap channel is created, which also starts the (automatic) negotiation.
   */
  makeOffer(): void {
    const dc = this.pc.createDataChannel(BOOTSTRAP_CHANNEL_LABEL, { negotiated: true, id: BOOTSTRAP_CHANNEL_ID });
    this.bootstrap = dc;
    dc.onClosed(guard(this.log, { what: 'bootstrap onClosed', session: this.session }, () => undefined));
    dc.onMessage(guard(this.log, { what: 'bootstrap onMessage', session: this.session }, () => undefined));
  }

  /** API v1: the browser offered; libdatachannel answers by itself (onLocalDescription). Throws on a bad SDP. */
  acceptOffer(sdp: string): void {
    this.pc.setRemoteDescription(sdp, 'offer');
    this.remoteDescriptionSet = true;
    this.flushCandidates();
    this.releaseLocalCandidates();
  }

  /** API v2: the browser's answer to our offer. Throws on a bad SDP. */
  acceptAnswer(sdp: string): void {
    this.pc.setRemoteDescription(sdp, 'answer');
    this.remoteDescriptionSet = true;
    this.flushCandidates();
    this.releaseLocalCandidates();
  }

  /**
   * A browser candidate ("candidate:…", without "a="). Held until the remote description is set.
   * A candidate libdatachannel cannot use (an mDNS `.local` host, say) is logged and skipped: the
   * connection still forms through peer-reflexive candidates.
   */
  addRemoteCandidate(candidate: string, mid: string): void {
    if (!this.remoteDescriptionSet) {
      if (this.pendingCandidates.length >= MAX_PENDING_CANDIDATES) {
        this.log.warn({ event: 'peer.candidate_dropped' }, `more than ${MAX_PENDING_CANDIDATES} candidates before the remote description; dropped`);
        return;
      }
      this.pendingCandidates.push({ candidate, mid });
      return;
    }
    this.applyCandidate(candidate, mid);
  }

  /**
   * Ends the peer: every bridge closes first (apps see EOF, sockets are unlinked), then the channels
   * and the connection. Idempotent; resolves when all of it is done.
   */
  end(reason: string): Promise<void> {
    this.ending ??= this.shutdown(reason).catch((error: unknown) => this.log.error({ event: 'peer.end_failed', err: error }, 'ending the session failed'));
    return this.ending;
  }

  private async shutdown(reason: string): Promise<void> {
    const wasConnected = this.state === 'connected';
    this.state = 'ending';
    clearTimeout(this.connectTimer);
    clearTimeout(this.disconnectedTimer);
    this.log.info({ event: 'peer.ending', reason, wasConnected }, `session ending: ${reason}`);
    const signal = this.signal;
    this.signal = undefined;
    if (signal?.open) attempt(this.log, { what: 'closing the signaling WebSocket', session: this.session }, () => signal.close(1000, 'session ended'), undefined);
    await Promise.all([...this.channels.values()].map((channel) => this.closeChannel(channel, `session ended: ${reason}`)));
    for (const dc of [this.control, this.bootstrap, ...this.unbridged]) {
      if (dc) attempt(this.log, { what: 'closing a data channel', session: this.session }, () => dc.close(), undefined);
    }
    for (const track of this.tracks) attempt(this.log, { what: 'closing a media track', session: this.session }, () => track.close(), undefined);
    attempt(this.log, { what: 'closing the peer connection', session: this.session }, () => this.pc.close(), undefined);
    this.state = 'ended';
    this.options.emit({ type: 'peer-ended', session: this.session, peer: this.peer, reason });
  }

  private onLocalDescription(sdp: string, type: string): void {
    this.localMids = parseMids(sdp);
    if (type !== 'offer' && type !== 'answer') {
      this.log.warn({ event: 'peer.unexpected_description', type }, `ignoring a local ${type} description`);
      return;
    }
    this.log.debug({ event: 'peer.local_description', type }, `sending the ${type}`);
    this.send({ type, sdp: Buffer.from(sdp, 'utf8').toString('base64') });
    this.localDescriptionSent = true;
    this.releaseLocalCandidates();
  }

  private onLocalCandidate(candidate: string, mid: string): void {
    const line = candidate.startsWith('a=') ? candidate.slice(2) : candidate;
    const index = this.localMids?.indexOf(mid) ?? -1;
    this.heldLocalCandidates.push({ type: 'candidate', candidate: Buffer.from(line, 'utf8').toString('base64'), sdpMid: mid, sdpMLineIndex: index < 0 ? 0 : index });
    this.releaseLocalCandidates();
  }

  /**
   * Our candidates go out only after our description, and (API v2) only once the client's answer
   * is applied. Until the client knows our address it cannot start ICE; and libdatachannel fails
   * the DTLS handshake ("certificate verify failed") when the client's ClientHello arrives before
   * the answer carrying its fingerprint has been applied, which a fast client (node-datachannel,
   * whose native side starts ICE before its JS has even sent the answer) otherwise manages about
   * one time in ten. Holding them costs one signaling round trip.
   */
  private releaseLocalCandidates(): void {
    if (!this.localDescriptionSent || !this.remoteDescriptionSet) return;
    const held = this.heldLocalCandidates;
    this.heldLocalCandidates = [];
    for (const message of held) this.send(message);
  }

  private send(message: Record<string, unknown>): void {
    const signal = this.signal;
    if (!signal?.open) {
      this.log.debug({ event: 'peer.signal_dropped', type: message.type }, 'signaling WebSocket closed; message not sent');
      return;
    }
    signal.send(message);
  }

  private onStateChange(state: string): void {
    this.log.debug({ event: 'peer.state', state }, `peer connection ${state}`);
    if (this.ended) return;
    switch (state) {
      case 'connected':
        clearTimeout(this.connectTimer);
        clearTimeout(this.disconnectedTimer);
        this.disconnectedTimer = undefined;
        if (this.state !== 'connected') {
          this.state = 'connected';
          const path = selectedCandidatePair(this.pc);
          this.log.info(
            { event: 'peer.connected', ...(path ? { localCandidate: path.local, remoteCandidate: path.remote, localAddress: path.localAddress, remoteAddress: path.remoteAddress } : {}) },
            path ? `peer connected (${path.local} ↔ ${path.remote})` : 'peer connected',
          );
          this.options.emit({ type: 'peer-connected', session: this.session, peer: this.peer });
        }
        break;
      case 'disconnected': {
        if (this.disconnectedTimer) break;
        const grace = this.options.disconnectedGraceMs ?? DEFAULT_DISCONNECTED_GRACE_MS;
        this.log.warn({ event: 'peer.disconnected', graceMs: grace }, `peer disconnected; ending the session unless it reconnects within ${grace / 1000} s`);
        this.disconnectedTimer = setTimeout(
          guard(this.log, { what: 'disconnected timeout', session: this.session }, () => void this.end(`disconnected for ${grace / 1000} s`)),
          grace,
        );
        this.disconnectedTimer.unref();
        break;
      }
      case 'failed':
        void this.end('peer connection failed');
        break;
      case 'closed':
        void this.end('peer connection closed');
        break;
      default:
        break;
    }
  }

  private onDataChannel(dc: DataChannel): void {
    // Referenced at once, whatever happens next: see the class comment.
    this.unbridged.add(dc);
    const label = attempt(this.log, { what: 'reading a channel label', session: this.session }, () => dc.getLabel(), '');
    const ctx = (what: string) => ({ what, session: this.session, channel: label });
    dc.onClosed(guard(this.log, ctx('onClosed'), () => this.onChannelClosed(dc, label)));
    dc.onError(guard(this.log, ctx('onError'), (error) => this.log.warn({ event: 'channel.error', channel: label, error }, `data channel error: ${error}`)));
    if (this.ended) {
      this.refuse(dc, label, 'the session is ending');
      return;
    }
    if (label === CONTROL_CHANNEL) {
      if (this.control) {
        this.refuse(dc, label, 'a second control channel');
        return;
      }
      this.unbridged.delete(dc);
      this.control = dc;
      dc.onMessage(guard(this.log, ctx('control onMessage'), (message) => this.onControlMessage(message)));
      this.log.debug({ event: 'channel.control_open' }, 'control channel open');
      return;
    }
    dc.onMessage(guard(this.log, ctx('onMessage'), (message) => this.onChannelMessage(dc, label, message)));
    dc.onBufferedAmountLow(guard(this.log, ctx('onBufferedAmountLow'), () => this.channels.get(label)?.bridge?.handleBufferedAmountLow()));
    const refusal = this.checkChannel(label) ?? remoteMaxMessageSizeRefusal(attempt(this.log, ctx('reading maxMessageSize'), () => dc.maxMessageSize(), Number.NaN));
    if (refusal !== undefined) {
      this.refuse(dc, label, refusal);
      return;
    }
    this.unbridged.delete(dc);
    this.bridgeChannel(dc, label);
  }

  /** Why a channel may not be bridged, or undefined when it may. */
  private checkChannel(label: string): string | undefined {
    try {
      channelSocketPath(this.options.socketDir, label);
    } catch (error) {
      return error instanceof ChannelNameError ? error.message : String(error);
    }
    if (this.channels.has(label)) return `a channel named "${label}" is already open in this session`;
    if (this.channels.size >= MAX_CHANNELS_PER_SESSION) return `at most ${MAX_CHANNELS_PER_SESSION} data channels per session (as in the SDK)`;
    return undefined;
  }

  private bridgeChannel(dc: DataChannel, name: string): void {
    // The bridge adds the channel binding itself; passing this child too gave "channel" twice per line.
    const log = this.log.child({ channel: name });
    const channel: BridgedChannel = { name, dc, log, bridge: undefined, opening: Promise.resolve(undefined), closing: undefined, pending: [], pendingBytes: 0 };
    this.channels.set(name, channel);
    channel.opening = ChannelBridge.open({
      socketDir: this.options.socketDir,
      name,
      port: new NodeDataChannelPort(dc),
      binary: this.options.binary,
      socketMode: this.options.channelSocketMode,
      allowSharedDir: this.options.allowSharedDir,
      log: this.log,
    }).then(
      (bridge) => {
        if (channel.closing || this.ended) return bridge; // closeChannel() closes it
        channel.bridge = bridge;
        const pending = channel.pending;
        channel.pending = [];
        channel.pendingBytes = 0;
        for (const message of pending) bridge.handleBrowserMessage(message);
        this.openOrder.push(name);
        log.info({ event: 'channel.open', path: bridge.path }, `channel "${name}" open: ${bridge.path}`);
        this.options.emit({ type: 'channel-open', session: this.session, peer: this.peer, channel: name, path: bridge.path });
        return bridge;
      },
      (error: unknown) => {
        const reason = `cannot open its socket: ${error instanceof Error ? error.message : String(error)}`;
        this.channels.delete(name);
        this.unbridged.add(dc);
        if (!channel.closing) this.refuse(dc, name, reason);
        return undefined;
      },
    );
    channel.opening = channel.opening.catch((error: unknown) => {
      log.error({ event: 'channel.open_failed', err: error }, 'setting up the channel failed');
      return channel.bridge;
    });
  }

  private onChannelMessage(dc: DataChannel, label: string, message: string | Buffer | ArrayBuffer): void {
    const channel = this.channels.get(label);
    if (!channel || channel.dc !== dc || channel.closing) return; // refused or closing: dropped
    const data = toBrowserMessage(message);
    if (channel.bridge) {
      channel.bridge.handleBrowserMessage(data);
      return;
    }
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    if (channel.pendingBytes + bytes > MAX_PENDING_BEFORE_BRIDGE_BYTES) {
      void this.closeChannel(channel, `the browser sent more than ${MAX_PENDING_BEFORE_BRIDGE_BYTES} bytes before the channel socket was ready`);
      return;
    }
    channel.pending.push(data);
    channel.pendingBytes += bytes;
  }

  private onChannelClosed(dc: DataChannel, label: string): void {
    if (this.unbridged.delete(dc)) return;
    if (dc === this.control) {
      this.log.debug({ event: 'channel.control_closed' }, 'control channel closed');
      return;
    }
    const channel = this.channels.get(label);
    if (channel && channel.dc === dc) void this.closeChannel(channel, 'closed by the browser');
  }

  private onControlMessage(message: string | Buffer | ArrayBuffer): void {
    const text = typeof message === 'string' ? message : Buffer.from(toBrowserMessage(message)).toString('utf8');
    let type: unknown;
    try {
      type = (JSON.parse(text) as { type?: unknown } | null)?.type;
    } catch {
      this.log.debug({ event: 'control.ignored', bytes: text.length }, 'ignoring a control message that is not JSON');
      return;
    }
    if (type === 'stream::disconnect') {
      void this.end('the client sent stream::disconnect');
      return;
    }
    this.log.debug({ event: 'control.ignored', type }, 'ignoring a control message');
  }

  /** Closes one bridged channel: its bridge first (EOF to the app, socket unlinked), then the channel. */
  private closeChannel(channel: BridgedChannel, reason: string): Promise<void> {
    channel.closing ??= (async () => {
      const bridge = await channel.opening;
      if (bridge) await bridge.close(reason);
      attempt(channel.log, { what: 'closing a data channel', session: this.session, channel: channel.name }, () => channel.dc.close(), undefined);
      if (this.channels.get(channel.name) === channel) this.channels.delete(channel.name);
      const at = this.openOrder.indexOf(channel.name);
      if (at >= 0) this.openOrder.splice(at, 1);
      if (bridge) {
        channel.log.info({ event: 'channel.closed', reason }, `channel "${channel.name}" closed: ${reason}`);
        this.options.emit({ type: 'channel-closed', session: this.session, peer: this.peer, channel: channel.name, reason });
      }
    })();
    return channel.closing;
  }

  /** Closes a channel that will not be bridged; the rest of the session goes on. */
  private refuse(dc: DataChannel, label: string, reason: string): void {
    this.log.warn({ event: 'channel.rejected', channel: label, reason }, `data channel ${JSON.stringify(label)} rejected: ${reason}`);
    this.options.emit({ type: 'channel-rejected', session: this.session, peer: this.peer, channel: label, reason });
    attempt(this.log, { what: 'closing a rejected data channel', session: this.session, channel: label }, () => dc.close(), undefined);
  }

  private flushCandidates(): void {
    const pending = this.pendingCandidates;
    this.pendingCandidates = [];
    for (const { candidate, mid } of pending) this.applyCandidate(candidate, mid);
  }

  private applyCandidate(candidate: string, mid: string): void {
    try {
      this.pc.addRemoteCandidate(candidate, mid);
    } catch (error) {
      this.log.debug({ event: 'peer.candidate_skipped', err: error }, 'remote candidate not usable; skipped');
    }
  }
}

/** The a=mid values of an SDP, in m-line order (sdpMLineIndex is a position in this list). */
export function parseMids(sdp: string): string[] {
  const mids: string[] = [];
  let inMedia = false;
  let current: string | undefined;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) {
      if (inMedia) mids.push(current ?? String(mids.length));
      inMedia = true;
      current = undefined;
    } else if (inMedia && line.startsWith('a=mid:')) {
      current = line.slice('a=mid:'.length).trim();
    }
  }
  if (inMedia) mids.push(current ?? String(mids.length));
  return mids;
}
