import { describe, expect, it } from 'vitest';
import { names } from '../../../src/api/names.js';
import { API_VERSION, KIND } from '../../../src/api/v1alpha1.js';
import { LABELS, PD_BOOTSTRAPPED_KEY, PD_INITIAL_CLUSTER_KEY } from '../../../src/charts/index.js';
import { basicCluster, BUSY_MS, KEY, NAME, NS, recordingLog, STEADY_MS, tombstonedStore3, UID, World } from './fakes.js';

const n = names(NAME);
const replicasOf = (w: World, name: string) => (w.store.get('StatefulSet', name)?.spec as { replicas: number } | undefined)?.replicas;
const pdData = (w: World) => (w.store.get('ConfigMap', n.pdConfigMap)?.data ?? {}) as Record<string, string>;
const initialMembers = (w: World) => pdData(w)[PD_INITIAL_CLUSTER_KEY]?.split(',').map((e) => e.split('=')[0]);
const tikvObjects = (w: World) => [...w.store.objects.values()].filter((o) => o.metadata.labels?.[LABELS.component] === 'tikv');
const MINUTE = 60_000;

describe('a new cluster', () => {
  it('creates the PD objects owned by the cluster, not TiKV, and says PD is not reachable yet', async () => {
    const w = new World();
    const result = await w.reconcile();

    const created = w.applies.filter((a) => a.result === 'created').map((a) => `${a.kind}/${a.name}`);
    expect(created.sort()).toEqual([`ConfigMap/${n.pdConfigMap}`, `Service/${n.pdClientService}`, `Service/${n.pdPeerService}`, `StatefulSet/${n.pdStatefulSet}`].sort());
    for (const obj of w.store.objects.values()) {
      expect(obj.metadata.ownerReferences).toEqual([expect.objectContaining({ apiVersion: API_VERSION, kind: KIND, name: NAME, uid: UID, controller: true })]);
    }
    expect(tikvObjects(w)).toEqual([]);
    expect(pdData(w)[PD_BOOTSTRAPPED_KEY]).toBe('false');
    expect(initialMembers(w)).toEqual(['basic-pd-0', 'basic-pd-1', 'basic-pd-2']);

    expect(w.statusWrites).toHaveLength(1);
    expect(w.condition('PDAvailable')).toMatchObject({ status: 'Unknown', reason: 'PDUnreachable' });
    expect(w.condition('PDAvailable')?.message).toContain('ECONNREFUSED');
    expect(['Pending', 'Bootstrapping']).toContain(w.status?.phase);
    expect(w.status?.pd?.bootstrapped).toBe(false);
    expect(w.status?.observedGeneration).toBe(1);
    expect(result.requeueAfterMs).toBe(BUSY_MS);
    expect(w.pd.writes).toEqual([]);
  });

  it('does not warn about PD being unreachable while the cluster is still forming', async () => {
    const w = new World();
    await w.reconcile();
    await w.reconcile();
    expect(w.events.events.filter((e) => e.type === 'Warning')).toEqual([]);
  });

  it('flips the bootstrap marker and creates TiKV once the initial members are healthy', async () => {
    const w = new World();
    await w.reconcile();
    w.pd.healthyMembers(3);
    w.store.rollOut(n.pdStatefulSet);
    const done = w.mark();
    await w.reconcile();

    expect(pdData(w)[PD_BOOTSTRAPPED_KEY]).toBe('true');
    const changed = done().changedApplies.map((a) => `${a.kind}/${a.name}:${a.result}`);
    expect(changed).toContain(`ConfigMap/${n.pdConfigMap}:configured`);
    expect(changed).toEqual(
      expect.arrayContaining([`ConfigMap/${n.tikvConfigMap}:created`, `Service/${n.tikvPeerService}:created`, `StatefulSet/${n.tikvStatefulSet}:created`]),
    );
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(3);
    expect(w.status?.pd?.bootstrapped).toBe(true);
    expect(w.status?.clusterID).toBe(w.pd.clusterID);
    expect(w.status?.pd?.members?.map((m) => m.name)).toEqual(['basic-pd-0', 'basic-pd-1', 'basic-pd-2']);
    expect(w.events.reasons().filter((r) => r === 'PDBootstrapped')).toHaveLength(1);

    await w.reconcile();
    expect(w.events.reasons().filter((r) => r === 'PDBootstrapped')).toHaveLength(1);
  });

  it('does not bootstrap while only some initial members are healthy', async () => {
    const w = new World();
    await w.reconcile();
    w.pd.healthyMembers(3);
    w.pd.memberList[2]!.health = false;
    await w.reconcile();
    expect(pdData(w)[PD_BOOTSTRAPPED_KEY]).toBe('false');
    expect(tikvObjects(w)).toEqual([]);
    expect(w.status?.pd?.bootstrapped).toBe(false);
  });

  it('keeps the initial member count when spec.pd.replicas is raised before bootstrap', async () => {
    const w = new World();
    await w.reconcile();
    w.store.editSpec((s) => {
      s.pd = { replicas: 5 };
    });
    await w.reconcile();
    expect(replicasOf(w, n.pdStatefulSet)).toBe(3);
    expect(initialMembers(w)).toEqual(['basic-pd-0', 'basic-pd-1', 'basic-pd-2']);

    // PD answers, but not all initial members are healthy yet: still 3
    w.pd.healthyMembers(3);
    w.pd.memberList[1]!.health = false;
    await w.reconcile();
    expect(replicasOf(w, n.pdStatefulSet)).toBe(3);
    expect(initialMembers(w)).toEqual(['basic-pd-0', 'basic-pd-1', 'basic-pd-2']);

    // bootstrapped: the new members join
    w.pd.memberList[1]!.health = true;
    await w.reconcile();
    expect(pdData(w)[PD_BOOTSTRAPPED_KEY]).toBe('true');
    expect(replicasOf(w, n.pdStatefulSet)).toBe(5);
  });

  it('creates TiKV once the bootstrapped PD has a quorum of its members, even if more PD replicas are still to come', async () => {
    const w = new World();
    await w.reconcile();
    w.store.editSpec((s) => {
      s.pd = { replicas: 7 };
    });
    w.pd.healthyMembers(3);
    w.store.rollOut(n.pdStatefulSet);
    await w.reconcile();
    expect(pdData(w)[PD_BOOTSTRAPPED_KEY]).toBe('true');
    expect(replicasOf(w, n.pdStatefulSet)).toBe(7);
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(3);
    // the condition tells the same story as the gate
    expect(w.condition('PDAvailable')).toMatchObject({ status: 'True', reason: 'QuorumHealthy' });
  });
});

