// The races of issue 8, injected exactly in their window over the fakes: a store (or a PD
// member) that registers right after the operator's PD read, or at the moment it writes the
// StatefulSet. The rule checked on every StatefulSet write: an ordinal the write removes
// has no live store (or member) in PD, and its pod is gated or absent, or PD made the
// store the PVC records a Tombstone.
import { describe, expect, it } from 'vitest';
import { names } from '../../../src/api/names.js';
import { ADMISSION_GATE, type KubeObject } from '../../../src/charts/index.js';
import { basicCluster, NAME, World } from './fakes.js';

const n = names(NAME);
const replicasOf = (w: World, name: string) => (w.store.get('StatefulSet', name)?.spec as { replicas: number } | undefined)?.replicas;
const gated = (pod: KubeObject | undefined) =>
  ((pod?.spec as { schedulingGates?: Array<{ name: string }> } | undefined)?.schedulingGates ?? []).some((g) => g.name === ADMISSION_GATE);
/** The pod runs its process: it exists, was admitted and is not being deleted. */
const running = (w: World, pod: string) => {
  const p = w.store.pod(pod);
  return p !== undefined && !gated(p) && !p.metadata.deletionTimestamp;
};
const scaleTiKV = (w: World, replicas: number) =>
  w.store.editSpec((s) => {
    s.tikv = { ...((s.tikv as object) ?? {}), replicas };
  });
const scalePD = (w: World, replicas: number) =>
  w.store.editSpec((s) => {
    s.pd = { ...((s.pd as object) ?? {}), replicas };
  });

/** A TiKV process in pod `basic-tikv-<k>` registers its store, if the pod runs and has none yet. */
function registerIfRunning(w: World, k: number): boolean {
  const pod = `${n.tikvStatefulSet}-${k}`;
  if (!running(w, pod)) return false;
  const here = (w.pd.storeList ?? []).filter((s) => s.address.startsWith(`${pod}.`) && s.state !== 'Tombstone');
  if (here.length) return false;
  const id = String(100 + k);
  w.pd.storeList = [...(w.pd.storeList ?? []), w.pd.makeStore(id, k)];
  return true;
}

/**
 * Records every TiKV StatefulSet write that removes an ordinal whose store PD still
 * counts, or whose pod runs (could register any moment). The check runs as the write
 * lands, after whatever the test injected at that moment.
 */
function watchTiKVRemovals(w: World, inject: (from: number, to: number) => void = () => {}): string[] {
  const violations: string[] = [];
  w.onApply = (desired, live) => {
    if (desired.kind !== 'StatefulSet' || desired.metadata.name !== n.tikvStatefulSet || !live) return;
    const from = (live.spec as { replicas: number }).replicas;
    const to = (desired.spec as { replicas: number }).replicas;
    if (to >= from) return;
    inject(from, to);
    for (let k = to; k < from; k++) {
      const pod = `${n.tikvStatefulSet}-${k}`;
      const store = (w.pd.storeList ?? []).find((s) => s.address.startsWith(`${pod}.`) && s.state !== 'Tombstone');
      // A pod on a PVC that holds a store PD buried runs that store: it cannot register another.
      const recorded = w.store.pvcs.get(`tikv-${pod}`)?.annotations?.['tikv.org/store-id'];
      const buried = (w.pd.storeList ?? []).some((s) => s.id === recorded && s.state === 'Tombstone');
      if (store) violations.push(`${pod} removed while store ${store.id} is ${store.stateName}`);
      else if (running(w, pod) && !buried) violations.push(`${pod} removed while it runs and could register`);
    }
  };
  return violations;
}

/** A cluster at rest scaled 3 → 4: pod 3 created, admitted and running, with no store in PD yet. */
async function fourthPodAdmitted(): Promise<World> {
  const w = await World.atRest(3, 3);
  scaleTiKV(w, 4);
  await w.reconcile();
  expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
  w.store.rollOut(n.tikvStatefulSet);
  await w.reconcile();
  expect(running(w, 'basic-tikv-3')).toBe(true);
  return w;
}

