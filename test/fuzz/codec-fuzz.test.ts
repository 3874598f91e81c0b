// In-process fuzz of the pure codecs the daemon runs on every byte a peer sends: the Parcel reader
// (interface tokens included), the envelope decoder and the frame splitter. Random and mutated
// input must decode or throw the codec's own typed error, never anything else, and readers must
// keep their documented promises (a failed read leaves the cursor where it was; frames come out
// exactly as they went in). Cheap, so many cases: ANBOX_OOB_FUZZ_CODEC_CASES per property.

import { describe, expect, it } from 'vitest';
import { ParcelError } from '../../src/parcel/parcel-error.js';
import { ParcelReader } from '../../src/parcel/parcel-reader.js';
import { ParcelWriter } from '../../src/parcel/parcel-writer.js';
import type { InterfaceTokenLayout } from '../../src/parcel/interface-token.js';
import { DATA_PROXY_DESCRIPTOR } from '../../src/service/data-proxy-service.js';
import { SERVICE_MANAGER_DESCRIPTOR } from '../../src/service/service-manager.js';
import { STATUS_DESCRIPTOR } from '../../src/service/status-service.js';
import { decodeFrame, encodeReply, encodeTransaction, type DecodedFrame } from '../../src/wire/envelope.js';
import { encodeFrame, FrameDecoder } from '../../src/wire/framing.js';
import { WireError } from '../../src/wire/wire-error.js';
import { fuzzedFrameBody } from './cases.js';
import { caseIndexes, fuzzConfig, seedHex } from './config.js';
import { protobufGarbage } from './envelope-gen.js';
import { mutateParcel, validRequest } from './parcel-gen.js';
import { Rng } from './prng.js';

const config = fuzzConfig();
const indexes = caseIndexes(config, config.codecCases);
const FILE = 'test/fuzz/codec-fuzz.test.ts';
const PARCEL_CODES = new Set(['TRUNCATED', 'NEGATIVE_LENGTH', 'LENGTH_TOO_LARGE', 'MISSING_TERMINATOR', 'BAD_OBJECT', 'OBJECT_NOT_LISTED', 'BAD_INTERFACE_TOKEN', 'WRONG_INTERFACE']);
const WIRE_CODES = new Set(['FRAME_TOO_LARGE', 'MALFORMED_FRAME', 'EMPTY_FRAME', 'UNEXPECTED_FRAME']);
const DESCRIPTORS = [DATA_PROXY_DESCRIPTOR, SERVICE_MANAGER_DESCRIPTOR, STATUS_DESCRIPTOR];
const LAYOUTS: InterfaceTokenLayout[] = ['api28', 'api29', 'api30'];
// Case streams of their own per property, so that adding one does not change the others' cases.
const STREAM = { parcel: 1 << 24, token: 2 << 24, envelope: 3 << 24, framing: 4 << 24 };

console.log(`codec fuzz: seed ${seedHex(config.seed)} (ANBOX_OOB_FUZZ_SEED), ${indexes.length} cases per property (ANBOX_OOB_FUZZ_CODEC_CASES)`);

/** Runs `body` for every case; the first failure names its seed, index and input. */
function forEachCase(stream: number, body: (rng: Rng, index: number) => void): void {
  for (const index of indexes) {
    const rng = new Rng(config.seed, stream + index);
    try {
      body(rng, index);
    } catch (error) {
      const replay = `ANBOX_OOB_FUZZ_SEED=${seedHex(config.seed)} ANBOX_OOB_FUZZ_ONLY=${index} npx vitest run ${FILE}`;
      throw new Error(`case ${index} (seed ${seedHex(config.seed)}): ${(error as Error).message}\n  replay: ${replay}`, { cause: error });
    }
  }
}

function parcelInput(rng: Rng): Buffer {
  if (rng.chance(0.2)) return rng.bytes(rng.size(256));
  let data = validRequest(rng).data;
  const mutations = rng.range(0, 3);
  for (let i = 0; i < mutations; i++) data = mutateParcel(rng, data).data;
  return data;
}

