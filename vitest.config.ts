import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs nothing but Node; `integration` runs against the real
// control plane + PD started once by test/env/global-setup.ts (fails loudly when the
// binaries are missing, see README "Test environment").
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/env/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