/** Runs the world until the TiKV StatefulSet is at `replicas` and a pass changes nothing. */
async function converge(w: World, replicas: number, tombstone = true): Promise<void> {
  for (let i = 0; i < 30; i++) {
    w.store.rollOut(n.pdStatefulSet);
    w.store.rollOut(n.tikvStatefulSet);
    // PD makes an Offline store a Tombstone (its regions moved) between two reconciles
    if (tombstone) for (const s of w.pd.storeList ?? []) if (s.state === 'Offline') Object.assign(s, { state: 'Tombstone', stateName: 'Tombstone' });
    w.advance(3_000);
    await w.reconcile();
    if (replicasOf(w, n.tikvStatefulSet) === replicas && w.condition('Ready')?.status === 'True') return;
  }
  throw new Error(`no convergence to ${replicas}: ${JSON.stringify(w.condition('Progressing'))}`);
}

describe('hole 1: a TiKV store that registers inside the scale-in window', () => {
  it('right after the operator read PD: the pod is not removed, its store is drained through PD first', async () => {
    const w = await fourthPodAdmitted();
    const violations = watchTiKVRemovals(w);
    let injected = false;
    w.pd.afterStoresRead = () => {
      if (!injected) injected = registerIfRunning(w, 3);
    };
    scaleTiKV(w, 3);
    await w.reconcile();
    expect(injected).toBe(true);
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
    expect(violations).toEqual([]);
    await converge(w, 3);
    expect(violations).toEqual([]);
    expect(w.pd.writes).toContain('deleteStore 103');
    expect(w.pd.storeList?.find((s) => s.id === '103')?.state).toBe('Tombstone');
  });

  it('at the moment the operator writes the StatefulSet: no write ever removes a pod that runs', async () => {
    const w = await fourthPodAdmitted();
    let injected = 0;
    const violations = watchTiKVRemovals(w, (_from, to) => {
      for (let k = to; k < 4; k++) if (registerIfRunning(w, k)) injected += 1;
    });
    scaleTiKV(w, 3);
    await converge(w, 3);
    expect(violations).toEqual([]);
    // The admitted pod was deleted (that incarnation only) and its gated replacement removed.
    expect(w.pods.deletes).toEqual(['basic-tikv-3']);
    expect(w.events.reasons()).toContain('PodDeletedForScaleIn');
    expect(injected).toBe(0);
  });

  it('a store that bootstraps the TiKV cluster in the window (PD not bootstrapped before): the same rule', async () => {
    const w = new World(basicCluster({ pd: { replicas: 3 }, tikv: { replicas: 3 } }));
    await w.reconcile();
    w.pd.healthyMembers(3);
    w.store.rollOut(n.pdStatefulSet);
    await w.reconcile();
    w.store.rollOut(n.tikvStatefulSet);
    await w.reconcile();
    expect(running(w, 'basic-tikv-2')).toBe(true);
    expect(w.pd.storeList).toBeUndefined();
    const violations = watchTiKVRemovals(w);
    let injected = false;
    w.pd.afterStoresRead = () => {
      if (!injected) injected = registerIfRunning(w, 2);
    };
    scaleTiKV(w, 2);
    await w.reconcile();
    expect(injected).toBe(true);
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(3);
    expect(violations).toEqual([]);
  });

  it('a pod still gated when the spec flips back goes at once: never admitted, no PD word needed beyond "no store"', async () => {
    const w = await World.atRest(3, 3);
    scaleTiKV(w, 4);
    await w.reconcile();
    w.store.rollOut(n.tikvStatefulSet);
    scaleTiKV(w, 3);
    const violations = watchTiKVRemovals(w, (_from, to) => {
      for (let k = to; k < 4; k++) registerIfRunning(w, k);
    });
    await w.reconcile();
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(3);
    expect(w.pods.admitted).not.toContain('basic-tikv-3');
    expect(w.pods.deletes).toEqual([]);
    expect(violations).toEqual([]);
  });

  it('an admitted pod that is terminating keeps its ordinal until it is gone', async () => {
    const w = await fourthPodAdmitted();
    w.pods.terminate = true;
    scaleTiKV(w, 3);
    await w.reconcile();
    expect(w.pods.deletes).toEqual(['basic-tikv-3']);
    await w.reconcile();
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
    expect(w.condition('Progressing')?.message).toContain('basic-tikv-3 is terminating');
    // It registers during its grace period: then it is drained like any store.
    w.pd.storeList = [...(w.pd.storeList ?? []), w.pd.makeStore('103', 3)];
    w.pods.finishTermination('basic-tikv-3');
    w.pods.terminate = false;
    await converge(w, 3);
    expect(w.pd.writes).toContain('deleteStore 103');
  });

  it('waits, removing nothing, when the pod cannot be read', async () => {
    const w = await fourthPodAdmitted();
    w.pods.getPod = async () => {
      throw new Error('pods "basic-tikv-3" is forbidden');
    };
    scaleTiKV(w, 3);
    await w.reconcile();
    await w.reconcile();
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
    expect(w.condition('Progressing')).toMatchObject({ reason: 'ScaleInWaitingForPod', message: expect.stringContaining('forbidden') });
  });
});

