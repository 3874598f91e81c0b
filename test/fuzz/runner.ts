// Runs fuzz cases against one real daemon and checks every answer (see expect.ts). Well-framed
// cases that leave the connection usable are pipelined, many per connection, and closed by a ping
// (the sentinel) whose reply proves that everything before it was handled; every other case gets
// a connection of its own. Failures are collected with their case index and bytes, never thrown.

import { openSync } from 'node:fs';
import { setImmediate as turn } from 'node:timers/promises';
import { checkReply, simulate, type PredictedReply } from './expect.js';
import { generateCase, pingFrame, type CaseMode, type FuzzCase } from './cases.js';
import { FuzzConnection, type ReceivedReply } from './fuzz-connection.js';
import * as native from '../../src/native/addon.js';
import type { Expectation } from './parcel-gen.js';

export const SENTINEL_ID = 0xfeedf00d;
const SENTINEL = pingFrame(SENTINEL_ID);
const BATCH_CASES = 16;
const BATCHES_PER_CONNECTION = 64;

export interface Failure {
  index: number;
  mode: CaseMode;
  what: string;
  reason: string;
  hex: string;
}

export interface RunStats {
  cases: number;
  byMode: Record<string, number>;
  replies: number;
  okReplies: number;
  descriptorsReceived: number;
  streamsOpened: number;
  connections: number;
  errorCodes: Record<string, number>;
  failures: Failure[];
}

export interface RunOptions {
  servicePath: string;
  seed: number;
  indexes: readonly number[];
  replyTimeoutMs: number;
  /** A reason when the daemon is gone, else undefined. */
  daemonGone(): string | undefined;
  /** Called between cases (no case in flight): e.g. drop the fake channel's closed connections. */
  betweenCases(): void;
  progress?(done: number, total: number): void;
  maxFailures?: number;
}

export async function runDaemonCases(options: RunOptions): Promise<RunStats> {
  return new Runner(options).run();
}

class Runner {
  private readonly stats: RunStats = { cases: 0, byMode: {}, replies: 0, okReplies: 0, descriptorsReceived: 0, streamsOpened: 0, connections: 0, errorCodes: {}, failures: [] };
  private shared: FuzzConnection | undefined;
  private sharedBatches = 0;
  private readonly maxFailures: number;

  constructor(private readonly options: RunOptions) {
    this.maxFailures = options.maxFailures ?? 20;
  }

  async run(): Promise<RunStats> {
    const { indexes } = this.options;
    let batch: FuzzCase[] = [];
    let reported = 0;
    for (let i = 0; i < indexes.length && !this.stopped(); i++) {
      const fuzzCase = generateCase(this.options.seed, indexes[i]!);
      this.stats.cases++;
      this.stats.byMode[fuzzCase.mode] = (this.stats.byMode[fuzzCase.mode] ?? 0) + 1;
      // A mutation may have turned a pipelined frame into a stream-mode transaction: it ends its connection.
      if (fuzzCase.mode === 'pipelined' && simulate(fuzzCase.bytes).end === 'open') {
        batch.push(fuzzCase);
        if (batch.length >= BATCH_CASES) batch = await this.flush(batch);
      } else {
        batch = await this.flush(batch);
        await this.runAlone(fuzzCase);
      }
      if (this.options.progress && i - reported >= indexes.length / 10) {
        reported = i;
        this.options.progress(i, indexes.length);
      }
    }
    await this.flush(batch);
    this.shared?.destroy();
    this.shared = undefined;
    return this.stats;
  }

  private stopped(): boolean {
    return this.stats.failures.length >= this.maxFailures || this.stats.failures.some((f) => f.reason.startsWith('daemon gone'));
  }

  /** Sends the batch on the shared connection, then the sentinel; returns an empty batch. */
  private async flush(batch: FuzzCase[]): Promise<FuzzCase[]> {
    if (batch.length === 0) return batch;
    const conn = await this.sharedConnection();
    const owners: FuzzCase[] = [];
    const predicted: PredictedReply[] = [];
    for (const fuzzCase of batch) {
      for (const p of simulate(fuzzCase.bytes).replies) {
        predicted.push(p);
        owners.push(fuzzCase);
      }
    }
    predicted.push({ id: SENTINEL_ID, stream: false, frame: 0 });
    let pending: Buffer[] = [];
    for (const fuzzCase of batch) {
      if (fuzzCase.splits.length === 0) {
        pending.push(fuzzCase.bytes);
        continue;
      }
      if (pending.length > 0) await conn.write(Buffer.concat(pending));
      pending = [];
      await this.writeSplit(conn, fuzzCase);
    }
    await conn.write(Buffer.concat([...pending, SENTINEL]));
    const blame = (at: number) => owners[at] ?? batch[batch.length - 1]!;
    try {
      await conn.waitFor(() => conn.replies.length >= predicted.length || conn.closed, this.options.replyTimeoutMs, 'reply to the batch');
    } catch (error) {
      this.fail(blame(conn.replies.length), `${(error as Error).message}; batch of cases ${batch.map((c) => c.index).join(',')}`);
    }
    this.checkReplies(conn, predicted, (at) => blame(at));
    if (conn.replies.length < predicted.length) {
      this.fail(blame(conn.replies.length), conn.closed ? 'the daemon hung up on a well-framed, non-stream frame' : 'reply missing');
    }
    if (conn.replies.length > predicted.length) this.fail(batch[0]!, `${conn.replies.length - predicted.length} more replies than transactions`);
    if (conn.unclaimedFds > 0) this.fail(batch[0]!, `${conn.unclaimedFds} descriptors arrived that no reply claims`);
    this.recycle(conn);
    if (conn.closed || conn.problems.length > 0 || ++this.sharedBatches >= BATCHES_PER_CONNECTION) this.dropShared();
    this.afterCase(batch[batch.length - 1]!);
    return [];
  }