describe('a cluster at rest', () => {
  it('is Ready and Running with members, stores and the steady requeue', async () => {
    const w = await World.atRest();
    expect(w.condition('Ready')).toMatchObject({ status: 'True', reason: 'ClusterReady' });
    expect(w.status?.phase).toBe('Running');
    expect(w.status?.tikv?.stores?.map((s) => `${s.id}:${s.podName}:${s.state}`)).toEqual(['1:basic-tikv-0:Up', '2:basic-tikv-1:Up', '3:basic-tikv-2:Up']);
    expect(w.status?.tikv?.selector).toContain(`${LABELS.instance}=${NAME}`);
    expect(w.events.reasons()).toContain('ClusterReady');
    expect((await w.reconcile()).requeueAfterMs).toBe(STEADY_MS);
  });

  it('makes zero changing applies and zero status writes, even as per-store counters move', async () => {
    const w = await World.atRest();
    const done = w.mark();
    for (let i = 0; i < 8; i++) {
      w.advance(30_000);
      w.pd.heartbeat();
      await w.reconcile();
    }
    const d = done();
    expect(d.applyCalls).toBeGreaterThan(0);
    expect(d.changedApplies).toEqual([]);
    expect(d.statusWrites).toBe(0);
    expect(d.events).toEqual([]);
    expect(d.pdWrites).toEqual([]);
  });

  it('refreshes the per-store counters once after five minutes', async () => {
    const w = await World.atRest();
    const before = w.status?.tikv?.stores?.[0]?.leaderCount;
    const done = w.mark();
    for (let i = 0; i < 11; i++) {
      w.advance(30_000);
      w.pd.heartbeat();
      await w.reconcile();
    }
    expect(done().statusWrites).toBe(1);
    expect(w.status?.tikv?.stores?.[0]?.leaderCount).toBeGreaterThan(before ?? Number.POSITIVE_INFINITY);
    expect(done().changedApplies).toEqual([]);
    expect(done().events).toEqual([]);
  });

  it('makes no write after an operator restart either', async () => {
    const w = await World.atRest();
    w.advance(MINUTE);
    w.pd.heartbeat();
    w.restart();
    const done = w.mark();
    await w.reconcile();
    expect(done()).toMatchObject({ changedApplies: [], statusWrites: 0, events: [], pdWrites: [] });
  });
});

describe('store health', () => {
  it('logs what it announces: a store going Disconnected is a warning line with the Event\'s words', async () => {
    const w = await World.atRest();
    const lines: Array<Record<string, unknown>> = [];
    w.advance(40_000);
    w.pd.setStoreState(2, 'Disconnected');
    await w.reconciler.reconcile(KEY, recordingLog(lines));
    expect(lines.filter((l) => l.reason === 'StoreStateChanged')).toEqual([
      expect.objectContaining({ level: 'warn', step: 'status', msg: 'store 3 (basic-tikv-2) is Disconnected (was Up)' }),
    ]);
    w.pd.setStoreState(2, 'Up');
    await w.reconciler.reconcile(KEY, recordingLog(lines));
    expect(lines.filter((l) => l.reason === 'StoreStateChanged').map((l) => l.level)).toEqual(['warn', 'info']);
  });

  it('reports a Disconnected store: state, a Warning event, Degraded with the store id and pod', async () => {
    const w = await World.atRest();
    const done = w.mark();
    w.advance(40_000);
    w.pd.setStoreState(2, 'Disconnected');
    const result = await w.reconcile();

    expect(w.status?.tikv?.stores?.find((s) => s.podName === 'basic-tikv-2')?.state).toBe('Disconnected');
    const events = done().events;
    expect(events.filter((e) => e.reason === 'StoreStateChanged')).toEqual([
      expect.objectContaining({ type: 'Warning', message: 'store 3 (basic-tikv-2) is Disconnected (was Up)' }),
    ]);
    expect(events.filter((e) => e.reason === 'StoreNotUp')).toEqual([
      expect.objectContaining({ type: 'Warning', message: expect.stringContaining("store 3 (basic-tikv-2) is Disconnected: PD's last heartbeat from it was at 2025-08-19T10:00:00Z") }),
    ]);
    expect(events.every((e) => e.type === 'Warning')).toBe(true);
    expect(w.condition('Degraded')).toMatchObject({ status: 'True', reason: 'StoreNotUp' });
    expect(w.condition('Degraded')?.message).toContain('store 3 (basic-tikv-2) is Disconnected');
    expect(w.condition('Ready')?.status).toBe('False');
    expect(w.status?.phase).toBe('Degraded');
    expect(result.requeueAfterMs).toBe(BUSY_MS);
    expect(done().changedApplies).toEqual([]);

    // the store comes back: one Normal event, not degraded any more
    const back = w.mark();
    w.pd.setStoreState(2, 'Up');
    await w.reconcile();
    expect(back().events.map((e) => `${e.type}/${e.reason}`)).toEqual(['Normal/ClusterReady', 'Normal/StoreStateChanged']);
    expect(w.condition('Degraded')?.status).toBe('False');
  });
});

