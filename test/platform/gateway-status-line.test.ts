/**
 * The status line of every gateway answer, read off a raw TCP socket (fetch and node:http hide the
 * reason phrase): real HTTP stacks and proxies log it, so a success must not read "201 Error".
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, TEST_TOKEN, type Harness } from './helpers/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
  mkdirSync(h.webDir, { recursive: true });
  writeFileSync(join(h.webDir, 'index.html'), '<!doctype html><title>page</title>');
});

afterAll(async () => {
  await h.close();
});

/** Sends `request` as bytes and resolves with the first line the server answers. */
function statusLine(request: string): Promise<string> {
  const url = new URL(h.platform.url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n');
      if (end >= 0) {
        socket.destroy();
        resolve(received.slice(0, end));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`connection closed before a status line; got ${JSON.stringify(received)}`)));
    socket.write(request);
  });
}

function post(path: string, body: string, auth = true): string {
  const headers = [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close'];
  if (auth) headers.push(`Authorization: Macaroon root=${TEST_TOKEN}`);
  return `${headers.join('\r\n')}\r\n\r\n${body}`;
}

function get(path: string, method = 'GET'): string {
  return `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
}

describe('gateway status lines', () => {
  it('use the standard reason phrase for every status the gateway answers with', async () => {
    const created = await statusLine(post('/1.0/sessions/', '{}'));
    expect(created).toBe('HTTP/1.1 201 Created');

    // A join needs the id of a real session: read it through fetch, then check the join's line raw.
    const session = (await (await fetch(`${h.platform.url}/1.0/sessions/`, { method: 'POST', headers: { Authorization: `Macaroon root=${TEST_TOKEN}` }, body: '{}' })).json()) as { metadata: { id: string } };
    expect(await statusLine(post(`/1.0/sessions/${session.metadata.id}/join`, '{}'))).toBe('HTTP/1.1 200 OK');

    expect(await statusLine(`OPTIONS /1.0/sessions/ HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://example.com\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n`)).toBe('HTTP/1.1 204 No Content');
    expect(await statusLine(get('/'))).toBe('HTTP/1.1 200 OK');
    expect(await statusLine(post('/1.0/sessions/', '{', true))).toBe('HTTP/1.1 400 Bad Request');
    expect(await statusLine(post('/1.0/sessions/', '{}', false))).toBe('HTTP/1.1 401 Unauthorized');
    expect(await statusLine(get('/nope.html'))).toBe('HTTP/1.1 404 Not Found');
    expect(await statusLine(get('/1.0/sessions/'))).toBe('HTTP/1.1 405 Method Not Allowed');
    expect(await statusLine(get('/1.0/sessions/abc/signaling?secret=x'))).toBe('HTTP/1.1 426 Upgrade Required');
  });

  it('never answers with the placeholder phrase "Error"', async () => {
    const { reasonPhrase } = await import('../../src/platform/gateway-responses.js');
    for (const code of [200, 201, 204, 400, 401, 403, 404, 405, 408, 413, 415, 426, 429, 431, 500, 503]) {
      expect(reasonPhrase(code), String(code)).not.toMatch(/^(Error|Unknown)$/);
    }
    expect(reasonPhrase(201)).toBe('Created');
    expect(reasonPhrase(599)).toBe('Server Error');
  });
});
