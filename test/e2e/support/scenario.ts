// The end-to-end scenario, written once and run on every backend (see backend.ts): a
// user's path through the operator with examples/basic.yaml. Each step prints what it
// waits for and how long it took; a summary follows the run. A backend's own file may add
// steps where only it can show something (test/e2e/node: real pods), through `extend`.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pdPvcName, tikvPodName, tikvPvcName } from '../../../src/api/names.js';
import type { TikvClusterStatus } from '../../../src/api/v1alpha1.js';
import { kubeJSON } from '../../../src/controller/kube/raw.js';
import { formatProgress, progressOf } from '../../../scripts/kind-lib.js';
import { REPO_ROOT } from '../../env/binaries.js';
import { waitFor } from '../../env/process.js';
import { type Backend, type BackendName, createBackend } from './backend.js';
import { applyStrict, clusterPath, getOrUndefined, listNames, mergePatchSpec, metricSum, readManifests, scaleTiKV } from './kube.js';

export const NAME = 'basic';
export const INSTANCE = `app.kubernetes.io/instance=${NAME}`;

export interface Cluster {
  metadata: { generation: number };
  spec: { paused?: boolean; pd: { replicas: number }; tikv: { replicas: number } };
  status?: TikvClusterStatus;
}

export const condition = (c: Cluster, type: string) => c.status?.conditions?.find((x) => x.type === type);
export const upStores = (c: Cluster) => (c.status?.tikv?.stores ?? []).filter((s) => s.state === 'Up');
/** `kubectl wait --for=condition=Ready`: the condition is True and describes the current generation. */
export const isReady = (c: Cluster) => {
  const ready = condition(c, 'Ready');
  return ready?.status === 'True' && ready.observedGeneration === c.metadata.generation && c.status?.observedGeneration === c.metadata.generation;
};

/** What a backend's extra steps get: the running scenario's backend, namespace and step helpers. */
export interface ScenarioContext {
  readonly backend: Backend;
  readonly ns: string;
  step<T>(what: string, fn: () => Promise<T>): Promise<T>;
  waitForCluster(what: string, check: (c: Cluster) => boolean, timeoutMs: number): Promise<Cluster>;
  getCluster(): Promise<Cluster | undefined>;
  say(line: string): void;
}

export interface ScenarioExtensions {
  /** Registers more `it` blocks right after the cluster first became Ready. */
  afterReady?: (ctx: ScenarioContext) => void;
}

