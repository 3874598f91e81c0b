// Auto-detection of the interface-token layout. The real service accepts whichever
// layout its gbinder.conf names; accepting all three is strictly more compatible.
//
// Every layout is tried at the same start offset; a layout "fits" when its ints are
// present and a valid String16 follows them (api30 also needs a known header in int #3).
// Several layouts can fit the same bytes: an api28 token with a short descriptor can
// also parse as api29 (the String16 length read as the work source), and an api29/30
// token parses as api28 with a null descriptor (the work source -1 read as the length).
// Resolution:
//   1. a fitting layout whose descriptor equals the expected one wins;
//   2. otherwise the most plausible fitting layout is reported (see plausibility()).
// The strict-mode policy is never looked at: real apps set StrictMode bits in it.

import {
  INTERFACE_TOKEN_LAYOUTS,
  KNOWN_INTERFACE_HEADERS,
  UNSET_WORK_SOURCE,
  interfaceHeaderName,
  type InterfaceToken,
  type InterfaceTokenLayout,
} from './interface-token.js';
import { ParcelError } from './parcel-error.js';
import { decodeString16, type Decoded } from './string16.js';

/** Most specific first: on equal plausibility the earlier layout wins. */
const DETECTION_ORDER: readonly InterfaceTokenLayout[] = ['api30', 'api29', 'api28'];

interface Fit {
  readonly token: InterfaceToken;
  readonly end: number;
}

interface Miss {
  readonly layout: InterfaceTokenLayout;
  readonly reason: string;
}

function tryLayout(layout: InterfaceTokenLayout, buf: Buffer, view: DataView, start: number): Fit | Miss {
  const ints = INTERFACE_TOKEN_LAYOUTS[layout].intsBeforeDescriptor;
  const available = view.byteLength - start;
  if (available < ints * 4) {
    return { layout, reason: `needs ${ints * 4} bytes of ints, ${available} remain` };
  }
  const strictModePolicy = view.getUint32(start, true);
  let workSource: number | undefined;
  let header: number | undefined;
  if (ints >= 2) workSource = view.getInt32(start + 4, true);
  if (ints >= 3) {
    header = view.getUint32(start + 8, true);
    if (!KNOWN_INTERFACE_HEADERS.has(header)) {
      return { layout, reason: `int #3 ${interfaceHeaderName(header)} is not a known header` };
    }
  }
  // Cheap pre-check: misreading another layout's int as a String16 length is the common miss on
  // the connect hot path, and building a ParcelError (stack and message) for it costs more than
  // the rest of the request.
  const lengthAt = start + ints * 4;
  if (view.byteLength - lengthAt >= 4) {
    const units = view.getInt32(lengthAt, true);
    const left = view.byteLength - lengthAt - 4;
    if (units >= 0 && units * 2 + 2 > left) {
      return { layout, reason: `String16 at offset ${lengthAt} claims ${units} UTF-16 units but only ${left} bytes remain` };
    }
  }
  let descriptor: Decoded<string | null>;
  try {
    descriptor = decodeString16(buf, view, start + ints * 4);
  } catch (err) {
    if (err instanceof ParcelError) return { layout, reason: err.message };
    throw err;
  }
  const token: InterfaceToken =
    ints === 1
      ? { descriptor: descriptor.value, layout, strictModePolicy }
      : ints === 2
        ? { descriptor: descriptor.value, layout, strictModePolicy, workSource }
        : { descriptor: descriptor.value, layout, strictModePolicy, workSource, header };
  return { token, end: descriptor.end };
}

/**
 * Higher is more plausible. A known header is a 32-bit magic match; workSource -1 is
 * what every caller that never set a work source sends; a work source that is not -1
 * is more likely an api28 String16 length misread. A null descriptor almost always
 * means an api29/30 token misread as api28, so it loses to any non-null reading.
 */
function plausibility(token: InterfaceToken): number {
  let rank: number;
  switch (token.layout) {
    case 'api30':
      rank = 4;
      break;
    case 'api29':
      rank = token.workSource === UNSET_WORK_SOURCE ? 3 : 1;
      break;
    case 'api28':
      rank = 2;
      break;
  }
  return token.descriptor === null ? rank - 10 : rank;
}

function mostPlausible(fits: readonly Fit[]): Fit {
  let best = fits[0];
  for (const fit of fits) {
    if (plausibility(fit.token) > plausibility(best.token)) best = fit;
  }
  return best;
}

function describeMisses(misses: readonly Miss[]): string {
  return misses.map((m) => `${m.layout}: ${m.reason}`).join('; ');
}

function quote(descriptor: string | null): string {
  return descriptor === null ? 'a null descriptor' : JSON.stringify(descriptor);
}

/**
 * Parses the interface token at `start` without moving anything. With `expected`,
 * throws WRONG_INTERFACE unless some fitting layout names it. Throws
 * BAD_INTERFACE_TOKEN when no layout fits (a token cut short included: the
 * message says how many bytes remained).
 */
export function detectInterfaceToken(
  buf: Buffer,
  view: DataView,
  start: number,
  expected?: string,
): Decoded<InterfaceToken> {
  const fits: Fit[] = [];
  const misses: Miss[] = [];
  for (const layout of DETECTION_ORDER) {
    const result = tryLayout(layout, buf, view, start);
    if ('token' in result) {
      // Fast path: layouts are tried most plausible first, so the first one naming the expected
      // descriptor is usually the one rule 1 picks.
      // An api29 reading with a work source other than -1 ranks below api28, so it must wait.
      const outranksTheRest = result.token.layout !== 'api29' || result.token.workSource === UNSET_WORK_SOURCE;
      if (expected !== undefined && result.token.descriptor === expected && outranksTheRest) return { value: result.token, end: result.end };
      fits.push(result);
    } else misses.push(result);
  }
  if (fits.length === 0) {
    throw new ParcelError(
      'BAD_INTERFACE_TOKEN',
      start,
      `no interface-token layout parses at offset ${start} (${describeMisses(misses)})`,
    );
  }
  if (expected !== undefined) {
    const matching = fits.filter((fit) => fit.token.descriptor === expected);
    if (matching.length === 0) {
      const best = mostPlausible(fits);
      const others = misses.length > 0 ? `; other layouts: ${describeMisses(misses)}` : '';
      throw new ParcelError(
        'WRONG_INTERFACE',
        start,
        `interface token at offset ${start} expected ${quote(expected)} but received ` +
          `${quote(best.token.descriptor)} (${best.token.layout} layout${others})`,
      );
    }
    const best = mostPlausible(matching);
    return { value: best.token, end: best.end };
  }
  const best = mostPlausible(fits);
  return { value: best.token, end: best.end };
}
