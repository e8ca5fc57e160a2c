// The e2e scenario on a real node (support/node-backend.ts): the user's path (deploy/
// applied with kubectl, the operator as a pod, examples/basic.yaml applied with kubectl),
// plus what only running pods show: the PD start script's real decisions read from the
// pods' logs, the kubelet refreshing the mounted bootstrap marker, pods deleted and coming
// back on their PVCs with the same PD member or TiKV store, a version roll, and a TiKV
// scale-in whose store is drained before its pod goes. Then the shared scenario goes on
// (scale-out over the drained store's PVC, pause/resume, delete, operator stop).
import { type KubeConfig, Watch } from '@kubernetes/client-node';
import { expect, it } from 'vitest';
import { names, tikvPodName } from '../../../src/api/names.js';
import { PD_BOOTSTRAPPED_KEY } from '../../../src/charts/pd-bootstrap.js';
import { kubeRequest } from '../../../src/controller/kube/raw.js';
import { STANDIN_VERSIONS } from '../../env/node/images.js';
import { waitFor } from '../../env/process.js';
import { getOrUndefined, mergePatchSpec, viaServiceProxy } from '../support/kube.js';
import type { NodeBackend } from '../support/node-backend.js';
import { type Cluster, describeBasicScenario, isReady, NAME, type ScenarioContext, upStores } from '../support/scenario.js';

interface Pod {
  metadata: { name: string; uid: string; deletionTimestamp?: string; resourceVersion: string };
  spec: { containers: { name: string; image: string }[] };
  status?: { podIP?: string; conditions?: { type: string; status: string }[]; containerStatuses?: { restartCount: number }[] };
}

interface PDStore {
  store: { id: number | string; address: string; state_name: string; version?: string };
  status: { region_count?: number };
}

const n = names(NAME);
const pdPod = (i: number) => `${NAME}-pd-${i}`;
/** The start script's decision line (after any lines of its DNS wait, which depend on CoreDNS's timing). */
const startDecision = (logs: string) => logs.split('\n').find((l) => /^pd start: \S+ (bootstraps|joins|restarts)/.test(l));
const podReady = (p: Pod | undefined) => p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** Records every pod event in a namespace from now on, with the time it arrived. */
class PodWatch {
  readonly events: { at: number; type: string; pod: Pod }[] = [];
  private abort: AbortController | undefined;

  static async start(kc: KubeConfig, namespace: string): Promise<PodWatch> {
    const w = new PodWatch();
    w.abort = await new Watch(kc).watch(
      `/api/v1/namespaces/${namespace}/pods`,
      {},
      (type, pod: Pod) => w.events.push({ at: Date.now(), type, pod }),
      () => {},
    );
    return w;
  }

  /** When `name` first got a deletionTimestamp (or was deleted), if it did. */
  deletedAt(name: string): number | undefined {
    return this.events.find((e) => e.pod.metadata.name === name && (e.type === 'DELETED' || e.pod.metadata.deletionTimestamp))?.at;
  }

  /** Pod names in the order each first appeared running `image`. */
  firstWith(image: string): string[] {
    const seen: string[] = [];
    for (const e of this.events) if (e.pod.spec.containers.some((c) => c.image === image) && !seen.includes(e.pod.metadata.name)) seen.push(e.pod.metadata.name);
    return seen;
  }

  stop(): void {
    this.abort?.abort();
  }
}

