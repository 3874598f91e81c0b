/** The platform's small pure parts: auth header, ICE URLs, --listen, SDP mids, the callback guard. */
import { describe, expect, it } from 'vitest';
import { parseListen, platformSettings } from '../../src/cli/daemon-options.js';
import { checkAuthorization, generateToken, secretsEqual } from '../../src/platform/auth.js';
import { guard } from '../../src/platform/guard.js';
import { IceServerError, parseIceServer } from '../../src/platform/ice-servers.js';
import { parseMids } from '../../src/platform/peer-session.js';
import { captureLogger } from './helpers/harness.js';

describe('checkAuthorization', () => {
  it('accepts "Macaroon root=<token>" with the scheme in any case and surrounding spaces', () => {
    for (const header of ['Macaroon root=tok', 'macaroon root=tok', 'MACAROON root=tok', '  Macaroon   root=tok  ', 'Macaroon ROOT=tok']) {
      expect(checkAuthorization(header, 'tok'), header).toEqual({ ok: true });
    }
  });

  it('refuses everything else, saying why', () => {
    expect(checkAuthorization(undefined, 'tok')).toMatchObject({ ok: false, reason: expect.stringContaining('missing') });
    expect(checkAuthorization('Bearer tok', 'tok')).toMatchObject({ ok: false, reason: expect.stringContaining('scheme') });
    expect(checkAuthorization('Macaroon tok', 'tok')).toMatchObject({ ok: false, reason: expect.stringContaining('malformed') });
    expect(checkAuthorization('Macaroon root=', 'tok')).toMatchObject({ ok: false });
    expect(checkAuthorization('Macaroon root=tok2', 'tok')).toEqual({ ok: false, reason: 'invalid token' });
    expect(checkAuthorization('Macaroon root=to', 'tok')).toEqual({ ok: false, reason: 'invalid token' });
    expect(checkAuthorization('Macaroon root=tok extra', 'tok')).toMatchObject({ ok: false });
  });

  it('compares secrets of any length', () => {
    expect(secretsEqual('a', 'a')).toBe(true);
    expect(secretsEqual('a', 'ab')).toBe(false);
    expect(secretsEqual('', 'a')).toBe(false);
    expect(generateToken()).not.toBe(generateToken());
  });
});

describe('parseIceServer', () => {
  it('keeps STUN URLs and splits TURN credentials out for the browser', () => {
    expect(parseIceServer('stun:stun.l.google.com:19302')).toEqual({ native: 'stun:stun.l.google.com:19302', browser: { urls: ['stun:stun.l.google.com:19302'] } });
    expect(parseIceServer('stun:[::1]')).toEqual({ native: 'stun:[::1]', browser: { urls: ['stun:[::1]'] } });
    expect(parseIceServer('turn:bob:p%40ss@turn.example.org:3478?transport=tcp')).toEqual({
      native: 'turn:bob:p%40ss@turn.example.org:3478?transport=tcp',
      browser: { urls: ['turn:turn.example.org:3478?transport=tcp'], username: 'bob', password: 'p@ss' },
    });
  });

  it('refuses what is not a STUN/TURN URL, and TURN without credentials', () => {
    for (const bad of ['http://x', 'stun:', 'stun:host:99999', 'stun:host name', 'turn:turn.example.org', '']) {
      expect(() => parseIceServer(bad), bad).toThrow(IceServerError);
    }
  });
});

