/**
 * Connect round trip: how long an app waits between asking the daemon for a channel and holding
 * the channel's descriptor, next to a C program doing the same with three processes and no framing
 * (bench/fdpass.c, "the C floor", a copy of the shared baseline).
 *
 * One round trip = send the connect transaction, receive the reply with its SCM_RIGHTS descriptor,
 * close the descriptor (fdpass's client also closes it unread). The daemon connects
 * <socket-dir>/webrtc_data_foo for every request; a fake channel in its own process accepts and
 * closes those connections. This process is only the client.
 *
 * Environment (all optional):
 *   BENCH_CONNECTS         measured round trips per trial, 1 client (default 10000); also the total
 *                          for the concurrent row and fdpass's N
 *   BENCH_TRIALS           trials; the one with the median ratio to its own floor is reported
 *                          (default 7: short trials, many of them, so that each ratio pairs
 *                          figures taken seconds apart and a burst of load moves one trial, not the median)
 *   BENCH_WARMUP           unmeasured round trips before each measured phase (default N/10, max 2000)
 *   BENCH_CLIENTS          concurrent clients for the concurrent row (default 8)
 *   BENCH_SOCKET_CONNECTS  measured client.connect() calls per trial (default N/4; 0 skips the row)
 */
import { join } from 'node:path';
import { DataProxyClient } from '../src/client/data-proxy-client.js';
import { close } from '../src/native/addon.js';
import { ParcelWriter } from '../src/parcel/parcel-writer.js';
import { buildFloor, processCpuTimesMs, runFloor, startChannelListener, startDaemon, withOutputTails, type FloorResult } from './fixtures.js';
import {
  envInt,
  latencyStats,
  medianBy,
  type BenchContext,
  type BenchGoal,
  type BenchResult,
  type BenchRow,
  type Benchmark,
  type LatencyStats,
} from './harness.js';
import { marginBelow, times, us, type SummaryRow } from './summary.js';

const SERVICE = 'org.anbox.webrtc.IDataProxyService';
const DESCRIPTOR = 'org.anbox.webrtc.IDataProxyService@1.0';
const TRANSACTION_CONNECT = 1;
const CHANNEL = 'foo';
const GOAL_RATIO = 2;

interface Settings {
  connects: number;
  trials: number;
  warmup: number;
  clients: number;
  socketConnects: number;
}

function settings(): Settings {
  const connects = envInt('BENCH_CONNECTS', 10_000);
  return {
    connects,
    trials: envInt('BENCH_TRIALS', 7),
    warmup: envInt('BENCH_WARMUP', Math.min(2000, Math.ceil(connects / 10)), 0),
    clients: envInt('BENCH_CLIENTS', 8),
    socketConnects: envInt('BENCH_SOCKET_CONNECTS', Math.ceil(connects / 4), 0),
  };
}

/** CPU time per connect, µs, from /proc/<pid>/stat (user, system) across one measured phase. */
interface CpuPerConnect {
  daemonUserUs: number;
  daemonSysUs: number;
  /** This process (the client), from process.cpuUsage(). */
  clientUserUs: number;
  clientSysUs: number;
}

interface Trial {
  cpu: CpuPerConnect;
  floor: FloorResult;
  one: LatencyStats;
  many: LatencyStats;
  socket: LatencyStats | undefined;
  blocking: LatencyStats;
}

