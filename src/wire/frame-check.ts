// The protobuf rules a Frame body must follow beyond what protobufjs checks (docs/protocol.md,
// section 3, "Decoding rules"). Pure: walks the bytes once, builds nothing, throws WireError
// MALFORMED_FRAME naming the offset and the rule. protobufjs then decodes a body that passed.
//
// Why a separate walk: protobufjs reads a known field with whatever wire type it arrives in
// (field 1 sent as bytes reads its length as the id, then the bytes as keys), skips unknown
// varints of any length, keeps the low 32 bits of a 64-bit length, and lets a second oneof
// member replace the first. Each of those would make a buggy client's frame mean something
// it did not say.

import { MAX_VARINT_BYTES, readVarint, VARINT_TRUNCATED } from './varint.js';
import { WireError } from './wire-error.js';

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const WIRE_TYPE_NAMES: Record<number, string> = {
  0: 'varint',
  1: 'fixed64',
  2: 'length-delimited',
  3: 'start-group',
  4: 'end-group',
  5: 'fixed32',
};

/** Field number -> the wire types it may arrive in; 'packable' = varint or a packed run of varints. */
type FieldShape = 'varint' | 'len' | 'packable';
type MessageShape = Readonly<Record<number, readonly [name: string, shape: FieldShape]>>;

const TRANSACTION: MessageShape = {
  1: ['Transaction.id', 'varint'],
  2: ['Transaction.service', 'len'],
  3: ['Transaction.code', 'varint'],
  4: ['Transaction.flags', 'varint'],
  5: ['Transaction.data', 'len'],
  6: ['Transaction.object_offsets', 'packable'],
  7: ['Transaction.reply_mode', 'varint'],
};

const REPLY: MessageShape = {
  1: ['Reply.id', 'varint'],
  2: ['Reply.status', 'varint'],
  3: ['Reply.data', 'len'],
  4: ['Reply.object_offsets', 'packable'],
  5: ['Reply.fd_count', 'varint'],
  6: ['Reply.message', 'len'],
  7: ['Reply.error_code', 'len'],
};

/**
 * Throws MALFORMED_FRAME unless `body` follows the rules below; returns normally otherwise
 * (an empty Frame included: that is EMPTY_FRAME, the decoder's call).
 *
 * - every varint (keys, lengths, values, packed elements) is at most 10 bytes;
 * - a key's field number is 1..2^29-1 and its wire type is 0, 1, 2 or 5 (groups, 3 and 4, are
 *   not proto3 and are refused; 6 and 7 do not exist);
 * - a length fits in the bytes left of the enclosing message;
 * - a known field arrives in its own wire type (repeated uint64 also packed);
 * - Frame holds at most one `transaction` or `reply`, once (a oneof: two members, or one member
 *   twice, is a conflict no protobuf encoder writes);
 * - unknown fields are skipped, at any level.
 */
export function checkFrameBody(body: Uint8Array): void {
  let bodies = 0;
  walk(body, 0, body.length, 'Frame', (field, wireType, start, end, at) => {
    if (field !== 1 && field !== 2) return;
    const name = field === 1 ? 'Frame.transaction' : 'Frame.reply';
    if (wireType !== WIRE_LEN) throw wrongType(name, wireType, 'length-delimited', at);
    if (++bodies > 1) {
      throw malformed(`${name} at offset ${at} follows another transaction or reply: a Frame holds exactly one (oneof), once`);
    }
    walk(body, start, end, field === 1 ? 'Transaction' : 'Reply', (inner, innerType, innerStart, innerEnd, innerAt) => {
      const known = (field === 1 ? TRANSACTION : REPLY)[inner];
      if (!known) return;
      const [innerName, shape] = known;
      if (shape === 'len' && innerType !== WIRE_LEN) throw wrongType(innerName, innerType, 'length-delimited', innerAt);
      if (shape === 'varint' && innerType !== WIRE_VARINT) throw wrongType(innerName, innerType, 'varint', innerAt);
      if (shape === 'packable') {
        if (innerType === WIRE_LEN) {
          for (let at = innerStart; at < innerEnd; ) at = checkedVarint(body, at, innerEnd, innerName, -1, 'packed element')[1];
        } else if (innerType !== WIRE_VARINT) {
          throw wrongType(innerName, innerType, 'varint or packed (length-delimited)', innerAt);
        }
      }
    });
  });
}

type FieldVisitor = (field: number, wireType: number, valueStart: number, valueEnd: number, keyAt: number) => void;

/** Walks the fields of the message in body[start, end), calling `visit` for each after checking its framing. */
function walk(body: Uint8Array, start: number, end: number, message: string, visit: FieldVisitor): void {
  let at = start;
  while (at < end) {
    const keyAt = at;
    const [key, afterKey] = checkedVarint(body, at, end, message, -1, 'field key');
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (field < 1 || field > 0x1fffffff) throw malformed(`${message} has a key with field number ${field} at offset ${keyAt}; field numbers are 1 to 536870911`);
    let valueStart = afterKey;
    let valueEnd: number;
    switch (wireType) {
      case WIRE_VARINT:
        valueEnd = checkedVarint(body, afterKey, end, message, field, 'value')[1];
        break;
      case WIRE_FIXED64:
      case WIRE_FIXED32:
        valueEnd = afterKey + (wireType === WIRE_FIXED64 ? 8 : 4);
        if (valueEnd > end) throw malformed(`${message} field ${field} at offset ${keyAt}: its ${WIRE_TYPE_NAMES[wireType]} value runs past the end of the ${message}`);
        break;
      case WIRE_LEN: {
        const [length, afterLength] = checkedVarint(body, afterKey, end, message, field, 'length');
        if (length > end - afterLength) {
          throw malformed(`${message} field ${field} at offset ${keyAt} announces ${length} bytes but only ${end - afterLength} remain in the ${message}`);
        }
        valueStart = afterLength;
        valueEnd = afterLength + length;
        break;
      }
      default:
        throw malformed(`${message} field ${field} at offset ${keyAt} has wire type ${wireType} (${WIRE_TYPE_NAMES[wireType] ?? 'undefined'}); only 0, 1, 2 and 5 are accepted (proto3 has no groups)`);
    }
    visit(field, wireType, valueStart, valueEnd, keyAt);
    at = valueEnd;
  }
}

/**
 * Reads a varint of at most 10 bytes. Returns [value, offset after it]. `message`, `field`
 * (-1: none) and `part` name it in an error; no string is built otherwise.
 */
function checkedVarint(body: Uint8Array, at: number, end: number, message: string, field: number, part: string): [number, number] {
  const cursor = { at };
  const value = readVarint(body, cursor, end, MAX_VARINT_BYTES);
  if (value >= 0) return [value, cursor.at];
  if (value === VARINT_TRUNCATED) throw malformed(`${where(message, field, part)} at offset ${at}: the varint runs past the end of its message`);
  throw malformed(`${where(message, field, part)} at offset ${at}: a varint longer than ${MAX_VARINT_BYTES} bytes`);
}

function where(message: string, field: number, part: string): string {
  return field < 0 ? `${message} ${part}` : `${message} field ${field} ${part}`;
}

function wrongType(name: string, wireType: number, expected: string, at: number): WireError {
  return malformed(`${name} at offset ${at} has wire type ${wireType} (${WIRE_TYPE_NAMES[wireType] ?? 'undefined'}); it must be ${expected}`);
}

function malformed(message: string): WireError {
  return new WireError('MALFORMED_FRAME', `frame body is not a valid anbox.oob.v1.Frame: ${message}`);
}
