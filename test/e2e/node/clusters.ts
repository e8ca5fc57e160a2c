// What the issue-10 node e2e files share: a TikvCluster created as `kubectl create` would,
// and the backend brought up with the operator installed and the test namespace.
import { expect } from 'vitest';
import { GROUP, VERSION } from '../../../src/api/v1alpha1.js';
import { kubeRequest } from '../../../src/controller/kube/raw.js';
import { type NodeBackend, nodeBackend } from '../support/node-backend.js';

/** POSTs a TikvCluster and fails unless the apiserver created it. */
export async function createCluster(b: NodeBackend, namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  const r = await kubeRequest(b.kc, {
    method: 'POST',
    path: `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/tikvclusters`,
    body: JSON.stringify({ apiVersion: `${GROUP}/${VERSION}`, kind: 'TikvCluster', metadata: { name }, spec }),
  });
  expect(r.status, r.body).toBe(201);
}

/** The real node, the operator from deploy/ as a pod, and the test namespace. */
export async function nodeWithOperator(): Promise<{ b: NodeBackend; ns: string }> {
  const b = await nodeBackend();
  await b.installOperator();
  return { b, ns: await b.namespace() };
}

/** `kubectl wait --for=condition=Ready tikvcluster/<name>`. */
export const waitReady = (b: NodeBackend, ns: string, name: string) =>
  b.kubectl(['-n', ns, 'wait', '--for=condition=Ready', `tikvcluster/${name}`, '--timeout=300s'], { timeoutMs: 320_000 });