export const connectRoundTrip: Benchmark = {
  name: 'connect round trip',
  async run(context: BenchContext): Promise<BenchResult> {
    const s = settings();
    const dir = context.makeTempDir('anbox-oob-bench-');
    context.progress(`connect round trip: N=${s.connects}, warm-up ${s.warmup}, ${s.trials} trials, ${s.clients} concurrent clients, temp dir ${dir}`);
    const floorBinary = buildFloor(context, dir);
    const daemon = await startDaemon(context, dir);
    const channel = await startChannelListener(context, daemon.socketDir, CHANNEL);
    const request = new ParcelWriter().writeInterfaceToken(DESCRIPTOR).writeString16(CHANNEL).toBuffer();
    const trials: Trial[] = [];
    try {
      for (let t = 1; t <= s.trials; t++) {
        const tag = `trial ${t}/${s.trials}`;
        context.progress(`${tag}: C floor (fdpass ${s.connects})`);
        const floor = await runFloor(context, floorBinary, s.connects, join(dir, `fdpass-${t}`));
        context.progress(`${tag}: daemon, 1 client`);
        const one = await measureTransact(daemon.servicePath, request, 1, s.connects, s.warmup);
        context.progress(`${tag}: daemon, ${s.clients} clients`);
        const many = await measureTransact(daemon.servicePath, request, s.clients, s.connects, s.warmup);
        context.progress(`${tag}: daemon, 1 blocking client (openSyncConnection)`);
        const daemonPid = daemon.process.child.pid!;
        const cpuBefore = { daemon: processCpuUs(daemonPid), client: process.cpuUsage() };
        const blocking = measureBlocking(daemon.servicePath, s.connects, s.warmup, () => {
          cpuBefore.daemon = processCpuUs(daemonPid);
          cpuBefore.client = process.cpuUsage();
        });
        const daemonAfter = processCpuUs(daemonPid);
        const clientCpu = process.cpuUsage(cpuBefore.client);
        const cpu: CpuPerConnect = {
          daemonUserUs: (daemonAfter.user - cpuBefore.daemon.user) / s.connects,
          daemonSysUs: (daemonAfter.system - cpuBefore.daemon.system) / s.connects,
          clientUserUs: clientCpu.user / s.connects,
          clientSysUs: clientCpu.system / s.connects,
        };
        let socket: LatencyStats | undefined;
        if (s.socketConnects > 0) {
          context.progress(`${tag}: daemon, client.connect() -> net.Socket`);
          socket = await measureSocketConnect(daemon.servicePath, s.socketConnects, Math.min(s.warmup, s.socketConnects));
        }
        context.progress(
          `${tag}: floor ${floor.persistentUs.toFixed(1)} µs/op; 1 client p50 ${one.p50Us.toFixed(1)} µs (${(one.p50Us / floor.persistentUs).toFixed(2)}x); ` +
            `${s.clients} clients ${many.opsPerS.toFixed(0)} ops/s`,
        );
        trials.push({ cpu, floor, one, many, socket, blocking });
      }
    } catch (error) {
      throw withOutputTails(error, [daemon.process, channel]);
    } finally {
      await Promise.all([daemon.stop(), channel.stop('SIGTERM', 2000)]);
    }
    return report(s, trials);
  },
};

/**
 * `clients` DataProxyClients (one IPC connection each), driven by as many async loops in this
 * process, each doing sequential round trips. `total` measured round trips in all.
 */
async function measureTransact(servicePath: string, request: Buffer, clients: number, total: number, warmup: number): Promise<LatencyStats> {
  const pool = Array.from({ length: clients }, () => new DataProxyClient({ servicePath }));
  try {
    const latencies = new Float64Array(total);
    const share = (n: number, i: number) => Math.floor((n * (i + 1)) / clients) - Math.floor((n * i) / clients);
    await Promise.all(pool.map((client, i) => roundTrips(client, request, share(Math.max(warmup, clients), i), undefined, 0)));
    const start = process.hrtime.bigint();
    await Promise.all(pool.map((client, i) => roundTrips(client, request, share(total, i), latencies, Math.floor((total * i) / clients))));
    const wallNs = Number(process.hrtime.bigint() - start);
    return latencyStats(latencies, wallNs);
  } finally {
    for (const client of pool) client.close();
  }
}

/** The raw path: transact, then close the reply's descriptors at once (what fdpass's client does). */
async function roundTrips(client: DataProxyClient, request: Buffer, count: number, latencies: Float64Array | undefined, offset: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    const reply = await client.transact(SERVICE, TRANSACTION_CONNECT, request);
    for (const fd of reply.fds) close(fd);
    const t1 = process.hrtime.bigint();
    if (reply.status !== 0 || reply.fds.length !== 1) {
      throw new Error(`connect("${CHANNEL}") failed: status ${reply.status} ${reply.errorCode} ${reply.message} (${reply.fds.length} descriptors)`);
    }
    if (latencies) latencies[offset + i] = Number(t1 - t0);
  }
}

