import type { GatewayStunServer } from './gateway-responses.js';

/** One `--stun URL`: what the browser gets (gateway metadata) and what node-datachannel gets. */
export interface IceServerSetting {
  /** As given; node-datachannel parses the same syntax (credentials included). */
  native: string;
  /** For the gateway's `stun_servers`: the URL without credentials, and the credentials apart. */
  browser: GatewayStunServer;
}

export class IceServerError extends Error {
  override readonly name = 'IceServerError';
}

const ICE_URL = /^(stun|stuns|turn|turns):(?:([^:@/?]+):([^@/?]+)@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(\?transport=(?:udp|tcp))?$/;

/**
 * Parses `stun:HOST[:PORT]`, `stuns:…`, `turn:[USER:PASSWORD@]HOST[:PORT][?transport=udp|tcp]`,
 * `turns:…`. The `USER:PASSWORD@` form is libdatachannel's; browsers want the credentials apart,
 * so the gateway's metadata carries them as `username`/`password`.
 */
export function parseIceServer(url: string): IceServerSetting {
  const match = ICE_URL.exec(url.trim());
  if (!match) {
    throw new IceServerError(`"${url}" is not a STUN/TURN URL; expected stun:HOST[:PORT] or turn:USER:PASSWORD@HOST[:PORT][?transport=udp|tcp]`);
  }
  const [, scheme, user, password, host, port, query] = match;
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw new IceServerError(`"${url}": port ${port} is out of range`);
  const isTurn = scheme === 'turn' || scheme === 'turns';
  if (isTurn && user === undefined) throw new IceServerError(`"${url}": a TURN server needs credentials: turn:USER:PASSWORD@HOST[:PORT]`);
  const browserUrl = `${scheme}:${host}${port === undefined ? '' : `:${port}`}${query ?? ''}`;
  const browser: GatewayStunServer = { urls: [browserUrl] };
  if (user !== undefined && password !== undefined) {
    browser.username = safeDecode(user);
    browser.password = safeDecode(password);
  }
  return { native: url.trim(), browser };
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * --turn insists on a relay: a STUN URL there is a mistake to hear about at start, since a peer
 * that can reach this host only through TURN would otherwise fail later, at ICE time. Returns the
 * URL trimmed; the rest is checked by parseIceServer.
 */
export function requireTurnUrl(url: string): string {
  const text = url.trim();
  if (!/^turns?:/.test(text)) {
    throw new IceServerError(`"${url}" is not a TURN URL; expected turn:USER:PASSWORD@HOST[:PORT][?transport=udp|tcp] or turns:…${/^stuns?:/.test(text) ? ' (a STUN server goes in --stun)' : ''}`);
  }
  parseIceServer(text);
  return text;
}