describe('--listen and the platform options', () => {
  it('parses PORT, HOST:PORT and [V6]:PORT', () => {
    expect(parseListen('9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(parseListen('0.0.0.0:8777')).toEqual({ host: '0.0.0.0', port: 8777 });
    expect(parseListen('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    expect(parseListen('[::1]:8777')).toEqual({ host: '::1', port: 8777 });
  });

  it('refuses malformed addresses with a usage error', () => {
    for (const bad of ['', ':8777', 'host:', 'host:port', '::1:8777', 'host:70000', 'a b:1']) {
      expect(() => parseListen(bad), bad).toThrow(/--listen/);
    }
  });

  it('takes the token from --token, else ANBOX_OOB_TOKEN, else generates one', () => {
    expect(platformSettings({ token: 'flag-token-0123456789' }, { ANBOX_OOB_TOKEN: 'env-token-0123456789' })).toMatchObject({ token: 'flag-token-0123456789', tokenSource: 'flag' });
    expect(platformSettings({}, { ANBOX_OOB_TOKEN: 'env-token-0123456789' })).toMatchObject({ token: 'env-token-0123456789', tokenSource: 'env' });
    // Given tokens need 16 characters, wherever they come from.
    expect(() => platformSettings({ token: 'flag' }, {})).toThrow(/at least 16/);
    expect(() => platformSettings({}, { ANBOX_OOB_TOKEN: 'env' })).toThrow(/ANBOX_OOB_TOKEN.*at least 16/);
    expect(platformSettings({}, {})).toMatchObject({ token: undefined, tokenSource: 'generated', listen: { host: '127.0.0.1', port: 8777 }, stunUrls: [], binary: false });
    expect(platformSettings({ listen: '1.2.3.4:5' }, { ANBOX_OOB_LISTEN: '0.0.0.0:1' }).listen).toEqual({ host: '1.2.3.4', port: 5 });
    expect(platformSettings({}, { ANBOX_OOB_LISTEN: '0.0.0.0:1' }).listen).toEqual({ host: '0.0.0.0', port: 1 });
    expect(() => platformSettings({ token: 'has space' }, {})).toThrow(/token/);
  });

  it('adds --turn servers after --stun ones, and refuses anything but a turn/turns URL with credentials', () => {
    expect(platformSettings({ stun: ['stun:s:3478'], turn: [' turn:u:p@t:3478?transport=tcp', 'turns:u:p@t'] }, {}).stunUrls).toEqual([
      'stun:s:3478',
      'turn:u:p@t:3478?transport=tcp',
      'turns:u:p@t',
    ]);
    expect(() => platformSettings({ turn: ['stun:s:3478'] }, {})).toThrow(/--turn: .*a STUN server goes in --stun/);
    expect(() => platformSettings({ turn: ['turn:t:3478'] }, {})).toThrow(/--turn: .*needs credentials/);
    expect(() => platformSettings({ turn: ['http://t'] }, {})).toThrow(/--turn: .*not a TURN URL/);
  });
});

describe('parseMids', () => {
  it('lists the a=mid of each m-line in order', () => {
    const sdp = 'v=0\r\nm=audio 9 UDP 0\r\na=mid:a\r\nm=video 9 UDP 0\r\na=mid:v\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:d\r\n';
    expect(parseMids(sdp)).toEqual(['a', 'v', 'd']);
    expect(parseMids('v=0\nm=application 9 x\n')).toEqual(['0']);
    expect(parseMids('v=0\r\n')).toEqual([]);
  });
});

describe('guard', () => {
  it('logs a throw or a rejection against its context instead of letting it escape', async () => {
    const { log, lines } = captureLogger();
    const sync = guard(log, { what: 'onMessage', session: 's1', channel: 'foo' }, () => {
      throw new Error('boom');
    });
    expect(() => sync()).not.toThrow();
    const asyncFn = guard(log, { what: 'onClosed', session: 's2' }, async () => {
      throw new Error('later');
    });
    asyncFn();
    await new Promise((r) => setTimeout(r, 10));
    expect(lines.filter((l) => l.event === 'platform.callback_failed').map((l) => [l.what, l.session, l.channel])).toEqual([
      ['onMessage', 's1', 'foo'],
      ['onClosed', 's2', undefined],
    ]);
  });

  it('passes arguments through', () => {
    const { log } = captureLogger();
    const seen: unknown[] = [];
    guard(log, { what: 'x' }, (a: number, b: string) => void seen.push(a, b))(1, 'two');
    expect(seen).toEqual([1, 'two']);
  });
});
