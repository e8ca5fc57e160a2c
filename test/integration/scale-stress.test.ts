// Randomized: 100 quick edits of spec.tikv.replicas (3..5) against the real control plane
// and PD, with TiKV stand-ins that take a random time to register (like TiKV starting up)
// and, at random, register exactly inside a scale-in window (when the operator has read
// the stores and asks PD for max-replicas, before it writes the StatefulSet). Checked
// from PD, the stand-ins and the apiserver's audit log:
//  - no TiKV pod is removed (its ordinal dropped) while PD counts its store;
//  - no PVC is deleted while a store that ran on it is not a Tombstone;
//  - at the end, PD has no store left without its pod, and the cluster is the spec.
// STRESS_SEED reproduces a run; STRESS_EDITS changes the count.
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { names, tikvAdvertiseAddr } from '../../src/api/names.js';
import { kubeJSON } from '../../src/controller/kube/raw.js';
import { resourcePath } from '../../src/controller/kube/resources.js';
import { directTransport, type PDStore } from '../../src/controller/pd/client.js';
import { getEnv, newNamespace } from '../env/context.js';
import { pdCalls } from '../env/pd/pd-client.js';
import { waitFor } from '../env/process.js';
import {
  auditWrites,
  condition,
  createCluster,
  patchSpec,
  startTestOperator,
  type TestOperator,
  TestPDResolver,
  TiKVStandins,
  waitForCluster,
} from './support/operator.js';

const EDITS = Number(process.env.STRESS_EDITS ?? 100);
const SEED = Number(process.env.STRESS_SEED ?? Date.now() % 1_000_000);