/**
 * The same round trip from a client that blocks (client.openSyncConnection().connectFd: sendmsg,
 * poll, recvmsg on one connection, as fdpass's client does) instead of waiting in an event loop:
 * what is left of the gap to the floor is then the daemon's.
 */
function measureBlocking(servicePath: string, count: number, warmup: number, onMeasuring: () => void): LatencyStats {
  const connection = new DataProxyClient({ servicePath }).openSyncConnection();
  try {
    for (let i = 0; i < Math.max(1, warmup); i++) close(connection.connectFd(CHANNEL));
    onMeasuring();
    const latencies = new Float64Array(count);
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      const t0 = process.hrtime.bigint();
      close(connection.connectFd(CHANNEL));
      latencies[i] = Number(process.hrtime.bigint() - t0);
    }
    return latencyStats(latencies, Number(process.hrtime.bigint() - start));
  } finally {
    connection.close();
  }
}

/** A process's CPU time so far, µs; the daemon must still be running (a NaN would hide in the row). */
function processCpuUs(pid: number): { user: number; system: number } {
  const { user, system } = processCpuTimesMs(pid);
  if (!Number.isFinite(user) || !Number.isFinite(system)) throw new Error(`cannot read the CPU time of pid ${pid} from /proc/${pid}/stat`);
  return { user: user * 1000, system: system * 1000 };
}

/** client.connect(): the same round trip plus parsing the fd object and wrapping the fd in a net.Socket. */
async function measureSocketConnect(servicePath: string, count: number, warmup: number): Promise<LatencyStats> {
  const client = new DataProxyClient({ servicePath });
  try {
    for (let i = 0; i < Math.max(1, warmup); i++) (await client.connect(CHANNEL)).destroy();
    const latencies = new Float64Array(count);
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      const t0 = process.hrtime.bigint();
      const socket = await client.connect(CHANNEL);
      socket.destroy();
      latencies[i] = Number(process.hrtime.bigint() - t0);
    }
    return latencyStats(latencies, Number(process.hrtime.bigint() - start));
  } finally {
    client.close();
  }
}

// ---------------------------------------------------------------------------------------------

