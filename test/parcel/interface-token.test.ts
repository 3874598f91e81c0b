import { describe, it, expect } from 'vitest';
import {
  INTERFACE_HEADER_RECO,
  INTERFACE_HEADER_SYST,
  INTERFACE_HEADER_UNKN,
  INTERFACE_HEADER_VNDR,
  INTERFACE_TOKEN_LAYOUTS,
  KNOWN_INTERFACE_HEADERS,
  ParcelReader,
  ParcelWriter,
  Status,
  parcelErrorStatus,
  type InterfaceTokenLayout,
} from '../../src/parcel/index.js';
import { DESCRIPTOR, expectParcelError, toHex } from './helpers.js';

const LAYOUTS: readonly InterfaceTokenLayout[] = ['api28', 'api29', 'api30'];
// 0: `service call`; GATHER bits of each era; StrictMode bits of a UI thread on API 29+ and API 28.
const POLICIES = [0, 0x00400000, 0x80000000, 0xc2000004, 0x01410004] as const;
const HEADERS = [
  ['SYST', INTERFACE_HEADER_SYST],
  ['VNDR', INTERFACE_HEADER_VNDR],
  ['RECO', INTERFACE_HEADER_RECO],
  ['UNKN', INTERFACE_HEADER_UNKN],
] as const;

function tokenEnd(layout: InterfaceTokenLayout, descriptor: string): number {
  const ints = INTERFACE_TOKEN_LAYOUTS[layout].intsBeforeDescriptor;
  return ints * 4 + 4 + Math.ceil((descriptor.length * 2 + 2) / 4) * 4;
}

describe('layout table', () => {
  it('names libgbinder protocols and counts the ints before the descriptor', () => {
    expect(INTERFACE_TOKEN_LAYOUTS.api28).toMatchObject({ gbinderName: 'aidl', intsBeforeDescriptor: 1 });
    expect(INTERFACE_TOKEN_LAYOUTS.api29).toMatchObject({ gbinderName: 'aidl2', intsBeforeDescriptor: 2 });
    expect(INTERFACE_TOKEN_LAYOUTS.api30).toMatchObject({ gbinderName: 'aidl3', intsBeforeDescriptor: 3 });
  });

  it('holds the writer defaults', () => {
    expect(INTERFACE_TOKEN_LAYOUTS.api28).toMatchObject({
      defaultStrictModePolicy: 0x00400000,
      defaultWorkSource: null,
      defaultHeader: null,
    });
    expect(INTERFACE_TOKEN_LAYOUTS.api29).toMatchObject({
      defaultStrictModePolicy: 0x80000000,
      defaultWorkSource: -1,
      defaultHeader: null,
    });
    expect(INTERFACE_TOKEN_LAYOUTS.api30).toMatchObject({
      defaultStrictModePolicy: 0x80000000,
      defaultWorkSource: -1,
      defaultHeader: 0x53595354,
    });
  });

  it('has the four-char header codes', () => {
    expect(Buffer.from('SYST').readUInt32BE()).toBe(INTERFACE_HEADER_SYST);
    expect(Buffer.from('VNDR').readUInt32BE()).toBe(INTERFACE_HEADER_VNDR);
    expect(Buffer.from('RECO').readUInt32BE()).toBe(INTERFACE_HEADER_RECO);
    expect(Buffer.from('UNKN').readUInt32BE()).toBe(INTERFACE_HEADER_UNKN);
    expect([...KNOWN_INTERFACE_HEADERS].sort()).toEqual(
      [INTERFACE_HEADER_SYST, INTERFACE_HEADER_VNDR, INTERFACE_HEADER_RECO, INTERFACE_HEADER_UNKN].sort(),
    );
  });
});

describe('writeInterfaceToken', () => {
  it('defaults to the api30 layout', () => {
    const bytes = new ParcelWriter().writeInterfaceToken('x').toBuffer();
    expect(toHex(bytes)).toBe('00000080' + 'ffffffff' + '54535953' + '01000000' + '78000000');
  });

  it('applies overrides, given signed or unsigned', () => {
    const bytes = new ParcelWriter()
      .writeInterfaceToken('x', 'api30', { strictModePolicy: 0xc2000004, workSource: 10057, header: INTERFACE_HEADER_VNDR })
      .toBuffer();
    expect(toHex(bytes.subarray(0, 12))).toBe('040000c2' + '49270000' + '52444e56');
    const signed = new ParcelWriter().writeInterfaceToken('x', 'api29', { strictModePolicy: -0x3dfffffc }).toBuffer();
    expect(toHex(signed.subarray(0, 4))).toBe('040000c2');
  });

  it('ignores overrides for ints the layout does not have', () => {
    const bytes = new ParcelWriter().writeInterfaceToken('x', 'api28', { workSource: 7, header: 9 }).toBuffer();
    expect(toHex(bytes)).toBe('00004000' + '01000000' + '78000000');
  });

  it('rejects ints that do not fit 32 bits', () => {
    expect(() => new ParcelWriter().writeInterfaceToken('x', 'api30', { strictModePolicy: 2 ** 32 })).toThrow(RangeError);
    expect(() => new ParcelWriter().writeInterfaceToken('x', 'api30', { workSource: -(2 ** 31) - 1 })).toThrow(RangeError);
  });
});

