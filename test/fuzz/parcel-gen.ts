// Requests the daemon really serves (connect, manager, status, built-ins; every interface-token
// layout), and mutations of their Parcel bytes. A request left unmutated carries what the daemon
// must answer, so the fuzzer also checks that valid input keeps working among the garbage.

import { INTERFACE_TRANSACTION, PING_TRANSACTION, DUMP_TRANSACTION, SHELL_COMMAND_TRANSACTION } from '../../src/parcel/constants.js';
import {
  INTERFACE_HEADER_RECO,
  INTERFACE_HEADER_SYST,
  INTERFACE_HEADER_UNKN,
  INTERFACE_HEADER_VNDR,
  type InterfaceTokenLayout,
} from '../../src/parcel/interface-token.js';
import { ParcelWriter } from '../../src/parcel/parcel-writer.js';
import { DATA_PROXY_DESCRIPTOR, DATA_PROXY_SERVICE_NAME } from '../../src/service/data-proxy-service.js';
import { SERVICE_MANAGER_DESCRIPTOR, SERVICE_MANAGER_NAME } from '../../src/service/service-manager.js';
import { STATUS_DESCRIPTOR, STATUS_SERVICE_NAME } from '../../src/service/status-service.js';
import type { Rng } from './prng.js';

/** The channel the fuzz daemon has (a fake platform channel); every other valid name is absent. */
export const FUZZ_CHANNEL = 'foo';

/** What a request must get when nothing was mutated. */
export type Expectation =
  | { kind: 'ok'; fds: 0 | 1 }
  | { kind: 'error'; errorCode: string }
  | { kind: 'any' };

export interface Request {
  service: string;
  code: number;
  data: Buffer;
  expect: Expectation;
  /** What was built, for failure reports. */
  label: string;
  /** Where the arguments start (after the interface token): their length words are worth lying in. */
  argsAt: number;
}

const LAYOUTS: readonly InterfaceTokenLayout[] = ['api28', 'api29', 'api30'];
const HEADERS = [INTERFACE_HEADER_SYST, INTERFACE_HEADER_VNDR, INTERFACE_HEADER_RECO, INTERFACE_HEADER_UNKN];

function token(rng: Rng, writer: ParcelWriter, descriptor: string): InterfaceTokenLayout {
  const layout = rng.pick(LAYOUTS);
  writer.writeInterfaceToken(descriptor, layout, {
    // Real apps set StrictMode bits in the policy; the daemon must ignore them.
    strictModePolicy: rng.chance(0.5) ? undefined : rng.u32(),
    // A work source is -1 unless a system caller set one (a uid).
    workSource: rng.chance(0.8) ? undefined : rng.range(0, 200_000),
    header: rng.pick(HEADERS),
  });
  return layout;
}

/** Channel names and what connect must answer for each (none of them but foo exists). */
function channelName(rng: Rng): { name: string | null; expect: Expectation } {
  return rng.weighted<() => { name: string | null; expect: Expectation }>([
    [12, () => ({ name: FUZZ_CHANNEL, expect: { kind: 'ok', fds: 1 } })],
    [2, () => ({ name: rng.pick(['bar', 'foo2', 'FOO', 'a.b_c-d', 'x'.repeat(40)]), expect: { kind: 'error', errorCode: 'CHANNEL_NOT_FOUND' } })],
    [
      2,
      () => ({
        name: rng.pick(['', '.', '..', 'a/b', '../foo', 'foo\0', 'f o', 'x'.repeat(65), 'é', '\ud800', 'foo\n', 'webrtc_data_foo/..', '%s%n']),
        expect: { kind: 'error', errorCode: 'INVALID_CHANNEL_NAME' },
      }),
    ],
    [1, () => ({ name: null, expect: { kind: 'error', errorCode: 'NULL_ARGUMENT' } })],
  ])();
}

