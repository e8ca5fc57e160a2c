// vitest globalSetup of the `integration` project: one test environment for the whole
// run. Missing binaries fail the run with the message from binaries.ts; integration
// tests never skip and never pass without a control plane.
import type { TestProject } from 'vitest/node';
import type { TestEnvPaths } from './binaries.js';
import { startTestEnv } from './index.js';

/** What test files get through `inject('testEnv')` (must be serializable). */
export interface ProvidedTestEnv {
  kubeconfigPath: string;
  adminToken: string;
  server: string;
  auditLogPath: string;
  /** Client URLs of the PD members (empty when PD is not started). */
  pdURLs: string[];
  /** `real` (pd-server) or `standin` (the TypeScript PD stand-in). */
  pdKind?: 'real' | 'standin';
  dir: string;
  paths: TestEnvPaths;
}

declare module 'vitest' {
  export interface ProvidedContext {
    testEnv: ProvidedTestEnv;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const env = await startTestEnv({ log: (s) => process.stderr.write(`${s}\n`) });
  project.provide('testEnv', {
    kubeconfigPath: env.kubeconfigPath,
    adminToken: env.adminToken,
    server: env.server,
    auditLogPath: env.auditLogPath,
    pdURLs: env.pd?.clientURLs ?? [],
    pdKind: env.pdKind,
    dir: env.dir,
    paths: env.paths,
  });
  return () => env.stop();
}
