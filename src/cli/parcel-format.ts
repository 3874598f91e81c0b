import { BINDER_TYPE_FD, FD_OBJECT_SIZE } from '../parcel/constants.js';
import { ParcelReader } from '../parcel/parcel-reader.js';

/**
 * A reply Parcel for people: `service call`-style hex rows (4 words and their ASCII), the fd
 * objects, and the reply read as a String16 when that is what it is.
 */
export function formatParcel(data: Buffer, objectOffsets: readonly number[], expectString16: boolean): string[] {
  const lines = [`data: ${data.length} bytes${objectOffsets.length > 0 ? `, objects at [${objectOffsets.join(', ')}]` : ''}`];
  for (let row = 0; row < data.length; row += 16) {
    const slice = data.subarray(row, Math.min(row + 16, data.length));
    const words: string[] = [];
    for (let i = 0; i < slice.length; i += 4) words.push(slice.subarray(i, i + 4).toString('hex'));
    const ascii = [...slice].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`  ${row.toString(16).padStart(4, '0')}: ${words.join(' ').padEnd(35)}  '${ascii}'`);
  }
  for (const offset of objectOffsets) {
    if (offset + FD_OBJECT_SIZE <= data.length && data.readUInt32LE(offset) === BINDER_TYPE_FD) {
      lines.push(`  fd object at ${offset}: flags 0x${data.readUInt32LE(offset + 4).toString(16)}, descriptor #${data.readUInt32LE(offset + 8)} of this reply`);
    }
  }
  lines.push(...decodings(data, expectString16).map((d) => `  ${d}`));
  return lines;
}

/** Readings that consume the whole Parcel exactly; the ones `service call` users look for. */
function decodings(data: Buffer, expectString16: boolean): string[] {
  const found: string[] = [];
  const whole = <T>(read: (reader: ParcelReader) => T): T | undefined => {
    try {
      const reader = new ParcelReader(data);
      const value = read(reader);
      return reader.remaining === 0 ? value : undefined;
    } catch {
      return undefined;
    }
  };
  if (data.length === 4) found.push(`as int32: ${data.readInt32LE(0)}`);
  const asString = whole((r) => r.readString16());
  if (asString !== undefined && (expectString16 || data.length > 4)) found.push(`as String16: ${JSON.stringify(asString)}`);
  if (data.length > 4 && data.readInt32LE(0) === 0) {
    const asStringReply = whole((r) => (r.readInt32(), r.readString16()));
    if (asStringReply !== undefined) found.push(`as AIDL reply: no exception, String16 ${JSON.stringify(asStringReply)}`);
    const asArrayReply = whole((r) => (r.readInt32(), r.readString16Array()));
    if (asArrayReply !== undefined) found.push(`as AIDL reply: no exception, String16[] ${JSON.stringify(asArrayReply)}`);
  }
  return found;
}
