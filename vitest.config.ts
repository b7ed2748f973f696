import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // integration tests start real processes; two cores run two files at a time well
    maxWorkers: 2,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'default', include: ['test/**/*.test.ts'], exclude: ['test/container/**'], sequence: { groupOrder: 0 } },
      },
      {
        // Docker: image builds take minutes (tens of minutes cold, on vfs), so these run after
        // every other file has finished (groupOrder), one file at a time (they share the engine
        // and the build cache), with time bounds to match. Without an engine they skip, saying why.
        extends: true,
        test: {
          name: 'container',
          include: ['test/container/**/*.test.ts'],
          globalSetup: ['test/container/engine.ts'],
          sequence: { groupOrder: 1 },
          fileParallelism: false,
          testTimeout: 10 * 60_000,
          hookTimeout: 45 * 60_000,
        },
      },
    ],
  },
});
