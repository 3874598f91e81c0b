/**
 * Issue 13's bench row: the farm (docs/farm.md). Real processes: nats-server, `anbox-oob gateway
 * --nats`, and `anbox-oob serve --nats` instances; the web client is the headless client
 * (connectWebClient) in this process.
 *
 * (a) Set-up through the gateway vs directly: one instance; sessions alternate between the
 *     gateway's URL and that instance's own gateway URL (the `serve` the farm relays to), and each
 *     is timed from the POST /1.0/sessions/ to its data channel open. Between sessions the
 *     instance is free again (untimed wait).
 * (b) 50 sessions over 10 instances: 5 waves of 10 concurrent sessions; a wave's sessions are all
 *     open (then counted per instance), an 11th POST is answered (503 expected: at most one session
 *     per instance), then all end and every instance is free before the next wave. Placements/s =
 *     10 / (first POST → last 201) per wave; the POST timings come from a wrapper around fetch.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectWebClient, type WebClient } from '../src/headless-client/web-client.js';
import { envInt, latencyStats, type BenchContext, type BenchResult, type Benchmark, type BenchRow, type TrackedChild } from './harness.js';
import { builtFile, logRecord, processStatusKiB, spawnCli, waitUntil, withOutputTails } from './fixtures.js';
import { ms, times, type SummaryRow } from './summary.js';

interface InstanceView {
  name: string;
  state: string;
  session: string | null;
}

interface Farm {
  gateway: string;
  token: string;
  /** name → the instance's own gateway URL (its local `serve` gateway). */
  instances: Map<string, string>;
  /** The `serve --nats` processes. */
  instanceChildren: TrackedChild[];
  children: TrackedChild[];
}

/** POST /1.0/sessions/ timings, taken by wrapping fetch (connectWebClient's only HTTP call). */
interface PostTiming {
  url: string;
  startNs: bigint;
  endNs: bigint;
  status: number;
}

function recordSessionPosts(): { posts: PostTiming[]; restore(): void } {
  const original = globalThis.fetch;
  const posts: PostTiming[] = [];
  globalThis.fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (init?.method !== 'POST' || !url.endsWith('/1.0/sessions/')) return original(input, init);
    const startNs = process.hrtime.bigint();
    const response = await original(input, init);
    posts.push({ url, startNs, endNs: process.hrtime.bigint(), status: response.status });
    return response;
  };
  return { posts, restore: () => (globalThis.fetch = original) };
}

async function startFarm(context: BenchContext, instanceCount: number): Promise<Farm> {
  const dir = context.makeTempDir('aoob-bench-farm-');
  const children: TrackedChild[] = [];
  // -p -1: nats-server picks a free port and logs it (no probe-then-bind race).
  const nats = context.spawnChild('nats-server', 'nats-server', ['-a', '127.0.0.1', '-p', '-1']);
  children.push(nats);
  try {
    let listening: string | undefined;
    await waitUntil('nats-server', nats, 10_000, () => nats.output().includes('Server is ready') && (listening = /Listening for client connections on (\S+)/.exec(nats.output())?.[1]) !== undefined);
    const natsUrl = `nats://${listening!}`;
    const token = randomBytes(12).toString('hex');
    // `gateway` takes no --log-format (its logs are JSON lines anyway), so not through spawnCli.
    const gatewayChild = context.spawnChild('gateway', process.execPath, [builtFile(context, 'src', 'cli', 'main.js'), 'gateway', '--log-level', 'warn', '--nats', natsUrl, '--listen', '127.0.0.1:0', '--token', token]);
    children.push(gatewayChild);
    const instanceChildren = new Map<string, TrackedChild>();
    for (let i = 1; i <= instanceCount; i++) {
      const name = `bench-${i}`;
      const sub = join(dir, name);
      const child = spawnCli(context, name, 'serve', [
        '--nats', natsUrl, '--instance-name', name, '--listen', '127.0.0.1:0', '--token', token,
        '--socket-dir', join(sub, 'sockets'), '--service-socket', join(sub, 'svc.sock'), '--receivers-dir', join(sub, 'receivers'),
      ]);
      children.push(child);
      instanceChildren.set(name, child);
    }
    let gateway: string | undefined;
    await waitUntil('the gateway', gatewayChild, 20_000, () => (gateway = /gateway URL\s+(http:\/\/\S+)/.exec(gatewayChild.output())?.[1]) !== undefined);
    const instances = new Map<string, string>();
    for (const [name, child] of instanceChildren) {
      let ready: Record<string, unknown> | undefined;
      await waitUntil(name, child, 60_000, () => (ready = logRecord(child.output(), 'serve.ready')) !== undefined);
      instances.set(name, String(ready!.gateway));
    }
    const farm = { gateway: gateway!, token, instances, instanceChildren: [...instanceChildren.values()], children };
    await untilAllFree(farm, 30_000);
    return farm;
  } catch (error) {
    throw withOutputTails(error, children);
  }
}