/** The scenario on one backend; `extend` adds the backend's own steps. */
export function describeBasicScenario(name: BackendName, extend: ScenarioExtensions = {}): void {
  describe(`e2e on ${name}: examples/basic.yaml from apply to delete`, () => {
    let backend: Backend;
    let ns: string;
    const timings: { step: string; seconds: number }[] = [];
    const say = (line: string) => console.log(`[e2e ${backend?.name ?? name}] ${line}`);

    /** Runs one step: says what it waits for, then how long it took (or the diagnostics when it failed). */
    async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
      say(`${what} ...`);
      const t0 = performance.now();
      try {
        const v = await fn();
        const seconds = (performance.now() - t0) / 1000;
        timings.push({ step: what, seconds });
        say(`${what}: done in ${seconds.toFixed(1)} s`);
        return v;
      } catch (e) {
        say(`${what}: FAILED after ${((performance.now() - t0) / 1000).toFixed(1)} s\n${backend?.diagnostics() ?? ''}`);
        throw e;
      }
    }

    const getCluster = () => getOrUndefined<Cluster>(backend.kc, clusterPath(ns, NAME));

    /** Polls the TikvCluster until `check` holds, printing a progress line whenever it changes. */
    async function waitForCluster(what: string, check: (c: Cluster) => boolean, timeoutMs: number): Promise<Cluster> {
      return step(`wait for ${what}`, async () => {
        let last: Cluster | undefined;
        let lastLine = '';
        const t0 = Date.now();
        try {
          return await waitFor(
            what,
            async () => {
              last = await getCluster();
              if (!last) return undefined;
              const line = formatProgress(progressOf(last), Date.now() - t0);
              if (line.replace(/^\[[^\]]*\]/, '') !== lastLine.replace(/^\[[^\]]*\]/, '')) say(`  ${line}`);
              lastLine = line;
              return check(last) ? last : undefined;
            },
            { timeoutMs, intervalMs: 500 },
          );
        } catch (e) {
          throw new Error(`${(e as Error).message}\nlast status: ${JSON.stringify(last?.status, null, 1)}`);
        }
      });
    }

    const stsReplicas = async (component: 'pd' | 'tikv') =>
      (await getOrUndefined<{ spec: { replicas: number } }>(backend.kc, `/apis/apps/v1/namespaces/${ns}/statefulsets/${NAME}-${component}`))?.spec.replicas;
    const reconciles = async () => metricSum((await backend.operatorHTTP('/metrics')).body, 'tikv_operator_reconcile_total');

    const ctx: ScenarioContext = {
      get backend() {
        return backend;
      },
      get ns() {
        return ns;
      },
      step: (what, fn) => step(what, fn),
      waitForCluster: (what, check, timeoutMs) => waitForCluster(what, check, timeoutMs),
      getCluster: () => getCluster(),
      say: (line) => say(line),
    };

    beforeAll(async () => {
      backend = await createBackend(name);
      await step('install the CRD and RBAC and start the operator', () => backend.installOperator());
      ns = await step('create the namespace', () => backend.namespace());
      say(`namespace ${ns}`);
    });

    afterAll(async () => {
      await backend?.teardown();
      if (timings.length > 0) {
        say(`step timings (${backend?.name}):\n${timings.map((t) => `  ${t.seconds.toFixed(1).padStart(7)} s  ${t.step}`).join('\n')}`);
      }
    });

    it('applies examples/basic.yaml and reports a Ready cluster from PD: 3 healthy members with a leader, 3 Up stores on basic-tikv-0..2', async () => {
      const docs = readManifests(join(REPO_ROOT, 'examples/basic.yaml'));
      expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([`TikvCluster/${NAME}`]);
      await step('kubectl apply --server-side -f examples/basic.yaml', () =>
        backend.applyFile
          ? backend.applyFile(join(REPO_ROOT, 'examples/basic.yaml'), ns)
          : applyStrict(backend.kc, docs[0]!, { fieldManager: 'kubectl', namespace: ns }).then(() => undefined),
      );
      backend.backTiKV(ns, NAME);
      const c = await waitForCluster('condition=Ready', isReady, backend.timeouts.ready);

      const st = c.status!;
      expect(st.phase).toBe('Running');
      expect(st.clusterID).toMatch(/^[1-9]\d*$/);
      const members = st.pd?.members ?? [];
      expect(members.filter((m) => m.health)).toHaveLength(3);
      expect(members.map((m) => m.name)).toContain(st.pd?.leader);
      const up = upStores(c);
      expect(up.map((s) => s.podName).sort()).toEqual([0, 1, 2].map((i) => tikvPodName(NAME, i)));
      expect(new Set(up.map((s) => s.id)).size).toBe(3);
      for (const type of ['PDAvailable', 'TiKVAvailable']) expect(condition(c, type)?.status, type).toBe('True');
      expect(condition(c, 'Degraded')?.status).toBe('False');
    });

    extend.afterReady?.(ctx);

    it('serves /readyz 200 and counts its reconciles in /metrics', async () => {
      expect((await backend.operatorHTTP('/readyz')).status).toBe(200);
      const metrics = await backend.operatorHTTP('/metrics');
      expect(metrics.status).toBe(200);
      expect(metricSum(metrics.body, 'tikv_operator_reconcile_total')).toBeGreaterThan(0);
    });

    it('scales TiKV 3 -> 4 through the scale subresource (kubectl scale) and sees a fourth store Up', async () => {
      await step('kubectl scale tikvcluster/basic --replicas=4', () => scaleTiKV(backend.kc, ns, NAME, 4));
      const scale = await getOrUndefined<{ spec: { replicas: number } }>(backend.kc, clusterPath(ns, NAME, 'scale'));
      expect(scale?.spec.replicas).toBe(4);
      const c = await waitForCluster('4 Up stores and Ready', (x) => x.spec.tikv.replicas === 4 && upStores(x).length === 4 && isReady(x), backend.timeouts.change);
      expect(upStores(c).map((s) => s.podName)).toContain(tikvPodName(NAME, 3));
      expect(await stsReplicas('tikv')).toBe(4);
      // The scale subresource reads status.tikv.replicas and .selector, as HPA and kubectl do.
      const after = await waitFor(
        'the Scale status to follow',
        async () => {
          const s = await getOrUndefined<{ status: { replicas: number; selector?: string } }>(backend.kc, clusterPath(ns, NAME, 'scale'));
          return s?.status.replicas === 4 ? s : undefined;
        },
        { timeoutMs: backend.timeouts.change },
      );
      expect(after.status.selector).toContain(INSTANCE);
    });

    it('leaves a spec change alone while paused and applies it after resume', async () => {
      await step('set spec.paused=true', () => mergePatchSpec(backend.kc, ns, NAME, { paused: true }));
      await waitForCluster('phase Paused', (c) => c.status?.phase === 'Paused' && c.status.observedGeneration === c.metadata.generation, backend.timeouts.change);

      await step('change spec.tikv.replicas to 5 while paused', () => mergePatchSpec(backend.kc, ns, NAME, { tikv: { replicas: 5 } }));
      // Status keeps following the spec's generation while paused: the operator saw the change.
      await waitForCluster('the paused cluster to observe the new generation', (c) => c.status?.observedGeneration === c.metadata.generation && c.spec.tikv.replicas === 5, backend.timeouts.change);
      const seen = await reconciles();
      await step('wait for 2 more reconciles', () => waitFor('2 more reconciles', async () => (await reconciles()) >= seen + 2, { timeoutMs: backend.timeouts.change, intervalMs: 500 }));
      expect(await stsReplicas('tikv')).toBe(4);

      await step('set spec.paused=false', () => mergePatchSpec(backend.kc, ns, NAME, { paused: false }));
      await step('wait for the TiKV StatefulSet to follow (replicas 5)', () =>
        waitFor('TiKV StatefulSet replicas 5', async () => (await stsReplicas('tikv')) === 5, { timeoutMs: backend.timeouts.change, intervalMs: 500 }),
      );
      const c = await waitForCluster('5 Up stores and Ready after resume', (x) => upStores(x).length === 5 && isReady(x), backend.timeouts.change);
      expect(c.status?.phase).toBe('Running');
    });

    it('deletes the cluster: its StatefulSets, Services and ConfigMaps go, its PVCs stay', async () => {
      const pvcsPath = `/api/v1/namespaces/${ns}/persistentvolumeclaims?labelSelector=${encodeURIComponent(INSTANCE)}`;
      const pvcs = await listNames(backend.kc, pvcsPath);
      expect(pvcs).toEqual([...[0, 1, 2].map((i) => pdPvcName(NAME, i)), ...[0, 1, 2, 3, 4].map((i) => tikvPvcName(NAME, i))].sort());

      await step('kubectl delete tikvcluster basic', () => kubeJSON(backend.kc, { method: 'DELETE', path: clusterPath(ns, NAME) }));
      const dependents = ['/apis/apps/v1/namespaces/NS/statefulsets', '/api/v1/namespaces/NS/services', '/api/v1/namespaces/NS/configmaps'].map(
        (p) => `${p.replace('NS', ns)}?labelSelector=${encodeURIComponent(INSTANCE)}`,
      );
      await step('wait for the StatefulSets, Services and ConfigMaps to be garbage collected', () =>
        waitFor(
          'dependents to go',
          async () => {
            if (await getCluster()) return false;
            for (const p of dependents) if ((await listNames(backend.kc, p)).length > 0) return false;
            return true;
          },
          { timeoutMs: backend.timeouts.change, intervalMs: 1000 },
        ),
      );
      expect(await listNames(backend.kc, pvcsPath)).toEqual(pvcs);
    });

    it('stops the operator gracefully: SIGTERM, exit code 0', async () => {
      const code = await step('stop the operator (SIGTERM)', () => backend.stopOperator());
      expect(code).toBe(0);
    });

  });
}