describe('PD unreachable after being healthy', () => {
  it('touches no member, store or replica count, leaves TiKV alone and keeps what PD said last', async () => {
    const w = await World.atRest(3, 4);
    const tikvBefore = structuredClone(tikvObjects(w));
    const members = structuredClone(w.status?.pd?.members);
    const stores = structuredClone(w.status?.tikv?.stores);

    w.pd.reachable = false;
    w.store.editSpec((s) => {
      s.pd = { replicas: 1 };
      s.tikv = { replicas: 3, config: { raftstore: { 'store-pool-size': 3 } } };
    });
    const done = w.mark();
    await w.reconcile();
    await w.reconcile();

    expect(done().pdWrites).toEqual([]);
    expect(w.pd.writes).toEqual([]);
    expect(replicasOf(w, n.pdStatefulSet)).toBe(3);
    expect(tikvObjects(w)).toEqual(tikvBefore);
    for (const type of ['Ready', 'PDAvailable', 'TiKVAvailable', 'Degraded']) {
      expect(w.condition(type)).toMatchObject({ status: 'Unknown', reason: 'PDUnreachable' });
    }
    expect(w.condition('Progressing')?.status).toBe('True');
    expect(w.status?.pd?.members).toEqual(members);
    expect(w.status?.tikv?.stores).toEqual(stores);
    expect(w.status?.clusterID).toBe(w.pd.clusterID);
    expect(w.status?.observedGeneration).toBe(w.store.clusters.get(KEY)?.metadata.generation);
    expect(done().events.filter((e) => e.reason === 'PDUnreachable')).toHaveLength(1);
  });
});

describe('PD without a quorum of its members', () => {
  it('leaves TiKV alone even when spec.pd.replicas is small enough to make the few healthy look like a quorum', async () => {
    const w = await World.atRest(5, 3);
    const tikvBefore = structuredClone(tikvObjects(w));
    for (const i of [2, 3, 4]) w.pd.memberList[i]!.health = false;
    w.store.editSpec((s) => {
      s.pd = { replicas: 1 };
      s.tikv = { replicas: 4 };
    });
    await w.reconcile();
    expect(tikvObjects(w)).toEqual(tikvBefore);
    expect(replicasOf(w, n.pdStatefulSet)).toBe(5);
    expect(w.pd.writes).toEqual([]);
    expect(w.condition('PDAvailable')).toMatchObject({ status: 'False', reason: 'QuorumNotHealthy' });
    expect(w.condition('PDAvailable')?.message).toContain('only 2 of 5 PD members are healthy and PD needs 3');
  });
});

