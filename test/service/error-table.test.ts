// docs/protocol.md section 7 lists every error code with its status: checked against the code,
// both ways, so that a code added, removed or remapped cannot leave the table behind.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parcelErrorStatus, type ParcelErrorCode } from '../../src/parcel/parcel-error.js';
import { Status, statusName } from '../../src/parcel/status.js';
import { toReplyError } from '../../src/service/reply-error.js';
import { SERVICE_ERROR_STATUS } from '../../src/service/service-error.js';
import { WireError, type WireErrorCode } from '../../src/wire/wire-error.js';
import { REPO_ROOT } from '../helpers/cli.js';

const doc = readFileSync(join(REPO_ROOT, 'docs', 'protocol.md'), 'utf8');
const section7 = doc.slice(doc.indexOf('## 7.'), doc.indexOf('## 8.'));

/** Rows of the error-code table: code -> statuses named (a code may have two rows, e.g. PERMISSION_DENIED). */
function tableRows(): Map<string, Set<string>> {
  const rows = new Map<string, Set<string>>();
  for (const line of section7.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    // | error_code | status | reply id | connection | when |
    if (cells.length !== 7 || !/^[A-Z_]+$/.test(cells[1]!) || cells[1] === 'OK') continue;
    if (!/^(open|closes)$/.test(cells[4]!)) continue;
    rows.set(cells[1]!, (rows.get(cells[1]!) ?? new Set()).add(cells[2]!));
  }
  return rows;
}

const WIRE_CODES: WireErrorCode[] = ['FRAME_TOO_LARGE', 'MALFORMED_FRAME', 'EMPTY_FRAME', 'UNEXPECTED_FRAME'];
/** Parcel errors the daemon can send (BAD_OBJECT and OBJECT_NOT_LISTED only come from reading fd objects, which it never does). */
const PARCEL_CODES: ParcelErrorCode[] = ['TRUNCATED', 'NEGATIVE_LENGTH', 'LENGTH_TOO_LARGE', 'MISSING_TERMINATOR', 'BAD_INTERFACE_TOKEN', 'WRONG_INTERFACE'];
/** Reserved: defined, never sent; documented below the table. */
const RESERVED = ['SHUTTING_DOWN'];

function expectedStatuses(): Map<string, string> {
  const expected = new Map<string, string>();
  for (const [code, status] of Object.entries(SERVICE_ERROR_STATUS)) if (!RESERVED.includes(code)) expected.set(code, statusName(status));
  for (const code of WIRE_CODES) expected.set(code, statusName(toReplyError(new WireError(code, '')).status));
  for (const code of PARCEL_CODES) expected.set(code, statusName(parcelErrorStatus(code)));
  return expected;
}

describe('docs/protocol.md error table', () => {
  it('lists every code the daemon sends, with the status it sends, and a connection column', () => {
    const rows = tableRows();
    for (const [code, status] of expectedStatuses()) {
      expect(rows.get(code), `${code} is missing from the table`).toBeDefined();
      expect([...rows.get(code)!], code).toEqual([status]);
    }
    expect([...rows.keys()].filter((code) => !expectedStatuses().has(code))).toEqual([]);
  });

  it('lists every status value the codes use, with its number', () => {
    const used = new Set([...expectedStatuses().values()]);
    for (const name of used) {
      const value = Status[name as keyof typeof Status];
      expect(section7, name).toMatch(new RegExp(`\\| ${name} \\| ${value} \\|`));
    }
  });

  it('documents the reserved codes', () => {
    for (const code of RESERVED) expect(section7).toContain(`\`${code}\``);
  });
});
