// `npm run bench`: figures for the operator against the test environment (real apiserver,
// controller-manager, scheduler, kwok pods; PD stand-in or pd-server; store stand-ins).
// It prints a table and asserts nothing. In one run:
//   1. RSS (median/max of samples every 2 s) and CPU seconds over 60 s at rest with
//      N = 1, 10, 100 clusters of 3 PD + 3 TiKV whose PD is unreachable through the API
//      server's service proxy (the setup of the published comparison with tidb-operator,
//      issue 13: both stop at "PD created, waiting for PD"), and API writes per minute
//   2. API writes per minute at rest for one cluster in each resting state: Ready, PD
//      unreachable, degraded (a store down), paused, invalid spec, blocked scale-in
//   3. TikvCluster created -> all 7 objects applied (median/p90 of 20), next to the floor:
//      the same create and applies made by a bare script, measured the same way
//   4. operator restart with every cluster at rest -> all reconciled, seconds and writes
// The operator runs compiled, as a separate process, as its own ServiceAccount, and
// reaches PD through a router that gives each namespace a PD that answers or none.
//
//   BENCH_CLUSTERS=0,1,10,100 the N of figure 1 (0: the operator's fixed cost)
//   BENCH_RUNS=20             clusters created for figure 3
//   BENCH_REST_S=60           length of each at-rest window
//   BENCH_OPERATOR_DIR=path   a built checkout to measure instead of this one (e.g. main)
//   BENCH_LABEL=main         how the table names the measured build
//   BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'   extra node flags for the operator
//   BENCH_SIGNAL_AT_REST=SIGUSR2  sent to the operator at the end of each window (with --heapsnapshot-signal)
//   BENCH_PHASES=floor,create,n,states,restart               a subset, in this order
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type KubeConfig, Watch } from '@kubernetes/client-node';
import { parseTikvCluster } from '../src/api/validate.js';
import { LABELS, synthesize } from '../src/charts/index.js';
import { OPERATOR_NAME, OPERATOR_NAMESPACE } from '../src/charts/operator.js';
import { Applier } from '../src/controller/kube/apply.js';
import { kubeJSON } from '../src/controller/kube/raw.js';
import { resourcePath } from '../src/controller/kube/resources.js';
import { PD_URL_TEMPLATE_ENV } from '../src/controller/pd/resolve.js';
import { REPO_ROOT } from '../test/env/binaries.js';
import { newNamespace, useEnv } from '../test/env/context.js';
import { startTestEnv } from '../test/env/index.js';
import { createServiceAccountKubeconfig } from '../test/env/controlplane/kubeconfig.js';
import { freePort, waitFor } from '../test/env/process.js';
import {
  condition,
  createCluster,
  deleteCluster,
  getCluster,
  installOperatorPrerequisites,
  patchSpec,
  TiKVStandins,
  type TikvClusterObj,
  waitForCluster,
} from '../test/integration/support/operator.js';
import { AuditReader, cpuSeconds, isWrite, loadAverage, median, type PDMode, PDRouter, percentile, rssMiB, StatusChanges, sleep } from './support.js';

const NS = (process.env.BENCH_CLUSTERS ?? '0,1,10,100').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const REST_S = Number(process.env.BENCH_REST_S ?? 60);
const PHASES = new Set((process.env.BENCH_PHASES ?? 'floor,create,n,states,restart').split(','));
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);

const log = (s: string) => process.stdout.write(`${s}\n`);
const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : '–');

interface Operator {
  proc: ChildProcess;
  pid: number;
  metricsPort: number;
  startedAt: Date;
}

