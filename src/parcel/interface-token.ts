// The interface token that starts every AIDL call (Parcel::writeInterfaceToken).
// Its prefix changed twice; libgbinder models the variants as named protocols and
// so do we. All ints are read without checking their values, like libgbinder.
//
//   api28 / aidl   (Android 6-9):  int32 strictModePolicy                       String16 descriptor
//   api29 / aidl2  (Android 10):   int32 strictModePolicy, int32 workSource     String16 descriptor
//   api30 / aidl3  (Android 11+):  int32 strictModePolicy, int32 workSource,
//                                  int32 header ('SYST', 'VNDR', ...)          String16 descriptor
//
// libgbinder's aidl4 (Android 12) writes the same token as aidl3; it differs only in
// how binder objects are flattened, which this codec does not produce.

/** B_PACK_CHARS('S','Y','S','T'): written by libbinder in system processes. */
export const INTERFACE_HEADER_SYST = 0x53595354;
/** B_PACK_CHARS('V','N','D','R'): vendor processes. */
export const INTERFACE_HEADER_VNDR = 0x564e4452;
/** B_PACK_CHARS('R','E','C','O'): recovery. */
export const INTERFACE_HEADER_RECO = 0x5245434f;
/** B_PACK_CHARS('U','N','K','N'): libbinder built outside Android. */
export const INTERFACE_HEADER_UNKN = 0x554e4b4e;

export const KNOWN_INTERFACE_HEADERS: ReadonlySet<number> = new Set([
  INTERFACE_HEADER_SYST,
  INTERFACE_HEADER_VNDR,
  INTERFACE_HEADER_RECO,
  INTERFACE_HEADER_UNKN,
]);

/** IPCThreadState::kUnsetWorkSource. */
export const UNSET_WORK_SOURCE = -1;

/** STRICT_MODE_PENALTY_GATHER up to Android 9. */
export const STRICT_MODE_PENALTY_GATHER_API28 = 0x00400000;
/** STRICT_MODE_PENALTY_GATHER from Android 10 on (moved to bit 31). */
export const STRICT_MODE_PENALTY_GATHER_API29 = 0x80000000;

export type InterfaceTokenLayout = 'api28' | 'api29' | 'api30';

export interface InterfaceTokenLayoutInfo {
  /** The libgbinder protocol name (gbinder.conf `[Protocol]` values). */
  readonly gbinderName: 'aidl' | 'aidl2' | 'aidl3';
  readonly androidVersions: string;
  readonly apiLevels: { readonly min: number; readonly max: number | null };
  /** Number of int32s before the String16 descriptor. */
  readonly intsBeforeDescriptor: 1 | 2 | 3;
  /** What the writer puts in the policy int: the GATHER bit, as libbinder does for a thread without StrictMode bits. */
  readonly defaultStrictModePolicy: number;
  /** What the writer puts in the work-source int; null when the layout has none. */
  readonly defaultWorkSource: number | null;
  /** What the writer puts in the header int; null when the layout has none. */
  readonly defaultHeader: number | null;
}

export const INTERFACE_TOKEN_LAYOUTS: Readonly<Record<InterfaceTokenLayout, InterfaceTokenLayoutInfo>> = {
  api28: {
    gbinderName: 'aidl',
    androidVersions: '6-9',
    apiLevels: { min: 23, max: 28 },
    intsBeforeDescriptor: 1,
    defaultStrictModePolicy: STRICT_MODE_PENALTY_GATHER_API28,
    defaultWorkSource: null,
    defaultHeader: null,
  },
  api29: {
    gbinderName: 'aidl2',
    androidVersions: '10',
    apiLevels: { min: 29, max: 29 },
    intsBeforeDescriptor: 2,
    defaultStrictModePolicy: STRICT_MODE_PENALTY_GATHER_API29,
    defaultWorkSource: UNSET_WORK_SOURCE,
    defaultHeader: null,
  },
  api30: {
    gbinderName: 'aidl3',
    androidVersions: '11+',
    apiLevels: { min: 30, max: null },
    intsBeforeDescriptor: 3,
    defaultStrictModePolicy: STRICT_MODE_PENALTY_GATHER_API29,
    defaultWorkSource: UNSET_WORK_SOURCE,
    defaultHeader: INTERFACE_HEADER_SYST,
  },
};

/** A parsed interface token. Ints are reported as-is; nothing here is validated. */
export interface InterfaceToken {
  readonly descriptor: string | null;
  readonly layout: InterfaceTokenLayout;
  /** As an unsigned 32-bit value, so bit 31 (GATHER on API 29+) reads 0x80000000. */
  readonly strictModePolicy: number;
  /** Signed (-1 = unset); present for api29 and api30. */
  readonly workSource?: number;
  /** Unsigned four-char code; present for api30. */
  readonly header?: number;
}

export interface InterfaceTokenOverrides {
  readonly strictModePolicy?: number;
  readonly workSource?: number;
  readonly header?: number;
}

/** 'SYST' for 0x53595354; hex for values that are not four printable ASCII chars. */
export function interfaceHeaderName(header: number): string {
  const bytes = [header >>> 24, (header >>> 16) & 0xff, (header >>> 8) & 0xff, header & 0xff];
  if (bytes.every((b) => b >= 0x20 && b < 0x7f)) return `'${String.fromCharCode(...bytes)}'`;
  return `0x${(header >>> 0).toString(16).padStart(8, '0')}`;
}