  /** A case on a connection of its own. */
  private async runAlone(fuzzCase: FuzzCase): Promise<void> {
    const conn = await FuzzConnection.open(this.options.servicePath, this.options.replyTimeoutMs);
    this.stats.connections++;
    try {
      await this.exercise(conn, fuzzCase);
    } catch (error) {
      this.fail(fuzzCase, (error as Error).message);
    } finally {
      conn.destroy();
    }
    this.afterCase(fuzzCase);
  }

  private async exercise(conn: FuzzConnection, fuzzCase: FuzzCase): Promise<void> {
    const timeout = this.options.replyTimeoutMs;
    const blame = () => fuzzCase;
    if (fuzzCase.mode === 'vanish') {
      if (fuzzCase.bytes.length > 0) await conn.write(fuzzCase.bytes);
      return; // closed by the caller at once
    }
    if (fuzzCase.mode === 'garbage' || fuzzCase.mode === 'oversize') {
      const sim = simulate(fuzzCase.bytes);
      for (const p of sim.replies) if (p.stream) conn.streamIds.add(p.id);
      await this.writeSplit(conn, fuzzCase);
      // Garbage may leave the daemon waiting for a body that never comes: the half-close ends it.
      // An oversized header must make the daemon hang up by itself.
      if (fuzzCase.mode === 'garbage') conn.shutdownWrite();
      await conn.waitFor(() => conn.closed, timeout, 'hang-up');
      // After a half-close the daemon may drop what it had not answered yet: a prefix is fine.
      this.checkReplies(conn, sim.replies, blame);
      if (fuzzCase.mode === 'oversize' && conn.replies.length !== sim.replies.length) {
        this.fail(fuzzCase, `hung up after ${conn.replies.length} of ${sim.replies.length} replies (FRAME_TOO_LARGE must be answered)`);
      }
      if (conn.replies.length > sim.replies.length) this.fail(fuzzCase, 'more replies than transactions');
      this.recycle(conn);
      return;
    }
    // stream, fds, or a pipelined case that turned out to ask for stream mode: the case, then the sentinel.
    const all = Buffer.concat([fuzzCase.bytes, SENTINEL]);
    const sim = simulate(all);
    for (const p of sim.replies) if (p.stream) conn.streamIds.add(p.id);
    await this.writeSplit(conn, fuzzCase, fuzzCase.fdsToSend);
    await conn.write(SENTINEL);
    if (sim.end !== 'stream') {
      await conn.waitFor(() => conn.replies.length >= sim.replies.length || conn.closed, timeout, 'reply');
      this.checkReplies(conn, sim.replies, blame);
      if (conn.replies.length !== sim.replies.length) this.fail(fuzzCase, `${conn.replies.length} replies, expected ${sim.replies.length}${conn.closed ? ' (the daemon hung up)' : ''}`);
      this.recycle(conn);
      return;
    }
    const streamReply = sim.replies.findIndex((p) => p.stream);
    const before = streamReply === -1 ? sim.replies.length : streamReply;
    // Ends: hang-up (refused), the sentinel echoed by the channel (stream), or the sentinel answered
    // (a oneway stream connect was served and its descriptor dropped).
    const done = () => conn.closed || conn.raw.length >= SENTINEL.length || conn.replies.length > sim.replies.length;
    await conn.waitFor(done, timeout, 'stream-mode outcome');
    this.checkReplies(conn, sim.replies, blame);
    const got = conn.replies.slice(before);
    if (streamReply === -1) {
      // Oneway: refused means a silent hang-up; served means the connection stays and answers the sentinel.
      if (!conn.closed && !(got.length === 1 && got[0]!.reply.id === SENTINEL_ID && got[0]!.reply.status === 0)) {
        this.fail(fuzzCase, `oneway stream transaction: expected a hang-up or the sentinel's reply, got ${describe(got)}`);
      }
    } else if (got.length === 0) {
      this.fail(fuzzCase, 'the daemon hung up without answering the stream-mode transaction');
    } else if (got[0]!.reply.status === 0) {
      this.stats.streamsOpened++;
      if (got.length > 1) this.fail(fuzzCase, `frames after the stream-mode OK reply: ${describe(got.slice(1))}`);
      else if (!conn.raw.subarray(0, SENTINEL.length).equals(SENTINEL)) {
        this.fail(fuzzCase, `the channel did not echo the bytes sent behind the stream connect: ${conn.raw.toString('hex')}`);
      }
    } else {
      if (got.length > 1) this.fail(fuzzCase, `the daemon answered frames after a refused stream-mode transaction: ${describe(got.slice(1))}`);
      if (!conn.closed) await conn.waitFor(() => conn.closed, timeout, 'hang-up after a refused stream-mode transaction').catch((e: Error) => this.fail(fuzzCase, e.message));
    }
    this.recycle(conn);
  }

