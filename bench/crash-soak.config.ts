import { defineConfig } from 'vitest/config';

// The crash soak is a vitest file (it shares the test helpers) kept out of `npm test`.
export default defineConfig({
  test: { include: ['bench/*.soak.ts'], testTimeout: 24 * 3600 * 1000, hookTimeout: 300_000, reporters: ['default'] },
});
