// Helpers for integration tests: the environment started by global-setup.ts, and a fresh
// namespace per test.
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';
import type { ProvidedTestEnv } from './global-setup.js';
import { createServiceAccountKubeconfig as createSAKubeconfig, type ServiceAccountKubeconfig } from './controlplane/kubeconfig.js';
import { waitFor } from './process.js';

export type { ProvidedTestEnv } from './global-setup.js';
export { kubeconfigFor } from './controlplane/kubeconfig.js';

export interface Env extends ProvidedTestEnv {
  /** Admin (system:masters) KubeConfig. */
  kc: KubeConfig;
}

let cached: Env | undefined;

/** For scripts outside vitest (e.g. the benchmark): use this environment instead of inject(). */
export function useEnv(env: Env): void {
  cached = env;
}

export function getEnv(): Env {
  if (!cached) {
    const provided = inject('testEnv');
    const kc = new KubeConfig();
    kc.loadFromFile(provided.kubeconfigPath);
    cached = { ...provided, kc };
  }
  return cached;
}

/**
 * Creates a namespace `<prefix>-<random>` and waits for its `default` ServiceAccount, since
 * ServiceAccount admission rejects pods until the controller has created it.
 */
export async function newNamespace(prefix: string): Promise<string> {
  const core = getEnv().kc.makeApiClient(CoreV1Api);
  const ns = await core.createNamespace({ body: { metadata: { generateName: `${prefix}-` } } });
  const namespace = ns.metadata!.name!;
  await waitFor(`ServiceAccount ${namespace}/default`, () => core.readNamespacedServiceAccount({ namespace, name: 'default' }), {
    timeoutMs: 30_000,
  });
  return namespace;
}

/** A kubeconfig acting as ServiceAccount `namespace/name` (created if missing), e.g. the operator's. */
export function createServiceAccountKubeconfig(namespace: string, name: string): Promise<ServiceAccountKubeconfig> {
  const env = getEnv();
  return createSAKubeconfig(env.kc, namespace, name, join(env.dir, `kubeconfig-${namespace}-${name}`));
}