/** mulberry32: small, seedable, good enough to pick test moments. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('random quick scale edits with stores registering at random moments', () => {
  const pd = new TestPDResolver(getEnv().pdURLs);
  let op: TestOperator;
  let standins: TiKVStandins | undefined;

  beforeAll(async () => {
    op = await startTestOperator({ pd });
  });
  afterAll(async () => {
    pd.afterAnswer = undefined;
    await op?.stop();
    await standins?.stop();
  });

  it(`${EDITS} edits keep every store drained before its pod goes and every PVC until PD let it go`, async () => {
    const random = prng(SEED);
    console.log(`scale-stress: seed ${SEED} (STRESS_SEED=${SEED} reproduces the edits and delays)`);
    const ns = await newNamespace('stress');
    const name = 'basic';
    const n = names(name);
    const pdClient = pdCalls(directTransport(getEnv().pdURLs[0]!));
    const ours = (s: PDStore) => [0, 1, 2, 3, 4, 5].some((k) => s.address === tikvAdvertiseAddr(name, ns, k));
    const ordinalOf = (s: PDStore) => [0, 1, 2, 3, 4, 5].find((k) => s.address === tikvAdvertiseAddr(name, ns, k)) ?? -1;
    const stsReplicas = async () =>
      (await kubeJSON<{ spec: { replicas: number } }>(getEnv().kc, { method: 'GET', path: resourcePath('StatefulSet', ns, n.tikvStatefulSet) })).spec.replicas;

    // Each pod incarnation's TiKV takes 0-4 s to register once Running.
    const startsAt = new Map<string, number>();
    const removals: string[] = [];
    const violations: string[] = [];
    let injections = 0;
    const s = new TiKVStandins(ns, name, {
      dataDirs: true,
      mayStart: (_pod, uid) => {
        if (!startsAt.has(uid)) startsAt.set(uid, Date.now() + random() * 4000);
        return Date.now() >= (startsAt.get(uid) ?? 0);
      },
      onGone: async (pod, storeId) => {
        const ordinal = Number(pod.slice(pod.lastIndexOf('-') + 1));
        const replicas = await stsReplicas();
        if (replicas > ordinal) return; // re-created (a roll or a restart), not removed
        removals.push(pod);
        const store = (await pdClient.stores({ includeTombstone: true })).find((x) => x.id === storeId);
        if (store && store.stateName !== 'Tombstone') violations.push(`${pod} was removed while its store ${storeId} was ${store.stateName}`);
      },
    }).start();
    standins = s;

    // The PD timeline: store states every 200 ms (for the PVC deletes in the audit log).
    const timeline: Array<{ at: number; states: Map<string, string> }> = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        try {
          const stores = (await pdClient.stores({ includeTombstone: true })).filter(ours);
          timeline.push({ at: Date.now(), states: new Map(stores.map((x) => [x.id, x.stateName])) });
        } catch {}
        await sleep(200);
      }
    })();

    await createCluster(ns, { metadata: { name }, spec: {} });
    await waitForCluster(ns, name, 'Ready=True', (c) => condition(c, 'Ready')?.status === 'True', 120_000);
    const since = new Date();
    // A scale-in reconcile asks PD for max-replicas after it read the stores: sometimes every
    // pod that is still starting registers right then, inside the window.
    pd.afterAnswer = async (ref, method) => {
      if (ref.namespace !== ns || method !== 'replicationConfig' || random() > 0.3) return;
      for (let k = 0; k < 6; k++) if (await s.startNow(`${n.tikvStatefulSet}-${k}`)) injections += 1;
    };

    let replicas = 3;
    for (let i = 0; i < EDITS; i++) {
      const choices = [3, 4, 5].filter((r) => r !== replicas);
      replicas = choices[Math.floor(random() * choices.length)] ?? 3;
      await patchSpec(ns, name, { tikv: { replicas } });
      await sleep(random() < 0.8 ? random() * 1000 : 1000 + random() * 4000);
    }
    const final = replicas;
    let stuck: unknown;
    try {
      await waitForCluster(
        ns,
        name,
        `the cluster at ${final} TiKV, Ready`,
        (c) => condition(c, 'Ready')?.status === 'True' && c.status?.observedGeneration === c.metadata.generation && c.status?.tikv?.replicas === final,
        300_000,
      );
    } catch (e) {
      stuck = e;
    } finally {
      pd.afterAnswer = undefined;
      polling = false;
      await poller;
    }

    // 1. no pod removed while PD counted its store (checked as each went; first, since a
    // store left behind is also why a cluster never comes back to the spec)
    expect(violations).toEqual([]);
    if (stuck) throw stuck;
    // 2. no store left without its pod; the cluster is the spec
    const stores = (await pdClient.stores({ includeTombstone: true })).filter(ours);
    const live = stores.filter((x) => x.stateName !== 'Tombstone');
    expect(live.map((x) => `${ordinalOf(x)}:${x.stateName}`).sort()).toEqual(Array.from({ length: final }, (_, k) => `${k}:Up`));
    expect(await stsReplicas()).toBe(final);
    const pods = (await getEnv().kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: ns, labelSelector: 'app.kubernetes.io/component=tikv' })).items;
    expect(pods.filter((p) => p.status?.phase === 'Running').map((p) => p.metadata?.name).sort()).toEqual(
      Array.from({ length: final }, (_, k) => `${n.tikvStatefulSet}-${k}`),
    );
    // 3. every PVC the operator deleted: each store that ever ran on that PVC was a Tombstone by then
    const writes = auditWrites(op.username, since).filter((e) => e.objectRef?.namespace === ns);
    const pvcDeletes = writes.filter((e) => e.verb === 'delete' && e.objectRef?.resource === 'persistentvolumeclaims' && (e.responseStatus?.code ?? 0) < 300);
    for (const d of pvcDeletes) {
      const at = Date.parse(d.requestReceivedTimestamp);
      const after = timeline.find((x) => x.at >= at)?.states ?? new Map<string, string>();
      for (const [id, ran] of s.ranOn) {
        if (ran.pvc !== d.objectRef?.name || ran.registeredAt.getTime() >= at) continue;
        const state = after.get(id) ?? stores.find((x) => x.id === id)?.stateName;
        if (state !== 'Tombstone') violations.push(`PVC ${ran.pvc} deleted while store ${id} that ran on it was ${state}`);
      }
    }
    expect(violations).toEqual([]);
    const podDeletes = writes.filter((e) => e.verb === 'delete' && e.objectRef?.resource === 'pods');
    console.log(
      `scale-stress: seed ${SEED}, ${EDITS} edits, final ${final}; ${s.ranOn.size} stores registered, ${stores.length - live.length} tombstoned, ` +
        `${injections} registered inside a scale-in window, ${removals.length} pods removed, ${podDeletes.length} never-registered pods deleted by the operator, ` +
        `${pvcDeletes.length} PVCs deleted`,
    );
    // The run exercised what it claims to: stores were drained and some registered in the window.
    expect(stores.length - live.length).toBeGreaterThan(0);
    expect(removals.length).toBeGreaterThan(0);
    await waitFor('nothing more to do', async () => true, { timeoutMs: 1000 });
  }, 1_200_000);
});