async function listInstances(farm: Farm): Promise<InstanceView[]> {
  const response = await fetch(`${farm.gateway}/1.0/instances`, { headers: { Authorization: `Macaroon root=${farm.token}` } });
  const body = (await response.json()) as { metadata: InstanceView[] };
  return body.metadata;
}

/** Every instance listed by the gateway and free (a session's end reaches it by session.ended and a heartbeat). */
async function untilAllFree(farm: Farm, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const listed = await listInstances(farm);
    if (listed.length === farm.instances.size && listed.every((i) => i.state === 'free')) return;
    if (Date.now() > deadline) throw new Error(`instances not all free after ${timeoutMs} ms: ${JSON.stringify(listed.map((i) => [i.name, i.state]))}`);
    await sleep(20);
  }
}

/** The instances' mean resident set (VmRSS), MiB. */
function meanInstanceRssMiB(farm: Farm): number {
  const kib = farm.instanceChildren.map((c) => processStatusKiB(c.child.pid, 'VmRSS'));
  if (!kib.every(Number.isFinite)) throw new Error('cannot read VmRSS of every serve --nats from /proc/<pid>/status');
  return kib.reduce((a, b) => a + b, 0) / kib.length / 1024;
}

async function stopFarm(farm: Farm): Promise<void> {
  // Instances first (they end their sessions), the gateway, then nats-server.
  await Promise.all(farm.children.slice(2).map((c) => c.stop('SIGTERM', 5000)));
  await farm.children[1]!.stop('SIGTERM', 5000);
  await farm.children[0]!.stop('SIGTERM', 5000);
}

/** One session: POST → data channel `bench` open, in ns; then closed. */
async function timedSession(gateway: string, token: string): Promise<number> {
  const start = process.hrtime.bigint();
  const client = await connectWebClient({ gateway, token, channels: ['bench'], openTimeoutMs: 20_000 });
  try {
    await client.opened;
    return Number(process.hrtime.bigint() - start);
  } finally {
    await client.close({ flushTimeoutMs: 0 });
  }
}

const slow = (samplesNs: readonly number[]) => samplesNs.filter((ns) => ns > 500e6).length;

