import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `npm run test:e2e -- --kind`: the e2e scenario against the kind-tikv cluster. No
// globalSetup: the kind backend needs Docker and kind, not the test environment's binaries.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/e2e/**/*.test.ts'],
    env: { E2E_BACKEND: 'kind' },
    // Real images are pulled on the first run, and TiKV pods take a while to start.
    testTimeout: 20 * 60_000,
    hookTimeout: 30 * 60_000,
    fileParallelism: false,
  },
});
