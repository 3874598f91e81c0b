// Loaded by vitest before every test file (vitest.config.ts setupFiles). Every daemon and CLI the tests
// spawn inherits this environment, so a developer's own ~/.config/anbox-oob/config.json or
// ANBOX_OOB_* variables never leak into a test run. Tests that exercise those set them explicitly.
import { tmpdir } from 'node:os';
import { join } from 'node:path';

process.env.XDG_CONFIG_HOME = join(tmpdir(), 'anbox-oob-tests-no-config-home');
for (const name of Object.keys(process.env)) {
  if (name.startsWith('ANBOX_OOB_') && name !== 'ANBOX_OOB_SOAK' && !name.startsWith('ANBOX_OOB_FUZZ')) delete process.env[name];
}
