// Frame bodies: a Transaction encoded field by field (so fields can come in any order, repeated,
// packed or not, with wrong wire types or among unknown fields), and mutations at the envelope
// level: odd codes, flags, services and reply modes, replies and empty frames, nested garbage,
// and byte-level damage to the encoded body.

import { PING_TRANSACTION } from '../../src/parcel/constants.js';
import { DATA_PROXY_SERVICE_NAME } from '../../src/service/data-proxy-service.js';
import { encodeFields, varint, zigzag32, type PbField } from './protobuf-writer.js';
import type { Rng } from './prng.js';

export interface TransactionSpec {
  id: number;
  service: string;
  code: number;
  flags: number;
  data: Buffer;
  objectOffsets: number[];
  replyMode: number;
}

/** Transaction fields as a correct encoder writes them (defaults omitted), sometimes shuffled. */
export function transactionFields(rng: Rng, t: TransactionSpec): PbField[] {
  const fields: PbField[] = [];
  const always = rng.chance(0.1); // some encoders write default values too
  if (t.id !== 0 || always) fields.push({ no: 1, wire: 0, value: BigInt(t.id >>> 0) });
  if (t.service !== '' || always) fields.push({ no: 2, wire: 2, value: Buffer.from(t.service, 'utf8') });
  if (t.code !== 0 || always) fields.push({ no: 3, wire: 0, value: BigInt(t.code >>> 0) });
  if (t.flags !== 0 || always) fields.push({ no: 4, wire: 0, value: BigInt(t.flags >>> 0) });
  if (t.data.length > 0 || always) fields.push({ no: 5, wire: 2, value: t.data });
  if (t.objectOffsets.length > 0) {
    if (rng.chance(0.5)) fields.push({ no: 6, wire: 2, value: Buffer.concat(t.objectOffsets.map((o) => varint(BigInt(o)))) });
    else for (const o of t.objectOffsets) fields.push({ no: 6, wire: 0, value: BigInt(o) });
  }
  // An enum is an int32 on the wire: negative values take ten bytes.
  if (t.replyMode !== 0 || always) fields.push({ no: 7, wire: 0, value: BigInt(t.replyMode | 0) });
  if (rng.chance(0.1)) shuffle(rng, fields);
  return fields;
}

export function frameOfTransaction(txFields: readonly PbField[]): Buffer {
  return encodeFields([{ no: 1, wire: 2, value: encodeFields(txFields) }]);
}

