// Installing what the operator needs before it can run, as the cluster admin would: the
// CRD from crds/ and, from deploy/, the operator's Namespace, ServiceAccount and RBAC (not
// its Deployment: the operator runs as a process here, acting as that ServiceAccount).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { parse, parseAllDocuments } from 'yaml';
import { CONFIG_POLICY_FILE, CRD_FILE } from '../../src/api/crd.js';
import { GROUP, PLURAL, VERSION } from '../../src/api/v1alpha1.js';
import { synthesizeOperator } from '../../src/charts/operator.js';
import { kubeJSON } from '../../src/controller/kube/raw.js';
import { REPO_ROOT } from './binaries.js';
import { waitFor } from './process.js';

const CLUSTER_SCOPED: Record<string, string> = {
  CustomResourceDefinition: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
  Namespace: '/api/v1/namespaces',
  ClusterRole: '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  ClusterRoleBinding: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
  ValidatingAdmissionPolicy: '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies',
  ValidatingAdmissionPolicyBinding: '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings',
};
const NAMESPACED: Record<string, string> = {
  ServiceAccount: 'api/v1/serviceaccounts',
  Role: 'apis/rbac.authorization.k8s.io/v1/roles',
  RoleBinding: 'apis/rbac.authorization.k8s.io/v1/rolebindings',
};

/** Server-side apply as the admin, raw JSON (what `kubectl apply --server-side` does). */
export async function adminApply(kc: KubeConfig, obj: { kind: string; metadata: { name: string; namespace?: string } }): Promise<void> {
  const { kind, metadata } = obj;
  const ns = NAMESPACED[kind];
  const collection = CLUSTER_SCOPED[kind] ?? (ns && metadata.namespace ? `/${ns.replace(/\/([a-z]+)$/, `/namespaces/${metadata.namespace}/$1`)}` : undefined);
  if (!collection) throw new Error(`adminApply: no path for ${kind}`);
  await kubeJSON(kc, {
    method: 'PATCH',
    path: `${collection}/${metadata.name}?fieldManager=test-admin&force=true`,
    body: obj,
    contentType: 'application/apply-patch+yaml',
  });
}

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

export interface InstallOptions {
  /**
   * Record the CRD as `kubectl apply` would (its last-applied-configuration), so a
   * person's own `kubectl apply -f crds/` afterwards says "unchanged" instead of warning
   * about a missing annotation.
   */
  asKubectlApply?: boolean;
}

export async function installOperatorPrerequisitesWith(kc: KubeConfig, o: InstallOptions = {}): Promise<void> {
  const crd = parse(readFileSync(join(REPO_ROOT, CRD_FILE), 'utf8')) as { kind: string; metadata: { name: string; annotations?: Record<string, string> } };
  if (o.asKubectlApply) crd.metadata.annotations = { ...crd.metadata.annotations, [LAST_APPLIED_ANNOTATION]: `${JSON.stringify(crd)}\n` };
  await adminApply(kc, crd);
  // crds/ also holds the admission policy for operator-owned config keys (kubectl apply -f crds/ installs both).
  for (const doc of parseAllDocuments(readFileSync(join(REPO_ROOT, CONFIG_POLICY_FILE), 'utf8'))) {
    const obj = doc.toJS() as { kind: string; metadata: { name: string; annotations?: Record<string, string> } };
    if (o.asKubectlApply) obj.metadata.annotations = { ...obj.metadata.annotations, [LAST_APPLIED_ANNOTATION]: `${JSON.stringify(obj)}\n` };
    await adminApply(kc, obj);
  }
  await waitFor(
    'the TikvCluster CRD to be served',
    async () => {
      await kubeJSON(kc, { method: 'GET', path: `/apis/${GROUP}/${VERSION}/${PLURAL}` });
      return true;
    },
    { timeoutMs: 30_000 },
  );
  for (const obj of synthesizeOperator()) {
    if (obj.kind === 'Deployment' || obj.kind === 'Service') continue;
    await adminApply(kc, obj);
  }
}