describe('TiKV scale-in', () => {
  it('takes the highest store offline, keeps the pod until PD makes it a Tombstone, then drops it', async () => {
    const w = await World.atRest(3, 4);
    w.store.editSpec((s) => {
      s.tikv = { replicas: 3 };
    });

    await w.reconcile();
    expect(w.pd.writes).toEqual(['deleteStore 4']);
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
    expect(w.events.events.filter((e) => e.reason === 'StoreOffline')).toHaveLength(1);
    // an intended removal is not a warning
    await w.reconcile();
    expect(w.events.events.filter((e) => e.reason === 'StoreStateChanged' && e.message.includes('Offline'))).toEqual([
      expect.objectContaining({ type: 'Normal', message: 'store 4 (basic-tikv-3) is Offline (was Up)' }),
    ]);

    // PD moves the regions: the store stays Offline for a while
    for (let i = 0; i < 3; i++) {
      w.advance(3_000);
      await w.reconcile();
      expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
      expect(w.condition('Progressing')).toMatchObject({ status: 'True', reason: 'StoreOffline' });
      expect(w.condition('Progressing')?.message).toContain('store 4 (basic-tikv-3)');
    }
    expect(w.pd.writes).toEqual(['deleteStore 4']);
    expect(w.status?.tikv?.stores?.find((s) => s.id === '4')?.state).toBe('Offline');
    expect(w.condition('Degraded')?.status).toBe('False');

    w.pd.setStoreState(3, 'Tombstone');
    await w.reconcile();
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(3);
    w.store.rollOut(n.tikvStatefulSet);
    await w.settle();
    expect(w.pd.writes).toEqual(['deleteStore 4']);
    expect(w.condition('Ready')?.status).toBe('True');
    expect(w.status?.tikv?.stores?.find((s) => s.id === '4')?.state).toBe('Tombstone');
  });

  it('keeps the Progressing condition (and status) still while the store stays Offline', async () => {
    const w = await World.atRest(3, 4);
    w.store.editSpec((s) => {
      s.tikv = { replicas: 3 };
    });
    await w.reconcile();
    await w.reconcile();
    const since = w.condition('Progressing')?.lastTransitionTime;
    const done = w.mark();
    w.advance(MINUTE);
    await w.reconcile();
    expect(done().statusWrites).toBe(0);
    expect(w.condition('Progressing')?.lastTransitionTime).toBe(since);
  });

  it('will not take a store offline when fewer than max-replicas Up stores would remain', async () => {
    const w = await World.atRest(3, 3);
    w.store.editSpec((s) => {
      s.tikv = { replicas: 2 };
    });
    await w.reconcile();
    await w.reconcile();
    expect(w.pd.writes).toEqual([]);
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(3);
    const progressing = w.condition('Progressing');
    expect(progressing).toMatchObject({ status: 'True', reason: 'ScaleInBlocked' });
    expect(progressing?.message).toContain("fewer than PD's max-replicas 3");
    expect(progressing?.message).toContain('keep spec.tikv.replicas at 3, or lower PD\'s max-replicas at run time (pd-ctl config set max-replicas N');
  });

  it('counts only Up stores against max-replicas', async () => {
    const w = await World.atRest(3, 4);
    w.pd.setStoreState(1, 'Disconnected');
    w.store.editSpec((s) => {
      s.tikv = { replicas: 3 };
    });
    await w.reconcile();
    expect(w.pd.writes).toEqual([]);
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
    expect(w.condition('Progressing')?.reason).toBe('ScaleInBlocked');
  });

  it('waits, touching nothing, while PD answers but cannot list the stores', async () => {
    const w = await World.atRest(3, 4);
    w.pd.storesError = new Error('GET /pd/api/v1/stores failed: 503 Service Unavailable');
    w.store.editSpec((s) => {
      s.tikv = { replicas: 3 };
    });
    await w.reconcile();
    expect(w.pd.writes).toEqual([]);
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
    expect(w.condition('Progressing')).toMatchObject({ status: 'True', reason: 'ScaleInWaitingForPD' });
    expect(w.condition('Ready')).toMatchObject({ status: 'Unknown', reason: 'StoresUnknown' });
    expect(w.status?.tikv?.stores).toHaveLength(4);
  });

  it('keeps the pod when PD refuses the offline request, and says why', async () => {
    const w = await World.atRest(3, 4);
    w.pd.deleteStore = async (id) => {
      w.pd.writes.push(`deleteStore ${id}`);
      throw new Error('DELETE /pd/api/v1/store/4 failed: 400 stores not enough');
    };
    w.store.editSpec((s) => {
      s.tikv = { replicas: 3 };
    });
    await w.reconcile();
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
    expect(w.condition('Progressing')).toMatchObject({ status: 'True', reason: 'ScaleInFailed' });
    expect(w.condition('Progressing')?.message).toContain('stores not enough');
  });
});

describe('cancelling a TiKV scale-in', () => {
  async function offlineStore4(): Promise<World> {
    const w = await World.atRest(3, 4);
    w.store.editSpec((s) => {
      s.tikv = { replicas: 3 };
    });
    await w.reconcile();
    expect(w.pd.store(3).state).toBe('Offline');
    return w;
  }

  it('puts the Offline store back Up when replicas are raised again, and keeps the pod', async () => {
    const w = await offlineStore4();
    w.store.editSpec((s) => {
      s.tikv = { replicas: 4 };
    });
    await w.reconcile();

    expect(w.pd.writes).toEqual(['deleteStore 4', 'cancelStoreRemoval 4']);
    expect(w.pd.store(3).state).toBe('Up');
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
    expect(w.events.events.filter((e) => e.reason === 'StoreRemovalCancelled')).toEqual([
      expect.objectContaining({ type: 'Normal', message: expect.stringContaining('store 4 (basic-tikv-3)') }),
    ]);
    await w.settle();
    expect(w.pd.writes).toHaveLength(2);
    expect(w.claims.deletes).toEqual([]);
    expect(w.status?.tikv?.stores?.find((s) => s.id === '4')?.state).toBe('Up');
    expect(w.condition('Ready')?.status).toBe('True');
  });

  it('cancels nothing while PD cannot list the stores', async () => {
    const w = await offlineStore4();
    w.pd.storesError = new Error('GET /pd/api/v1/stores failed: 503 Service Unavailable');
    w.store.editSpec((s) => {
      s.tikv = { replicas: 4 };
    });
    await w.reconcile();
    await w.reconcile();
    expect(w.pd.writes).toEqual(['deleteStore 4']);
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
  });

  it('says so when PD refuses (the store became a Tombstone first)', async () => {
    const w = await offlineStore4();
    w.store.editSpec((s) => {
      s.tikv = { replicas: 4 };
    });
    w.pd.cancelStoreRemoval = async (id) => {
      w.pd.writes.push(`cancelStoreRemoval ${id}`);
      throw new Error(`POST /pd/api/v1/store/${id}/state failed: 400 store ${id} has been removed`);
    };
    await w.reconcile();
    expect(w.condition('Progressing')).toMatchObject({ status: 'True', reason: 'ScaleInFailed' });
    expect(w.condition('Progressing')?.message).toContain('has been removed');
    expect(w.events.reasons()).not.toContain('StoreRemovalCancelled');
  });
});

