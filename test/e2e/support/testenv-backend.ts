// The e2e backend that runs in CI: the test environment's control plane and PD, the
// operator started as its own process exactly like `npm start` (tsx, src/main.ts run)
// but with --kubeconfig pointing at its ServiceAccount (deploy/ RBAC, not admin), and
// TIKV_OPERATOR_PD_URL_TEMPLATE pointing at the environment's PD, since kwok pod IPs and
// cluster DNS names lead nowhere.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { OPERATOR_NAME, OPERATOR_NAMESPACE } from '../../../src/charts/operator.js';
import { PD_URL_TEMPLATE_ENV } from '../../../src/controller/pd/resolve.js';
import { REPO_ROOT } from '../../env/binaries.js';
import { createServiceAccountKubeconfig, getEnv, newNamespace } from '../../env/context.js';
import { formatLogTails, freePort, type ManagedProcess, spawnLogged, waitFor } from '../../env/process.js';
import { installOperatorPrerequisites, TiKVStandins } from '../../integration/support/operator.js';
import type { Backend } from './backend.js';

/** `node --import <this>` is what `tsx src/main.ts` does, in one process (so SIGTERM and the exit code are the operator's own). */
const TSX_LOADER = pathToFileURL(createRequire(join(REPO_ROOT, 'package.json')).resolve('tsx')).href;

export function testenvBackend(): Backend {
  const env = getEnv();
  const pdURL = env.pdURLs[0];
  if (!pdURL) throw new Error('the test environment has no PD (pd-server not built?); the e2e scenario needs it');
  let proc: ManagedProcess | undefined;
  let port = 0;
  const standins: TiKVStandins[] = [];

  const operatorHTTP = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  };

  return {
    name: 'testenv',
    kc: env.kc,
    timeouts: { ready: 120_000, change: 60_000 },

    async installOperator() {
      await installOperatorPrerequisites();
      const sa = await createServiceAccountKubeconfig(OPERATOR_NAMESPACE, OPERATOR_NAME);
      port = await freePort();
      // spawnLogged runs children in the environment's directory, so tsx and the tsconfig
      // are named by absolute path rather than found from the working directory.
      proc = spawnLogged(
        'e2e-operator',
        process.execPath,
        ['--import', TSX_LOADER, join(REPO_ROOT, 'src/main.ts'), 'run', `--kubeconfig=${sa.kubeconfigPath}`, `--metrics-addr=127.0.0.1:${port}`],
        {
          logDir: env.dir,
          env: {
            ...process.env,
            TSX_TSCONFIG_PATH: join(REPO_ROOT, 'tsconfig.json'),
            [PD_URL_TEMPLATE_ENV]: pdURL,
            LOG_LEVEL: process.env.E2E_OPERATOR_LOG_LEVEL ?? 'info',
          },
          ports: [port],
        },
      );
      await waitFor('the operator process to answer /readyz with 200', async () => (await operatorHTTP('/readyz')).status === 200, {
        timeoutMs: 60_000,
        intervalMs: 250,
        proc,
      });
    },

    namespace: () => newNamespace('e2e'),

    backTiKV(namespace, cluster) {
      standins.push(new TiKVStandins(namespace, cluster).start());
    },

    operatorHTTP,

    async stopOperator() {
      const p = proc;
      if (!p) throw new Error('the operator was not started');
      // The operator gets 20 s, like a pod's grace period; after that spawnLogged SIGKILLs it.
      await p.stop(20_000);
      const m = /^exit code (\d+)$/.exec(p.exitStatus() ?? '');
      return m ? Number(m[1]) : null;
    },

    diagnostics: () => (proc ? formatLogTails([proc], 60) : 'the operator process was not started'),

    async teardown() {
      await proc?.stop(5000);
      await Promise.all(standins.map((s) => s.stop()));
    },
  };
}
