// One fuzz case from (seed, index): the bytes a client sends and how it sends them.
//
// - pipelined: one well-framed frame (valid, or mutated at the Parcel, envelope or byte level);
//   many go down one connection without waiting, as the protocol allows.
// - stream: a frame that asks for stream mode: the connection becomes a channel or is closed.
// - garbage: framing lies (a length shorter or longer than the body, random headers, frames run
//   together); sent on a connection of its own, which the client then half-closes.
// - oversize: a header announcing more than 1 MiB, maybe after valid frames: the daemon answers
//   FRAME_TOO_LARGE and hangs up.
// - vanish: part of a frame, then the client closes outright.
// - fds: a valid transaction sent with descriptors attached, which the daemon must refuse.

import { PING_TRANSACTION } from '../../src/parcel/constants.js';
import { DATA_PROXY_SERVICE_NAME } from '../../src/service/data-proxy-service.js';
import { encodeFrame } from '../../src/wire/framing.js';
import { frameOfTransaction, mutateBytes, mutateFields, mutateSpec, otherFrameBody, transactionFields, type TransactionSpec } from './envelope-gen.js';
import { connectRequest, mutateParcel, validRequest, type Expectation } from './parcel-gen.js';
import { caseRng, type Rng } from './prng.js';
import type { PbField } from './protobuf-writer.js';

export type CaseMode = 'pipelined' | 'stream' | 'garbage' | 'oversize' | 'vanish' | 'fds';

export interface FuzzCase {
  index: number;
  mode: CaseMode;
  /** Everything the client writes. */
  bytes: Buffer;
  /** Offsets where the writes are split (ascending, inside the bytes). */
  splits: number[];
  /** For an unmutated request: what its reply must be. */
  expect: Expectation;
  /** Descriptors to attach to the first write (mode fds). */
  fdsToSend: number;
  /** What was generated, for reports. */
  what: string;
}

const MAX_FRAME = 1024 * 1024;

export function generateCase(seed: number, index: number): FuzzCase {
  const rng = caseRng(seed, index);
  const mode = rng.weighted<CaseMode>([
    [75, 'pipelined'],
    [5, 'stream'],
    [8, 'garbage'],
    [3, 'oversize'],
    [5, 'vanish'],
    [4, 'fds'],
  ]);
  const base: Omit<FuzzCase, 'bytes' | 'what' | 'expect'> = { index, mode, splits: [], fdsToSend: 0 };
  switch (mode) {
    case 'pipelined': {
      const { body, expect, what } = fuzzedBody(rng, 0);
      const bytes = encodeFrame(body);
      return { ...base, bytes, splits: rng.chance(0.15) ? splitPoints(rng, bytes.length) : [], expect, what };
    }
    case 'stream': {
      const { body, expect, what } = fuzzedBody(rng, 1);
      const bytes = encodeFrame(body);
      return { ...base, bytes, splits: rng.chance(0.15) ? splitPoints(rng, bytes.length) : [], expect, what: `stream ${what}` };
    }
    case 'garbage': {
      const { bytes, what } = garbageFraming(rng);
      return { ...base, bytes, splits: rng.chance(0.3) ? splitPoints(rng, bytes.length) : [], expect: { kind: 'any' }, what };
    }
    case 'oversize': {
      const pings = rng.range(0, 2);
      const header = Buffer.alloc(4);
      header.writeUInt32LE(rng.pick([MAX_FRAME + 1, 0xffffffff, 0x80000000, MAX_FRAME + 1 + rng.int(0xffffffff - MAX_FRAME - 1)]));
      const lead = rng.chance(0.2) ? Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n') : Buffer.concat([header, rng.bytes(rng.size(64))]);
      const bytes = Buffer.concat([...Array.from({ length: pings }, (_, i) => pingFrame(i + 1)), lead]);
      return { ...base, bytes, splits: rng.chance(0.3) ? splitPoints(rng, bytes.length) : [], expect: { kind: 'any' }, what: `${pings} pings then ${lead.length > 40 ? 'HTTP' : 'an oversized header'}` };
    }
    case 'vanish': {
      const { body, what } = fuzzedBody(rng, 0);
      const frame = encodeFrame(body);
      const cut = rng.int(frame.length + 1);
      return { ...base, bytes: frame.subarray(0, cut), expect: { kind: 'any' }, what: `first ${cut} of ${frame.length} bytes of ${what}, then close` };
    }
    case 'fds': {
      const request = rng.chance(0.5) ? connectRequest(rng) : { service: DATA_PROXY_SERVICE_NAME, code: PING_TRANSACTION, data: Buffer.alloc(0), label: 'ping', argsAt: 0 };
      const spec: TransactionSpec = { id: 1 + rng.int(0xfffffffe), service: request.service, code: request.code, flags: 0, data: request.data, objectOffsets: [], replyMode: 0 };
      return {
        ...base,
        bytes: encodeFrame(frameOfTransaction(transactionFields(rng, spec))),
        expect: { kind: 'error', errorCode: 'DESCRIPTORS_NOT_ACCEPTED' },
        fdsToSend: rng.range(1, 3),
        what: `${request.label} with descriptors`,
      };
    }
  }
}

export function pingFrame(id: number): Buffer {
  const spec: TransactionSpec = { id, service: DATA_PROXY_SERVICE_NAME, code: PING_TRANSACTION, flags: 0, data: Buffer.alloc(0), objectOffsets: [], replyMode: 0 };
  return encodeFrame(frameOfTransaction(transactionFieldsPlain(spec)));
}