describe('TiKV scale-out over a leftover PVC', () => {
  const pvc3 = 'tikv-basic-tikv-3';

  /** 4 stores, scaled in to 3: store 4 a Tombstone, its pod gone, its PVC retained. */
  async function tombstonedOrdinal3(): Promise<World> {
    const w = await tombstonedStore3();
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(3);
    w.store.rollOut(n.tikvStatefulSet);
    await w.settle();
    expect(w.store.pvcs.has(pvc3)).toBe(true);
    return w;
  }

  const scaleTo = (w: World, replicas: number) =>
    w.store.editSpec((s) => {
      s.tikv = { replicas };
    });

  it('deletes the PVC of the tombstoned store, waits until it is gone, then scales out; a new store comes Up', async () => {
    const w = await tombstonedOrdinal3();
    scaleTo(w, 4);
    await w.reconcile();
    expect(w.claims.deletes).toEqual([pvc3]);
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(3);
    expect(w.events.events.filter((e) => e.reason === 'PVCDeleted')).toEqual([
      expect.objectContaining({ type: 'Normal', message: expect.stringContaining('store 4 of basic-tikv-3 is a Tombstone') }),
    ]);
    expect(w.condition('Progressing')).toMatchObject({ status: 'True', reason: 'ScaleOutWaitingForPVC' });
    expect(w.condition('Progressing')?.message).toContain(pvc3);

    await w.reconcile();
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
    w.store.rollOut(n.tikvStatefulSet);
    w.pd.storeList?.push(w.pd.makeStore('5', 3));
    await w.settle();
    expect(w.claims.deletes).toEqual([pvc3]);
    expect(w.store.pvcs.has(pvc3)).toBe(true);
    const ordinal3 = w.status?.tikv?.stores?.filter((s) => s.podName === 'basic-tikv-3').map((s) => `${s.id}:${s.state}`);
    expect(ordinal3).toEqual(['4:Tombstone', '5:Up']);
    expect(w.condition('Ready')?.status).toBe('True');
  });

  it('waits while a PVC being deleted is still held by its pod, deleting it once', async () => {
    const w = await World.atRest(3, 4);
    scaleTo(w, 3);
    await w.reconcile();
    w.pd.setStoreState(3, 'Tombstone');
    await w.reconcile();
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(3);
    // pod basic-tikv-3 is still terminating (no rollOut yet) when replicas go back up
    scaleTo(w, 4);
    await w.reconcile();
    await w.reconcile();
    expect(w.claims.deletes).toEqual([pvc3]);
    expect(w.store.pvcs.get(pvc3)?.deleting).toBe(true);
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(3);
    expect(w.condition('Progressing')?.message).toContain(`old PVC ${pvc3} is being deleted`);

    w.store.rollOut(n.tikvStatefulSet);
    await w.reconcile();
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
    expect(w.claims.deletes).toEqual([pvc3]);
  });

  it('keeps a PVC whose store PD still counts, and one PD has no record of, and says what waits', async () => {
    const w = await World.atRest(3, 3);
    w.store.pvcs.set(pvc3, { name: pvc3, uid: 'u3', deleting: false });
    w.pd.storeList?.push(w.pd.makeStore('9', 3, 'Down'));
    scaleTo(w, 4);
    await w.reconcile();
    await w.reconcile();
    expect(w.claims.deletes).toEqual([]);
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(3);
    expect(w.condition('Progressing')).toMatchObject({ status: 'True', reason: 'ScaleOutWaitingForPVC' });
    expect(w.condition('Progressing')?.message).toContain('store 9, which PD lists as Down');

    w.pd.storeList = w.pd.storeList?.filter((s) => s.id !== '9');
    await w.reconcile();
    expect(w.claims.deletes).toEqual([]);
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(3);
    expect(w.condition('Progressing')?.message).toContain('PD has no store at its address');
  });

  it('deletes nothing while PD cannot list the stores', async () => {
    const w = await tombstonedOrdinal3();
    w.pd.storesError = new Error('GET /pd/api/v1/stores failed: 503 Service Unavailable');
    scaleTo(w, 4);
    await w.reconcile();
    expect(w.claims.deletes).toEqual([]);
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(3);
    expect(w.condition('Progressing')?.message).toContain('503 Service Unavailable');
  });

  it('does not delete a PVC a lagging cache makes look unused', async () => {
    const w = await tombstonedOrdinal3();
    scaleTo(w, 4);
    // the API server already has 4 replicas (and pod 3 on the PVC); the cache says 3
    w.claims.apiReplicas.set(n.tikvStatefulSet, 4);
    await w.reconcile();
    expect(w.claims.deletes).toEqual([]);
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(4);
    expect(w.condition('Progressing')?.reason).toBe('ScaleOutWaitingForCache');
  });

  it('holds the scale-out and says why when the delete fails', async () => {
    const w = await tombstonedOrdinal3();
    w.claims.failDelete = new Error('persistentvolumeclaims "tikv-basic-tikv-3" is forbidden');
    scaleTo(w, 4);
    await w.reconcile();
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(3);
    expect(w.condition('Progressing')).toMatchObject({ status: 'True', reason: 'ScaleOutFailed' });
    expect(w.condition('Progressing')?.message).toContain('forbidden');
    expect(w.events.reasons()).not.toContain('PVCDeleted');
  });

  it('scales out at once when no PVC is left over, and reads PVCs only while a scale-out is planned', async () => {
    const w = await World.atRest(3, 3);
    await w.settle();
    expect(w.claims.reads).toBe(0);
    scaleTo(w, 5);
    await w.reconcile();
    expect(replicasOf(w, n.tikvStatefulSet)).toBe(5);
    expect(w.claims.reads).toBe(2);
    expect(w.claims.deletes).toEqual([]);
  });

  it('never looks at PVCs when the StatefulSet is created: an earlier cluster of the same name left them for its user', async () => {
    const w = new World();
    w.store.pvcs.set('pd-basic-pd-0', { name: 'pd-basic-pd-0', uid: 'old', deleting: false });
    await w.bringUp(3, 3);
    expect(w.claims.reads).toBe(0);
    expect(replicasOf(w, n.pdStatefulSet)).toBe(3);
    expect(w.store.pvcs.get('pd-basic-pd-0')?.uid).toBe('old');
  });
});

