/**
 * Issue 9, item 9 (headless client part): a gateway that answered with an endless body took
 * `anbox-oob client` to 3 GB, and one that never answered hung it regardless of --timeout. Now the
 * session POST's response body is bounded (MAX_GATEWAY_RESPONSE_BYTES, 1 MiB) and --timeout bounds
 * the whole request. Reproduced with fake gateways on loopback against the real CLI process.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_GATEWAY_RESPONSE_BYTES } from '../../src/headless-client/gateway.js';
import { runCli } from '../helpers/cli.js';

/** What the endless gateway sends at most before it stalls (keeping the connection open): bounds an old client's memory. */
const ENDLESS_CAP_BYTES = 64 * 1024 * 1024;
const TOKEN = 'headless-bounds-token-0123456789';

let server: Server | undefined;
let requests: { sent: number; closed: boolean }[];

beforeEach(() => {
  requests = [];
});

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function fakeGateway(handler: (req: IncomingMessage, res: ServerResponse, record: { sent: number; closed: boolean }) => void): Promise<string> {
  server = createServer((req, res) => {
    const record = { sent: 0, closed: false };
    requests.push(record);
    res.on('close', () => (record.closed = true));
    req.resume();
    handler(req, res, record);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function client(gateway: string, extra: string[] = []) {
  return runCli(['client', '--gateway', gateway, '--token', TOKEN, '--channel', 'foo', '--no-stdin', ...extra], { timeoutMs: 30_000 });
}

describe('headless client against a hostile gateway', () => {
  it(`an endless 201 body: refused past ${MAX_GATEWAY_RESPONSE_BYTES} bytes, connection closed, exit 1`, async () => {
    const gateway = await fakeGateway((_req, res, record) => {
      res.writeHead(201, { 'Content-Type': 'application/json' }); // chunked, no Content-Length
      res.write('{"type":"sync","status":"success","metadata":{"id":"x","url":"ws://127.0.0.1:9/","stun_servers":[');
      const chunk = Buffer.alloc(64 * 1024, ' ');
      const pump = () => {
        while (!record.closed && record.sent < ENDLESS_CAP_BYTES) {
          record.sent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    const result = await client(gateway);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain(`exceeds ${MAX_GATEWAY_RESPONSE_BYTES} bytes`);
    expect(requests[0]?.closed).toBe(true);
    // The client stopped reading near the bound (socket buffers aside), far below what was on offer.
    expect(requests[0]!.sent).toBeLessThan(ENDLESS_CAP_BYTES / 4);
  });

  it('a declared Content-Length above the bound: refused before reading', async () => {
    const gateway = await fakeGateway((_req, res) => {
      res.writeHead(201, { 'Content-Type': 'application/json', 'Content-Length': String(100 * 1024 * 1024) });
      res.write('{');
    });
    const result = await client(gateway);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain(`exceeds ${MAX_GATEWAY_RESPONSE_BYTES} bytes`);
  });

  it('a gateway that never answers: --timeout applies to the session POST', async () => {
    const gateway = await fakeGateway(() => undefined); // reads the request, answers nothing
    const result = await client(gateway, ['--timeout', '1500']);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/did not answer within 1500 ms/);
  });

  it('a gateway that sends headers and then stalls the body: --timeout applies too', async () => {
    const gateway = await fakeGateway((_req, res) => {
      res.writeHead(201, { 'Content-Type': 'application/json' });
      res.write('{"type":"sync"');
    });
    const result = await client(gateway, ['--timeout', '1500']);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/did not answer within 1500 ms/);
  });
});
