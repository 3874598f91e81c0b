/**
 * What the platform reports about its sessions and channels: to tests (Platform.onEvent,
 * Platform.history) and to anything embedding it. "Session" is the gateway's session (an id the
 * SDK may join); "peer" is one WebRTC connection of that session, numbered from 1 per platform.
 * Only one peer streams at a time: starting one ends the previous one first.
 */
export type PlatformEvent =
  | { readonly type: 'session-created'; readonly session: string }
  | { readonly type: 'session-joined'; readonly session: string }
  | { readonly type: 'peer-started'; readonly session: string; readonly peer: number; readonly apiVersion: 1 | 2 }
  | { readonly type: 'peer-connected'; readonly session: string; readonly peer: number }
  | { readonly type: 'peer-ended'; readonly session: string; readonly peer: number; readonly reason: string }
  | { readonly type: 'channel-open'; readonly session: string; readonly peer: number; readonly channel: string; readonly path: string }
  | { readonly type: 'channel-closed'; readonly session: string; readonly peer: number; readonly channel: string; readonly reason: string }
  | { readonly type: 'channel-rejected'; readonly session: string; readonly peer: number; readonly channel: string; readonly reason: string }
  | { readonly type: 'signaling-error'; readonly session: string; readonly message: string };

export type PlatformEventType = PlatformEvent['type'];
export type PlatformEventOf<T extends PlatformEventType> = Extract<PlatformEvent, { type: T }>;

export interface ActivePeerInfo {
  session: string;
  peer: number;
  apiVersion: 1 | 2;
  state: 'signaling' | 'connected' | 'ending' | 'ended';
  /** Bridged channels whose socket is open, in the order they opened. */
  channels: string[];
}

export interface PlatformStats {
  sessionsCreated: number;
  sessionsJoined: number;
  /** Session ids the gateway still knows (POSTed or joined, not evicted). */
  sessionsKnown: number;
  peersStarted: number;
  peersEnded: number;
  channelsOpened: number;
  channelsClosed: number;
  channelsRejected: number;
  signalingConnections: number;
  signalingRefused: number;
  signalingErrors: number;
  /** Gateway connections closed at once because the gateway was at its connection cap. */
  connectionsDropped: number;
  /** Requests with a wrong or missing token (429s not included). */
  authFailures: number;
  /** The peer streaming now, if any. */
  active: ActivePeerInfo | null;
}