  /** Checks the replies received against the prediction, in order, and the case's expectation; callers check the count. */
  private checkReplies(conn: FuzzConnection, predicted: readonly PredictedReply[], blame: (at: number) => FuzzCase): void {
    for (const problem of conn.problems) this.fail(blame(conn.replies.length), problem);
    const count = Math.min(conn.replies.length, predicted.length);
    for (let i = 0; i < count; i++) {
      const received = conn.replies[i]!;
      const p = predicted[i]!;
      this.count(received);
      const problem = checkReply(received.reply, received.fds, p);
      if (problem) {
        this.fail(blame(i), `${problem}; reply ${received.body.toString('hex')}`);
        continue;
      }
      const fuzzCase = blame(i);
      if (p.id !== SENTINEL_ID && p.frame === 0) {
        const mismatch = checkExpectation(received, fuzzCase.expect);
        if (mismatch) this.fail(fuzzCase, mismatch);
      }
    }
  }

  private count(received: ReceivedReply): void {
    this.stats.replies++;
    this.stats.descriptorsReceived += received.fds.length;
    if (received.reply.status === 0) this.stats.okReplies++;
    else this.stats.errorCodes[received.reply.errorCode] = (this.stats.errorCodes[received.reply.errorCode] ?? 0) + 1;
  }

  /** Closes every descriptor the replies brought (the test owns them). */
  private recycle(conn: FuzzConnection): void {
    for (const r of conn.replies) for (const fd of r.fds.splice(0)) native.close(fd);
    conn.replies.length = 0;
    conn.problems.length = 0;
  }

  private async writeSplit(conn: FuzzConnection, fuzzCase: FuzzCase, fdCount = 0): Promise<void> {
    const points = [...fuzzCase.splits, fuzzCase.bytes.length];
    let from = 0;
    for (const to of points) {
      // Descriptors travel with the first byte; the connection closes its copies once sent.
      const fds = from === 0 ? Array.from({ length: fdCount }, () => openDevNull()) : [];
      await conn.write(fuzzCase.bytes.subarray(from, to), fds);
      from = to;
      // Give the daemon a chance to read the piece on its own.
      if (to < fuzzCase.bytes.length) await turn();
    }
  }

  private async sharedConnection(): Promise<FuzzConnection> {
    if (!this.shared || this.shared.closed) {
      this.shared?.destroy();
      this.shared = await FuzzConnection.open(this.options.servicePath, this.options.replyTimeoutMs);
      this.sharedBatches = 0;
      this.stats.connections++;
    }
    return this.shared;
  }

  private dropShared(): void {
    this.shared?.destroy();
    this.shared = undefined;
  }

  private afterCase(fuzzCase: FuzzCase): void {
    const gone = this.options.daemonGone();
    if (gone) this.fail(fuzzCase, `daemon gone: ${gone}`);
    this.options.betweenCases();
  }

  private fail(fuzzCase: FuzzCase, reason: string): void {
    if (this.stats.failures.length >= this.maxFailures) return;
    const hex = fuzzCase.bytes.toString('hex');
    this.stats.failures.push({
      index: fuzzCase.index,
      mode: fuzzCase.mode,
      what: fuzzCase.what,
      reason,
      hex: hex.length > 4096 ? `${hex.slice(0, 4096)}... (${fuzzCase.bytes.length} bytes)` : hex,
    });
  }
}

function checkExpectation(received: ReceivedReply, expect: Expectation): string | undefined {
  const { reply } = received;
  if (expect.kind === 'any') return undefined;
  if (expect.kind === 'ok') {
    if (reply.status !== 0) return `valid request refused: ${reply.errorCode} (${reply.message})`;
    if (received.fds.length !== expect.fds) return `valid request answered with ${received.fds.length} descriptors, expected ${expect.fds}`;
    return undefined;
  }
  return reply.errorCode === expect.errorCode ? undefined : `expected ${expect.errorCode}, got ${reply.errorCode || 'OK'} (${reply.message})`;
}

function describe(replies: readonly ReceivedReply[]): string {
  return replies.length === 0 ? 'nothing' : replies.map((r) => `id ${r.reply.id} ${r.reply.errorCode || 'OK'}`).join(', ');
}

function openDevNull(): number {
  // A descriptor of our own for the daemon to refuse; the connection closes it after sending.
  return openSync('/dev/null', 'r');
}