describe('a pod the spec wants again after PD buried its data (found by the stress test)', () => {
  it('TiKV: the spec flips back up once the store is a Tombstone but before its pod went: the pod is replaced on a new volume', async () => {
    const w = await World.atRest(3, 4);
    scaleTiKV(w, 3);
    await w.reconcile();
    expect(w.pd.writes).toEqual(['deleteStore 4']);
    w.pd.setStoreState(3, 'Tombstone');
    scaleTiKV(w, 4);
    await w.reconcile();
    // basic-tikv-3 would crash-loop on store 4's tombstoned data: it goes first
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(3);
    expect(w.condition('Progressing')).toMatchObject({ reason: 'ReplacingPod', message: expect.stringContaining('store 4 is a Tombstone') });
    w.store.rollOut(n.tikvStatefulSet);
    await w.reconcile();
    expect(w.claims.deletes).toEqual(['tikv-basic-tikv-3']);
    w.store.rollOut(n.tikvStatefulSet);
    await w.reconcile();
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
    w.store.rollOut(n.tikvStatefulSet);
    await w.reconcile();
    expect(running(w, 'basic-tikv-3')).toBe(true);
    expect(w.store.pvcs.get('tikv-basic-tikv-3')?.annotations?.['tikv.org/store-id']).toBeUndefined();
    w.pd.storeList?.push(w.pd.makeStore('5', 3));
    await w.settle();
    expect(w.condition('Ready')?.status).toBe('True');
  });

  it('PD: the spec flips back up once the member was removed but before its pod went: the pod is replaced', async () => {
    const w = await World.atRest(4, 3);
    scalePD(w, 3);
    await w.reconcile();
    expect(w.pd.writes).toEqual(['deleteMember basic-pd-3']);
    scalePD(w, 4);
    await w.reconcile();
    expect(replicasOf(w, n.pdStatefulSet)).toBe(3);
    expect(w.condition('Progressing')).toMatchObject({ reason: 'ReplacingPod', message: expect.stringContaining('was removed from PD') });
    w.store.rollOut(n.pdStatefulSet);
    await w.reconcile();
    expect(w.claims.deletes).toEqual(['pd-basic-pd-3']);
  });

  it('leaves a new pod alone whose store has not registered yet over an old Tombstone at its address', async () => {
    const w = await World.atRest(3, 3);
    w.pd.storeList?.push(w.pd.makeStore('9', 3, 'Tombstone'));
    scaleTiKV(w, 4);
    await w.reconcile();
    w.store.rollOut(n.tikvStatefulSet);
    await w.reconcile();
    await w.reconcile();
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
    expect(running(w, 'basic-tikv-3')).toBe(true);
  });
});

