// The e2e backend for people with Docker and kind: the kind-tikv cluster (created from
// kind-config.yaml if absent), the operator image built from the Dockerfile, loaded with
// `kind load docker-image` and deployed from deploy/ (the same steps as `npm run
// kind:up`, scripts/kind-lib.ts), and real PD and TiKV pods. Missing docker or kind fails
// the run at once; nothing here is ever skipped.
import { KubeConfig } from '@kubernetes/client-node';
import { OPERATOR_NAME, OPERATOR_NAMESPACE } from '../../../src/charts/operator.js';
import { kubeJSON } from '../../../src/controller/kube/raw.js';
import { checkPrerequisites, KIND_CONTEXT, operatorUp, systemRunner } from '../../../scripts/kind-lib.js';
import { REPO_ROOT } from '../../env/binaries.js';
import { waitFor } from '../../env/process.js';
import type { Backend } from './backend.js';
import { getOrUndefined, OPERATOR_METRICS_SERVICE, stopOperatorPod, viaServiceProxy } from './kube.js';

/** A fixed, recognizable namespace, so a person can look at a run with kubectl -n tikv-e2e. */
export const KIND_E2E_NAMESPACE = 'tikv-e2e';

export async function kindBackend(): Promise<Backend> {
  const runner = systemRunner(REPO_ROOT);
  const log = (line: string) => console.log(line);
  const o = { runner, root: REPO_ROOT, log };
  // Before anything else: a clear failure when docker, kind or kubectl is missing.
  await checkPrerequisites(o);
  let kc: KubeConfig | undefined;
  const admin = () => {
    if (!kc) throw new Error('installOperator() has not run');
    return kc;
  };

  return {
    name: 'kind',
    get kc() {
      return admin();
    },
    // Real images: the first run pulls pingcap/pd and pingcap/tikv on every node.
    timeouts: { ready: 15 * 60_000, change: 5 * 60_000 },

    async installOperator() {
      await operatorUp(o);
      kc = new KubeConfig();
      kc.loadFromDefault();
      kc.setCurrentContext(KIND_CONTEXT);
    },

    async namespace() {
      const path = `/api/v1/namespaces/${KIND_E2E_NAMESPACE}`;
      // A previous run's namespace (kept with E2E_KEEP=1, or left by a failure) goes first:
      // its PVCs would hand the new cluster the old cluster's PD data.
      if (await getOrUndefined(admin(), path)) {
        log(`deleting namespace ${KIND_E2E_NAMESPACE} left by an earlier run`);
        await kubeJSON(admin(), { method: 'DELETE', path });
        await waitFor(`namespace ${KIND_E2E_NAMESPACE} to be gone`, async () => !(await getOrUndefined(admin(), path)), { timeoutMs: 5 * 60_000, intervalMs: 2000 });
      }
      await kubeJSON(admin(), { method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: KIND_E2E_NAMESPACE } } });
      return KIND_E2E_NAMESPACE;
    },

    backTiKV() {
      // Real TiKV pods register with PD themselves.
    },

    async operatorHTTP(path) {
      return viaServiceProxy(admin(), OPERATOR_NAMESPACE, OPERATOR_METRICS_SERVICE, path);
    },

    stopOperator: () => stopOperatorPod(admin()),

    diagnostics: () =>
      [
        `kubectl --context ${KIND_CONTEXT} -n ${KIND_E2E_NAMESPACE} get tikvclusters,pods,pvc`,
        `kubectl --context ${KIND_CONTEXT} -n ${KIND_E2E_NAMESPACE} describe tikvcluster basic`,
        `kubectl --context ${KIND_CONTEXT} -n ${OPERATOR_NAMESPACE} logs deployment/${OPERATOR_NAME}`,
      ].join('\n'),

    async teardown() {
      if (!kc) return;
      if (process.env.E2E_KEEP === '1') {
        log(`E2E_KEEP=1: leaving namespace ${KIND_E2E_NAMESPACE} in place`);
        return;
      }
      // The PVCs the scenario kept on purpose go with the namespace (local-path deletes the volumes).
      await kubeJSON(kc, { method: 'DELETE', path: `/api/v1/namespaces/${KIND_E2E_NAMESPACE}` }).catch(() => {});
    },
  };
}
