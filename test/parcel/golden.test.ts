import { describe, it, expect } from 'vitest';
import {
  FD_OBJECT_FLAGS_LIBGBINDER,
  ParcelError,
  ParcelReader,
  ParcelWriter,
  type InterfaceTokenLayout,
} from '../../src/parcel/index.js';
import { DESCRIPTOR, GOLDEN, expectParcelError, fromHex, toHex } from './helpers.js';

const LAYOUTS: readonly InterfaceTokenLayout[] = ['api28', 'api29', 'api30'];
const SIZES: Record<InterfaceTokenLayout, number> = { api28: 100, api29: 104, api30: 108 };

describe('golden request vectors', () => {
  for (const layout of LAYOUTS) {
    it(`${layout}: the writer produces the vector byte for byte`, () => {
      const writer = new ParcelWriter().writeInterfaceToken(DESCRIPTOR, layout).writeString16('foo');
      expect(writer.dataSize).toBe(SIZES[layout]);
      expect(toHex(writer.toBuffer())).toBe(GOLDEN[layout]);
      expect(writer.objectOffsets).toEqual([]);
    });

    it(`${layout}: the reader enforces the interface and reads "foo"`, () => {
      const reader = new ParcelReader(fromHex(GOLDEN[layout]));
      const token = reader.enforceInterface(DESCRIPTOR);
      expect(token.layout).toBe(layout);
      expect(token.descriptor).toBe(DESCRIPTOR);
      expect(reader.position).toBe(SIZES[layout] - 12);
      expect(reader.readString16()).toBe('foo');
      expect(reader.remaining).toBe(0);
    });

    it(`${layout}: readInterfaceToken reports the layout's ints`, () => {
      const token = new ParcelReader(fromHex(GOLDEN[layout])).readInterfaceToken();
      if (layout === 'api28') {
        expect(token).toEqual({ descriptor: DESCRIPTOR, layout, strictModePolicy: 0x00400000 });
      } else if (layout === 'api29') {
        expect(token).toEqual({ descriptor: DESCRIPTOR, layout, strictModePolicy: 0x80000000, workSource: -1 });
      } else {
        expect(token).toEqual({
          descriptor: DESCRIPTOR,
          layout,
          strictModePolicy: 0x80000000,
          workSource: -1,
          header: 0x53595354,
        });
      }
    });

    it(`${layout}: every truncated prefix fails with ParcelError and leaves the cursor alone`, () => {
      const full = fromHex(GOLDEN[layout]);
      for (let length = 0; length < full.length; length++) {
        // A sliced view: the bytes after the cut are still in the ArrayBuffer and must not be read.
        const reader = new ParcelReader(full.subarray(0, length));
        let failedAt: 'token' | 'argument' | undefined;
        let error: unknown;
        try {
          reader.enforceInterface(DESCRIPTOR);
        } catch (err) {
          failedAt = 'token';
          error = err;
        }
        if (failedAt === undefined) {
          const before = reader.position;
          expect(before).toBe(SIZES[layout] - 12);
          try {
            reader.readString16();
          } catch (err) {
            failedAt = 'argument';
            error = err;
          }
          expect(reader.position).toBe(before);
        } else {
          expect(reader.position).toBe(0);
        }
        expect(failedAt, `prefix of ${length} bytes`).toBeDefined();
        expect(error).toBeInstanceOf(ParcelError);
      }
    });
  }
});

describe('golden fd reply vector', () => {
  it('the writer produces the libgbinder fd object with offsets [0]', () => {
    const writer = new ParcelWriter().writeFileDescriptor(5);
    expect(toHex(writer.toBuffer())).toBe(GOLDEN.fdReply);
    expect(writer.objectOffsets).toEqual([0]);
  });

  it('readFileDescriptor reads fd 5 back', () => {
    const reader = new ParcelReader(fromHex(GOLDEN.fdReply), [0]);
    expect(reader.readFileDescriptor()).toEqual({ fd: 5, flags: FD_OBJECT_FLAGS_LIBGBINDER, cookie: 0n });
    expect(reader.remaining).toBe(0);
  });

  it('every truncated prefix fails as TRUNCATED', () => {
    const full = fromHex(GOLDEN.fdReply);
    for (let length = 0; length < full.length; length++) {
      const reader = new ParcelReader(full.subarray(0, length), [0]);
      expectParcelError(reader, () => reader.readFileDescriptor(), 'TRUNCATED');
    }
  });
});