describe('hole 1, PD side: a member that joins inside the scale-in window', () => {
  async function fourthMemberAdmitted(): Promise<World> {
    const w = await World.atRest(3, 3);
    scalePD(w, 4);
    await w.reconcile();
    expect(replicasOf(w, n.pdStatefulSet)).toBe(4);
    w.store.rollOut(n.pdStatefulSet);
    await w.reconcile();
    expect(running(w, 'basic-pd-3')).toBe(true);
    return w;
  }

  it('right after the operator read the members: the member is removed from PD before its pod goes', async () => {
    const w = await fourthMemberAdmitted();
    const violations: string[] = [];
    w.onApply = (desired, live) => {
      if (desired.kind !== 'StatefulSet' || desired.metadata.name !== n.pdStatefulSet || !live) return;
      const to = (desired.spec as { replicas: number }).replicas;
      for (let k = to; k < (live.spec as { replicas: number }).replicas; k++) {
        if (w.pd.memberList.some((m) => m.name === `basic-pd-${k}`)) violations.push(`basic-pd-${k} removed while PD lists it`);
        else if (running(w, `basic-pd-${k}`)) violations.push(`basic-pd-${k} removed while it runs and could join`);
      }
    };
    let joined = false;
    w.pd.afterMembersRead = () => {
      if (!joined && running(w, 'basic-pd-3')) {
        w.pd.memberList.push({ name: 'basic-pd-3', id: '9000000000000000003', health: true });
        joined = true;
      }
    };
    scalePD(w, 3);
    for (let i = 0; i < 10 && replicasOf(w, n.pdStatefulSet) !== 3; i++) {
      await w.reconcile();
      w.store.rollOut(n.pdStatefulSet);
    }
    expect(joined).toBe(true);
    expect(replicasOf(w, n.pdStatefulSet)).toBe(3);
    expect(w.pd.writes).toContain('deleteMember basic-pd-3');
    expect(violations).toEqual([]);
  });
});

describe('admission', () => {
  const vct = (w: World, sts: string) =>
    (w.store.get('StatefulSet', sts)!.spec as { volumeClaimTemplates: Array<{ metadata: { annotations?: Record<string, string> } }> }).volumeClaimTemplates[0]?.metadata
      .annotations;

  it('admits every pod a new cluster creates, PD first, and records each PVC (TiKV with the PD cluster ID)', async () => {
    const w = await World.atRest(3, 3);
    expect(w.pods.admitted.sort()).toEqual(['basic-pd-0', 'basic-pd-1', 'basic-pd-2', 'basic-tikv-0', 'basic-tikv-1', 'basic-tikv-2']);
    const records = (pvc: string) => omitRetention(w.store.pvcs.get(pvc)?.annotations);
    expect(records('pd-basic-pd-0')).toEqual({ 'tikv.org/admission': 'admitted' });
    expect(records('tikv-basic-tikv-0')).toEqual({ 'tikv.org/admission': 'admitted', 'tikv.org/pd-cluster-id': w.pd.clusterID });
    expect(omitRetention(vct(w, n.tikvStatefulSet))).toEqual({ 'tikv.org/admission': 'pending' });
    // at rest: nothing more to admit, no write
    const admitted = w.pods.admitted.length;
    const annotations = w.claims.annotations.length;
    await w.settle();
    expect(w.pods.admitted.length).toBe(admitted);
    expect(w.claims.annotations.length).toBe(annotations);
  });

  it('admits re-created pods while paused, and TiKV pods only while PD answers', async () => {
    const w = await World.atRest(3, 3);
    w.store.editSpec((s) => {
      s.paused = true;
    });
    w.store.podObjects.delete('basic-pd-1');
    w.store.podObjects.delete('basic-tikv-1');
    w.store.rollOut(n.pdStatefulSet);
    w.store.rollOut(n.tikvStatefulSet);
    w.pd.reachable = false;
    await w.reconcile();
    expect(running(w, 'basic-pd-1')).toBe(true);
    expect(gated(w.store.pod('basic-tikv-1'))).toBe(true);
    w.pd.reachable = true;
    await w.reconcile();
    expect(running(w, 'basic-tikv-1')).toBe(true);
  });

  it('admits a re-created pod beyond the spec while PD still counts its store (a blocked scale-in keeps it running)', async () => {
    const w = await World.atRest(3, 3);
    scaleTiKV(w, 2);
    await w.reconcile();
    expect(w.condition('Progressing')?.reason).toBe('ScaleInBlocked');
    w.store.podObjects.delete('basic-tikv-2');
    w.store.rollOut(n.tikvStatefulSet);
    await w.reconcile();
    expect(running(w, 'basic-tikv-2')).toBe(true);
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(3);
  });

  it('leaves the volumeClaimTemplates of a StatefulSet created without the marker as they are (they are immutable)', async () => {
    const w = await World.atRest(3, 3);
    const sts = w.store.objects.get(`StatefulSet/ns/${n.tikvStatefulSet}`)!;
    delete (sts.spec as { volumeClaimTemplates: Array<{ metadata: { annotations?: unknown } }> }).volumeClaimTemplates[0]!.metadata.annotations;
    const applies = w.applies.length;
    w.store.editSpec((s) => {
      s.tikv = { replicas: 3, config: { log: { level: 'warn' } } };
    });
    await w.reconcile();
    expect(w.applies.slice(applies).filter((a) => a.kind === 'StatefulSet' && a.name === n.tikvStatefulSet && a.result === 'configured')).toHaveLength(1);
    expect(vct(w, n.tikvStatefulSet)?.['tikv.org/admission']).toBeUndefined();
  });
});