async function setupComparison(context: BenchContext, sessions: number): Promise<{ rows: BenchRow[]; summary: SummaryRow[]; notes: string[] }> {
  const farm = await startFarm(context, 1);
  try {
    const direct = farm.instances.get('bench-1')!;
    const viaGateway: number[] = [];
    const viaDirect: number[] = [];
    const warmup = 2;
    for (let i = 0; i < sessions + warmup; i++) {
      // Alternate which goes first, so that neither side always follows the other.
      const order = i % 2 === 0 ? (['gateway', 'direct'] as const) : (['direct', 'gateway'] as const);
      for (const side of order) {
        const ns = await timedSession(side === 'gateway' ? farm.gateway : direct, farm.token);
        if (i >= warmup) (side === 'gateway' ? viaGateway : viaDirect).push(ns);
        await untilAllFree(farm, 10_000);
      }
    }
    const g = latencyStats(Float64Array.from(viaGateway), viaGateway.reduce((a, b) => a + b, 0));
    const d = latencyStats(Float64Array.from(viaDirect), viaDirect.reduce((a, b) => a + b, 0));
    const ratio = g.p50Us / d.p50Us;
    const rows: BenchRow[] = [
      { benchmark: 'farm: session set-up, POST → channel open, via gateway', p50Us: g.p50Us, p99Us: g.p99Us, meanUs: g.meanUs, floorUs: d.p50Us, p50Ratio: ratio },
      { benchmark: 'farm: session set-up, POST → channel open, direct serve', p50Us: d.p50Us, p99Us: d.p99Us, meanUs: d.meanUs },
    ];
    const summary: SummaryRow[] = [
      {
        metric: 'farm session set-up through the gateway (POST → data channel open), p50 / p99',
        value: `${ms(g.p50Us)} / ${ms(g.p99Us)}`,
        baseline: `direct to the same serve: ${ms(d.p50Us)} / ${ms(d.p99Us)}`,
        ratio: `${times(ratio)} (p99 ${times(g.p99Us / d.p99Us)})`,
      },
    ];
    const notes = [
      `farm set-up: ${sessions} sessions each side (+${warmup} warm-up each), alternating, against one \`serve --nats\`; the gateway adds placement over NATS (request/reply) and relays every signaling frame over NATS both ways. Sessions over 500 ms: ${slow(viaGateway)} of ${sessions} via the gateway, ${slow(viaDirect)} of ${sessions} direct (the p99).`,
    ];
    return { rows, summary, notes };
  } finally {
    await stopFarm(farm);
  }
}