function report(s: Settings, trials: Trial[]): BenchResult {
  // Every ratio is paired: our figures against the floor measured in the same trial, minutes apart
  // at most. The trial with the median 1-client ratio is shown, all its rows; the last column gives
  // the range over all trials. (Medians taken row by row would divide figures from different
  // trials, and the floor alone varied 2x between trials on a loaded machine.)
  const shown = medianBy(trials, (t) => t.one.p50Us / t.floor.persistentUs);
  const { cpu, floor, one, many, socket, blocking } = shown;
  const reconnect = floor.reconnectUs;
  const socketTrials = trials.flatMap((t) => (t.socket ? [t.socket] : []));

  const spread = (values: number[], unit: string, digits = 1) =>
    trials.length < 2 ? '' : `${unit} ${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)}`;
  /** A 1-client latency row beside the shown trial's floor; `p50s` (one per trial) give its range. */
  const againstFloor = (benchmark: string, stats: LatencyStats, p50s: number[]): BenchRow => ({
    benchmark,
    ...latencyColumns(stats),
    floorUs: floor.persistentUs,
    floorOpsPerS: floor.persistentOpsPerS,
    p50Ratio: stats.p50Us / floor.persistentUs,
    opsRatio: stats.opsPerS / floor.persistentOpsPerS,
    spread: spread(p50s, 'p50'),
  });
  const rows: BenchRow[] = [
    {
      benchmark: 'C floor: fdpass persistent, 1 client',
      meanUs: floor.persistentUs,
      opsPerS: floor.persistentOpsPerS,
      spread: spread(trials.map((t) => t.floor.persistentUs), 'mean'),
    },
    {
      benchmark: 'C floor: fdpass reconnect (new conn each)',
      meanUs: reconnect,
      opsPerS: 1e6 / reconnect,
      spread: spread(trials.map((t) => t.floor.reconnectUs), 'mean'),
    },
    againstFloor('connect round trip, 1 client', one, trials.map((t) => t.one.p50Us)),
    {
      benchmark: `connect round trip, ${s.clients} clients (1 process)`,
      ...latencyColumns(many),
      floorOpsPerS: floor.persistentOpsPerS,
      opsRatio: many.opsPerS / floor.persistentOpsPerS,
      spread: spread(trials.map((t) => t.many.opsPerS), 'ops/s', 0),
    },
  ];
  rows.push(againstFloor('connect round trip, 1 blocking client (openSyncConnection)', blocking, trials.map((t) => t.blocking.p50Us)));
  if (socket) rows.push(againstFloor('client.connect() -> net.Socket, 1 client', socket, socketTrials.map((t) => t.p50Us)));

  const ratio = one.p50Us / floor.persistentUs;
  const allowed = GOAL_RATIO * floor.persistentUs;
  const pairedRatios = trials.map((t) => t.one.p50Us / t.floor.persistentUs);
  const paired = pairedRatios.map((r) => `${r.toFixed(2)}x`).join(', ');
  const unstable = pairedRatios.some((r) => r <= GOAL_RATIO) && pairedRatios.some((r) => r > GOAL_RATIO);
  const goal: BenchGoal = {
    description: `connect round trip p50 (1 client) within ${GOAL_RATIO}x of the C floor`,
    pass: one.p50Us <= allowed,
    detail:
      `p50 ${one.p50Us.toFixed(1)} µs = ${ratio.toFixed(2)}x the floor (${floor.persistentUs.toFixed(1)} µs); the goal allows ${allowed.toFixed(1)} µs: ` +
      (one.p50Us <= allowed
        ? `${(allowed - one.p50Us).toFixed(1)} µs of headroom`
        : `${(one.p50Us - allowed).toFixed(1)} µs (${((one.p50Us / allowed - 1) * 100).toFixed(0)}%) too slow`) +
      (trials.length > 1 ? `; per trial (each against its own floor): ${paired}` : '') +
      (unstable ? ' — the trials disagree on the verdict: rerun on a quieter machine' : ''),
  };

  const socketOverhead = socket ? socket.p50Us - one.p50Us : undefined;
  const floors = trials.map((t) => t.floor.persistentUs);
  const floorSpread = Math.max(...floors) / Math.min(...floors);
  const notes = [
    `round trip = transact(connect "${CHANNEL}") -> reply + 1 descriptor -> close(fd), over one persistent IPC connection per client; ` +
      'the daemon connects the channel socket for every request.',
    `${s.clients} clients = ${s.clients} DataProxyClients (${s.clients} IPC connections) driven by ${s.clients} concurrent async loops in this one ` +
      `process, ${s.connects} round trips in all; ops/s = all round trips / wall time; percentiles over all of them.`,
    `per trial: ${s.connects} measured round trips (after ${s.warmup} warm-up) for each daemon row` +
      (socket ? ` (${s.socketConnects} for client.connect())` : '') +
      `, fdpass ${s.connects} persistent + ${Math.max(1, Math.floor(s.connects / 4))} reconnect; ${trials.length} trials; ` +
      'the trial with the median ratio of 1-client p50 to its own floor is shown (all its rows, so every ratio is within one trial).',
    '1 blocking client = client.openSyncConnection().connectFd (sendmsg, poll, recvmsg on one connection, like fdpass\'s client, plus ' +
      'reading the reply Parcel): next to the 1-client row it says how much of the gap to the floor is the client\'s event loop.',
    'the C floor prints only a mean (µs/op) and ops/s, with no percentiles: p50/floor compares our median with its mean. ' +
      'It has no concurrent mode: the concurrent row compares throughput with the 1-client floor.',
  ];
  if (floorSpread > 1.3) {
    notes.push(
      `NOISY: the C floor varied ${floorSpread.toFixed(1)}x between trials (${floors.map((f) => f.toFixed(1)).join(', ')} µs), so the machine was busy ` +
        'and the ratios are unreliable; rerun when it is idle (see the load line) or with more BENCH_TRIALS.',
    );
  }
  if (socketOverhead !== undefined) {
    notes.push(`client.connect() (fd object parsed, fd wrapped in a net.Socket, then destroyed) costs ${socketOverhead.toFixed(1)} µs more than the raw path at p50.`);
  }
  const pairedRange =
    pairedRatios.length > 1
      ? `; met in ${pairedRatios.filter((r) => r <= GOAL_RATIO).length} of ${trials.length} trials, ${times(Math.min(...pairedRatios))}–${times(Math.max(...pairedRatios))}`
      : '';
  const floorText = (value: string) => `C floor (\`fdpass.c\`): ${value}`;
  const summary: SummaryRow[] = [
    {
      metric: 'connect round trip p50, 1 client (transact → reply + descriptor → close)',
      value: us(one.p50Us),
      baseline: floorText(us(floor.persistentUs)),
      ratio: times(ratio),
      goal: `≤ ${GOAL_RATIO}x the floor (${us(allowed)})`,
      met: goal.pass,
      margin: marginBelow(one.p50Us, allowed, us) + pairedRange,
    },
    {
      metric: `connect round trips/s, ${s.clients} clients`,
      value: `${many.opsPerS.toFixed(0)}/s`,
      baseline: floorText(`${floor.persistentOpsPerS.toFixed(0)}/s (1 client)`),
      ratio: times(many.opsPerS / floor.persistentOpsPerS),
    },
  ];
  const blockingRatios = trials.map((t) => t.blocking.p50Us / t.floor.persistentUs);
  summary.push({
    metric: 'connect round trip p50, 1 blocking client (`openSyncConnection().connectFd`: no event loop on the client side)',
    value: us(blocking.p50Us),
    baseline: floorText(us(floor.persistentUs)),
    ratio:
      times(blocking.p50Us / floor.persistentUs) +
      (trials.length > 1
        ? ` (≤ ${GOAL_RATIO}x in ${blockingRatios.filter((r) => r <= GOAL_RATIO).length} of ${trials.length} trials, ${times(Math.min(...blockingRatios))}–${times(Math.max(...blockingRatios))})`
        : ''),
  });
  const daemonCpuUs = cpu.daemonUserUs + cpu.daemonSysUs;
  summary.push({
    metric: 'connect: CPU per connect with the blocking client, daemon and client (user + system, /proc and process.cpuUsage)',
    value: `daemon ${us(daemonCpuUs)} (${us(cpu.daemonUserUs)} + ${us(cpu.daemonSysUs)}); client ${us(cpu.clientUserUs + cpu.clientSysUs)} (${us(cpu.clientUserUs)} + ${us(cpu.clientSysUs)})`,
    baseline: `the blocking client's mean round trip: ${us(blocking.meanUs)}`,
    ratio: `${(((daemonCpuUs + cpu.clientUserUs + cpu.clientSysUs) / blocking.meanUs) * 100).toFixed(0)}% of it is CPU time of the two`,
  });
  if (socket) {
    summary.push({
      metric: '`client.connect()` → net.Socket p50, 1 client',
      value: us(socket.p50Us),
      baseline: floorText(us(floor.persistentUs)),
      ratio: times(socket.p50Us / floor.persistentUs),
    });
  }
  return { rows, goals: [goal], notes, summary };
}

function latencyColumns(stats: LatencyStats): Pick<BenchRow, 'p50Us' | 'p99Us' | 'meanUs' | 'opsPerS'> {
  return { p50Us: stats.p50Us, p99Us: stats.p99Us, meanUs: stats.meanUs, opsPerS: stats.opsPerS };
}