function shuffle<T>(rng: Rng, items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

const ODD_CODES = [0, 2, 3, 4, 5, 0x00ffffff, 0x01000000, 0x5effffff, 0x5f000000, PING_TRANSACTION + 1, 0x7fffffff, 0x80000000, 0xffffffff];
const ODD_SERVICES = ['', 'nope', 'Manager', 'manager ', 'org.anbox.webrtc.IDataProxyService@1.0', 'org.anbox.webrtc.idataproxyservice', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '\u0000', '\ud800', 'é'.repeat(40), 'x'.repeat(5000)];

/** Changes one envelope field of a transaction spec (the Parcel is left as it is). */
export function mutateSpec(rng: Rng, t: TransactionSpec): string {
  const kind = rng.weighted<string>([
    [3, 'code'],
    [3, 'flags'],
    [3, 'service'],
    [3, 'replyMode'],
    [1, 'offsets'],
    [1, 'id'],
  ]);
  switch (kind) {
    case 'code':
      t.code = rng.chance(0.7) ? rng.pick(ODD_CODES) : rng.u32();
      return `code 0x${t.code.toString(16)}`;
    case 'flags':
      t.flags = rng.pick([1, 2, 0x10, 0x11, 0xffffffff, 0xfffffffe, rng.u32()]);
      return `flags 0x${t.flags.toString(16)}`;
    case 'service':
      t.service = rng.chance(0.8) ? rng.pick(ODD_SERVICES) : rng.bytes(rng.size(40)).toString('latin1');
      return `service ${JSON.stringify(t.service.slice(0, 40))}`;
    case 'replyMode':
      t.replyMode = rng.pick([1, 2, 3, -1, 0x7fffffff, -0x80000000, rng.u32() | 0]);
      return `replyMode ${t.replyMode}`;
    case 'offsets':
      t.objectOffsets = Array.from({ length: rng.range(1, 4) }, () => rng.pick([0, 4, 8, 24, 0xffffffff, rng.u32()]));
      return `objectOffsets [${t.objectOffsets.join(',')}]`;
    default:
      t.id = rng.pick([0, 0xffffffff, 0x7fffffff, rng.u32()]);
      return `id ${t.id}`;
  }
}

/** Random bytes that may look like protobuf: keys, varints, lengths, nesting. */
export function protobufGarbage(rng: Rng, depth = 0): Buffer {
  const fields: PbField[] = [];
  const count = rng.range(0, 6);
  for (let i = 0; i < count; i++) {
    const no = rng.chance(0.7) ? rng.range(1, 8) : rng.pick([0, 15, 16, 2047, 0x1fffffff, rng.u32() >>> 3]);
    const wire = rng.pick([0, 0, 1, 2, 2, 3, 4, 5, 6, 7]);
    switch (wire) {
      case 0:
        fields.push({ no, wire, value: rng.chance(0.5) ? BigInt(rng.u32()) : (BigInt(rng.u32()) << 32n) | BigInt(rng.u32()) });
        break;
      case 1:
        fields.push({ no, wire, value: rng.bytes(8) });
        break;
      case 5:
        fields.push({ no, wire, value: rng.bytes(4) });
        break;
      case 2:
        fields.push({ no, wire, value: depth < 3 && rng.chance(0.5) ? protobufGarbage(rng, depth + 1) : rng.bytes(rng.size(64)) });
        break;
      case 3:
      case 4:
        fields.push({ no, wire });
        break;
      default:
        // Wire types 6 and 7 do not exist.
        return Buffer.concat([encodeFields(fields), varint(BigInt(((no >>> 0) * 8 + wire) >>> 0)), rng.bytes(rng.size(8))]);
    }
  }
  return encodeFields(fields);
}

/** Damage to the Transaction's own encoding: wrong wire types, unknown or repeated fields. */
export function mutateFields(rng: Rng, fields: PbField[]): string {
  const kind = rng.weighted<string>([
    [3, 'wire-type'],
    [2, 'unknown'],
    [1, 'repeat'],
    [1, 'drop'],
    [1, 'group'],
    [1, 'overlong-varint'],
    [1, 'garbage-data'],
  ]);
  switch (kind) {
    case 'wire-type': {
      if (fields.length === 0) return 'no field to retype';
      const i = rng.int(fields.length);
      const f = fields[i]!;
      const wire = rng.pick([0, 1, 2, 5] as const);
      fields[i] =
        wire === 0
          ? { no: f.no, wire, value: BigInt(rng.u32()) }
          : wire === 2
            ? { no: f.no, wire, value: rng.bytes(rng.size(32)) }
            : { no: f.no, wire, value: rng.bytes(wire === 1 ? 8 : 4) };
      return `field ${f.no} as wire type ${wire}`;
    }
    case 'unknown': {
      const no = rng.pick([8, 9, 100, 1000, 0x1fffffff]);
      fields.splice(rng.int(fields.length + 1), 0, { no, wire: 2, value: protobufGarbage(rng) });
      return `unknown field ${no}`;
    }
    case 'repeat': {
      if (fields.length === 0) return 'nothing to repeat';
      const f = fields[rng.int(fields.length)]!;
      fields.push(f);
      return `field ${f.no} repeated`;
    }
    case 'drop': {
      if (fields.length === 0) return 'nothing to drop';
      const [f] = fields.splice(rng.int(fields.length), 1);
      return `field ${f!.no} dropped`;
    }
    case 'group':
      fields.splice(rng.int(fields.length + 1), 0, { no: rng.range(1, 9), wire: rng.pick([3, 4] as const) });
      return 'group marker';
    case 'overlong-varint':
      // A full 64-bit varint where a 32-bit field (or an enum) is expected.
      fields.push({ no: rng.pick([1, 3, 4, 7]), wire: 0, value: rng.pick([0xffffffffffffffffn, 0x100000000n, 0x8000000000000000n]) });
      return '64-bit varint in a 32-bit field';
    default:
      fields.push({ no: 5, wire: 2, value: protobufGarbage(rng) });
      return 'data replaced by protobuf garbage';
  }
}

/** Frames that are not a Transaction: replies, empty frames, both fields, garbage. */
export function otherFrameBody(rng: Rng): { body: Buffer; what: string } {
  const kind = rng.weighted<string>([
    [2, 'reply'],
    [1, 'empty'],
    [1, 'both'],
    [3, 'garbage'],
    [2, 'random'],
    [1, 'nested-transaction-garbage'],
    [1, 'unknown-only'],
  ]);
  switch (kind) {
    case 'reply': {
      const reply = encodeFields([
        { no: 1, wire: 0, value: BigInt(rng.u32()) },
        { no: 2, wire: 0, value: zigzag32(rng.u32() | 0) },
        { no: 5, wire: 0, value: BigInt(rng.range(0, 3)) },
      ]);
      return { body: encodeFields([{ no: 2, wire: 2, value: reply }]), what: 'a reply frame' };
    }
    case 'empty':
      return { body: Buffer.alloc(0), what: 'an empty frame' };
    case 'both':
      return {
        body: encodeFields([
          { no: 1, wire: 2, value: encodeFields([{ no: 1, wire: 0, value: 7n }, { no: 2, wire: 2, value: Buffer.from(DATA_PROXY_SERVICE_NAME) }, { no: 3, wire: 0, value: BigInt(PING_TRANSACTION) }]) },
          { no: 2, wire: 2, value: Buffer.alloc(0) },
        ]),
        what: 'transaction and reply',
      };
    case 'garbage':
      return { body: protobufGarbage(rng), what: 'protobuf garbage' };
    case 'random':
      return { body: rng.bytes(rng.size(300)), what: 'random bytes' };
    case 'nested-transaction-garbage':
      return { body: encodeFields([{ no: 1, wire: 2, value: protobufGarbage(rng) }]), what: 'a transaction of garbage' };
    default:
      return { body: encodeFields([{ no: rng.range(3, 50), wire: 2, value: protobufGarbage(rng) }]), what: 'unknown fields only' };
  }
}

/** Byte-level damage to an encoded body. */
export function mutateBytes(rng: Rng, input: Buffer): { body: Buffer; what: string } {
  const body = Buffer.from(input);
  const kind = rng.weighted<string>([
    [3, 'bitflip'],
    [2, 'truncate'],
    [1, 'extend'],
    [1, 'insert'],
    [1, 'delete'],
    [1, 'overlong-varint'],
  ]);
  switch (kind) {
    case 'bitflip': {
      const flips = rng.range(1, 3);
      for (let i = 0; i < flips && body.length > 0; i++) body[rng.int(body.length)]! ^= 1 << rng.int(8);
      return { body, what: `${flips} body bit flips` };
    }
    case 'truncate': {
      const at = rng.int(body.length + 1);
      return { body: body.subarray(0, at), what: `body truncated to ${at}` };
    }
    case 'extend':
      return { body: Buffer.concat([body, rng.chance(0.5) ? protobufGarbage(rng) : rng.bytes(rng.size(32))]), what: 'body extended' };
    case 'insert': {
      const at = rng.int(body.length + 1);
      return { body: Buffer.concat([body.subarray(0, at), rng.bytes(rng.range(1, 4)), body.subarray(at)]), what: `bytes inserted at ${at}` };
    }
    case 'delete': {
      const at = rng.int(body.length + 1);
      return { body: Buffer.concat([body.subarray(0, at), body.subarray(at + rng.range(1, 4))]), what: `bytes deleted at ${at}` };
    }
    default:
      return { body: Buffer.concat([body, Buffer.from([0x08]), Buffer.alloc(11, 0xff), Buffer.from([0x01])]), what: 'overlong varint appended' };
  }
}