async function placementWaves(context: BenchContext, instanceCount: number, waves: number): Promise<{ rows: BenchRow[]; summary: SummaryRow[]; notes: string[] }> {
  const startedAt = Date.now();
  const farm = await startFarm(context, instanceCount);
  const startUpS = (Date.now() - startedAt) / 1000;
  const idleRssMiB = meanInstanceRssMiB(farm);
  let streamingRssMiB = 0;
  const recorder = recordSessionPosts();
  try {
    const perInstance = new Map<string, number>([...farm.instances.keys()].map((name) => [name, 0]));
    const placementWindowsNs: number[] = [];
    const setupWindowsNs: number[] = [];
    const postLatenciesNs: number[] = [];
    const refusals: string[] = [];
    for (let wave = 0; wave < waves; wave++) {
      recorder.posts.length = 0;
      const waveStart = process.hrtime.bigint();
      const clients: WebClient[] = await Promise.all(
        Array.from({ length: instanceCount }, () => connectWebClient({ gateway: farm.gateway, token: farm.token, channels: ['bench'], openTimeoutMs: 30_000 })),
      );
      try {
        await Promise.all(clients.map((c) => c.opened));
        setupWindowsNs.push(Number(process.hrtime.bigint() - waveStart));
        const placed = recorder.posts.filter((p) => p.status === 201);
        if (placed.length !== instanceCount) throw new Error(`wave ${wave + 1}: ${placed.length} of ${instanceCount} POSTs answered 201`);
        placementWindowsNs.push(Number(placed.reduce((max, p) => (p.endNs > max ? p.endNs : max), 0n) - waveStart));
        postLatenciesNs.push(...placed.map((p) => Number(p.endNs - p.startNs)));
        // Where each landed, by the gateway's own list (a session id per instance).
        const listed = await listInstances(farm);
        for (const client of clients) {
          const home = listed.find((i) => i.session === client.session.id);
          if (home) perInstance.set(home.name, (perInstance.get(home.name) ?? 0) + 1);
        }
        streamingRssMiB = Math.max(streamingRssMiB, meanInstanceRssMiB(farm));
        // One more while every instance streams: the SDK gets a 503.
        const extra = await fetch(`${farm.gateway}/1.0/sessions/`, { method: 'POST', headers: { Authorization: `Macaroon root=${farm.token}` }, body: '{}' });
        const text = await extra.text();
        refusals.push(`${extra.status}${extra.headers.get('retry-after') ? ` Retry-After ${extra.headers.get('retry-after')}` : ''}: ${(/"error":"([^"]*)"/.exec(text)?.[1] ?? text).slice(0, 60)}`);
      } finally {
        await Promise.all(clients.map((c) => c.close({ flushTimeoutMs: 0 })));
      }
      await untilAllFree(farm, 15_000);
    }
    const total = waves * instanceCount;
    const placementS = placementWindowsNs.reduce((a, b) => a + b, 0) / 1e9;
    const setupS = setupWindowsNs.reduce((a, b) => a + b, 0) / 1e9;
    const post = latencyStats(Float64Array.from(postLatenciesNs), placementS * 1e9);
    const counts = [...perInstance.values()];
    const spread = [...perInstance].map(([name, n]) => `${name.replace('bench-', '#')}:${n}`).join(' ');
    const all503 = refusals.every((r) => r.startsWith('503'));
    const rows: BenchRow[] = [
      { benchmark: `farm: ${total} placements over ${instanceCount} instances (POST → 201, ${waves} waves of ${instanceCount})`, p50Us: post.p50Us, p99Us: post.p99Us, meanUs: post.meanUs, opsPerS: total / placementS, spread: `per instance ${Math.min(...counts)}-${Math.max(...counts)}` },
      { benchmark: `farm: ${total} sessions set up over ${instanceCount} instances (POST → channel open)`, opsPerS: total / setupS },
    ];
    const summary: SummaryRow[] = [
      {
        metric: `farm: ${total} sessions placed over ${instanceCount} \`serve --nats\` (${waves} waves of ${instanceCount} concurrent)`,
        value: `${(total / placementS).toFixed(0)} placements/s; ${(total / setupS).toFixed(1)} sessions set up/s`,
        baseline: `per instance: ${spread}`,
        ratio: `${Math.min(...counts)}-${Math.max(...counts)} per instance; 11th session: ${all503 ? `503 in ${refusals.length} of ${refusals.length} waves` : refusals.join('; ')}`,
      },
    ];
    const notes = [
      `farm placement: ${instanceCount} real \`serve --nats\` processes (started in ${startUpS.toFixed(1)} s; VmRSS per instance, mean: ${idleRssMiB.toFixed(0)} MiB free, ${streamingRssMiB.toFixed(0)} MiB streaming, the largest of the waves), one gateway, one nats-server, all on this machine; the ${waves * instanceCount} web clients are in the bench process. Each wave: ${instanceCount} sessions at once, each to its data channel open; then an 11th POST (${refusals[0] ?? '-'}); then all end and the bench waits until every instance is free (session.ended + heartbeat) before the next wave. placements/s = sessions / (first POST → last 201), summed over the waves; POST → 201 per session p50 ${ms(post.p50Us)}, p99 ${ms(post.p99Us)}.`,
      `farm placement per instance: ${spread}.`,
    ];
    return { rows, summary, notes };
  } finally {
    recorder.restore();
    await stopFarm(farm);
  }
}

export const farmSessions: Benchmark = {
  name: 'farm sessions',
  async run(context: BenchContext): Promise<BenchResult> {
    const sessions = envInt('BENCH_FARM_SESSIONS', 30);
    const instanceCount = envInt('BENCH_FARM_INSTANCES', 10);
    const waves = envInt('BENCH_FARM_WAVES', 5);
    context.progress(`farm: session set-up, ${sessions} via the gateway and ${sessions} direct`);
    const a = await setupComparison(context, sessions);
    context.progress(`farm: ${waves} waves of ${instanceCount} sessions over ${instanceCount} instances`);
    const b = await placementWaves(context, instanceCount, waves);
    return { rows: [...a.rows, ...b.rows], summary: [...a.summary, ...b.summary], notes: [...a.notes, ...b.notes] };
  },
};