describe('PD scale-out over leftover PVCs', () => {
  /** 5 members scaled in to 3: members 3 and 4 removed from PD, pods gone, PVCs kept. */
  async function removedMembers(): Promise<World> {
    const w = await World.atRest(5, 3);
    w.store.editSpec((s) => {
      s.pd = { replicas: 3 };
    });
    for (let i = 0; i < 6 && replicasOf(w, n.pdStatefulSet) !== 3; i++) await w.reconcile();
    expect(replicasOf(w, n.pdStatefulSet)).toBe(3);
    w.store.rollOut(n.pdStatefulSet);
    await w.settle();
    expect([...w.store.pvcs.keys()]).toEqual(expect.arrayContaining(['pd-basic-pd-3', 'pd-basic-pd-4']));
    return w;
  }

  it('deletes the PVC of each removed member, one per reconcile, before the ordinal comes back', async () => {
    const w = await removedMembers();
    w.store.editSpec((s) => {
      s.pd = { replicas: 5 };
    });
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) {
      await w.reconcile();
      seen.push(replicasOf(w, n.pdStatefulSet) ?? 0);
    }
    expect(w.claims.deletes).toEqual(['pd-basic-pd-3', 'pd-basic-pd-4']);
    expect(seen).toEqual([3, 4, 5, 5]);
    expect(w.events.events.filter((e) => e.reason === 'PVCDeleted').map((e) => e.message)).toEqual([
      expect.stringContaining('basic-pd-3 is not a member of PD'),
      expect.stringContaining('basic-pd-4 is not a member of PD'),
    ]);
  });

  it('deletes nothing and keeps the count while PD is unreachable', async () => {
    const w = await removedMembers();
    w.pd.reachable = false;
    w.store.editSpec((s) => {
      s.pd = { replicas: 5 };
    });
    await w.reconcile();
    await w.reconcile();
    expect(w.claims.deletes).toEqual([]);
    expect(replicasOf(w, n.pdStatefulSet)).toBe(3);
    expect(w.condition('Progressing')?.message).toContain('pd-basic-pd-3');
    expect(w.condition('Progressing')?.message).toContain('PD is unreachable');
  });

  it('keeps the PVC of a member PD still lists', async () => {
    const w = await removedMembers();
    w.pd.memberList.push({ name: 'basic-pd-3', id: '42', health: false });
    w.store.editSpec((s) => {
      s.pd = { replicas: 5 };
    });
    await w.reconcile();
    expect(w.claims.deletes).toEqual([]);
    expect(replicasOf(w, n.pdStatefulSet)).toBe(3);
    expect(w.condition('Progressing')?.message).toContain('PD still lists member basic-pd-3');
  });
});

