// The kwok playground behind `npm run testenv -- up`: on top of the test environment, what
// a person needs so that `kubectl apply -f crds/ && kubectl apply -f examples/basic.yaml &&
// kubectl wait --for=condition=Ready tikvcluster/basic` succeeds with nothing else: the
// operator's prerequisites (CRD, namespace, ServiceAccount, RBAC), store stand-ins behind
// every Running TiKV pod, and the operator itself, run from this checkout as its own
// ServiceAccount and pointed at the environment's PD (kwok pod IPs lead nowhere, so the
// service proxy cannot reach PD here). Without the operator it prints the one command that
// runs your own.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { OPERATOR_NAME, OPERATOR_NAMESPACE } from '../../src/charts/operator.js';
import { PD_URL_TEMPLATE_ENV } from '../../src/controller/pd/resolve.js';
import { REPO_ROOT } from './binaries.js';
import type { TestEnv } from './index.js';
import { createServiceAccountKubeconfig } from './controlplane/kubeconfig.js';
import { installOperatorPrerequisitesWith } from './operator-install.js';
import { loadProtoDirs } from './pd/pdpb.js';
import { formatLogTails, freePort, type ManagedProcess, spawnLogged, waitFor } from './process.js';
import { TiKVStandins } from './stores/tikv-standins.js';

/** `node --import <this>` is what `tsx src/main.ts` does, in one process (signals reach the operator itself). */
export const TSX_LOADER = pathToFileURL(createRequire(join(REPO_ROOT, 'package.json')).resolve('tsx')).href;

export interface PlaygroundOptions {
  /** Start the operator (default true); without it, `runYourOwn` says how. */
  operator?: boolean;
  log?: (s: string) => void;
}

export interface Playground {
  /** The operator process, when started here. */
  operator?: ManagedProcess;
  /** Where the operator serves /healthz, /readyz, /metrics. */
  metricsURL: string;
  /** One shell command that runs the operator from this checkout against this playground. */
  runYourOwn: string;
  standins: TiKVStandins;
  /** What is real and what is a stand-in, for people. */
  describe(): string;
  stop(): Promise<void>;
}

export async function startPlayground(env: TestEnv, o: PlaygroundOptions = {}): Promise<Playground> {
  const log = o.log ?? ((s: string) => console.log(s));
  const pdURL = env.pd?.clientURLs[0];
  if (!pdURL) throw new Error('the playground needs PD: start it without --no-pd');
  await installOperatorPrerequisitesWith(env.kc, { asKubectlApply: true });
  log('[testenv] installed the TikvCluster CRD and the operator namespace, ServiceAccount and RBAC (deploy/)');

  const standins = new TiKVStandins({
    kc: env.kc,
    pdURLs: env.pd?.clientURLs ?? [],
    protoDirs: loadProtoDirs(env.binDir),
    log: (s) => log(`[testenv] ${s}`),
  }).start();

  const port = await freePort();
  const metricsURL = `http://127.0.0.1:${port}`;
  const runYourOwn = `cd ${REPO_ROOT} && KUBECONFIG=${env.kubeconfigPath} ${PD_URL_TEMPLATE_ENV}=${pdURL} npm start -- --metrics-addr=127.0.0.1:${port}`;
  let operator: ManagedProcess | undefined;
  try {
    if (o.operator ?? true) {
      const sa = await createServiceAccountKubeconfig(env.kc, OPERATOR_NAMESPACE, OPERATOR_NAME, join(env.dir, 'kubeconfig-operator'), 24 * 3600);
      operator = spawnLogged(
        'operator',
        process.execPath,
        ['--import', TSX_LOADER, join(REPO_ROOT, 'src/main.ts'), 'run', `--kubeconfig=${sa.kubeconfigPath}`, `--metrics-addr=127.0.0.1:${port}`],
        {
          // spawnLogged runs children in the environment's directory: tsx gets the tsconfig by path.
          logDir: env.dir,
          env: { ...process.env, TSX_TSCONFIG_PATH: join(REPO_ROOT, 'tsconfig.json'), [PD_URL_TEMPLATE_ENV]: pdURL, LOG_FORMAT: process.env.LOG_FORMAT ?? 'pretty' },
          ports: [port],
        },
      );
      await waitFor(
        'the operator to answer /readyz',
        async () => (await fetch(`${metricsURL}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200,
        { timeoutMs: 90_000, intervalMs: 250, proc: operator },
      );
      log(`[testenv] operator running (pid ${operator.pid}, as ServiceAccount ${OPERATOR_NAMESPACE}/${OPERATOR_NAME}); log: ${operator.logPath}`);
    }
  } catch (e) {
    const tail = operator ? `\n${formatLogTails([operator])}` : '';
    await operator?.stop(5000);
    await standins.stop();
    throw new Error(`${(e as Error).message}${tail}`, { cause: e });
  }

  const describe = () =>
    [
      'Real:       etcd, kube-apiserver, kube-controller-manager, kube-scheduler (RBAC, StatefulSets, garbage collection, PVC binding),',
      `            and the operator from this checkout${operator ? `, acting as ServiceAccount ${OPERATOR_NAMESPACE}/${OPERATOR_NAME}` : ' (not started: see below)'}`,
      `Stand-ins:  nodes and pods: kwok (${env.nodeNames.length} fake nodes, amd64 and arm64; pods go Running but run no container)`,
      `            PD: ${env.pdKind === 'real' ? 'pd-server v8.5.5 processes on 127.0.0.1' : 'the PD stand-in, a TypeScript imitation of pd-server v8.5.5 (HTTP API and pdpb)'}; the PD pods run nothing`,
      '            TiKV: one store stand-in per Running TiKV pod, registering with PD over pdpb under the pod\'s address',
      '            volumes: a provisioner binds each PVC to a PersistentVolume with no storage behind it',
      'Limits:     every TikvCluster talks to the one PD above: run one cluster at a time, and restart the playground',
      '            before re-creating a deleted cluster (PD still knows its old stores)',
    ].join('\n');

  return {
    operator,
    metricsURL,
    runYourOwn,
    standins,
    describe,
    stop: async () => {
      // The operator gets a pod's grace period to drain and release its Lease.
      await operator?.stop(20_000);
      await standins.stop();
    },
  };
}
