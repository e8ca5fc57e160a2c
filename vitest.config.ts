import { defineConfig } from 'vitest/config';

// Three projects: `unit` needs nothing but Node; `integration` runs against the real
// control plane + PD started once by test/env/global-setup.ts (fails loudly when the
// binaries are missing, see README "Test environment"); `node` runs the e2e scenario on a
// real node (test/e2e/node; root, see README "A real node") in a sequence group of its own,
// so it never runs beside the integration tests and competes with them for the CPU. Its
// backend starts its own environment, and the machine-wide node lock may make it wait for
// another run's node.
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
          exclude: ['test/e2e/node/**'],
          globalSetup: ['test/env/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'node',
          include: ['test/e2e/node/**/*.test.ts'],
          testTimeout: 600_000,
          // Bring-up builds the images when their inputs changed, and may wait for the node lock.
          hookTimeout: 30 * 60_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