describeBasicScenario('node', {
  afterReady: (ctx: ScenarioContext) => {
    const b = () => ctx.backend as NodeBackend;
    const pods = (name: string) => getOrUndefined<Pod>(b().kc, `/api/v1/namespaces/${ctx.ns}/pods/${name}`);
    const pd = <T>(path: string) =>
      viaServiceProxy(b().kc, ctx.ns, `${n.pdClientService}:2379`, `/pd/api/v1${path}`).then((r) => {
        if (r.status !== 200) throw new Error(`PD ${path}: ${r.status} ${r.body}`);
        return JSON.parse(r.body) as T;
      });
    const cluster = async () => (await ctx.getCluster())!;
    const memberId = (c: Cluster, name: string) => c.status?.pd?.members?.find((m) => m.name === name)?.id;
    const storeOf = (c: Cluster, pod: string) => c.status?.tikv?.stores?.find((s) => s.podName === pod && s.state !== 'Tombstone');

    /** Deletes a pod the way `kubectl delete pod` does and waits for its replacement (a new uid) to be Ready. */
    const replacePod = async (name: string): Promise<Pod> => {
      const old = await pods(name);
      if (!old) throw new Error(`no pod ${name}`);
      await b().kubectl(['-n', ctx.ns, 'delete', 'pod', name, '--wait=false']);
      return waitFor(
        `${name} replaced and Ready`,
        async () => {
          const p = await pods(name);
          return p && p.metadata.uid !== old.metadata.uid && podReady(p) ? p : undefined;
        },
        { timeoutMs: b().timeouts.change, intervalMs: 500 },
      );
    };

    it('kubectl wait --for=condition=Ready tikvcluster/basic (the README, step 4) says condition met', async () => {
      const r = await b().kubectl(['-n', ctx.ns, 'wait', '--for=condition=Ready', `tikvcluster/${NAME}`, '--timeout=60s']);
      expect(r.stdout.trim()).toBe(`tikvcluster.tikv.org/${NAME} condition met`);
    });

    it('the PD pods ran the chart start script in bash: each bootstrapped with the initial members, into one cluster', async () => {
      const c = await cluster();
      const shell = await b().kubectl(['-n', ctx.ns, 'exec', pdPod(0), '--', '/bin/sh', '-c', 'echo "$BASH_VERSION"']);
      expect(shell.stdout.trim()).toMatch(/^\d+\.\d+/);
      for (let i = 0; i < 3; i++) {
        const logs = await b().logs(ctx.ns, pdPod(i));
        expect(startDecision(logs), pdPod(i)).toBe(`pd start: ${pdPod(i)} bootstraps the cluster with the initial members`);
        // The script exec's pd-server: PID 1 of the container carries the flags it chose.
        const argv = (await b().kubectl(['-n', ctx.ns, 'exec', pdPod(i), '--', 'cat', '/proc/1/cmdline'])).stdout.split('\0');
        const listed = argv.find((a) => a.startsWith('--initial-cluster='))?.slice('--initial-cluster='.length).split(',').map((m) => m.split('=')[0]);
        expect(listed, pdPod(i)).toEqual([0, 1, 2].map(pdPod));
        expect(argv.some((a) => a.startsWith('--join')), pdPod(i)).toBe(false);
        // Each member, asked directly (the apiserver's pod proxy), is in the same cluster.
        const own = await kubeRequest(b().kc, { method: 'GET', path: `/api/v1/namespaces/${ctx.ns}/pods/${pdPod(i)}:2379/proxy/pd/api/v1/cluster` });
        expect(/"id":\s*(\d+)/.exec(own.body)?.[1], pdPod(i)).toBe(c.status?.clusterID);
      }
    });

    it('the kubelet refreshes the mounted bootstrap marker in the running PD pods once the operator flips it', async () => {
      const cm = await getOrUndefined<{ data: Record<string, string> }>(b().kc, `/api/v1/namespaces/${ctx.ns}/configmaps/${n.pdConfigMap}`);
      expect(cm?.data[PD_BOOTSTRAPPED_KEY]).toBe('true');
      await ctx.step('wait for the kubelet to refresh /etc/pd/bootstrapped in the pods', async () => {
        for (let i = 0; i < 3; i++) {
          // The same container that started with the marker false (it bootstrapped) must see it true.
          expect((await pods(pdPod(i)))?.status?.containerStatuses?.[0]?.restartCount, pdPod(i)).toBe(0);
          expect(startDecision(await b().logs(ctx.ns, pdPod(i)))).toContain('bootstraps the cluster');
          await waitFor(
            `${pdPod(i)}: /etc/pd/${PD_BOOTSTRAPPED_KEY} = true`,
            async () => (await b().kubectl(['-n', ctx.ns, 'exec', pdPod(i), '--', 'cat', `/etc/pd/${PD_BOOTSTRAPPED_KEY}`])).stdout === 'true',
            { timeoutMs: 120_000, intervalMs: 1000 },
          );
        }
      });
    });

    it('a deleted PD pod comes back on its PVC as the same member: its start script restarts from its data', async () => {
      const before = await cluster();
      const id = memberId(before, pdPod(1));
      expect(id).toMatch(/^\d+$/);
      const pvc = await getOrUndefined<{ metadata: { uid: string } }>(b().kc, `/api/v1/namespaces/${ctx.ns}/persistentvolumeclaims/pd-${pdPod(1)}`);
      await ctx.step(`kubectl delete pod ${pdPod(1)}; wait for its replacement`, () => replacePod(pdPod(1)));
      const logs = await b().logs(ctx.ns, pdPod(1));
      expect(startDecision(logs)).toBe(`pd start: ${pdPod(1)} restarts from its data`);
      const after = await ctx.waitForCluster('Ready with basic-pd-1 healthy again', (c) => isReady(c) && c.status?.pd?.members?.every((m) => m.health) === true, b().timeouts.change);
      expect(memberId(after, pdPod(1))).toBe(id);
      expect(after.status?.pd?.members).toHaveLength(3);
      const pvcAfter = await getOrUndefined<{ metadata: { uid: string } }>(b().kc, `/api/v1/namespaces/${ctx.ns}/persistentvolumeclaims/pd-${pdPod(1)}`);
      expect(pvcAfter?.metadata.uid).toBe(pvc?.metadata.uid);
    });

    it('a deleted TiKV pod comes back on its PVC as the same store', async () => {
      const pod = tikvPodName(NAME, 1);
      const id = storeOf(await cluster(), pod)?.id;
      expect(id).toMatch(/^\d+$/);
      await ctx.step(`kubectl delete pod ${pod}; wait for its replacement`, () => replacePod(pod));
      const logs = await b().logs(ctx.ns, pod);
      expect(logs).toContain(`registered as store ${id}`);
      expect(logs).not.toContain('bootstrapped the cluster');
      const after = await ctx.waitForCluster(`Ready with ${pod} Up as store ${id}`, (c) => isReady(c) && storeOf(c, pod)?.id === id && storeOf(c, pod)?.state === 'Up', b().timeouts.change);
      expect(upStores(after)).toHaveLength(3);
      const stores = await pd<{ stores: PDStore[] }>('/stores');
      expect(stores.stores.filter((s) => s.store.address.startsWith(`${pod}.`)).map((s) => String(s.store.id))).toEqual([id]);
    });

    it(`rolls every pod to version ${STANDIN_VERSIONS[1]}, highest ordinal first, keeping the PD members and TiKV stores`, async () => {
      const to = STANDIN_VERSIONS[1]!;
      const before = await cluster();
      const members = Object.fromEntries((before.status?.pd?.members ?? []).map((m) => [m.name, m.id]));
      const stores = Object.fromEntries(upStores(before).map((s) => [s.podName, s.id]));
      const watch = await PodWatch.start(b().kc, ctx.ns);
      try {
        await ctx.step(`set spec.version=${to}`, () => mergePatchSpec(b().kc, ctx.ns, NAME, { version: to }));
        const after = await ctx.waitForCluster(
          `every pod on ${to} and Ready`,
          (c) => isReady(c) && c.status?.observedGeneration === c.metadata.generation && c.status?.pd?.members?.every((m) => m.health) === true,
          b().timeouts.change * 2,
        );
        for (const comp of ['pd', 'tikv'] as const) {
          for (let i = 0; i < 3; i++) {
            const p = await pods(`${NAME}-${comp}-${i}`);
            expect(p?.spec.containers[0]?.image, p?.metadata.name).toBe(`pingcap/${comp}:${to}`);
          }
          expect(watch.firstWith(`pingcap/${comp}:${to}`), comp).toEqual([2, 1, 0].map((i) => `${NAME}-${comp}-${i}`));
        }
        for (let i = 0; i < 3; i++) expect(startDecision(await b().logs(ctx.ns, pdPod(i)))).toBe(`pd start: ${pdPod(i)} restarts from its data`);
        expect(Object.fromEntries((after.status?.pd?.members ?? []).map((m) => [m.name, m.id]))).toEqual(members);
        expect(Object.fromEntries(upStores(after).map((s) => [s.podName, s.id]))).toEqual(stores);
        const pdStores = await pd<{ stores: PDStore[] }>('/stores');
        expect(pdStores.stores.map((s) => s.store.version)).toEqual(pdStores.stores.map(() => to.replace(/^v/, '')));
      } finally {
        watch.stop();
      }
    });

    it('scales TiKV 3 -> 4 -> 3: the fourth store is drained and made a Tombstone by PD before its pod goes; its PVC stays', async () => {
      const pod = tikvPodName(NAME, 3);
      await ctx.step('kubectl scale tikvcluster/basic --replicas=4', () => b().kubectl(['-n', ctx.ns, 'scale', `tikvcluster/${NAME}`, '--replicas=4']));
      const four = await ctx.waitForCluster('4 Up stores and Ready', (c) => upStores(c).length === 4 && isReady(c), b().timeouts.change);
      const id = storeOf(four, pod)?.id;
      expect(id).toMatch(/^\d+$/);

      const watch = await PodWatch.start(b().kc, ctx.ns);
      const samples: { at: number; state: string; regions: number }[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const s = (await pd<{ stores: PDStore[] }>('/stores?state=0&state=1&state=2').catch(() => undefined))?.stores.find((x) => String(x.store.id) === id);
          if (s) samples.push({ at: Date.now(), state: s.store.state_name, regions: s.status.region_count ?? 0 });
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      try {
        await ctx.step('kubectl scale tikvcluster/basic --replicas=3', () => b().kubectl(['-n', ctx.ns, 'scale', `tikvcluster/${NAME}`, '--replicas=3']));
        await ctx.waitForCluster(`${pod} gone and Ready with 3 stores`, (c) => upStores(c).length === 3 && isReady(c) && c.status?.tikv?.replicas === 3, b().timeouts.change);
        await waitFor(`pod ${pod} deleted`, async () => !(await pods(pod)), { timeoutMs: b().timeouts.change });
      } finally {
        sampling = false;
        await sampler;
        watch.stop();
      }
      const deletedAt = watch.deletedAt(pod);
      expect(deletedAt, 'the pod was deleted').toBeDefined();
      const tombstoneAt = samples.find((s) => s.state === 'Tombstone')?.at;
      expect(tombstoneAt, `PD reported store ${id} Tombstone (samples: ${JSON.stringify(samples.map((s) => s.state))})`).toBeDefined();
      expect(tombstoneAt!).toBeLessThan(deletedAt!);
      const beforeDeletion = samples.filter((s) => s.at < deletedAt!);
      expect(beforeDeletion.at(-1)).toMatchObject({ state: 'Tombstone', regions: 0 });
      expect(beforeDeletion.some((s) => s.state === 'Up')).toBe(true);
      const pvc = await getOrUndefined(b().kc, `/api/v1/namespaces/${ctx.ns}/persistentvolumeclaims/tikv-${pod}`);
      expect(pvc, `PVC tikv-${pod} kept`).toBeDefined();
    });
  },
});
