// The admission fence on the real control plane: the real kube-scheduler leaves gated pods
// alone, the operator admits them (and records it on their PVCs), and a store that
// registers exactly inside the scale-in window (between the operator's PD read and its
// StatefulSet write) is drained through PD, never left behind without its pod.
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { names, tikvAdvertiseAddr } from '../../src/api/names.js';
import { ADMISSION_GATE } from '../../src/charts/index.js';
import { KubeClaims } from '../../src/controller/kube/claims.js';
import { KubePods } from '../../src/controller/kube/pods.js';
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
  getCluster,
  patchSpec,
  startTestOperator,
  type TestOperator,
  TestPDResolver,
  TiKVStandins,
  waitForCluster,
} from './support/operator.js';

const core = () => getEnv().kc.makeApiClient(CoreV1Api);
const readPod = async (ns: string, name: string): Promise<V1Pod | undefined> => {
  try {
    return await core().readNamespacedPod({ namespace: ns, name });
  } catch (e) {
    if ((e as { code?: number }).code === 404) return undefined;
    throw e;
  }
};
const stsReplicas = async (ns: string, name: string) =>
  (await kubeJSON<{ spec: { replicas: number } }>(getEnv().kc, { method: 'GET', path: resourcePath('StatefulSet', ns, name) })).spec.replicas;
const pdClient = () => pdCalls(directTransport(getEnv().pdURLs[0]!));