/** One valid request, with what the daemon must answer. */
export function validRequest(rng: Rng): Request {
  const make = rng.weighted<() => Request>([
    [10, () => connectRequest(rng)],
    [2, () => managerRequest(rng)],
    [1, () => builtinRequest(rng)],
    [0.3, () => statusRequest(rng)],
  ]);
  return make();
}

export function connectRequest(rng: Rng): Request {
  const writer = new ParcelWriter();
  const layout = token(rng, writer, DATA_PROXY_DESCRIPTOR);
  const argsAt = writer.dataSize;
  const { name, expect } = channelName(rng);
  writer.writeString16(name);
  return { service: DATA_PROXY_SERVICE_NAME, code: 1, data: copy(writer), expect, label: `connect(${JSON.stringify(name)}) ${layout}`, argsAt };
}

function managerRequest(rng: Rng): Request {
  const writer = new ParcelWriter();
  const layout = token(rng, writer, SERVICE_MANAGER_DESCRIPTOR);
  const code = rng.pick([1, 2, 4]);
  const argsAt = writer.dataSize;
  if (code === 4) writer.writeInt32(rng.pick([0, 15, -1, rng.u32() | 0]));
  else writer.writeString16(rng.pick([DATA_PROXY_SERVICE_NAME, STATUS_SERVICE_NAME, SERVICE_MANAGER_NAME, 'nope', '']));
  return { service: SERVICE_MANAGER_NAME, code, data: copy(writer), expect: { kind: 'ok', fds: 0 }, label: `manager code ${code} ${layout}`, argsAt };
}

function statusRequest(rng: Rng): Request {
  const writer = new ParcelWriter();
  const layout = token(rng, writer, STATUS_DESCRIPTOR);
  return { service: STATUS_SERVICE_NAME, code: 1, data: copy(writer), expect: { kind: 'ok', fds: 0 }, label: `getStatus ${layout}`, argsAt: writer.dataSize };
}

function builtinRequest(rng: Rng): Request {
  const service = rng.pick([DATA_PROXY_SERVICE_NAME, SERVICE_MANAGER_NAME, STATUS_SERVICE_NAME]);
  const code = rng.pick([PING_TRANSACTION, INTERFACE_TRANSACTION, DUMP_TRANSACTION, SHELL_COMMAND_TRANSACTION]);
  // Built-ins ignore their data; give them some anyway.
  const data = rng.chance(0.7) ? Buffer.alloc(0) : rng.bytes(rng.size(64));
  const known = code === PING_TRANSACTION || code === INTERFACE_TRANSACTION;
  const expect: Expectation = known ? { kind: 'ok', fds: 0 } : { kind: 'error', errorCode: 'UNKNOWN_TRANSACTION' };
  return { service, code, data, expect, label: `builtin 0x${code.toString(16)} on ${service}`, argsAt: 0 };
}

function copy(writer: ParcelWriter): Buffer {
  return Buffer.from(writer.toBuffer());
}

// ---------------------------------------------------------------------------------------------
// Parcel mutations. Each returns new bytes and a short description.

const INTERESTING_INT32 = [0, 1, -1, -2, 2, 3, 4, 0x7fffffff, -0x80000000, 0x3fffffff, 0x40000000, 0x7ffffffe, 19, 38, 39, 0xffff, 0x10000, 0x80000];

function writeInt32At(data: Buffer, at: number, value: number): void {
  if (at + 4 <= data.length) data.writeInt32LE(value | 0, at);
}

/** Offsets where a length word plausibly sits: every aligned word. */
function alignedWord(rng: Rng, data: Buffer): number {
  const words = Math.floor(data.length / 4);
  return words === 0 ? 0 : rng.int(words) * 4;
}