/** The retention note rides on every claim template too; these tests are about the admission records. */
function omitRetention(annotations: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!annotations) return annotations;
  const { 'tikv.org/retention': _note, ...rest } = annotations;
  return rest;
}

describe('hole 2: a quick flip leaves a PVC PD never saw a store on, and the operator resolves it', () => {
  const pvc3 = 'tikv-basic-tikv-3';

  it('a PVC no pod was ever admitted onto is reused by the next scale-out at once', async () => {
    const w = await World.atRest(3, 3);
    scaleTiKV(w, 4);
    await w.reconcile();
    w.store.rollOut(n.tikvStatefulSet);
    scaleTiKV(w, 3);
    await w.reconcile();
    w.store.rollOut(n.tikvStatefulSet);
    expect(w.store.pvcs.get(pvc3)?.annotations?.['tikv.org/admission']).toBe('pending');
    scaleTiKV(w, 4);
    await w.reconcile();
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
    expect(w.claims.deletes).toEqual([]);
  });

  it('a PVC whose pod was admitted under this PD cluster but never registered is deleted once its pod is gone, then the scale-out goes on', async () => {
    const w = await fourthPodAdmitted();
    expect(w.store.pvcs.get(pvc3)?.annotations).toMatchObject({ 'tikv.org/admission': 'admitted', 'tikv.org/pd-cluster-id': w.pd.clusterID });
    scaleTiKV(w, 3);
    await converge(w, 3);
    expect(w.store.pvcs.has(pvc3)).toBe(true);
    scaleTiKV(w, 4);
    await w.reconcile();
    expect(w.claims.deletes).toEqual([pvc3]);
    expect(w.events.events.find((e) => e.reason === 'PVCDeleted')?.message).toContain(`PD cluster ${w.pd.clusterID}`);
    await w.reconcile();
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
  });

  it('keeps such a PVC while a pod of its ordinal still exists, and when PD now has another cluster ID', async () => {
    const w = await fourthPodAdmitted();
    scaleTiKV(w, 3);
    await converge(w, 3);
    w.pd.clusterID = '42';
    scaleTiKV(w, 4);
    await w.reconcile();
    expect(w.claims.deletes).toEqual([]);
    expect(w.condition('Progressing')?.message).toContain('PD has no store at its address');
  });
});

