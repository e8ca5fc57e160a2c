// The operator against the real control plane and the real PD: it runs as its own
// ServiceAccount with the deploy/ RBAC, TiKV pods (kwok) are backed by store stand-ins
// that register with PD, and every expectation is read back from the API server, PD or
// the apiserver's audit log.
import { AppsV1Api, CoreV1Api, Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { names, tikvPvcName } from '../../src/api/names.js';
import { API_VERSION, KIND } from '../../src/api/v1alpha1.js';
import { parseTikvCluster } from '../../src/api/validate.js';
import { CONFIG_HASH_ANNOTATION, type KubeObject, synthesize } from '../../src/charts/index.js';
import { contains } from '../../src/controller/kube/apply.js';
import { kubeJSON } from '../../src/controller/kube/raw.js';
import { resourcePath } from '../../src/controller/kube/resources.js';
import { directTransport } from '../../src/controller/pd/client.js';
import { getEnv, newNamespace } from '../env/context.js';
import { pdCalls } from '../env/pd/pd-client.js';
import { waitFor } from '../env/process.js';
import {
  auditWrites,
  condition,
  createCluster,
  deleteCluster,
  getCluster,
  patchSpec,
  startTestOperator,
  type TestOperator,
  TestPDResolver,
  TiKVStandins,
  waitForCluster,
} from './support/operator.js';

type Sts = { spec: { replicas: number; template: { metadata: { annotations?: Record<string, string> }; spec: { containers: Array<{ image: string }> } } } };

const live = (kind: string, namespace: string, name: string) => kubeJSON<KubeObject>(getEnv().kc, { method: 'GET', path: resourcePath(kind, namespace, name) });
const sts = (namespace: string, name: string) => live('StatefulSet', namespace, name) as Promise<KubeObject & Sts>;
const exists = async (kind: string, namespace: string, name: string) => {
  try {
    await live(kind, namespace, name);
    return true;
  } catch (e) {
    if ((e as { status?: number }).status === 404) return false;
    throw e;
  }
};

/** Waits until the operator has run `n` more reconciles: evidence that it looked, and did nothing. */
async function reconcilesPass(op: TestOperator, n: number): Promise<void> {
  const start = op.reconciles();
  await waitFor(`${n} reconciles`, async () => op.reconciles() >= start + n, { timeoutMs: 60_000, intervalMs: 100 });
}

const allStoresUp = (n: number) => (c: Awaited<ReturnType<typeof getCluster>>) =>
  (c.status?.tikv?.stores ?? []).filter((s) => s.state === 'Up').length === n;

describe('operator on a real control plane and PD', () => {
  const pd = new TestPDResolver(getEnv().pdURLs);
  let op: TestOperator;
  const standins: TiKVStandins[] = [];

  beforeAll(async () => {
    op = await startTestOperator({ pd });
  });
  afterAll(async () => {
    await op?.stop();
    await Promise.all(standins.map((s) => s.stop()));
  });

  async function readyCluster(prefix: string, name = 'basic', spec: Record<string, unknown> = {}) {
    const ns = await newNamespace(prefix);
    await createCluster(ns, { metadata: { name }, spec });
    const s = new TiKVStandins(ns, name).start();
    standins.push(s);
    const c = await waitForCluster(ns, name, 'Ready=True', (x) => condition(x, 'Ready')?.status === 'True', 120_000);
    return { ns, name, standins: s, cluster: c };
  }

  it('creates every object the chart describes, owned by the TikvCluster, and reports a ready cluster from PD', async () => {
    const { ns, name, cluster } = await readyCluster('create');
    const parsed = parseTikvCluster({ apiVersion: API_VERSION, kind: KIND, ...cluster });
    const desired = synthesize(parsed, { uid: cluster.metadata.uid, pdBootstrapped: true });
    expect(desired.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      ['ConfigMap/basic-pd', 'ConfigMap/basic-tikv', 'Service/basic-pd', 'Service/basic-pd-peer', 'Service/basic-tikv-peer', 'StatefulSet/basic-pd', 'StatefulSet/basic-tikv'].sort(),
    );
    for (const want of desired) {
      const got = await live(want.kind, ns, want.metadata.name);
      expect(contains(got, want), `${want.kind}/${want.metadata.name} matches the chart`).toBe(true);
      expect(got.metadata.ownerReferences).toEqual([
        { apiVersion: API_VERSION, kind: KIND, name, uid: cluster.metadata.uid, controller: true, blockOwnerDeletion: true },
      ]);
    }
    const st = cluster.status!;
    expect(st.observedGeneration).toBe(cluster.metadata.generation);
    expect(st.phase).toBe('Running');
    expect(st.clusterID).toMatch(/^\d+$/);
    expect(st.pd?.bootstrapped).toBe(true);
    expect(st.pd?.members?.filter((m) => m.health)).toHaveLength(3);
    expect(st.pd?.leader).toBeTruthy();
    expect(st.tikv?.stores?.map((s) => s.podName).sort()).toEqual(['basic-tikv-0', 'basic-tikv-1', 'basic-tikv-2']);
    expect(st.tikv?.stores?.every((s) => s.state === 'Up' && s.address.endsWith(`.basic-tikv-peer.${ns}.svc:20160`))).toBe(true);
    for (const type of ['Ready', 'PDAvailable', 'TiKVAvailable']) expect(condition(cluster, type)?.status, type).toBe('True');
    expect(condition(cluster, 'Degraded')?.status).toBe('False');
    for (const c of st.conditions ?? []) expect(c.observedGeneration).toBe(cluster.metadata.generation);
  });

  it('makes the StatefulSets follow replicas, version and config changes', async () => {
    const { ns, name } = await readyCluster('follow');
    const n = names(name);
    const before = await sts(ns, n.tikvStatefulSet);
    const pdBefore = await sts(ns, n.pdStatefulSet);
    await patchSpec(ns, name, { version: 'v8.5.6', tikv: { replicas: 4, config: { log: { level: 'warn' } } } });
    const after = await waitFor(
      'the TiKV StatefulSet to follow',
      async () => {
        const s = await sts(ns, n.tikvStatefulSet);
        // The config follows once tikv-server --config-check passed (a pod kwok completes at once).
        const configured = s.spec.template.metadata.annotations?.[CONFIG_HASH_ANNOTATION] !== before.spec.template.metadata.annotations?.[CONFIG_HASH_ANNOTATION];
        return s.spec.replicas === 4 && s.spec.template.spec.containers[0]?.image === 'pingcap/tikv:v8.5.6' && configured ? s : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(after.spec.template.metadata.annotations?.[CONFIG_HASH_ANNOTATION]).not.toBe(before.spec.template.metadata.annotations?.[CONFIG_HASH_ANNOTATION]);
    const cm = (await live('ConfigMap', ns, n.tikvConfigMap)) as KubeObject & { data: Record<string, string> };
    expect(cm.data['tikv.toml']).toMatch(/\[log\][^[]*level = "warn"/);
    const pdAfter = await waitFor('the PD image to follow', async () => {
      const s = await sts(ns, n.pdStatefulSet);
      return s.spec.template.spec.containers[0]?.image === 'pingcap/pd:v8.5.6' ? s : undefined;
    }, { timeoutMs: 30_000 });
    expect(pdAfter.spec.replicas).toBe(pdBefore.spec.replicas);
    await waitForCluster(ns, name, 'a fourth store Up', allStoresUp(4), 60_000);
  });

  it('leaves objects alone while paused, keeps status current, and catches up when resumed', async () => {
    const { ns, name } = await readyCluster('pause');
    const n = names(name);
    await patchSpec(ns, name, { paused: true });
    await waitForCluster(ns, name, 'phase Paused', (c) => c.status?.phase === 'Paused');
    await patchSpec(ns, name, { tikv: { replicas: 5 } });
    await reconcilesPass(op, 6);
    expect((await sts(ns, n.tikvStatefulSet)).spec.replicas).toBe(3);
    expect((await getCluster(ns, name)).status?.observedGeneration).toBe((await getCluster(ns, name)).metadata.generation);
    await patchSpec(ns, name, { paused: false });
    await waitFor('TiKV replicas 5 after resume', async () => (await sts(ns, n.tikvStatefulSet)).spec.replicas === 5, { timeoutMs: 30_000 });
  });

  it('reports a store that stops heartbeating within 15 s of PD noticing, with a condition that names it', async () => {
    const { ns, name, standins: s } = await readyCluster('heartbeat');
    const store = await s.running(2);
    store.pauseHeartbeats();
    const pdClient = pdCalls(directTransport(getEnv().pdURLs[0]!));
    await waitFor(
      'PD to mark the store Disconnected',
      async () => (await pdClient.stores()).find((x) => x.id === store.id)?.stateName === 'Disconnected',
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const c = await waitForCluster(
      ns,
      name,
      'store Disconnected in status',
      (x) => x.status?.tikv?.stores?.find((st) => st.id === store.id)?.state === 'Disconnected',
      15_000,
    );
    expect(condition(c, 'Degraded')?.status).toBe('True');
    expect(condition(c, 'Degraded')?.message).toContain(`store ${store.id} (basic-tikv-2)`);
    expect(condition(c, 'Ready')?.status).toBe('False');
    store.resumeHeartbeats();
    await waitForCluster(ns, name, 'Ready again', (x) => condition(x, 'Ready')?.status === 'True', 60_000);
  });

  it('says so when PD is unreachable and takes no destructive step', async () => {
    const { ns, name } = await readyCluster('nopd');
    const n = names(name);
    const since = new Date();
    pd.setReachable({ namespace: ns, name }, false);
    try {
      const c = await waitForCluster(ns, name, 'PDAvailable Unknown', (x) => condition(x, 'PDAvailable')?.status === 'Unknown');
      expect(condition(c, 'PDAvailable')?.message).toMatch(/PD is unreachable/);
      expect(c.status?.tikv?.stores).toHaveLength(3);
      await patchSpec(ns, name, { tikv: { replicas: 2 }, pd: { replicas: 1 } });
      await reconcilesPass(op, 6);
      expect((await sts(ns, n.tikvStatefulSet)).spec.replicas).toBe(3);
      expect((await sts(ns, n.pdStatefulSet)).spec.replicas).toBe(3);
      const destructive = auditWrites(op.username, since).filter(
        (e) => e.objectRef?.namespace === ns && (e.verb === 'delete' || e.objectRef?.resource === 'statefulsets'),
      );
      expect(destructive).toEqual([]);
    } finally {
      pd.setReachable({ namespace: ns, name }, true);
    }
  });

  it('scales TiKV in to a Tombstone and out again over the retained PVC: the old PVC goes, a new store comes Up', async () => {
    const { ns, name } = await readyCluster('rescale', 'basic', { tikv: { replicas: 4 } });
    const n = names(name);
    const pod3 = 'basic-tikv-3';
    const pvc3 = tikvPvcName(name, 3);
    const core = getEnv().kc.makeApiClient(CoreV1Api);
    const reasons = async () => (await core.listNamespacedEvent({ namespace: ns })).items.map((e) => e.reason);
    const storeOf = (c: Awaited<ReturnType<typeof getCluster>>, id: string) => c.status?.tikv?.stores?.find((s) => s.id === id);
    const oldId = (await getCluster(ns, name)).status?.tikv?.stores?.find((s) => s.podName === pod3 && s.state === 'Up')?.id;
    if (!oldId) throw new Error(`no Up store for ${pod3}`);

    await patchSpec(ns, name, { tikv: { replicas: 3 } });
    // PD moves the store's regions to the other stores, then makes it a Tombstone.
    await waitForCluster(ns, name, `store ${oldId} Tombstone`, (c) => storeOf(c, oldId)?.state === 'Tombstone', 300_000);
    expect(await reasons()).toContain('StoreOffline');
    await waitFor('the TiKV StatefulSet at 3', async () => (await sts(ns, n.tikvStatefulSet)).spec.replicas === 3, { timeoutMs: 60_000 });
    const oldPvc = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: pvc3 });
    expect(oldPvc.metadata?.uid).toBeTruthy();

    const since = new Date();
    await patchSpec(ns, name, { tikv: { replicas: 4 } });
    await waitFor('the TiKV StatefulSet at 4', async () => (await sts(ns, n.tikvStatefulSet)).spec.replicas === 4, { timeoutMs: 120_000 });
    const c = await waitForCluster(
      ns,
      name,
      `a new store Up for ${pod3}`,
      (x) => (x.status?.tikv?.stores ?? []).some((s) => s.podName === pod3 && s.id !== oldId && s.state === 'Up'),
      180_000,
    );
    const ofPod3 = (c.status?.tikv?.stores ?? []).filter((s) => s.podName === pod3);
    expect(ofPod3.find((s) => s.id === oldId)?.state).toBe('Tombstone');
    expect(ofPod3.filter((s) => s.state === 'Up')).toHaveLength(1);
    expect(await reasons()).toContain('PVCDeleted');
    const deletes = auditWrites(op.username, since).filter((e) => e.verb === 'delete' && e.objectRef?.namespace === ns);
    expect(deletes.map((e) => `${e.objectRef?.resource}/${e.objectRef?.name}`)).toEqual([`persistentvolumeclaims/${pvc3}`]);
    const newPvc = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: pvc3 });
    expect(newPvc.metadata?.uid).not.toBe(oldPvc.metadata?.uid);
  }, 600_000);

  it('rolls TiKV one pod at a time on a version change: partition 3→2→1→0, leaders evicted first, no eviction left behind', async () => {
    const { ns, name, cluster } = await readyCluster('roll');
    const n = names(name);
    const core = getEnv().kc.makeApiClient(CoreV1Api);
    const idsBefore = Object.fromEntries((cluster.status?.tikv?.stores ?? []).filter((s) => s.state === 'Up').map((s) => [s.podName, s.id]));
    expect(Object.keys(idsBefore).sort()).toEqual(['basic-tikv-0', 'basic-tikv-1', 'basic-tikv-2']);
    const partitionOf = (s: Sts & { spec: { updateStrategy?: { rollingUpdate?: { partition?: number } } } }) => s.spec.updateStrategy?.rollingUpdate?.partition ?? 0;
    const onNewImage = (images: Array<string | undefined>) => images.length > 0 && images.every((i) => i?.endsWith(':v8.5.6'));

    // Every version of the StatefulSet, from a watch (polling could miss a short-lived partition).
    const versions: Array<{ image?: string; partition: number }> = [];
    const watch = await new Watch(getEnv().kc).watch(
      `/apis/apps/v1/namespaces/${ns}/statefulsets`,
      { fieldSelector: `metadata.name=${n.tikvStatefulSet}` },
      (_type, obj: Sts & { spec: { updateStrategy?: { rollingUpdate?: { partition?: number } } } }) =>
        versions.push({ image: obj.spec.template.spec.containers[0]?.image, partition: partitionOf(obj) }),
      () => {},
    );
    await patchSpec(ns, name, { version: 'v8.5.6' });
    let last: Awaited<ReturnType<typeof getCluster>>;
    try {
      last = await waitFor(
        'every pod on the new image and the cluster Ready',
        async () => {
          const pods = (await core.listNamespacedPod({ namespace: ns })).items.filter((x) => !x.metadata?.deletionTimestamp);
          if (pods.length !== 6 || !onNewImage(pods.map((x) => x.spec?.containers[0]?.image))) return undefined;
          const c = await getCluster(ns, name);
          const ready = condition(c, 'Ready');
          return ready?.status === 'True' && ready.observedGeneration === c.metadata.generation ? c : undefined;
        },
        { timeoutMs: 420_000, intervalMs: 200 },
      );
    } finally {
      watch.abort();
    }
    // Partitions of the StatefulSet carrying the new template, in order, repeats dropped.
    const seen = versions.filter((v) => onNewImage([v.image])).map((v) => v.partition).filter((p, i, all) => i === 0 || all[i - 1] !== p);
    expect(seen[0]).toBe(3);
    expect(seen.at(-1)).toBe(0);
    expect(seen).toEqual([...seen].sort((a, b) => b - a));
    expect(seen).toEqual(expect.arrayContaining([2, 1]));
    // The re-created pods came back as the same stores: PD reuses a store id by address.
    const idsAfter = Object.fromEntries((last.status?.tikv?.stores ?? []).filter((s) => s.state === 'Up').map((s) => [s.podName, s.id]));
    expect(idsAfter).toEqual(idsBefore);
    const reasons = (await core.listNamespacedEvent({ namespace: ns })).items.map((e) => e.reason);
    expect(reasons.filter((r) => r === 'RollingUpdate').length).toBeGreaterThanOrEqual(6);
    expect(reasons).toContain('EvictingLeaders');
    // The last pod's store is released once PD has heard from it again, which can trail Ready by a reconcile.
    const pdClient = pdCalls(directTransport(getEnv().pdURLs[0]!));
    const ours = async () => (await pdClient.evictLeaderStores()).filter((id) => Object.values(idsBefore).includes(id));
    await waitFor('no evict-leader entry for this cluster', async () => (await ours()).length === 0, { timeoutMs: 30_000 });
    expect(await ours()).toEqual([]);
  }, 600_000);

  it('deletes dependents through owner references and keeps the PVCs', async () => {
    const { ns, name } = await readyCluster('delete');
    const n = names(name);
    await deleteCluster(ns, name);
    await waitFor(
      'dependents to be garbage collected',
      async () => {
        for (const [kind, obj] of [
          ['StatefulSet', n.pdStatefulSet],
          ['StatefulSet', n.tikvStatefulSet],
          ['Service', n.pdClientService],
          ['Service', n.tikvPeerService],
          ['ConfigMap', n.pdConfigMap],
        ] as const) {
          if (await exists(kind, ns, obj)) return false;
        }
        return true;
      },
      { timeoutMs: 60_000 },
    );
    const pvcs = await getEnv().kc.makeApiClient(CoreV1Api).listNamespacedPersistentVolumeClaim({ namespace: ns });
    expect(pvcs.items.map((p) => p.metadata?.name)).toEqual(expect.arrayContaining([tikvPvcName(name, 0), `pd-${name}-pd-0`]));
  });

  it('makes zero API writes for a cluster at rest, also right after an operator restart', async () => {
    const { ns, name } = await readyCluster('rest');
    // At rest first: on a loaded machine the cluster can still be settling when it turns
    // Ready (a StatefulSet's status catching up, PD moving a region), and a status write
    // for that is news, not a write at rest. Rest = three reconciles in a row without one.
    const ownWrites = (from: Date) => auditWrites(op.username, from).filter((e) => e.objectRef?.namespace === ns);
    await waitFor(
      'three reconciles in a row without a write',
      async () => {
        const from = new Date();
        await reconcilesPass(op, 3);
        return ownWrites(from).length === 0;
      },
      { timeoutMs: 90_000, intervalMs: 0 },
    );
    await op.stop();
    const since = new Date();
    op = await startTestOperator({ pd });
    await waitFor('the restarted operator to reconcile', async () => op.reconciles() >= 8, { timeoutMs: 60_000 });
    await reconcilesPass(op, 6);
    const writes = auditWrites(op.username, since).filter((e) => e.objectRef?.namespace === ns);
    expect(writes.map((e) => `${e.verb} ${e.objectRef?.resource}/${e.objectRef?.subresource ?? ''}`)).toEqual([]);
    expect(condition(await getCluster(ns, name), 'Ready')?.status).toBe('True');
    const apps = getEnv().kc.makeApiClient(AppsV1Api);
    expect((await apps.readNamespacedStatefulSet({ namespace: ns, name: names(name).tikvStatefulSet })).spec?.replicas).toBe(3);
  });
});
