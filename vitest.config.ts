import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests spawn daemons and count descriptors; a 2-core machine is happier with fewer workers.
    maxWorkers: 2,
    pool: 'forks',
  },
});