describe('the admission fence on a real control plane', () => {
  const pd = new TestPDResolver(getEnv().pdURLs);
  let op: TestOperator | undefined;
  const standins: TiKVStandins[] = [];

  beforeAll(async () => {
    op = await startTestOperator({ pd });
  });
  afterAll(async () => {
    pd.afterAnswer = undefined;
    await op?.stop();
    await Promise.all(standins.map((s) => s.stop()));
  });

  it('the PVC and pod writes behave on the real apiserver as the operator relies on: conditional flip, uid preconditions', async () => {
    const ns = await newNamespace('records');
    const { kc } = getEnv();
    const claims = new KubeClaims(kc);
    const pods = new KubePods(kc);
    const pvc = (name: string, annotations?: Record<string, string>) =>
      core().createNamespacedPersistentVolumeClaim({
        namespace: ns,
        body: { metadata: { name, ...(annotations ? { annotations } : {}) }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
      });
    await pvc('fresh', { 'tikv.org/admission': 'pending' });
    await pvc('legacy');
    expect(await claims.recordAdmission(ns, 'fresh', '7412')).toBe('recorded');
    expect(await claims.recordAdmission(ns, 'fresh', '9999')).toBe('not-pending');
    expect(await claims.recordAdmission(ns, 'legacy', '7412')).toBe('not-pending');
    expect(await claims.recordAdmission(ns, 'none', '7412')).toBe('missing');
    expect((await claims.getClaim(ns, 'fresh'))?.annotations).toMatchObject({ 'tikv.org/admission': 'admitted', 'tikv.org/pd-cluster-id': '7412' });
    expect((await claims.getClaim(ns, 'legacy'))?.annotations?.['tikv.org/admission']).toBeUndefined();
    const legacy = await claims.getClaim(ns, 'legacy');
    await expect(claims.annotateClaim(ns, { name: 'legacy', uid: 'not-its-uid', deleting: false }, { 'tikv.org/store-id': '4' })).rejects.toThrow(/HTTP 4\d\d/);
    await claims.annotateClaim(ns, legacy!, { 'tikv.org/store-id': '4' });
    expect((await claims.getClaim(ns, 'legacy'))?.annotations?.['tikv.org/store-id']).toBe('4');

    // A bare pod with the gate (no node can run it: the scheduler leaves it alone anyway).
    const created = await core().createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: 'p' }, spec: { schedulingGates: [{ name: ADMISSION_GATE }], containers: [{ name: 'c', image: 'x' }], nodeSelector: { none: 'none' } } },
    });
    const uid = created.metadata?.uid ?? '';
    expect(await pods.getPod(ns, 'p', ADMISSION_GATE)).toEqual({ uid, gated: true, deleting: false });
    expect(await pods.admitPod(ns, 'p', 'not-its-uid', ADMISSION_GATE, 0)).toBe('changed');
    expect(await pods.admitPod(ns, 'p', uid, ADMISSION_GATE, 0)).toBe('admitted');
    expect(await pods.admitPod(ns, 'p', uid, ADMISSION_GATE, 0)).toBe('changed');
    expect(await pods.getPod(ns, 'p', ADMISSION_GATE)).toMatchObject({ gated: false });
    await pods.deletePod(ns, 'p', 'not-its-uid');
    expect(await pods.getPod(ns, 'p', ADMISSION_GATE)).toMatchObject({ uid });
    await pods.deletePod(ns, 'p', uid);
    await waitFor('pod p gone', async () => (await pods.getPod(ns, 'p', ADMISSION_GATE)) === undefined, { timeoutMs: 30_000 });
  });

  it('keeps a re-created pod Pending (SchedulingGated) while the operator is down, and runs it once the operator admits it', async () => {
    const ns = await newNamespace('gate');
    await createCluster(ns, { metadata: { name: 'basic' }, spec: {} });
    const s = new TiKVStandins(ns, 'basic').start();
    standins.push(s);
    const ready = await waitForCluster(ns, 'basic', 'Ready=True', (c) => condition(c, 'Ready')?.status === 'True', 120_000);
    // Every pod was admitted, and its PVC says so (TiKV's with PD's cluster ID).
    for (const pod of ['basic-pd-0', 'basic-tikv-0']) expect((await readPod(ns, pod))?.spec?.schedulingGates ?? []).toEqual([]);
    const tikvPvc = await core().readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'tikv-basic-tikv-0' });
    expect(tikvPvc.metadata?.annotations).toMatchObject({ 'tikv.org/admission': 'admitted', 'tikv.org/pd-cluster-id': ready.status?.clusterID });
    const pdPvc = await core().readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'pd-basic-pd-0' });
    expect(pdPvc.metadata?.annotations?.['tikv.org/admission']).toBe('admitted');

    await op?.stop();
    op = undefined;
    const old = await readPod(ns, 'basic-tikv-2');
    await core().deleteNamespacedPod({ namespace: ns, name: 'basic-tikv-2', gracePeriodSeconds: 0 });
    const gated = await waitFor(
      'the re-created basic-tikv-2 to be reported SchedulingGated',
      async () => {
        const p = await readPod(ns, 'basic-tikv-2');
        const scheduled = p?.status?.conditions?.find((c) => c.type === 'PodScheduled');
        return p && p.metadata?.uid !== old?.metadata?.uid && scheduled?.reason === 'SchedulingGated' ? p : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(gated.spec?.schedulingGates).toEqual([{ name: ADMISSION_GATE }]);
    expect(gated.spec?.nodeName).toBeUndefined();
    expect(gated.status?.phase).toBe('Pending');

    const since = new Date();
    op = await startTestOperator({ pd });
    const running = await waitFor(
      'basic-tikv-2 admitted and Running',
      async () => {
        const p = await readPod(ns, 'basic-tikv-2');
        return p?.metadata?.uid === gated.metadata?.uid && p?.status?.phase === 'Running' ? p : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(running.spec?.schedulingGates ?? []).toEqual([]);
    await waitForCluster(ns, 'basic', 'Ready again', (c) => condition(c, 'Ready')?.status === 'True', 60_000);
    const admits = auditWrites(op.username, since).filter((e) => e.objectRef?.namespace === ns && e.objectRef.resource === 'pods');
    expect(admits.map((e) => `${e.verb} ${e.objectRef?.name} ${e.responseStatus?.code}`)).toEqual(['patch basic-tikv-2 200']);
    // Its PVC was admitted onto before: the conditional flip of `pending` is refused (422) and changes nothing.
    const records = auditWrites(op.username, since).filter((e) => e.objectRef?.namespace === ns && e.objectRef.resource === 'persistentvolumeclaims');
    expect(records.map((e) => `${e.verb} ${e.objectRef?.name} ${e.responseStatus?.code}`)).toEqual(['patch tikv-basic-tikv-2 422']);
    const after = await core().readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'tikv-basic-tikv-2' });
    expect(after.metadata?.annotations?.['tikv.org/pd-cluster-id']).toBe(ready.status?.clusterID);
  }, 300_000);

  it('drains a store that registers between the operator reading PD and writing the StatefulSet, instead of removing its pod', async () => {
    if (!op) op = await startTestOperator({ pd });
    const ns = await newNamespace('window');
    const name = 'basic';
    const pod3 = 'basic-tikv-3';
    await createCluster(ns, { metadata: { name }, spec: {} });
    // pod 3's TiKV is "still starting": it registers only when the test says so (startNow)
    const s = new TiKVStandins(ns, name, { mayStart: (pod) => pod !== pod3 }).start();
    standins.push(s);
    await waitForCluster(ns, name, 'Ready=True', (c) => condition(c, 'Ready')?.status === 'True', 120_000);
    await patchSpec(ns, name, { tikv: { replicas: 4 } });
    await waitFor('basic-tikv-3 admitted and Running', async () => (await readPod(ns, pod3))?.status?.phase === 'Running', { timeoutMs: 60_000 });

    // The operator asks PD for replication.max-replicas only in a reconcile that plans a
    // TiKV scale-in, after it read the stores: the store registers right then.
    let registered: boolean | undefined;
    pd.afterAnswer = async (ref, method) => {
      if (ref.namespace !== ns || method !== 'replicationConfig' || registered !== undefined) return;
      registered = await s.startNow(pod3);
    };
    await patchSpec(ns, name, { tikv: { replicas: 3 } });
    try {
      await waitFor('the injection', async () => registered !== undefined, { timeoutMs: 60_000, intervalMs: 100 });
      expect(registered).toBe(true);
      const address = tikvAdvertiseAddr(name, ns, 3);
      // (PD may drain an empty store quickly: tombstones included)
      const storeId = (await pdClient().stores({ includeTombstone: true })).find((x) => x.address === address)?.id;
      expect(storeId).toBeDefined();
      // The pod goes only after PD made its store a Tombstone.
      const removed = await waitFor(
        'the TiKV StatefulSet back at 3',
        async () => ((await stsReplicas(ns, names(name).tikvStatefulSet)) === 3 ? new Date() : undefined),
        { timeoutMs: 300_000, intervalMs: 100 },
      );
      const store = (await pdClient().stores({ includeTombstone: true })).find((x) => x.id === storeId);
      expect(store?.stateName).toBe('Tombstone');
      const c = await waitForCluster(ns, name, 'Ready at 3', (x) => condition(x, 'Ready')?.status === 'True', 120_000);
      expect((c.status?.tikv?.stores ?? []).filter((x) => x.podName === pod3).map((x) => x.state)).toEqual(['Tombstone']);
      expect(removed).toBeInstanceOf(Date);
      const events = (await core().listNamespacedEvent({ namespace: ns })).items.map((e) => `${e.reason}: ${e.message}`);
      expect(events).toContainEqual(expect.stringContaining(`StoreOffline: asked PD to take store ${storeId} (${pod3}) offline`));
    } finally {
      pd.afterAnswer = undefined;
    }
    expect((await getCluster(ns, name)).status?.tikv?.stores?.filter((x) => x.state === 'Up')).toHaveLength(3);
  }, 600_000);
});
