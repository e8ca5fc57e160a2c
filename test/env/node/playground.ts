// `npm run testenv -- up --node`: what it prints. A kind-like playground: the control plane
// and one real node, the operator image already loaded (as `kind load docker-image` leaves
// it), so the README's kind quickstart steps 3 and 4 run as they are written.
import { REPO_ROOT } from '../binaries.js';
import type { TestEnv } from '../index.js';
import { NODE_NAME } from './config.js';
import { NODE_WORK_DIR } from './host.js';
import { OPERATOR_IMAGE, pdImage, STANDIN_VERSIONS, tikvImage } from './images.js';

export function playgroundText(env: TestEnv): string {
  const pd = env.node?.pdServer === 'real' ? 'a real pd-server (from the bin dir) and the TiKV stand-in' : 'the PD and TiKV stand-ins';
  const kubectlDir = env.binDir;
  return `
A real node (${NODE_NAME}) runs the pods; its images are loaded into its containerd:
  ${OPERATOR_IMAGE}   the operator, built as the Dockerfile builds it
  ${STANDIN_VERSIONS.map(pdImage).join(', ')}
  ${STANDIN_VERSIONS.map(tikvImage).join(', ')}
The pingcap images carry ${pd} (test/env/node/standin; a real pd-server when one is in
KUBE_TEST_ASSETS). examples/*.yaml name pingcap/pd and pingcap/tikv with imagePullPolicy IfNotPresent,
so the node uses these local images and never looks for a registry.

In another shell (kubectl v1.36.3 is in ${kubectlDir}):
  export KUBECONFIG=${env.kubeconfigPath}
  export PATH=${kubectlDir}:$PATH
  cd ${REPO_ROOT}
  kubectl apply --server-side -f crds/ -f deploy/ && kubectl wait --for=condition=Established crd/tikvclusters.tikv.org
  kubectl apply -f examples/basic.yaml && kubectl wait --for=condition=Ready tikvcluster/basic --timeout=15m
  kubectl get tkc,pods,pvc
  kubectl logs basic-pd-0

apiserver:  ${env.server}
logs:       ${env.dir} (control plane), ${env.dir}/node (node components), ${NODE_WORK_DIR} (node state)
Press Ctrl-C to stop (the node and everything on it go; the host is left as it was).`;
}