describe('layout detection: every policy value with every layout', () => {
  for (const layout of LAYOUTS) {
    for (const policy of POLICIES) {
      const label = `${layout}, policy 0x${policy.toString(16)}`;
      const bytes = new ParcelWriter()
        .writeInterfaceToken(DESCRIPTOR, layout, { strictModePolicy: policy })
        .writeString16('foo')
        .toBuffer();

      it(`${label}: enforceInterface finds the real layout and ignores the policy`, () => {
        const reader = new ParcelReader(bytes);
        const token = reader.enforceInterface(DESCRIPTOR);
        expect(token.layout).toBe(layout);
        expect(token.strictModePolicy).toBe(policy);
        expect(reader.position).toBe(tokenEnd(layout, DESCRIPTOR));
        expect(reader.readString16()).toBe('foo');
      });

      it(`${label}: readInterfaceToken finds the real layout without a hint`, () => {
        const reader = new ParcelReader(bytes);
        const token = reader.readInterfaceToken();
        expect(token.layout).toBe(layout);
        expect(token.descriptor).toBe(DESCRIPTOR);
        expect(reader.readString16()).toBe('foo');
      });
    }
  }

  it('the same holds for a short descriptor and no arguments after it', () => {
    for (const layout of LAYOUTS) {
      for (const policy of POLICIES) {
        const bytes = new ParcelWriter().writeInterfaceToken('IFoo', layout, { strictModePolicy: policy }).toBuffer();
        const token = new ParcelReader(bytes).enforceInterface('IFoo');
        expect([token.layout, token.strictModePolicy]).toEqual([layout, policy]);
      }
    }
  });
});

describe('api30 header variants', () => {
  for (const [name, header] of HEADERS) {
    it(`accepts '${name}'`, () => {
      const bytes = new ParcelWriter()
        .writeInterfaceToken(DESCRIPTOR, 'api30', { header, strictModePolicy: 0xc2000004 })
        .writeString16('foo')
        .toBuffer();
      const reader = new ParcelReader(bytes);
      const token = reader.enforceInterface(DESCRIPTOR);
      expect(token).toEqual({
        descriptor: DESCRIPTOR,
        layout: 'api30',
        strictModePolicy: 0xc2000004,
        workSource: -1,
        header,
      });
      expect(reader.readString16()).toBe('foo');
    });
  }

  it('does not take an unknown header for api30', () => {
    const bytes = new ParcelWriter().writeInterfaceToken(DESCRIPTOR, 'api30', { header: 0x12345678 }).toBuffer();
    const reader = new ParcelReader(bytes);
    const error = expectParcelError(reader, () => reader.enforceInterface(DESCRIPTOR), 'WRONG_INTERFACE');
    expect(error.message).toContain('0x12345678 is not a known header');
    expect(error.message).toContain('null descriptor');
  });
});

describe('work source values', () => {
  for (const layout of ['api29', 'api30'] as const) {
    for (const workSource of [-1, 0, 1000, 10057]) {
      it(`${layout} with work source ${workSource}`, () => {
        const bytes = new ParcelWriter().writeInterfaceToken(DESCRIPTOR, layout, { workSource }).writeInt32(42).toBuffer();
        const reader = new ParcelReader(bytes);
        const token = reader.readInterfaceToken();
        expect([token.layout, token.workSource]).toEqual([layout, workSource]);
        expect(reader.readInt32()).toBe(42);
      });
    }
  }
});