describe('PD scale-in', () => {
  it('goes one member at a time: leader away, member removed, then the pod', async () => {
    const w = await World.atRest(5, 3);
    w.pd.leaderName = 'basic-pd-4';
    w.store.editSpec((s) => {
      s.pd = { replicas: 3 };
    });

    await w.reconcile();
    expect(w.pd.writes).toEqual(['transferLeader basic-pd-0']);
    expect(replicasOf(w, n.pdStatefulSet)).toBe(5);
    expect(w.condition('Progressing')).toMatchObject({ status: 'True', reason: 'TransferringPDLeader' });

    await w.reconcile();
    expect(w.pd.writes).toEqual(['transferLeader basic-pd-0', 'deleteMember basic-pd-4']);
    expect(replicasOf(w, n.pdStatefulSet)).toBe(5);
    expect(w.events.reasons()).toContain('PDMemberRemoved');

    // PD becomes unreachable between the steps: nothing shrinks
    w.pd.reachable = false;
    await w.reconcile();
    expect(replicasOf(w, n.pdStatefulSet)).toBe(5);
    expect(w.condition('Progressing')?.message).toContain('PD is unreachable');
    w.pd.reachable = true;

    await w.reconcile();
    expect(replicasOf(w, n.pdStatefulSet)).toBe(4);
    expect(w.pd.writes).toHaveLength(2);

    await w.reconcile();
    expect(w.pd.writes).toEqual(['transferLeader basic-pd-0', 'deleteMember basic-pd-4', 'deleteMember basic-pd-3']);
    expect(replicasOf(w, n.pdStatefulSet)).toBe(4);
    await w.reconcile();
    expect(replicasOf(w, n.pdStatefulSet)).toBe(3);
    w.store.rollOut(n.pdStatefulSet);
    await w.settle();
    expect(w.pd.writes).toHaveLength(3);
    expect(w.condition('Ready')?.status).toBe('True');
    expect(w.status?.pd?.members?.map((m) => m.name)).toEqual(['basic-pd-0', 'basic-pd-1', 'basic-pd-2']);
  });

  it('will not remove a member when the rest would lose their quorum', async () => {
    const w = await World.atRest(5, 3);
    w.pd.memberList[1]!.health = false;
    w.pd.memberList[2]!.health = false;
    w.store.editSpec((s) => {
      s.pd = { replicas: 3 };
    });
    await w.reconcile();
    expect(w.pd.writes).toEqual([]);
    expect(replicasOf(w, n.pdStatefulSet)).toBe(5);
    expect(w.condition('Progressing')).toMatchObject({ status: 'True', reason: 'ScaleInBlocked' });
  });
});

describe('paused', () => {
  it('applies nothing for a new cluster but still writes status', async () => {
    const w = new World(basicCluster({ paused: true }));
    const result = await w.reconcile();
    expect(w.applies).toEqual([]);
    expect(w.store.objects.size).toBe(0);
    expect(w.statusWrites).toHaveLength(1);
    expect(w.status?.phase).toBe('Paused');
    expect(w.condition('Progressing')).toMatchObject({ status: 'False', reason: 'Paused' });
    expect(result.requeueAfterMs).toBeGreaterThan(0);
  });

  it('leaves a running cluster alone (no apply, no PD write) while status follows PD', async () => {
    const w = await World.atRest(3, 4);
    w.store.editSpec((s) => {
      s.paused = true;
      s.tikv = { replicas: 3, config: { raftstore: { 'store-pool-size': 3 } } };
      s.pd = { replicas: 1 };
    });
    const done = w.mark();
    await w.reconcile();
    w.pd.setStoreState(0, 'Disconnected');
    await w.reconcile();
    expect(done().applyCalls).toBe(0);
    expect(done().pdWrites).toEqual([]);
    expect(w.status?.phase).toBe('Paused');
    expect(w.status?.tikv?.stores?.find((s) => s.podName === 'basic-tikv-0')?.state).toBe('Disconnected');
  });
});