describe('hole 3: an unexpected exception in a reconcile', () => {
  it('ends in Ready False, reason ReconcileError, with the message, and one Warning Event; the next good reconcile clears it', async () => {
    const w = await World.atRest(3, 3);
    const pods = w.store.pods.bind(w.store);
    w.store.pods = () => {
      throw new TypeError("Cannot read properties of undefined (reading 'labels')");
    };
    await expect(w.reconcile()).rejects.toThrow('labels');
    expect(w.condition('Ready')).toMatchObject({ status: 'False', reason: 'ReconcileError', message: expect.stringContaining("reading 'labels'") });
    const writes = w.statusWrites.length;
    await expect(w.reconcile()).rejects.toThrow('labels');
    expect(w.statusWrites.length).toBe(writes);
    expect(w.events.events.filter((e) => e.reason === 'ReconcileError')).toHaveLength(1);
    w.store.pods = pods;
    await w.reconcile();
    expect(w.condition('Ready')).toMatchObject({ status: 'True', reason: 'ClusterReady' });
  });

  it('reports one for a cluster that never had any status', async () => {
    const w = new World();
    w.store.object = () => {
      throw new RangeError('Maximum call stack size exceeded');
    };
    await expect(w.reconcile()).rejects.toThrow('Maximum call stack');
    expect(w.condition('Ready')).toMatchObject({ status: 'False', reason: 'ReconcileError' });
    expect(w.status?.phase).toBe('Pending');
  });
});

describe('hole 6: TiKV rolls only after PD has finished', () => {
  const partition = (w: World, sts: string) =>
    (w.store.get('StatefulSet', sts)!.spec as { updateStrategy: { rollingUpdate: { partition: number } } }).updateStrategy.rollingUpdate.partition;

  it('the reconcile that releases the last PD pod leaves TiKV alone; TiKV starts once that pod is back, Ready and healthy in PD', async () => {
    const w = await World.atRest(3, 3);
    w.store.editSpec((s) => {
      s.version = 'v8.5.6';
    });
    await w.reconcile();
    // Step PD down to its last pod.
    for (let i = 0; i < 20 && partition(w, n.pdStatefulSet) > 0; i++) {
      w.store.runStatefulSet(n.pdStatefulSet);
      w.store.runStatefulSet(n.tikvStatefulSet);
      w.advance(1000);
      w.pd.heartbeat();
      const before = w.pd.writes.length;
      await w.reconcile();
      if (partition(w, n.pdStatefulSet) === 0) {
        expect(w.pd.writes.slice(before).filter((x) => x.startsWith('evictLeader'))).toEqual([]);
        expect(partition(w, n.tikvStatefulSet)).toBe(3);
      }
    }
    expect(partition(w, n.pdStatefulSet)).toBe(0);
    // basic-pd-0 comes back but PD does not call it healthy yet: TiKV still waits.
    w.store.runStatefulSet(n.pdStatefulSet);
    w.pd.memberList[0]!.health = false;
    await w.reconcile();
    expect(w.pd.writes.filter((x) => x.startsWith('evictLeader'))).toEqual([]);
    expect(partition(w, n.tikvStatefulSet)).toBe(3);
    expect(w.condition('Progressing')?.message).toContain('PD is rolled first');
    w.pd.memberList[0]!.health = true;
    await w.reconcile();
    expect(w.pd.writes.filter((x) => x.startsWith('evictLeader'))).toEqual(['evictLeader 3']);
  });
});

describe('hole 9: an apply the apiserver refuses', () => {
  it('makes Ready name the apply failure, not a generic reason', async () => {
    const w = await World.atRest(3, 3);
    w.rejectApply = (o) => (o.kind === 'StatefulSet' && o.metadata.name === n.tikvStatefulSet ? 'admission webhook "quota" denied the request' : undefined);
    scaleTiKV(w, 4);
    await expect(w.reconcile()).rejects.toThrow(/apply failed/);
    expect(w.condition('Ready')).toMatchObject({ status: 'False', reason: 'ApplyFailed', message: expect.stringContaining('StatefulSet/basic-tikv') });
    expect(w.condition('Ready')?.message).toContain('quota');
    w.rejectApply = () => undefined;
    await w.reconcile();
    expect(w.condition('Ready')?.reason).not.toBe('ApplyFailed');
  });
});

describe('hole 11: a status write that meets a just-deleted cluster', () => {
  it('is done, not a reconcile error, and leaves nothing behind', async () => {
    const w = await World.atRest(3, 3);
    w.pd.setStoreState(1, 'Disconnected');
    w.statusWriteError = Object.assign(new Error('tikvclusters.tikv.org "basic" not found'), { status: 404 });
    await expect(w.reconcile()).resolves.toEqual({});
    expect(w.events.reasons()).not.toContain('ReconcileError');
  });
});