export function mutateParcel(rng: Rng, input: Buffer, argsAt = 0): { data: Buffer; what: string } {
  const data = Buffer.from(input);
  const kind = rng.weighted<string>([
    [4, 'bitflip'],
    [2, 'byte'],
    [3, 'truncate'],
    [2, 'extend'],
    [4, 'length'],
    [4, 'argument-length'],
    [2, 'descriptor'],
    [2, 'header'],
    [1, 'terminator'],
    [1, 'drop-word'],
    [1, 'insert-word'],
    [1, 'random'],
    [1, 'empty'],
  ]);
  switch (kind) {
    case 'bitflip': {
      const flips = rng.range(1, 4);
      for (let i = 0; i < flips && data.length > 0; i++) data[rng.int(data.length)]! ^= 1 << rng.int(8);
      return { data, what: `${flips} bit flips` };
    }
    case 'byte':
      if (data.length > 0) data[rng.int(data.length)] = rng.pick([0, 0xff, 0x7f, 0x80, rng.u32() & 0xff]);
      return { data, what: 'byte set' };
    case 'truncate': {
      const at = rng.int(data.length + 1);
      return { data: data.subarray(0, at), what: `truncated to ${at}` };
    }
    case 'extend':
      return { data: Buffer.concat([data, rng.chance(0.5) ? Buffer.alloc(rng.size(64)) : rng.bytes(rng.size(256))]), what: 'extended' };
    case 'length': {
      // A length word (String16 length, array count, work source, ...) that lies.
      const at = alignedWord(rng, data);
      const value = rng.chance(0.7) ? rng.pick(INTERESTING_INT32) : rng.u32() | 0;
      writeInt32At(data, at, value);
      return { data, what: `word at ${at} = ${value}` };
    }
    case 'argument-length': {
      // The first argument's length word (the channel's String16, a service name, a dump priority).
      const value = rng.chance(0.8) ? rng.pick([...INTERESTING_INT32, -3, -100, 0x7fffffff >> 1, 1 << 30, (1 << 30) - 1]) : rng.u32() | 0;
      writeInt32At(data, argsAt, value);
      return { data, what: `argument length at ${argsAt} = ${value}` };
    }
    case 'descriptor': {
      // A real token naming another interface.
      const writer = new ParcelWriter();
      writer.writeInterfaceToken(rng.pick(['org.anbox.webrtc.IDataProxyService', 'android.os.IServiceManager', SERVICE_MANAGER_DESCRIPTOR, DATA_PROXY_DESCRIPTOR + 'x', '', 'a'.repeat(rng.size(300))]), rng.pick(LAYOUTS));
      writer.writeString16(rng.chance(0.8) ? FUZZ_CHANNEL : null);
      return { data: Buffer.from(writer.toBuffer()), what: 'other descriptor' };
    }
    case 'header':
      writeInt32At(data, 8, rng.chance(0.5) ? rng.u32() | 0 : rng.pick(HEADERS) ^ (1 << rng.int(32)));
      return { data, what: 'header word changed' };
    case 'terminator': {
      // Overwrite a 16-bit zero (a terminator or padding) with something else.
      const zeros: number[] = [];
      for (let i = 0; i + 1 < data.length; i += 2) if (data.readUInt16LE(i) === 0) zeros.push(i);
      if (zeros.length > 0) data.writeUInt16LE(rng.range(1, 0xffff), rng.pick(zeros));
      return { data, what: 'terminator overwritten' };
    }
    case 'drop-word': {
      const at = alignedWord(rng, data);
      return { data: Buffer.concat([data.subarray(0, at), data.subarray(at + 4)]), what: `word at ${at} removed` };
    }
    case 'insert-word': {
      const at = alignedWord(rng, data);
      const word = Buffer.alloc(4);
      word.writeInt32LE(rng.pick(INTERESTING_INT32) | 0);
      return { data: Buffer.concat([data.subarray(0, at), word, data.subarray(at)]), what: `word inserted at ${at}` };
    }
    case 'random':
      return { data: rng.bytes(rng.size(512)), what: 'random parcel' };
    default:
      return { data: Buffer.alloc(0), what: 'empty parcel' };
  }
}