function transactionFieldsPlain(spec: TransactionSpec): PbField[] {
  return [
    { no: 1, wire: 0, value: BigInt(spec.id) },
    { no: 2, wire: 2, value: Buffer.from(spec.service) },
    { no: 3, wire: 0, value: BigInt(spec.code) },
  ];
}

/** A frame body: a valid request, mutated or not. `replyMode` 1 asks for stream mode. */
function fuzzedBody(rng: Rng, replyMode: number): { body: Buffer; expect: Expectation; what: string } {
  if (rng.chance(0.06)) {
    const other = otherFrameBody(rng);
    return { body: other.body, expect: { kind: 'any' }, what: other.what };
  }
  const request = replyMode === 1 && rng.chance(0.8) ? connectRequest(rng) : validRequest(rng);
  const spec: TransactionSpec = { id: 1 + rng.int(0xfffffffe), service: request.service, code: request.code, flags: 0, data: request.data, objectOffsets: [], replyMode };
  const notes: string[] = [request.label];
  let expect: Expectation = request.expect;
  if (replyMode === 1) {
    // Stream mode exists only for connect; a connect that works answers with no descriptor.
    const isConnect = request.service === DATA_PROXY_SERVICE_NAME && request.code === 1;
    if (!isConnect) expect = { kind: 'error', errorCode: 'STREAM_NOT_SUPPORTED' };
    else if (expect.kind === 'ok') expect = { kind: 'ok', fds: 0 };
  }
  if (!rng.chance(0.75)) return { body: frameOfTransaction(transactionFields(rng, spec)), expect, what: notes.join('; ') };
  // Mutated: the reply is whatever the daemon decides, as long as it is well-formed.
  const levels = Array.from({ length: rng.range(1, 3) }, () =>
    rng.weighted<'parcel' | 'spec' | 'fields' | 'bytes'>([
      [5, 'parcel'],
      [3, 'spec'],
      [2, 'fields'],
      [2, 'bytes'],
    ]),
  );
  for (const level of levels) {
    if (level === 'parcel') {
      const { data, what } = mutateParcel(rng, spec.data, request.argsAt);
      spec.data = data;
      notes.push(what);
    } else if (level === 'spec') notes.push(mutateSpec(rng, spec));
  }
  const fields = transactionFields(rng, spec);
  for (const level of levels) if (level === 'fields') notes.push(mutateFields(rng, fields));
  let body = frameOfTransaction(fields);
  for (const level of levels) {
    if (level !== 'bytes') continue;
    const mutated = mutateBytes(rng, body);
    body = mutated.body;
    notes.push(mutated.what);
  }
  return { body, expect: { kind: 'any' }, what: notes.join('; ') };
}

/** Length prefixes that do not match their bodies, and other framing mischief. */
function garbageFraming(rng: Rng): { bytes: Buffer; what: string } {
  const kind = rng.weighted<string>([
    [3, 'short'],
    [3, 'long'],
    [2, 'run-together'],
    [2, 'random'],
    [1, 'zero-lengths'],
  ]);
  const frameBody = () => fuzzedBody(rng, 0).body;
  switch (kind) {
    case 'short': {
      const body = frameBody();
      const header = Buffer.alloc(4);
      header.writeUInt32LE(rng.int(body.length + 1));
      return { bytes: Buffer.concat([header, body, rng.chance(0.5) ? pingFrame(9) : Buffer.alloc(0)]), what: `header ${header.readUInt32LE(0)} < body ${body.length}` };
    }
    case 'long': {
      const body = frameBody();
      const header = Buffer.alloc(4);
      header.writeUInt32LE(Math.min(MAX_FRAME, body.length + 1 + rng.int(rng.chance(0.5) ? 16 : MAX_FRAME)));
      return { bytes: Buffer.concat([header, body]), what: `header ${header.readUInt32LE(0)} > body ${body.length}` };
    }
    case 'run-together': {
      const frames = Array.from({ length: rng.range(2, 5) }, () => encodeFrame(frameBody()));
      const i = rng.int(frames.length);
      const lie = frames[i]!;
      lie.writeUInt32LE(Math.max(0, lie.readUInt32LE(0) + rng.pick([-3, -2, -1, 1, 2, 3])), 0);
      return { bytes: Buffer.concat(frames), what: `${frames.length} frames, frame ${i}'s header off by a few` };
    }
    case 'zero-lengths':
      return { bytes: Buffer.concat([Buffer.alloc(4 * rng.range(1, 8)), pingFrame(3)]), what: 'empty frames then a ping' };
    default: {
      // Random bytes after a plausible small header, so that the body is read.
      const body = rng.bytes(rng.size(200));
      const header = Buffer.alloc(4);
      header.writeUInt32LE(rng.chance(0.5) ? body.length : rng.int(body.length + 8));
      return { bytes: Buffer.concat([header, body]), what: 'random body' };
    }
  }
}

function splitPoints(rng: Rng, length: number): number[] {
  if (length < 2) return [];
  const points = new Set<number>();
  const count = rng.range(1, Math.min(4, length - 1));
  for (let i = 0; i < count; i++) points.add(1 + rng.int(length - 1));
  return [...points].sort((a, b) => a - b);
}

/** A frame body as the daemon cases make them (valid or mutated), for the in-process codec fuzz. */
export function fuzzedFrameBody(rng: Rng): Buffer {
  return fuzzedBody(rng, rng.chance(0.1) ? 1 : 0).body;
}
