/**
 * The network-namespace lab itself (test/helpers/netns.ts): hosts reach each other over TCP on
 * the lab's bridge, a host limited by `reach` cannot be reached (nor reach out) past its list,
 * and destroy() leaves no namespace and no link behind.
 */
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { createLab, listLabNamespaces, type Lab, type LabHost } from '../helpers/netns.js';
import { spawnInNamespace, type NsProcess } from '../helpers/ns-process.js';

const labs: Lab[] = [];
const processes: NsProcess[] = [];

afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop()));
  for (const lab of labs.splice(0)) lab.destroy();
});

/** A TCP server in `host` that answers every connection with "hello from NAME" and closes. */
async function helloServer(host: LabHost, port: number): Promise<void> {
  const script = `require('net').createServer((s) => s.end('hello from ${host.name}\\n')).listen(${port}, '0.0.0.0', () => console.log('listening'))`;
  const server = spawnInNamespace(host.ns, [process.execPath, '-e', script]);
  processes.push(server);
  await server.waitForLine(/^listening$/);
}

/** Connects from `from` to ADDRESS:PORT; resolves with what it read or the error code. */
async function tcpFrom(from: LabHost, address: string, port: number): Promise<string> {
  const script = `
    const s = require('net').connect(${port}, '${address}');
    let got = '';
    s.setTimeout(2000, () => { console.log('RESULT TIMEOUT'); process.exit(0); });
    s.on('data', (d) => got += d);
    s.on('end', () => { console.log('RESULT ' + got.trim()); process.exit(0); });
    s.on('error', (e) => { console.log('RESULT ' + e.code); process.exit(0); });`;
  const client = spawnInNamespace(from.ns, [process.execPath, '-e', script]);
  processes.push(client);
  const [, result] = await client.waitForLine(/^RESULT (.*)$/);
  return result!;
}

describe('network-namespace lab', () => {
  it('connects hosts over TCP and keeps an isolated host to its allowed peers', async () => {
    const lab = createLab({ hosts: ['a', 'b', 'c'], reach: { c: ['b'] } });
    labs.push(lab);
    const [a, b, c] = [lab.host('a'), lab.host('b'), lab.host('c')];
    expect(new Set([a.address, b.address, c.address]).size).toBe(3);
    await helloServer(a, 7000);
    await helloServer(b, 7000);
    await helloServer(c, 7000);

    expect(await tcpFrom(b, a.address, 7000)).toBe('hello from a');
    expect(await tcpFrom(a, b.address, 7000)).toBe('hello from b');
    // c may talk to b only, both ways.
    expect(await tcpFrom(c, b.address, 7000)).toBe('hello from b');
    expect(await tcpFrom(b, c.address, 7000)).toBe('hello from c');
    // c's firewall drops the packets: its own connect fails at once (EPERM from the output hook),
    // a's SYN gets no answer.
    expect(await tcpFrom(c, a.address, 7000)).toMatch(/^(EPERM|EACCES|TIMEOUT)$/);
    expect(await tcpFrom(a, c.address, 7000)).toBe('TIMEOUT');
    // Loopback inside an isolated host still works.
    expect(await tcpFrom(c, '127.0.0.1', 7000)).toBe('hello from c');
  });

  it('destroy() removes every namespace and link, even with processes still running inside', async () => {
    const lab = createLab({ hosts: ['x', 'y'] });
    labs.push(lab);
    const namespaces = lab.namespaces();
    expect(namespaces).toHaveLength(3);
    expect(listLabNamespaces()).toEqual(expect.arrayContaining(namespaces));
    const linksBefore = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
    // Nothing of the lab lives in the machine's own namespace.
    expect(linksBefore).not.toMatch(/\bbr0\b|\bp[01]@/);
    expect(lab.host('x').run(['ip', '-o', 'link'])).toMatch(/eth0@/);
    const sleeper = spawnInNamespace(lab.host('x').ns, ['sleep', '600']);
    processes.push(sleeper);

    lab.destroy();
    lab.destroy(); // idempotent

    expect(await sleeper.exited()).toBe('SIGKILL');
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    for (const ns of namespaces) expect(left).not.toContain(ns);
    for (const ns of namespaces) expect(() => execFileSync('ip', ['-n', ns, 'link'], { stdio: 'pipe' })).toThrow();
    // The veth pairs died with their namespaces; none surfaced in the machine's namespace.
    expect(execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })).not.toMatch(/\bbr0\b|\bp[01]@|\beth0@/);
  });

  it('refuses bad host names with a clear message and leaves nothing behind', () => {
    const before = listLabNamespaces();
    expect(() => createLab({ hosts: ['ok', 'Not OK'] })).toThrow(/lab host name "Not OK"/);
    expect(() => createLab({ hosts: ['a'], reach: { a: ['nobody'] } })).toThrow(/no host "nobody"/);
    expect(listLabNamespaces()).toEqual(before);
  });
});