async function metricValue(op: Operator, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${op.metricsPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

const OWNED = [
  ['StatefulSet', 2],
  ['Service', 3],
  ['ConfigMap', 2],
] as const;

async function allObjectsApplied(kc: KubeConfig, namespace: string, cluster: string): Promise<boolean> {
  const selector = encodeURIComponent(`${LABELS.instance}=${cluster}`);
  for (const [kind, want] of OWNED) {
    const list = await kubeJSON<{ items: unknown[] }>(kc, { method: 'GET', path: `${resourcePath(kind, namespace)}?labelSelector=${selector}` });
    if (list.items.length < want) return false;
  }
  return true;
}

/** The node flags of the Dockerfile's ENTRYPOINT (an exec-form JSON array: node, flags..., script). */
function nodeFlagsOfImage(dir: string): string[] {
  const dockerfile = join(dir, 'Dockerfile');
  if (!existsSync(dockerfile)) return [];
  const line = readFileSync(dockerfile, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('ENTRYPOINT '));
  const argv = line ? (JSON.parse(line.slice('ENTRYPOINT '.length)) as string[]) : [];
  return argv.slice(1).filter((a) => a.startsWith('--'));
}

interface Row {
  figure: string;
  value: string;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const rows: Row[] = [];
  const row = (figure: string, value: string) => {
    rows.push({ figure, value });
    log(`[bench] ${figure}: ${value}`);
  };
  const env = await startTestEnv({ log: (s) => log(s) });
  const router = new PDRouter(env.pd?.clientURLs[0] ?? 'http://127.0.0.1:9');
  const standins: TiKVStandins[] = [];
  let operator: Operator | undefined;
  let stopWatch = () => {};
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
    const template = await router.start();
    await installOperatorPrerequisites();
    // Which status fields the writes at rest change (from a watch of every TikvCluster).
    const changes = new StatusChanges();
    const watching = new AbortController();
    let watch: AbortController | undefined;
    // Re-opened whenever the apiserver ends it: a fresh watch replays every cluster as
    // ADDED, which observe() compares with what it saw last.
    const openWatch = async (): Promise<void> => {
      if (watching.signal.aborted) return;
      watch = await new Watch(env.kc).watch(
        '/apis/tikv.org/v1alpha1/tikvclusters',
        {},
        (_type, obj: TikvClusterObj) => changes.observe(`${obj.metadata.namespace}/${obj.metadata.name}`, obj.status),
        (err) => {
          if (watching.signal.aborted) return;
          if (err) log(`[bench] the TikvCluster watch ended: ${err}; watching again`);
          setTimeout(() => void openWatch().catch(() => {}), 1000);
        },
      );
    };
    await openWatch();
    stopWatch = () => {
      watching.abort();
      watch?.abort();
    };
    const sa = await createServiceAccountKubeconfig(env.kc, OPERATOR_NAMESPACE, OPERATOR_NAME, join(env.dir, 'bench-operator.kubeconfig'));
    const audit = new AuditReader(env.auditLogPath, () => new Set([sa.username]));
    const operatorDir = process.env.BENCH_OPERATOR_DIR ?? REPO_ROOT;
    const entry = join(operatorDir, 'dist/src/main.js');
    // The compiled operator, as the container runs it (tsx's transform would inflate RSS).
    if (!process.env.BENCH_OPERATOR_DIR) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, stdio: 'inherit' });
    if (!existsSync(entry)) throw new Error(`no operator build at ${entry} (run npm run build there)`);
    const gitRev = process.env.BENCH_LABEL ?? (() => {
      try {
        return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: operatorDir, encoding: 'utf8' }).trim();
      } catch {
        return '?';
      }
    })();
    log(`[bench] operator ${entry} (${gitRev}); env up in ${((Date.now() - t0) / 1000).toFixed(0)} s; load ${loadAverage()}`);

    // Node flags as the image runs the operator: whatever that checkout's Dockerfile puts
    // between node and the script in its ENTRYPOINT.
    const imageFlags = nodeFlagsOfImage(operatorDir);
    log(`[bench] node flags of the image: ${imageFlags.join(' ') || '(none)'}`);
    const startOperator = async (): Promise<Operator> => {
      const metricsPort = await freePort();
      const startedAt = new Date();
      const proc = spawn(
        process.execPath,
        [...imageFlags, ...NODE_ARGS, entry, 'run', `--kubeconfig=${sa.kubeconfigPath}`, `--metrics-addr=127.0.0.1:${metricsPort}`, '--log-level=warn'],
        { cwd: operatorDir, env: { ...process.env, [PD_URL_TEMPLATE_ENV]: template }, stdio: ['ignore', 'ignore', 'inherit'] },
      );
      const op = { proc, pid: proc.pid!, metricsPort, startedAt };
      await waitFor('operator /readyz', async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok, { timeoutMs: 120_000, intervalMs: 100 });
      return op;
    };
    const stopOperator = async (op: Operator | undefined) => {
      if (!op || op.proc.exitCode !== null) return;
      const exited = new Promise((r) => op.proc.once('exit', r));
      op.proc.kill('SIGTERM');
      await exited;
    };

    /** A window at rest: RSS every 2 s, CPU used, the operator's API requests and PD requests. */
    const atRest = async (op: Operator, seconds = REST_S) => {
      const from = new Date();
      changes.reset();
      const cpu0 = cpuSeconds(op.pid);
      const pd0 = new Map(router.requests);
      const rss: number[] = [];
      const end = Date.now() + seconds * 1000;
      while (Date.now() < end) {
        rss.push(rssMiB(op.pid));
        await sleep(Math.min(2000, Math.max(0, end - Date.now())));
      }
      if (process.env.BENCH_SIGNAL_AT_REST) op.proc.kill(process.env.BENCH_SIGNAL_AT_REST as NodeJS.Signals);
      const to = new Date();
      const pd1 = new Map(router.requests);
      const minutes = (to.getTime() - from.getTime()) / 60_000;
      const events = audit.between(from, to);
      return {
        rss,
        cpuPerMin: (cpuSeconds(op.pid) - cpu0) / minutes,
        events,
        writesPerMin: events.filter(isWrite).length / minutes,
        requestsPerMin: events.length / minutes,
        pdPerMin: [...pd1.entries()].reduce((sum, [ns, n]) => sum + n - (pd0.get(ns) ?? 0), 0) / minutes,
        pdPerMinIn: (ns: string) => ((pd1.get(ns) ?? 0) - (pd0.get(ns) ?? 0)) / minutes,
        minutes,
        changed: changes.top(),
      };
    };

    // --- 3a. the floor: a bare script's create and applies, before any operator runs ------
    const floor: number[] = [];
    if (PHASES.has('floor')) {
      const ns = await newNamespace('bench-floor');
      const applier = new Applier(env.kc, 'bench-floor');
      for (let i = 0; i < RUNS; i++) {
        const name = `f${i}`;
        const start = performance.now();
        await createCluster(ns, { metadata: { name }, spec: { pd: { replicas: 1 }, tikv: { replicas: 1 } } });
        const created = await getCluster(ns, name);
        const parsed = parseTikvCluster({ ...created, apiVersion: 'tikv.org/v1alpha1', kind: 'TikvCluster' });
        for (const obj of synthesize(parsed, { uid: created.metadata.uid, pdBootstrapped: true })) await applier.apply(obj, undefined);
        await waitFor(`objects of ${name}`, () => allObjectsApplied(env.kc, ns, name), { timeoutMs: 60_000, intervalMs: 20 });
        floor.push(performance.now() - start);
      }
      for (let i = 0; i < RUNS; i++) await deleteCluster(ns, `f${i}`);
      await waitFor('the floor objects to be garbage collected', async () => {
        const list = await kubeJSON<{ items: unknown[] }>(env.kc, { method: 'GET', path: resourcePath('StatefulSet', ns) });
        return list.items.length === 0;
      }, { timeoutMs: 120_000, intervalMs: 1000 });
    }

    // --- 3b. creation -> all objects applied, by the operator ----------------------------
    if (PHASES.has('create')) {
      operator = await startOperator();
      row('operator RSS idle (no clusters)', `${fmt(rssMiB(operator.pid))} MiB`);
      const ns = await newNamespace('bench-create');
      router.set(ns, 'up');
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const name = `c${i}`;
        const start = performance.now();
        await createCluster(ns, { metadata: { name }, spec: { pd: { replicas: 1 }, tikv: { replicas: 1 } } });
        await waitFor(`objects of ${name}`, () => allObjectsApplied(env.kc, ns, name), { timeoutMs: 60_000, intervalMs: 20 });
        times.push(performance.now() - start);
      }
      row(
        `TikvCluster created -> all 7 objects applied (${RUNS} runs)`,
        `operator median ${fmt(median(times))} ms, p90 ${fmt(percentile(times, 90))} ms; floor (bare script) median ${fmt(median(floor))} ms, p90 ${fmt(percentile(floor, 90))} ms`,
      );
      for (let i = 0; i < RUNS; i++) await deleteCluster(ns, `c${i}`);
      await stopOperator(operator);
      operator = undefined;
    }

    // --- 1. N clusters of 3 PD + 3 TiKV, PD unreachable ------------------------------------
    operator = await startOperator();
    if (!PHASES.has('create')) row('operator RSS idle (no clusters)', `${fmt(rssMiB(operator.pid))} MiB`);
    const clusters: Array<{ ns: string; name: string }> = [];
    /** Every cluster reconciled and its PD pods all ready in status: nothing left to report. */
    const waitSettled = async (ns: string, names: string[]) =>
      waitFor(
        `status of ${names.length} clusters in ${ns} to settle`,
        async () => {
          const list = await kubeJSON<{ items: TikvClusterObj[] }>(env.kc, { method: 'GET', path: resourcePath('TikvCluster', ns) });
          const byName = new Map(list.items.map((c) => [c.metadata.name, c]));
          return names.every((n) => {
            const c = byName.get(n);
            return !!c?.status?.observedGeneration && c.status.pd?.readyReplicas === 3 && c.status.pd?.replicas === 3;
          });
        },
        { timeoutMs: 900_000, intervalMs: 2000 },
      );
    if (PHASES.has('n')) {
      const ns = await newNamespace('bench-n');
      router.set(ns, 'proxy503');
      for (const n of NS) {
        while (clusters.length < n) {
          const name = `n${clusters.length}`;
          await createCluster(ns, { metadata: { name }, spec: {} });
          clusters.push({ ns, name });
        }
        if (n > 0) await waitSettled(ns, clusters.map((c) => c.name));
        // Also with no clusters: start-up work (compilation, the first GCs) is not rest.
        await sleep(20_000);
        const r = await atRest(operator);
        row(
          `N=${n} at rest${n ? ' (PD unreachable, proxy 503)' : ' (no clusters)'}, ${fmt(r.minutes * 60)} s, load ${loadAverage()}`,
          `RSS median ${fmt(median(r.rss))} MiB, max ${fmt(Math.max(...r.rss))} MiB; CPU ${fmt(r.cpuPerMin, 2)} s/min; API writes ${fmt(r.writesPerMin)}/min, requests ${fmt(r.requestsPerMin)}/min; PD requests ${fmt(r.pdPerMin)}/min`,
        );
        if (r.changed) log(`[bench]   status changes at rest:\n    ${r.changed}`);
      }
    }

    // --- 2. one cluster in each resting state ---------------------------------------------
    if (PHASES.has('states')) {
      const ready = async (prefix: string, spec: Record<string, unknown> = {}) => {
        const ns = await newNamespace(prefix);
        router.set(ns, 'up');
        await createCluster(ns, { metadata: { name: 'basic' }, spec });
        const s = new TiKVStandins(ns, 'basic').start();
        standins.push(s);
        await waitForCluster(ns, 'basic', 'Ready=True', (c) => condition(c, 'Ready')?.status === 'True', 300_000);
        return { ns, name: 'basic', standins: s };
      };
      const unreachable = async (prefix: string, mode: PDMode) => {
        const ns = await newNamespace(prefix);
        router.set(ns, mode);
        await createCluster(ns, { metadata: { name: 'basic' }, spec: {} });
        await waitSettled(ns, ['basic']);
        return { ns, name: 'basic' };
      };
      const states: Array<{ state: string; ns: string; name: string }> = [];
      const setups: Record<string, () => Promise<{ ns: string; name: string }>> = {
        Ready: () => ready('bench-ready'),
        'PD unreachable (no answer)': () => unreachable('bench-nopd', 'dropped'),
        'PD unreachable (service proxy 503)': () => unreachable('bench-nopd503', 'proxy503'),
        'degraded (a store down)': async () => {
          const c = await ready('bench-degraded');
          c.standins.get(2)?.pauseHeartbeats();
          await waitForCluster(c.ns, c.name, 'a store Down', (x) => !!x.status?.tikv?.stores?.some((s) => s.state === 'Down'), 180_000);
          return c;
        },
        paused: async () => {
          const c = await ready('bench-paused');
          await patchSpec(c.ns, c.name, { paused: true });
          await waitForCluster(c.ns, c.name, 'phase Paused', (x) => x.status?.phase === 'Paused', 60_000);
          return c;
        },
        'invalid spec': async () => {
          const ns = await newNamespace('bench-invalid');
          router.set(ns, 'up');
          // Passes the CRD (config is free-form; the apiserver prunes a null key's value, not a
          // null array item) but no TOML can hold a null.
          await createCluster(ns, { metadata: { name: 'basic' }, spec: { tikv: { config: { a: [null] } } } as never });
          await waitForCluster(ns, 'basic', 'phase Invalid', (c) => c.status?.phase === 'Invalid', 60_000);
          return { ns, name: 'basic' };
        },
        'blocked scale-in': async () => {
          const c = await ready('bench-blocked');
          await patchSpec(c.ns, c.name, { tikv: { replicas: 2 } });
          await waitForCluster(c.ns, c.name, 'scale-in refused', (x: TikvClusterObj) => /max-replicas/.test(condition(x, 'Progressing')?.message ?? ''), 60_000);
          return c;
        },
      };
      const results = await Promise.allSettled(Object.entries(setups).map(async ([state, setup]) => ({ state, ...(await setup()) })));
      for (const [i, r] of results.entries()) {
        if (r.status === 'fulfilled') states.push(r.value);
        else row(`state ${Object.keys(setups)[i]}`, `not reached: ${(r.reason as Error).message.split('\n')[0]}`);
      }
      await sleep(20_000);
      const r = await atRest(operator);
      if (r.changed) log(`[bench]   status changes at rest:\n    ${r.changed}`);
      for (const s of states) {
        const mine = r.events.filter((e) => isWrite(e) && e.objectRef?.namespace === s.ns);
        const what = [...new Set(mine.map((e) => `${e.verb} ${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`))].join(', ');
        row(`API writes at rest: ${s.state}`, `${fmt(mine.length / r.minutes, 1)}/min${what ? ` (${what})` : ''}; PD requests ${fmt(r.pdPerMinIn(s.ns))}/min`);
      }
      clusters.push(...states);
    }

    // --- 4. restart with every cluster at rest ----------------------------------------------
    if (PHASES.has('restart') && clusters.length) {
      await stopOperator(operator);
      changes.reset();
      const started = Date.now();
      operator = await startOperator();
      const readyS = (Date.now() - started) / 1000;
      const op = operator;
      await waitFor(
        `the restarted operator to reconcile all ${clusters.length} clusters`,
        async () => (await metricValue(op, 'tikv_operator_reconcile_total')) >= clusters.length && (await metricValue(op, 'tikv_operator_workqueue_depth')) === 0,
        { timeoutMs: 600_000, intervalMs: 200 },
      );
      const verifiedS = (Date.now() - started) / 1000;
      const writesToVerified = audit.between(op.startedAt, new Date()).filter(isWrite).length;
      const untilMinute = op.startedAt.getTime() + 60_000 - Date.now();
      if (untilMinute > 0) await sleep(untilMinute);
      const writesMinute = audit.between(op.startedAt, new Date(op.startedAt.getTime() + 60_000)).filter(isWrite);
      row(
        `operator restart with ${clusters.length} clusters at rest`,
        `ready in ${fmt(readyS, 1)} s, all reconciled in ${fmt(verifiedS, 1)} s with ${writesToVerified} API writes; ${writesMinute.length} writes in its first minute`,
      );
      const changed = changes.top();
      if (changed) log(`[bench]   status changes in that minute:\n    ${changed}`);
    }

    const agents = new Set(audit.poll().map((e) => e.userAgent ?? '(none)'));
    row('User-Agent seen by the apiserver / PD', `${[...agents].join(', ')} / ${[...router.userAgents].join(', ')}`);
    log(`\n## bench (${gitRev}, ${new Date().toISOString()}, ${env.pdKind ?? 'no'} PD, load at end ${loadAverage()}, ${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
    log('| figure | value |\n|---|---|');
    for (const r of rows) log(`| ${r.figure} | ${r.value} |`);
  } finally {
    stopWatch();
    await Promise.all(standins.map((s) => s.stop()));
    if (operator && operator.proc.exitCode === null) {
      operator.proc.kill('SIGTERM');
      await new Promise((r) => operator?.proc.once('exit', r));
    }
    await router.stop();
    await env.stop();
  }
}

await main();