describe('ambiguous bytes', () => {
  // api28 token for "a" (policy 0): 00000000 01000000 61000000. Read as api29, the
  // String16 length 1 becomes the work source and 0x61 = 97 the descriptor length; the
  // zero bytes that follow make that a valid 97-unit String16 of NULs.
  const bytes = new ParcelWriter().writeInterfaceToken('a', 'api28', { strictModePolicy: 0 }).writeBytes(new Uint8Array(200)).toBuffer();
  const nuls = '\0'.repeat(97);

  it('both readings really parse', () => {
    expect(new ParcelReader(bytes).enforceInterface(nuls).layout).toBe('api29');
    expect(new ParcelReader(bytes).enforceInterface('a').layout).toBe('api28');
  });

  it('without a hint the api28 reading wins (a work source of 1 is implausible)', () => {
    const reader = new ParcelReader(bytes);
    expect(reader.readInterfaceToken()).toEqual({ descriptor: 'a', layout: 'api28', strictModePolicy: 0 });
    expect(reader.position).toBe(12);
  });

  it('a layout whose descriptor equals the expected one wins', () => {
    const reader = new ParcelReader(bytes);
    expect(reader.enforceInterface('a')).toEqual({ descriptor: 'a', layout: 'api28', strictModePolicy: 0 });
    expect(reader.position).toBe(12);
    const other = new ParcelReader(bytes);
    expect(other.enforceInterface(nuls)).toMatchObject({ layout: 'api29', workSource: 1 });
    expect(other.position).toBe(8 + 4 + 196);
  });

  it('an api29/api30 token also parses as api28 with a null descriptor; the non-null reading wins', () => {
    for (const layout of ['api29', 'api30'] as const) {
      const reader = new ParcelReader(new ParcelWriter().writeInterfaceToken(DESCRIPTOR, layout).toBuffer());
      expect(reader.readInterfaceToken().layout).toBe(layout);
    }
  });

  it('an empty descriptor followed by zeros: both fit, api28 wins, and the cursor follows it', () => {
    const zeros = new ParcelWriter().writeInterfaceToken('', 'api28', { strictModePolicy: 0 }).writeInt32(0).writeInt32(0).toBuffer();
    const reader = new ParcelReader(zeros);
    expect(reader.enforceInterface('').layout).toBe('api28');
    expect(reader.position).toBe(12);
  });
});

describe('enforceInterface failures', () => {
  it('WRONG_INTERFACE names the expected and the received descriptor', () => {
    for (const layout of LAYOUTS) {
      const bytes = new ParcelWriter().writeInterfaceToken('org.example.IOther', layout).writeString16('foo').toBuffer();
      const reader = new ParcelReader(bytes);
      const error = expectParcelError(reader, () => reader.enforceInterface(DESCRIPTOR), 'WRONG_INTERFACE');
      expect(error.message).toContain(`"${DESCRIPTOR}"`);
      expect(error.message).toContain('"org.example.IOther"');
      expect(error.message).toContain(`${layout} layout`);
      expect(error.offset).toBe(0);
      expect(parcelErrorStatus(error.code)).toBe(Status.PERMISSION_DENIED);
    }
  });

  it('a null descriptor is a wrong interface', () => {
    const reader = new ParcelReader(new ParcelWriter().writeInt32(0).writeString16(null).toBuffer());
    const error = expectParcelError(reader, () => reader.enforceInterface(DESCRIPTOR), 'WRONG_INTERFACE');
    expect(error.message).toContain('received a null descriptor');
    // readInterfaceToken has no expectation and reports it as it is.
    expect(reader.readInterfaceToken()).toEqual({ descriptor: null, layout: 'api28', strictModePolicy: 0 });
  });

  it('BAD_INTERFACE_TOKEN when no layout parses, with every layout named', () => {
    const bytes = new ParcelWriter().writeUint32(0x80000000).writeInt32(-5).toBuffer();
    const reader = new ParcelReader(bytes);
    const error = expectParcelError(reader, () => reader.enforceInterface(DESCRIPTOR), 'BAD_INTERFACE_TOKEN');
    expect(error.message).toMatch(/api30: .*api29: .*api28: .*length -5/);
    expect(parcelErrorStatus(error.code)).toBe(Status.BAD_TYPE);
    expectParcelError(reader, () => reader.readInterfaceToken(), 'BAD_INTERFACE_TOKEN');
  });

  it('an empty parcel has no token', () => {
    const reader = new ParcelReader(new Uint8Array(0));
    expectParcelError(reader, () => reader.readInterfaceToken(), 'BAD_INTERFACE_TOKEN');
  });

  it('reads a token that does not start at offset 0', () => {
    const bytes = new ParcelWriter().writeInt32(7).writeInterfaceToken(DESCRIPTOR, 'api29').writeInt32(9).toBuffer();
    const reader = new ParcelReader(bytes);
    expect(reader.readInt32()).toBe(7);
    expect(reader.enforceInterface(DESCRIPTOR).layout).toBe('api29');
    expect(reader.readInt32()).toBe(9);
    reader.position = 4;
    const error = expectParcelError(reader, () => reader.enforceInterface('IOther'), 'WRONG_INTERFACE');
    expect(error.offset).toBe(4);
  });

  it('non-ASCII descriptors compare exactly', () => {
    const bytes = new ParcelWriter().writeInterfaceToken('org.ünïcode.I😀', 'api30').toBuffer();
    expect(new ParcelReader(bytes).enforceInterface('org.ünïcode.I😀').descriptor).toBe('org.ünïcode.I😀');
    const reader = new ParcelReader(bytes);
    expectParcelError(reader, () => reader.enforceInterface('org.unicode.I😀'), 'WRONG_INTERFACE');
  });
});
