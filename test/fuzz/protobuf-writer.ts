// A deliberately permissive protobuf encoder for the fuzzer: any field number with any wire type
// and any payload, in any order, so that the daemon sees what a careless or hostile peer sends
// (wrong wire types, unknown fields, groups, lying lengths) and not only what protobufjs produces.

export type PbField =
  | { no: number; wire: 0; value: bigint } // varint
  | { no: number; wire: 1; value: Buffer } // fixed64: 8 bytes (a wrong size is a mutation)
  | { no: number; wire: 2; value: Buffer } // length-delimited
  | { no: number; wire: 3 | 4 } // start / end group
  | { no: number; wire: 5; value: Buffer }; // fixed32: 4 bytes

/** Varint of the low 64 bits of `value` (negative numbers as two's complement, 10 bytes). */
export function varint(value: bigint): Buffer {
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return Buffer.from(out);
}

export function key(no: number, wire: number): Buffer {
  return varint((BigInt(no >>> 0) << 3n) | BigInt(wire & 7));
}

export function encodeField(field: PbField): Buffer {
  const k = key(field.no, field.wire);
  switch (field.wire) {
    case 0:
      return Buffer.concat([k, varint(field.value)]);
    case 2:
      return Buffer.concat([k, varint(BigInt(field.value.length)), field.value]);
    case 1:
    case 5:
      return Buffer.concat([k, field.value]);
    case 3:
    case 4:
      return k;
  }
}

export function encodeFields(fields: readonly PbField[]): Buffer {
  return Buffer.concat(fields.map(encodeField));
}

/** zigzag for sint32, as protobuf does. */
export function zigzag32(n: number): bigint {
  return BigInt(((n << 1) ^ (n >> 31)) >>> 0);
}
