// Loaded by vitest before every test file (vitest.config.ts setupFiles). Every daemon, CLI and browser
// the tests spawn inherits this environment, so a developer's own ~/.config/anbox-oob/config.json,
// runtime directory or ANBOX_OOB_* variables never leak into a test run. Tests that exercise those set
// them explicitly.
//
// The config and runtime directories are fresh per test file and removed after it: nothing is
// written to a fixed path in /tmp (Chromium, for one, keeps its crash-report dir under
// $XDG_CONFIG_HOME/chromium, and a daemon started without flags uses $XDG_RUNTIME_DIR/anbox).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const isolated = mkdtempSync(join(tmpdir(), 'aoob-env-'));
process.env.XDG_CONFIG_HOME = join(isolated, 'config');
process.env.XDG_RUNTIME_DIR = join(isolated, 'run');
mkdirSync(process.env.XDG_RUNTIME_DIR, { mode: 0o700 });
for (const name of Object.keys(process.env)) {
  if (name.startsWith('ANBOX_OOB_') && name !== 'ANBOX_OOB_SOAK' && !name.startsWith('ANBOX_OOB_FUZZ')) delete process.env[name];
}

afterAll(() => {
  rmSync(isolated, { recursive: true, force: true });
});
