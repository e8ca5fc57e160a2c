// One e2e scenario, two ways to run it. A Backend is "a cluster, the operator running in
// it the way a user runs it, and whatever makes TiKV pods real to PD":
//   testenv (default; CI): the real control plane + 3 PD processes of test/env, the
//           operator as a separate process with its ServiceAccount and the deploy/ RBAC,
//           TiKV pods (kwok) backed by pdpb store stand-ins;
//   kind    (E2E_BACKEND=kind, `npm run test:e2e -- --kind`): the kind-tikv cluster, the
//           operator image built from the Dockerfile and deployed from deploy/, real PD
//           and TiKV pods.
//   node    (test/e2e/node, part of `npm test`; `npm run test:e2e -- --node`): the test
//           environment's control plane with a real node (test/env/node), the operator
//           image as the Dockerfile builds it, deployed from deploy/ with kubectl, real
//           PD and TiKV pods whose binaries are the stand-ins (or a real pd-server).
import type { KubeConfig } from '@kubernetes/client-node';

export type BackendName = 'testenv' | 'kind' | 'node';

export interface Backend {
  readonly name: BackendName;
  /** Admin access to the cluster (valid after installOperator). */
  readonly kc: KubeConfig;
  /** How long a cluster may take to become Ready, and a change (scale, resume) to show in status. */
  readonly timeouts: { ready: number; change: number };
  /** Installs the CRD and the operator's RBAC and starts the operator, the way a user would on this backend. */
  installOperator(): Promise<void>;
  /** `kubectl apply -f <file> -n <ns>` with the real kubectl, where the backend has one (else the scenario applies through the API). */
  applyFile?(path: string, namespace: string): Promise<void>;
  /** An empty namespace for the scenario's TikvCluster. */
  namespace(): Promise<string>;
  /** Makes the cluster's Running TiKV pods register with PD (stand-ins on testenv; real TiKV on kind needs nothing). */
  backTiKV(namespace: string, cluster: string): void;
  /** GET on the operator's HTTP endpoint (/metrics, /readyz). */
  operatorHTTP(path: string): Promise<{ status: number; body: string }>;
  /** Stops the operator the way its supervisor does (SIGTERM) and returns its exit code. */
  stopOperator(): Promise<number | null>;
  /** Where to look when a step fails (log tails, commands). */
  diagnostics(): string;
  teardown(): Promise<void>;
}

export function selectedBackend(env: Record<string, string | undefined> = process.env): BackendName {
  const b = env.E2E_BACKEND ?? 'testenv';
  if (b !== 'testenv' && b !== 'kind' && b !== 'node') throw new Error(`E2E_BACKEND must be "testenv", "kind" or "node", not "${b}"`);
  return b;
}

export async function createBackend(name: BackendName = selectedBackend()): Promise<Backend> {
  // Imported lazily: the kind backend must not need the test environment, nor testenv Docker.
  if (name === 'kind') return (await import('./kind-backend.js')).kindBackend();
  if (name === 'node') return (await import('./node-backend.js')).nodeBackend();
  return (await import('./testenv-backend.js')).testenvBackend();
}
