// `npm run bench`: figures for the operator against the test environment (real
// apiserver + PD, kwok pods, store stand-ins). Prints numbers; asserts nothing.
//   1. time from TikvCluster creation to all its objects applied (median of 20)
//   2. API writes per resync for a cluster at rest (from the apiserver audit log)
//   3. the operator's RSS while it manages 100 TikvClusters
// The operator runs compiled, as a separate process, as its own ServiceAccount.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { LABELS } from '../src/charts/labels.js';
import { OPERATOR_NAME, OPERATOR_NAMESPACE } from '../src/charts/operator.js';
import { kubeJSON } from '../src/controller/kube/raw.js';
import { PD_URL_TEMPLATE_ENV } from '../src/controller/pd/client.js';
import { REPO_ROOT } from '../test/env/binaries.js';
import { newNamespace, useEnv } from '../test/env/context.js';
import { startTestEnv } from '../test/env/index.js';
import { createServiceAccountKubeconfig } from '../test/env/kubeconfig.js';
import { waitFor } from '../test/env/process.js';
import {
  auditWrites,
  condition,
  createCluster,
  getCluster,
  installOperatorPrerequisites,
  TiKVStandins,
  waitForCluster,
} from '../test/integration/support/operator.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const MANY = Number(process.env.BENCH_CLUSTERS ?? 100);

const log = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.replace(/\D+/g, '') ?? 0) / 1024;
}

async function reconcileTotal(metricsPort: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  const text = await res.text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('tikv_operator_reconcile_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

const OWNED_KINDS = [
  ['apps/v1', 'statefulsets', 2],
  ['v1', 'services', 3],
  ['v1', 'configmaps', 2],
] as const;

async function allObjectsApplied(kc: KubeConfig, namespace: string, cluster: string): Promise<boolean> {
  const selector = encodeURIComponent(`${LABELS.instance}=${cluster}`);
  for (const [gv, plural, want] of OWNED_KINDS) {
    const prefix = gv === 'v1' ? '/api/v1' : `/apis/${gv}`;
    const list = await kubeJSON<{ items: unknown[] }>(kc, { method: 'GET', path: `${prefix}/namespaces/${namespace}/${plural}?labelSelector=${selector}` });
    if (list.items.length < want) return false;
  }
  return true;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const env = await startTestEnv({ log: (s) => log(s) });
  let operator: ChildProcess | undefined;
  const standins: TiKVStandins[] = [];
  try {
    useEnv({
      kubeconfigPath: env.kubeconfigPath,
      adminToken: env.adminToken,
      server: env.server,
      auditLogPath: env.auditLogPath,
      pdURLs: env.pd?.clientURLs ?? [],
      dir: env.dir,
      paths: env.paths,
      kc: env.kc,
    });
    await installOperatorPrerequisites();
    const sa = await createServiceAccountKubeconfig(env.kc, OPERATOR_NAMESPACE, OPERATOR_NAME, join(env.dir, 'bench-operator.kubeconfig'));
    const metricsPort = await freePort();
    // The compiled operator, as the container runs it (tsx's transform would inflate RSS).
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, stdio: 'inherit' });
    operator = spawn(
      process.execPath,
      [join(REPO_ROOT, 'dist/src/main.js'), 'run', `--kubeconfig=${sa.kubeconfigPath}`, `--metrics-addr=127.0.0.1:${metricsPort}`, '--log-level=warn'],
      { cwd: REPO_ROOT, env: { ...process.env, [PD_URL_TEMPLATE_ENV]: env.pd?.clientURLs[0] ?? '' }, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const pid = operator.pid!;
    await waitFor('operator /readyz', async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok, { timeoutMs: 60_000 });
    log(`\n[bench] operator pid ${pid} ready; RSS idle ${rssMiB(pid).toFixed(0)} MiB; env up in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

    // 1. creation -> all objects applied
    const ns = await newNamespace('bench-create');
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const name = `c${i}`;
      const start = performance.now();
      await createCluster(ns, { metadata: { name }, spec: { pd: { replicas: 1 }, tikv: { replicas: 1 } } });
      await waitFor(`objects of ${name}`, () => allObjectsApplied(env.kc, ns, name), { timeoutMs: 60_000, intervalMs: 20 });
      times.push(performance.now() - start);
    }
    log(`[bench] creation -> all 7 objects applied, ${RUNS} clusters: median ${median(times).toFixed(0)} ms, p90 ${pct(times, 90).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms`);

    // 2. writes per resync at rest: a Ready 3 PD + 3 TiKV cluster backed by store stand-ins
    const restNs = await newNamespace('bench-rest');
    await createCluster(restNs, { metadata: { name: 'basic' }, spec: {} });
    standins.push(new TiKVStandins(restNs, 'basic').start());
    await waitForCluster(restNs, 'basic', 'Ready', (c) => condition(c, 'Ready')?.status === 'True', 180_000);
    await sleep(5000);
    const since = new Date();
    const before = await reconcileTotal(metricsPort);
    await sleep(30_000);
    const reconciles = (await reconcileTotal(metricsPort)) - before;
    const writesRest = auditWrites(sa.username, since).filter((e) => e.objectRef?.namespace === restNs);
    const writesAll = auditWrites(sa.username, since);
    log(
      `[bench] at rest for 30 s: ${reconciles} reconciles (all ${RUNS + 1} clusters), API writes by the operator: ${writesRest.length} for the Ready cluster, ${writesAll.length} in total -> ${(writesAll.length / Math.max(1, reconciles)).toFixed(3)} writes per reconcile`,
    );
    if (writesAll.length) log(`[bench]   writes: ${writesAll.slice(0, 10).map((e) => `${e.verb} ${e.objectRef?.namespace}/${e.objectRef?.resource}/${e.objectRef?.name}`).join(', ')}`);

    // 3. RSS while managing MANY clusters
    const manyNs = await newNamespace('bench-many');
    const rssBefore = rssMiB(pid);
    for (let i = 0; i < MANY - RUNS - 1; i++) {
      await createCluster(manyNs, { metadata: { name: `m${i}` }, spec: { pd: { replicas: 1 }, tikv: { replicas: 1 } } });
    }
    await waitFor(
      `status on all ${MANY} clusters`,
      async () => {
        for (let i = MANY - RUNS - 2; i >= 0; i -= 7) if (!(await getCluster(manyNs, `m${i}`)).status?.observedGeneration) return false;
        return true;
      },
      { timeoutMs: 300_000, intervalMs: 1000 },
    );
    const samples: number[] = [];
    for (let i = 0; i < 10; i++) {
      samples.push(rssMiB(pid));
      await sleep(2000);
    }
    log(`[bench] operator RSS managing ${MANY} TikvClusters: median ${median(samples).toFixed(0)} MiB, max ${Math.max(...samples).toFixed(0)} MiB (with ${RUNS + 1}: ${rssBefore.toFixed(0)} MiB)`);
  } finally {
    await Promise.all(standins.map((s) => s.stop()));
    if (operator && operator.exitCode === null) {
      operator.kill('SIGTERM');
      await new Promise((r) => operator?.once('exit', r));
    }
    await env.stop();
  }
}

await main();
