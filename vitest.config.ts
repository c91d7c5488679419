import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Integration tests share one registry and real namespaces; keep files serial to stay
    // within a 2-core machine and make failures readable.
    fileParallelism: false,
    reporters: ['default'],
  },
});
