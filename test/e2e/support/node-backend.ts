// The e2e backend on a real node (test/env/node), in CI as part of `npm test`: the test
// environment's control plane with one real node instead of kwok's, the operator image
// built as the Dockerfile builds it and preloaded (as `kind load` would), deploy/ applied
// with a real kubectl v1.36.3 as the README says, the operator running as a pod (in-cluster
// config, its ServiceAccount token, deploy/ RBAC, non-root, read-only root filesystem),
// examples/basic.yaml applied with kubectl, and PD and TiKV pods that really run: the
// chart's start script in bash, its probes, DNS names, the client Service through
// kube-proxy, PVCs mounted. The binaries in the pingcap images are stand-ins (or a real
// pd-server), see test/env/node/standin. Needs root; where it cannot run, startTestEnv
// throws NodeUnavailableError saying why, and the run fails.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { OPERATOR_NAME, OPERATOR_NAMESPACE } from '../../../src/charts/operator.js';
import { REPO_ROOT } from '../../env/binaries.js';
import { startTestEnv, type TestEnv } from '../../env/index.js';
import type { Backend } from './backend.js';
import { OPERATOR_METRICS_SERVICE, stopOperatorPod, viaServiceProxy } from './kube.js';

export const NODE_E2E_NAMESPACE = 'tikv-e2e';

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface NodeBackend extends Backend {
  readonly env: TestEnv;
  /** Runs the real kubectl against the cluster; rejects on a non-zero exit unless `allowFail`. */
  kubectl(args: string[], opts?: { allowFail?: boolean; timeoutMs?: number }): Promise<KubectlResult>;
  /** `kubectl logs` of a pod (the container's current run, or the previous one). */
  logs(namespace: string, pod: string, opts?: { previous?: boolean }): Promise<string>;
}

export async function nodeBackend(): Promise<NodeBackend> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const env = await startTestEnv({ node: true, log });
  const kubectlBin = join(env.binDir, 'kubectl');

  const kubectl: NodeBackend['kubectl'] = (args, opts = {}) =>
    new Promise((resolve, reject) => {
      const child = spawn(kubectlBin, args, { cwd: REPO_ROOT, env: { ...process.env, KUBECONFIG: env.kubeconfigPath }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        const r = { code, stdout, stderr };
        if (code !== 0 && !opts.allowFail) reject(new Error(`kubectl ${args.join(' ')} exited ${code}:\n${stderr}${stdout}`));
        else resolve(r);
      });
    });

  return {
    name: 'node',
    kc: env.kc,
    env,
    kubectl,
    logs: async (namespace, pod, opts = {}) => (await kubectl(['-n', namespace, 'logs', pod, ...(opts.previous ? ['--previous'] : [])])).stdout,
    // Images are local: a cluster is Ready in well under a minute; the slack is for a loaded machine.
    timeouts: { ready: 5 * 60_000, change: 3 * 60_000 },

    async installOperator() {
      // The README's kind quickstart, step 3, verbatim (the image is already on the node).
      const applied = await kubectl(['apply', '--server-side', '-f', 'crds/', '-f', 'deploy/']);
      log(applied.stdout.trim());
      await kubectl(['wait', '--for=condition=Established', 'crd/tikvclusters.tikv.org', '--timeout=60s']);
      await kubectl(['-n', OPERATOR_NAMESPACE, 'rollout', 'status', `deployment/${OPERATOR_NAME}`, '--timeout=180s'], { timeoutMs: 200_000 });
    },

    async namespace() {
      await kubectl(['create', 'namespace', NODE_E2E_NAMESPACE]);
      return NODE_E2E_NAMESPACE;
    },

    async applyFile(path, namespace) {
      // The README's step 4: plain `kubectl apply -f`.
      log((await kubectl(['-n', namespace, 'apply', '-f', path])).stdout.trim());
    },

    backTiKV() {
      // The TiKV pods run tikv-server (the stand-in) themselves.
    },

    operatorHTTP: (path) => viaServiceProxy(env.kc, OPERATOR_NAMESPACE, OPERATOR_METRICS_SERVICE, path),

    stopOperator: () => stopOperatorPod(env.kc),

    diagnostics: () =>
      [
        env.node?.node.diagnostics(20) ?? '',
        env.node?.hub.describe() ?? '',
        `KUBECONFIG=${env.kubeconfigPath} ${kubectlBin} get pods -A -o wide`,
        `KUBECONFIG=${env.kubeconfigPath} ${kubectlBin} -n ${OPERATOR_NAMESPACE} logs deployment/${OPERATOR_NAME}`,
      ].join('\n'),

    async teardown() {
      await env.stop();
    },
  };
}
