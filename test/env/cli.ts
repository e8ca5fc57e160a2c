// `npm run testenv -- up [--nodes N] [--no-pd] [--no-operator]`: the kwok playground in the
// foreground until Ctrl-C / SIGTERM / SIGHUP (see playground.ts for what it runs).
// `npm run testenv -- up --node`: a real node instead (kind-like: the operator runs as a pod
// from deploy/; see test/env/node/playground.ts).
// `npm run testenv -- build [component...]`: build the binaries (testenv/build.sh) only.
// `npm run testenv -- ensure`: what `npm test` runs first: prebuilt binaries named by
// KUBE_TEST_ASSETS are used as they are, otherwise build.sh builds or reuses the cache.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PD_URL_TEMPLATE_ENV } from '../../src/controller/pd/resolve.js';
import { BUILD_SCRIPT, CONTROL_PLANE_BINARIES, findBinaries, isExecutable, REPO_ROOT } from './binaries.js';
import { startTestEnv, type TestEnv } from './index.js';
import { playgroundText } from './node/playground.js';
import { type Playground, startPlayground } from './playground.js';
import { killAllNow, stopOnSignal } from './process.js';

const USAGE = `usage: npm run testenv -- up [--nodes N] [--no-pd] [--no-operator] [--node]
       npm run testenv -- build [k8s|kubectl|etcd|kwok|pd|node|coredns ...]
       npm run testenv -- ensure

up               the control plane, kwok nodes, PD, store stand-ins behind TiKV pods, and the operator
  --no-operator  leave the operator out and print the one command that runs your own
  --no-pd        control plane and nodes only (no PD, no stand-ins, no operator)
  --nodes N      fake nodes (default 4: two amd64, two arm64)
  --node         a real node (containerd + kubelet, needs root) with the operator as a pod, PD and TiKV stand-ins in pods`;

/** A graceful stop has this long before everything left is SIGKILLed. */
const STOP_DEADLINE_MS = 30_000;

function build(args: string[]): number {
  const r = spawnSync('bash', [BUILD_SCRIPT, ...args], { stdio: 'inherit', cwd: REPO_ROOT });
  return r.status ?? 1;
}

/**
 * The Debian packages of the real node (test/e2e/node): installed when this runs as root, so
 * `npm test` does the whole set-up; otherwise the script names what is missing and the node
 * tests fail saying so (they never skip).
 */
function nodePackages(): void {
  const r = spawnSync('bash', [join(REPO_ROOT, 'testenv', 'node-packages.sh')], { stdio: 'inherit', cwd: REPO_ROOT });
  if (r.status !== 0) console.log('[testenv] the real node\'s packages are missing (see above): the node e2e tests will fail until they are installed');
}

function ensure(): number {
  nodePackages();
  if (process.env.KUBE_TEST_ASSETS || process.env.KUBEBUILDER_ASSETS) {
    const bins = findBinaries(CONTROL_PLANE_BINARIES);
    console.log(`[testenv] using the prebuilt binaries in ${bins.binDir}`);
    return 0;
  }
  console.log('[testenv] building the test-environment binaries, or reusing the cache (a cold build takes minutes; progress below)');
  return build([]);
}

async function up(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { nodes: { type: 'string' }, 'no-pd': { type: 'boolean' }, 'no-operator': { type: 'boolean' }, node: { type: 'boolean' } },
  });
  const nodes = values.nodes === undefined ? undefined : Number(values.nodes);
  if (nodes !== undefined && !(Number.isInteger(nodes) && nodes >= 0)) throw new Error(`--nodes must be a whole number, got ${values.nodes}`);

  // Installed before anything starts: a signal during start-up kills what has started.
  let env: TestEnv | undefined;
  let playground: Playground | undefined;
  void stopOnSignal({
    stop: async () => {
      if (!env) {
        killAllNow();
        return;
      }
      await playground?.stop();
      await env.stop();
    },
    deadlineMs: STOP_DEADLINE_MS,
    log: (s) => console.log(`\n[testenv] ${s}`),
  });

  const t0 = Date.now();
  if (values.node) {
    // The real node runs its own PD and TiKV stand-ins in pods, and the operator from deploy/.
    env = await startTestEnv({ nodes, pd: false, node: true });
    console.log(playgroundText(env));
  } else {
    env = await startTestEnv({ nodes, pd: !values['no-pd'] });
    if (env.pd) playground = await startPlayground(env, { operator: !values['no-operator'] });
    console.log(summary(env, playground, (Date.now() - t0) / 1000));
  }
  // Runs until a signal: stopOnSignal exits the process once everything has stopped.
  return new Promise<number>(() => {
    setInterval(() => {}, 1 << 30);
  });
}

function summary(env: TestEnv, pg: Playground | undefined, seconds: number): string {
  const kubectl = join(env.binDir, 'kubectl');
  const pdURL = env.pd?.clientURLs[0];
  const lines = [
    '',
    `The ${pg ? 'playground' : 'test environment'} is ready (${seconds.toFixed(1)}s). In another shell, from ${REPO_ROOT}:`,
    '',
    `  export KUBECONFIG=${env.kubeconfigPath}`,
  ];
  if (pg && pdURL) {
    lines.push(
      `  export ${PD_URL_TEMPLATE_ENV}=${pdURL}   # how the operator and \`tikv-operator status\` reach PD here`,
      '  kubectl apply -f crds/ && kubectl apply -f examples/basic.yaml && kubectl wait --for=condition=Ready tikvcluster/basic --timeout=3m',
      '  npx tsx src/main.ts status basic',
    );
  } else {
    lines.push('  kubectl get nodes,pods -A');
  }
  lines.push(
    '',
    `kubectl:    ${isExecutable(kubectl) ? `${kubectl} (built by testenv/build.sh; any recent kubectl works)` : 'your own (testenv/build.sh builds one into the bin dir)'}`,
    `apiserver:  ${env.server}`,
    `PD:         ${env.pd ? `${env.pd.clientURLs.join(',')} (${env.pdKind === 'real' ? 'pd-server' : 'PD stand-in'})` : '(not started)'}`,
  );
  if (pg?.operator) {
    lines.push(`operator:   pid ${pg.operator.pid}, log ${pg.operator.logPath}, ${pg.metricsURL}/metrics`);
  } else if (pg) {
    lines.push('operator:   not started (--no-operator). Run your own, as printed:', `  ${pg.runYourOwn}`);
  }
  lines.push(`audit log:  ${env.auditLogPath}`);
  if (pg) lines.push('', pg.describe());
  lines.push('', 'Press Ctrl-C to stop.');
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'build') return build(rest);
  if (cmd === 'ensure') return ensure();
  if (cmd === 'up') return up(rest);
  console.error(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error((e as Error).message);
    // Whatever had started goes with us (the exit hook runs on process.exit).
    process.exit(1);
  },
);
