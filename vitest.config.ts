import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // No developer config file or ANBOX_OOB_* variable reaches the daemons the tests spawn.
    setupFiles: ['test/helpers/isolate-env.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests spawn daemons and count descriptors; a 2-core machine is happier with fewer workers.
    maxWorkers: 2,
    pool: 'forks',
  },
});