function expectParcelError(error: unknown, reader: ParcelReader, before: number, input: Buffer): void {
  if (!(error instanceof ParcelError)) throw new Error(`not a ParcelError: ${String(error)}; parcel ${input.toString('hex')}`);
  if (!PARCEL_CODES.has(error.code)) throw new Error(`unknown ParcelError code ${error.code}`);
  if (!Number.isInteger(error.offset) || error.offset < 0 || error.offset > reader.dataSize) throw new Error(`error offset ${error.offset} outside the parcel`);
  if (reader.position !== before) throw new Error(`a failed read moved the cursor ${before} -> ${reader.position}; parcel ${input.toString('hex')}`);
}

describe('codec fuzz', () => {
  it('ParcelReader: every read returns a value or throws ParcelError, and a failed read leaves the cursor', () => {
    forEachCase(STREAM.parcel, (rng) => {
      const input = parcelInput(rng);
      const offsets = rng.chance(0.3) ? Array.from({ length: rng.range(1, 3) }, () => rng.pick([0, 4, 8, rng.int(input.length + 8)])) : [];
      const reader = new ParcelReader(input, offsets);
      for (let step = 0; step < 8; step++) {
        const before = reader.position;
        try {
          switch (rng.int(9)) {
            case 0:
              reader.readInt32();
              break;
            case 1:
              reader.readUint32();
              break;
            case 2:
              reader.readInt64();
              break;
            case 3:
              reader.readString16();
              break;
            case 4:
              reader.readString16Array();
              break;
            case 5:
              reader.readInterfaceToken();
              break;
            case 6:
              reader.enforceInterface(rng.pick(DESCRIPTORS));
              break;
            case 7:
              reader.readFileDescriptor();
              break;
            default:
              reader.position = rng.int(input.length + 1);
              continue;
          }
        } catch (error) {
          expectParcelError(error, reader, before, input);
          continue;
        }
        if (reader.position < before || reader.position > reader.dataSize) throw new Error(`cursor ${before} -> ${reader.position} (size ${reader.dataSize})`);
      }
    });
  });

  it('reads back the arguments behind every interface-token layout, whatever the policy and work source', () => {
    forEachCase(STREAM.token, (rng) => {
      const descriptor = rng.chance(0.7) ? rng.pick(DESCRIPTORS) : randomDescriptor(rng);
      const layout = rng.pick(LAYOUTS);
      const argument = rng.chance(0.1) ? null : rng.bytes(rng.size(40)).toString('latin1');
      const writer = new ParcelWriter()
        .writeInterfaceToken(descriptor, layout, {
          strictModePolicy: rng.u32(),
          workSource: rng.chance(0.7) ? -1 : rng.pick([0, 1000, 10_123, rng.int(0x7fffffff)]),
        })
        .writeString16(argument);
      const data = writer.toBuffer();
      const reader = new ParcelReader(data);
      let token;
      try {
        token = reader.enforceInterface(descriptor);
      } catch (error) {
        throw new Error(`valid ${layout} token for ${JSON.stringify(descriptor)} refused: ${(error as Error).message}; parcel ${data.toString('hex')}`);
      }
      expect(token.descriptor).toBe(descriptor);
      const read = reader.readString16();
      if (read !== argument) throw new Error(`${layout} token for ${JSON.stringify(descriptor)}: argument ${JSON.stringify(argument)} read back as ${JSON.stringify(read)}; parcel ${data.toString('hex')}`);
      expect(reader.remaining).toBe(0);
    });
  });

  it('decodeFrame: every body decodes or throws WireError, and a decoded frame survives re-encoding', () => {
    forEachCase(STREAM.envelope, (rng) => {
      const body = rng.weighted<() => Buffer>([
        [6, () => fuzzedFrameBody(rng)],
        [2, () => protobufGarbage(rng)],
        [1, () => rng.bytes(rng.size(300))],
        [1, () => Buffer.concat([Buffer.from([0x12]), protobufGarbage(rng)])],
      ])();
      let frame: DecodedFrame;
      try {
        frame = decodeFrame(body);
      } catch (error) {
        if (!(error instanceof WireError) || !WIRE_CODES.has(error.code)) throw new Error(`not a WireError: ${String(error)}; body ${body.toString('hex')}`);
        return;
      }
      const again = decodeFrame(frame.kind === 'transaction' ? encodeTransaction(frame.transaction) : encodeReply(frame.reply));
      expect(normalise(again), body.toString('hex')).toEqual(normalise(frame));
    });
  });

  it('FrameDecoder: in chunks of any size, the frames come out exactly as they went in, or FRAME_TOO_LARGE', () => {
    forEachCase(STREAM.framing, (rng) => {
      const max = rng.chance(0.5) ? 1024 * 1024 : rng.range(0, 300);
      const bodies = Array.from({ length: rng.range(0, 5) }, () => rng.bytes(rng.size(400)));
      const tail = rng.weighted<() => Buffer>([
        [3, () => Buffer.alloc(0)],
        [2, () => rng.bytes(rng.range(1, 7))], // an incomplete header or frame
        [1, () => Buffer.from([0xff, 0xff, 0xff, 0xff])],
      ])();
      const stream = Buffer.concat([...bodies.map((b) => encodeFrame(b)), tail]);
      const decoder = new FrameDecoder(max);
      const out: Buffer[] = [];
      let consumed = 0;
      let tooLarge: WireError | undefined;
      for (let at = 0; at < stream.length && !tooLarge; ) {
        const to = Math.min(stream.length, at + 1 + rng.size(600));
        decoder.push(stream.subarray(at, to));
        at = to;
        try {
          for (let body = decoder.next(); body !== null; body = decoder.next()) {
            out.push(body);
            consumed += 4 + body.length;
          }
        } catch (error) {
          if (!(error instanceof WireError) || error.code !== 'FRAME_TOO_LARGE') throw error;
          tooLarge = error;
        }
        if (!tooLarge && decoder.bufferedBytes !== at - consumed) throw new Error(`bufferedBytes ${decoder.bufferedBytes}, expected ${at - consumed}`);
      }
      // What the decoder returned is exactly the stream's frames, in order, byte for byte.
      for (let i = 0, pos = 0; i < out.length; i++) {
        const body = out[i]!;
        if (stream.readUInt32LE(pos) !== body.length || !body.equals(stream.subarray(pos + 4, pos + 4 + body.length))) throw new Error(`frame ${i} came out changed`);
        pos += 4 + body.length;
      }
      const firstTooLarge = bodies.findIndex((b) => b.length > max);
      if (firstTooLarge !== -1) {
        // It stops at the first frame over the limit, having returned every frame before it.
        expect(tooLarge?.code).toBe('FRAME_TOO_LARGE');
        expect(out.length).toBe(firstTooLarge);
      } else {
        expect(out.length, `frames of ${bodies.map((b) => b.length)} with limit ${max}, tail ${tail.toString('hex')}`).toBeGreaterThanOrEqual(bodies.length);
        if (!tooLarge) expect(decoder.takeRemainder().equals(stream.subarray(consumed))).toBe(true);
      }
    });
  });
});

function randomDescriptor(rng: Rng): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@$';
  return Array.from({ length: rng.range(1, 120) }, () => alphabet[rng.int(alphabet.length)]).join('');
}

/** Decoded frames as plain data (Buffers as hex) for comparison. */
function normalise(frame: DecodedFrame): unknown {
  const message = frame.kind === 'transaction' ? frame.transaction : frame.reply;
  return { kind: frame.kind, ...message, data: Buffer.from(message.data).toString('hex') };
}
