/**
 * The Anbox WebSocket signaling messages as the JS SDK sends and receives them (JSON text frames;
 * SDP and ICE candidates base64-encoded). See ../../docs or the reference "anbox-oob-v2.md".
 */

export type ApiVersion = 1 | 2;

/** Client → server. */
export type ClientSignal =
  | { type: 'discover' }
  | {
      type: 'settings';
      api_version: ApiVersion;
      data_channels?: string[];
      enable_speaker?: boolean;
      enable_microphone?: boolean;
      enable_video?: boolean;
      enable_camera?: boolean;
    }
  | { type: 'offer'; sdp: string; dataChannels: string[] }
  | { type: 'answer'; sdp: string }
  | CandidateSignal;

export interface CandidateSignal {
  type: 'candidate';
  /** base64 of "candidate:…" (no "a=" prefix). */
  candidate: string;
  sdpMid: string;
  sdpMLineIndex: number;
}

/** Server → client, after parsing. `unknown` keeps anything else for logging. */
export type ServerSignal =
  | { type: 'resp:discover'; maxApiVersion: number; capabilities: string[] }
  | { type: 'offer'; sdp: string }
  | { type: 'answer'; sdp: string }
  | { type: 'candidate'; candidate: string; sdpMid: string; sdpMLineIndex: number }
  | { type: 'error'; message: string }
  | { type: 'unknown'; rawType: string };

export class SignalingProtocolError extends Error {
  override readonly name = 'SignalingProtocolError';
}

export function encodeBase64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** Strict base64 (standard alphabet, padding optional) to UTF-8 text; throws on anything else. */
export function decodeBase64(value: string, what: string): string {
  const compact = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw new SignalingProtocolError(`${what} is not base64`);
  }
  return Buffer.from(compact, 'base64').toString('utf8');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses one text frame from the server. Throws SignalingProtocolError for malformed JSON or a
 * known message type with missing or mistyped fields; unknown types come back as `unknown`.
 * SDP and candidates are returned decoded.
 */
export function parseServerSignal(frame: string): ServerSignal {
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    throw new SignalingProtocolError(`signaling frame is not JSON: ${frame.slice(0, 80)}`);
  }
  if (!isRecord(value) || typeof value.type !== 'string') {
    throw new SignalingProtocolError('signaling message has no "type"');
  }
  switch (value.type) {
    case 'resp:discover': {
      const max = value.max_api_version;
      if (typeof max !== 'number' || !Number.isInteger(max)) {
        throw new SignalingProtocolError('resp:discover without an integer max_api_version');
      }
      const capabilities = Array.isArray(value.capabilities) ? value.capabilities.filter((c): c is string => typeof c === 'string') : [];
      return { type: 'resp:discover', maxApiVersion: max, capabilities };
    }
    case 'offer':
    case 'answer': {
      if (typeof value.sdp !== 'string') throw new SignalingProtocolError(`${value.type} without an "sdp" string`);
      return { type: value.type, sdp: decodeBase64(value.sdp, `${value.type} sdp`) };
    }
    case 'candidate': {
      if (typeof value.candidate !== 'string') throw new SignalingProtocolError('candidate without a "candidate" string');
      const sdpMid = typeof value.sdpMid === 'string' ? value.sdpMid : typeof value.sdpMid === 'number' ? String(value.sdpMid) : '0';
      const sdpMLineIndex = typeof value.sdpMLineIndex === 'number' ? value.sdpMLineIndex : 0;
      return { type: 'candidate', candidate: decodeBase64(value.candidate, 'candidate'), sdpMid, sdpMLineIndex };
    }
    case 'error':
      return { type: 'error', message: typeof value.message === 'string' ? value.message : JSON.stringify(value.message ?? 'unspecified error') };
    default:
      return { type: 'unknown', rawType: value.type };
  }
}

/** "a=candidate:…" → "candidate:…" (the browser's RTCIceCandidate.candidate form). */
export function stripAttributePrefix(candidate: string): string {
  return candidate.startsWith('a=') ? candidate.slice(2) : candidate;
}

/** The m-line index of `mid` in an SDP (0 when absent, as for a data-only session). */
export function mLineIndexOf(sdp: string, mid: string): number {
  let index = -1;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) index++;
    else if (line === `a=mid:${mid}` && index >= 0) return index;
  }
  return 0;
}
