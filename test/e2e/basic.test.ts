// The end-to-end scenario (support/scenario.ts) on the backend E2E_BACKEND names: the
// test environment (default, CI) or kind. The real-node backend runs it from
// test/e2e/node/basic.test.ts, with the steps only real pods can show.
import { selectedBackend } from './support/backend.js';
import { describeBasicScenario } from './support/scenario.js';

describeBasicScenario(selectedBackend());