describe('an invalid spec', () => {
  it.each([
    ['replicas 0', { pd: { replicas: 0 } }, 'spec.pd.replicas'],
    ['an unknown field', { tikv: { replicas: 3, storageSize: '10Gi' } }, 'spec.tikv'],
    ['a config TOML cannot hold', { tikv: { config: { a: null } } }, 'spec.tikv.config.a'],
  ])('%s: no applies, Ready False InvalidSpec naming the field, phase Invalid', async (_, spec, path) => {
    const w = new World(basicCluster(spec));
    const result = await w.reconcile();
    expect(w.applies).toEqual([]);
    expect(w.pd.resolved).toBe(0);
    expect(w.condition('Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(w.condition('Ready')?.message).toContain(path);
    expect(w.status?.phase).toBe('Invalid');
    expect(result).toEqual({});
    expect(w.events.events.filter((e) => e.reason === 'InvalidSpec')).toHaveLength(1);

    await w.reconcile();
    expect(w.statusWrites).toHaveLength(1);
    expect(w.events.events).toHaveLength(1);
  });

  it('names the unknown field', async () => {
    const w = new World(basicCluster({ tikv: { replicas: 3, storageSize: '10Gi' } }));
    await w.reconcile();
    expect(w.condition('Ready')?.message).toContain('storageSize');
  });

  it('emits exactly one InvalidSpec event whether the cluster was Ready or not', async () => {
    const ready = await World.atRest();
    ready.store.editSpec((s) => {
      s.pd = { replicas: 0 };
    });
    const a = ready.mark();
    await ready.reconcile();
    expect(a().events.map((e) => e.reason)).toEqual(['InvalidSpec']);

    const notReady = new World();
    await notReady.reconcile();
    notReady.pd.healthyMembers(3);
    await notReady.reconcile();
    expect(notReady.condition('Ready')?.status).toBe('False');
    notReady.store.editSpec((s) => {
      s.tikv = { replicas: -1 };
    });
    const b = notReady.mark();
    await notReady.reconcile();
    expect(b().events.map((e) => e.reason)).toEqual(['InvalidSpec']);
  });

  it('recovers when the spec is fixed', async () => {
    const w = new World(basicCluster({ pd: { replicas: 0 } }));
    await w.reconcile();
    w.store.editSpec((s) => {
      s.pd = { replicas: 3 };
    });
    await w.reconcile();
    expect(w.store.get('StatefulSet', n.pdStatefulSet)).toBeDefined();
    expect(w.condition('Ready')?.reason).not.toBe('InvalidSpec');
    expect(['Pending', 'Bootstrapping']).toContain(w.status?.phase);
  });

  it('judges the spec only: a stale status value does not block reconciling', async () => {
    const w = new World();
    const c = w.store.clusters.get(KEY)!;
    c.status = { phase: 'Scaling' } as never;
    await w.reconcile();
    expect(w.store.get('StatefulSet', n.pdStatefulSet)).toBeDefined();
    expect(w.status?.phase).not.toBe('Invalid');
  });
});

describe('deleted clusters', () => {
  it('does nothing for a cluster that is gone', async () => {
    const w = new World(null);
    expect(await w.reconcile()).toEqual({});
    expect(await w.reconcile(`${NS}/other`)).toEqual({});
    expect(w.applies).toEqual([]);
    expect(w.statusWrites).toEqual([]);
    expect(w.events.events).toEqual([]);
    expect(w.pd.resolved).toBe(0);
  });

  it('does nothing for a cluster being deleted', async () => {
    const w = await World.atRest();
    w.store.clusters.get(KEY)!.metadata.deletionTimestamp = '2025-08-19T11:00:00Z';
    w.pd.setStoreState(0, 'Down');
    w.store.editSpec((s) => {
      s.tikv = { replicas: 1 };
    });
    const done = w.mark();
    expect(await w.reconcile()).toEqual({});
    expect(done()).toEqual({ changedApplies: [], applyCalls: 0, statusWrites: 0, events: [], pdWrites: [], pvcDeletes: [] });
  });
});

describe('status writes and events', () => {
  it('does not repeat a write or its events when the cache has not caught up with it yet', async () => {
    const w = await World.atRest();
    w.statusReachesCache = false;
    w.pd.setStoreState(1, 'Disconnected');
    await w.reconcile();
    const delta = w.mark();
    await w.reconcile();
    expect(delta().events).toEqual([]);
    expect(delta().statusWrites).toBe(0);
  });

  it('emits the events of a transition only once the status write succeeded', async () => {
    const w = await World.atRest();
    w.pd.setStoreState(1, 'Disconnected');
    w.failStatusWrites = 1;
    await expect(w.reconcile()).rejects.toThrow('Conflict');
    expect(w.events.events.filter((e) => e.reason === 'StoreStateChanged' && e.type === 'Warning')).toEqual([]);
    await w.reconcile();
    expect(w.events.events.filter((e) => e.reason === 'StoreStateChanged' && e.type === 'Warning')).toHaveLength(1);
  });

  it('addresses events to the TikvCluster', async () => {
    const w = await World.atRest();
    expect(w.events.events[0]?.target).toEqual({ apiVersion: API_VERSION, kind: KIND, name: NAME, namespace: NS, uid: UID });
  });
});

describe('an object the apiserver refuses', () => {
  it('still writes status naming the object, warns once, applies the rest, and fails the reconcile for a retry', async () => {
    const w = new World();
    w.rejectApply = (o) => (o.kind === 'Service' && o.metadata.name === n.pdPeerService ? 'admission webhook "quota" denied the request' : undefined);
    await expect(w.reconcile()).rejects.toThrow(/apply failed: Service\/basic-pd-peer: admission webhook "quota" denied/);
    expect(w.store.get('StatefulSet', n.pdStatefulSet)).toBeDefined();
    expect(w.condition('Progressing')).toMatchObject({ status: 'True', reason: 'ApplyFailed' });
    expect(w.condition('Progressing')?.message).toContain('Service/basic-pd-peer');
    await expect(w.reconcile()).rejects.toThrow(/apply failed/);
    expect(w.events.reasons().filter((r) => r === 'ApplyFailed')).toHaveLength(1);
    w.rejectApply = () => undefined;
    await w.reconcile();
    expect(w.store.get('Service', n.pdPeerService)).toBeDefined();
    expect(w.condition('Progressing')?.reason).not.toBe('ApplyFailed');
  });
});

describe('per-cluster memory is forgotten with the cluster', () => {
  it('a cluster re-created under the same name with the same refused object gets its ApplyFailed Event again', async () => {
    const w = new World();
    w.rejectApply = (o) => (o.kind === 'Service' && o.metadata.name === n.pdPeerService ? 'admission webhook "quota" denied the request' : undefined);
    await expect(w.reconcile()).rejects.toThrow(/apply failed/);
    expect(w.events.reasons().filter((r) => r === 'ApplyFailed')).toHaveLength(1);
    // kubectl delete tkc basic: the informer drops it, the next reconcile of the key finds nothing.
    w.store.clusters.delete(KEY);
    expect(await w.reconcile()).toEqual({});
    // kubectl apply again: a new object, the same webhook refusal.
    w.store.setCluster(basicCluster());
    await expect(w.reconcile()).rejects.toThrow(/apply failed/);
    expect(w.events.reasons().filter((r) => r === 'ApplyFailed')).toHaveLength(2);
  });
});
