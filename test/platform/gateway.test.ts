/**
 * The Stream Gateway subset, exactly as the SDK's AnboxStreamGatewayConnector needs it, CORS, the
 * JSON errors, and the page's static files (with traversal refused).
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../src/platform/gateway.js';
import { Platform } from '../../src/platform/platform.js';
import { captureLogger, startHarness, TEST_TOKEN, type Harness } from './helpers/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ stunUrls: ['stun:stun.example.net:3478', 'turn:alice:s3cret@turn.example.net:3478?transport=tcp'] });
  mkdirSync(join(h.webDir, 'assets'), { recursive: true });
  writeFileSync(join(h.webDir, 'index.html'), '<!doctype html><title>page</title>');
  writeFileSync(join(h.webDir, 'app.js'), 'export const x = 1;');
  writeFileSync(join(h.webDir, 'style.css'), 'body{}');
  writeFileSync(join(h.webDir, 'assets', 'data.json'), '{}');
  writeFileSync(join(h.webDir, '.hidden'), 'HIDDEN CONTENT');
  writeFileSync(join(h.dir, 'secret.txt'), 'TOP SECRET');
  symlinkSync(join(h.dir, 'secret.txt'), join(h.webDir, 'link.txt'));
});

afterAll(async () => {
  await h.close();
});

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request with the path sent exactly as given (fetch would normalise "..", this does not). */
function raw(method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<RawResponse> {
  const url = new URL(h.platform.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const auth = { Authorization: `Macaroon root=${TEST_TOKEN}`, 'Content-Type': 'application/json' };
const sdkBody = JSON.stringify({ app: 'any', region: '', joinable: false, screen: { width: 1280, height: 720, fps: 60, density: 240 }, extra_data: null });

describe('POST /1.0/sessions/', () => {
  it('answers 201 in the gateway shape, with a ws:// signaling URL carrying a secret, and the STUN servers', async () => {
    const response = await fetch(`${h.platform.url}/1.0/sessions/`, { method: 'POST', headers: auth, body: sdkBody });
    expect(response.status).toBe(201);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    // A page reads Retry-After (503 no free instance, 429) only when it is exposed.
    expect(response.headers.get('access-control-expose-headers')).toBe('Retry-After');
    expect(response.headers.get('content-type')).toBe('application/json');
    const body = (await response.json()) as Record<string, unknown> & { metadata: { id: string; url: string } };
    expect(Object.keys(body).sort()).toEqual(['metadata', 'status', 'status_code', 'type']);
    expect(body).toMatchObject({ type: 'sync', status: 'success', status_code: 201 });
    expect(Object.keys(body.metadata).sort()).toEqual(['id', 'stun_servers', 'url']);
    expect(body.metadata.id).toMatch(/^[0-9a-f]{32}$/);
    const port = new URL(h.platform.url).port;
    expect(body.metadata.url).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:${port}/1\\.0/sessions/${body.metadata.id}/signaling\\?secret=[A-Za-z0-9_-]{43}$`));
    expect(body).toMatchObject({
      metadata: {
        stun_servers: [
          { urls: ['stun:stun.example.net:3478'] },
          { urls: ['turn:turn.example.net:3478?transport=tcp'], username: 'alice', password: 's3cret' },
        ],
      },
    });
    expect(h.platform.stats.sessionsCreated).toBeGreaterThan(0);
  });

  it('accepts the path without the trailing slash, an empty body, and any case of the scheme', async () => {
    for (const scheme of ['Macaroon', 'macaroon', 'MACAROON']) {
      const response = await raw('POST', '/1.0/sessions', { Authorization: `${scheme} root=${TEST_TOKEN}` });
      expect(response.status, scheme).toBe(201);
    }
  });

  it('puts the Host the client used into the signaling URL', async () => {
    const response = await raw('POST', '/1.0/sessions/', { ...auth, Host: `localhost:${new URL(h.platform.url).port}` }, sdkBody);
    expect((JSON.parse(response.body) as { metadata: { url: string } }).metadata.url).toMatch(/^ws:\/\/localhost:\d+\//);
  });

  it.each([
    ['no Authorization header', {}],
    ['a wrong token', { Authorization: 'Macaroon root=wrong' }],
    ['a token with a suffix', { Authorization: `Macaroon root=${TEST_TOKEN}x` }],
    ['a token prefix', { Authorization: `Macaroon root=${TEST_TOKEN.slice(0, -1)}` }],
    ['another scheme', { Authorization: `Bearer ${TEST_TOKEN}` }],
    ['no root=', { Authorization: `Macaroon ${TEST_TOKEN}` }],
    ['an empty value', { Authorization: '' }],
  ])('refuses %s with 401 and a JSON error', async (_what, headers: Record<string, string>) => {
    const response = await raw('POST', '/1.0/sessions/', { 'Content-Type': 'application/json', ...headers }, sdkBody);
    expect(response.status).toBe(401);
    expect(response.headers['access-control-allow-origin']).toBe('*');
    expect(response.headers['access-control-expose-headers']).toBe('Retry-After');
    const body = JSON.parse(response.body) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['error', 'status', 'status_code', 'type']);
    expect(body).toMatchObject({ type: 'error', status: 'Unauthorized', status_code: 401 });
    expect(typeof body.error).toBe('string');
  });

  it('refuses malformed JSON and non-object bodies with 400', async () => {
    for (const body of ['{"app":', 'not json', '[1,2]', '42', 'null']) {
      const response = await raw('POST', '/1.0/sessions/', auth, body);
      expect(response.status, body).toBe(400);
      expect(JSON.parse(response.body)).toMatchObject({ type: 'error', status: 'Bad Request', status_code: 400 });
    }
  });

  it('refuses a body above the limit with 413', async () => {
    const response = await raw('POST', '/1.0/sessions/', auth, Buffer.alloc(MAX_BODY_BYTES + 1, 0x20));
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body)).toMatchObject({ type: 'error', status_code: 413 });
  });

  it('refuses a chunked body (no Content-Length) that grows past the limit with 413', async () => {
    const response = await raw('POST', '/1.0/sessions/', { ...auth, 'Transfer-Encoding': 'chunked' }, Buffer.alloc(MAX_BODY_BYTES + 1, 0x20));
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body)).toMatchObject({ type: 'error', status_code: 413 });
  });

  it('checks the token before reading the body', async () => {
    const response = await raw('POST', '/1.0/sessions/', { 'Content-Type': 'application/json' }, '{bad');
    expect(response.status).toBe(401);
  });

  it('answers other methods with 405', async () => {
    const response = await raw('GET', '/1.0/sessions/', auth);
    expect(response.status).toBe(405);
    expect(JSON.parse(response.body)).toMatchObject({ type: 'error', status: 'Method Not Allowed', status_code: 405 });
  });
});

describe('POST /1.0/sessions/<id>/join', () => {
  it('answers 200 in the same shape with a new signaling URL for the same session', async () => {
    const created = (await (await fetch(`${h.platform.url}/1.0/sessions/`, { method: 'POST', headers: auth, body: sdkBody })).json()) as {
      metadata: { id: string; url: string };
    };
    const response = await fetch(`${h.platform.url}/1.0/sessions/${created.metadata.id}/join`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ screen: { width: 1280, height: 720 } }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    const body = (await response.json()) as { metadata: { id: string; url: string; stun_servers: unknown[] } };
    expect(body).toMatchObject({ type: 'sync', status: 'success', status_code: 200, metadata: { id: created.metadata.id } });
    expect(body.metadata.url).not.toBe(created.metadata.url);
    expect(Array.isArray(body.metadata.stun_servers)).toBe(true);
  });

  it('answers 404 for an unknown session and 401 without the token', async () => {
    const unknown = await raw('POST', '/1.0/sessions/0123456789abcdef0123456789abcdef/join', auth, '{}');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ type: 'error', status: 'Not Found', status_code: 404 });
    const noToken = await raw('POST', '/1.0/sessions/0123456789abcdef0123456789abcdef/join', {}, '{}');
    expect(noToken.status).toBe(401);
  });
});

describe('CORS', () => {
  it('answers the preflight with 204 and names Authorization and Content-Type explicitly', async () => {
    const response = await raw('OPTIONS', '/1.0/sessions/', {
      Origin: 'https://example.com',
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization,content-type',
    });
    expect(response.status).toBe(204);
    expect(response.headers['access-control-allow-origin']).toBe('*');
    expect(String(response.headers['access-control-allow-methods'])).toContain('POST');
    const allowed = String(response.headers['access-control-allow-headers']).split(',').map((s) => s.trim().toLowerCase());
    expect(allowed).toContain('authorization');
    expect(allowed).toContain('content-type');
  });

  it('allows a public page to reach the local server (Private Network Access preflight)', async () => {
    const response = await raw('OPTIONS', '/1.0/sessions/', { Origin: 'https://example.com', 'Access-Control-Request-Private-Network': 'true' });
    expect(response.headers['access-control-allow-private-network']).toBe('true');
  });
});

describe('other routes', () => {
  it('answers unknown API routes with a 404 JSON error', async () => {
    for (const path of ['/1.0/', '/1.0/nothing', '/1.0/sessions/x/y', '/2.0/sessions/']) {
      const response = await raw('POST', path, auth, '{}');
      expect([404, 405], path).toContain(response.status);
      expect(JSON.parse(response.body)).toMatchObject({ type: 'error' });
      expect(response.headers['access-control-allow-origin']).toBe('*');
    }
    const missing = await raw('GET', '/nope.html');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ type: 'error', status: 'Not Found', status_code: 404 });
  });

  it('answers a plain GET of a signaling URL with 426', async () => {
    const response = await raw('GET', '/1.0/sessions/abc/signaling?secret=x');
    expect(response.status).toBe(426);
  });
});

describe('the page', () => {
  it('serves index.html at / and the files beside it with their content types', async () => {
    const index = await raw('GET', '/');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.body).toContain('<title>page</title>');
    expect(index.headers['access-control-allow-origin']).toBe('*');
    const withQuery = await raw('GET', '/?token=abc');
    expect(withQuery.status).toBe(200);
    const js = await raw('GET', '/app.js');
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.body).toBe('export const x = 1;');
    expect((await raw('GET', '/style.css')).headers['content-type']).toBe('text/css; charset=utf-8');
    expect((await raw('GET', '/assets/data.json')).headers['content-type']).toBe('application/json; charset=utf-8');
    const head = await raw('HEAD', '/app.js');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String('export const x = 1;'.length));
    expect(head.body).toBe('');
  });

  it.each([
    '/../secret.txt',
    '/assets/../../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2E%2E%2Fsecret.txt',
    '/assets/%2e%2e/%2e%2e/secret.txt',
    '/..%5csecret.txt',
    '/link.txt',
    '/.hidden',
    '/%00',
    '//etc/passwd',
  ])('refuses %s', async (path) => {
    const response = await raw('GET', path);
    expect([400, 404]).toContain(response.status);
    expect(response.body).not.toContain('TOP SECRET');
    expect(response.body).not.toContain('HIDDEN CONTENT');
    expect(response.body).not.toContain('root:');
  });

  it('refuses other methods on files with 405', async () => {
    const response = await raw('POST', '/app.js', {}, 'x');
    expect(response.status).toBe(405);
  });

  it('serves the real page from src/web by default', async () => {
    const { log } = captureLogger();
    const platform = await Platform.start({ socketDir: join(h.dir, 'sockets-default'), listen: { host: '127.0.0.1', port: 0 }, token: 't', log });
    try {
      expect(platform.webDir).toMatch(/src[/\\]web$/);
      const response = await fetch(`${platform.url}/`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    } finally {
      await platform.close();
    }
  });
});

describe('start-up', () => {
  it('generates a token when none is given, and fails clearly when the port is taken', async () => {
    const { log } = captureLogger();
    const port = Number(new URL(h.platform.url).port);
    await expect(Platform.start({ socketDir: join(h.dir, 's2'), listen: { host: '127.0.0.1', port }, log })).rejects.toThrow(
      /cannot listen on 127\.0\.0\.1:\d+: the address is already in use.*use --listen HOST:PORT/,
    );
    const platform = await Platform.start({ socketDir: join(h.dir, 's3'), listen: { host: '127.0.0.1', port: 0 }, log });
    try {
      expect(platform.tokenGenerated).toBe(true);
      expect(platform.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(platform.pageUrl).toBe(`${platform.url}/?token=${platform.token}`);
    } finally {
      await platform.close();
    }
  });

  it('refuses a malformed --stun URL', async () => {
    const { log } = captureLogger();
    await expect(Platform.start({ socketDir: join(h.dir, 's4'), listen: { host: '127.0.0.1', port: 0 }, stunUrls: ['http://x'], log })).rejects.toThrow(/--stun/);
  });
});
