// The conditions in the edge cases where they used to mislead: each condition says one
// thing, once, in words a user acts on. Driven through the reconciler over the fakes, so
// the words are the ones a real pass writes.
import { describe, expect, it } from 'vitest';
import { World } from '../reconcile/fakes.js';

const tikvReplicas = (w: World, n: number) =>
  w.store.editSpec((spec) => {
    (spec.tikv as { replicas: number }).replicas = n;
  });
const conditions = (w: World) => Object.fromEntries((w.status?.conditions ?? []).map((c) => [c.type, `${c.status} ${c.reason}: ${c.message}`]));

describe('a scale-in PD blocks (fewer Up stores than max-replicas would remain)', () => {
  it('is Ready False ScaleInBlocked with the fix, phase Blocked, and Progressing says the details', async () => {
    const w = await World.atRest(3, 3);
    tikvReplicas(w, 2);
    await w.settle();
    const c = conditions(w);
    expect(c.Ready).toBe(
      'False ScaleInBlocked: the TiKV scale-in from 3 to 2 stores is blocked: ' +
        "PD's max-replicas 3 needs more Up stores than would remain; set spec.tikv.replicas back to 3, or lower max-replicas with pd-ctl (see Progressing)",
    );
    expect(w.status?.phase).toBe('Blocked');
    expect(c.Progressing).toMatch(/^True ScaleInBlocked: removing store 3 \(basic-tikv-2\) would leave 2 Up stores, fewer than PD's max-replicas 3; keep spec.tikv.replicas at 3/);
    expect(c.TiKVAvailable).toBe('True AllStoresUp: 3 TiKV stores Up, 2 desired');
    expect(c.Degraded).toMatch(/^False AllHealthy/);
  });

  it('is Ready again, phase Running, once spec.tikv.replicas is set back', async () => {
    const w = await World.atRest(3, 3);
    tikvReplicas(w, 2);
    await w.settle();
    tikvReplicas(w, 3);
    await w.settle();
    expect(w.condition('Ready')).toMatchObject({ status: 'True', reason: 'ClusterReady' });
    expect(w.status?.phase).toBe('Running');
  });
});

describe('every store Down', () => {
  it('counts them once in Ready and TiKVAvailable, details them in Degraded, and promises no re-replication', async () => {
    const w = await World.atRest(3, 3);
    for (const i of [0, 1, 2]) w.pd.setStoreState(i, 'Down');
    await w.reconcile();
    const c = conditions(w);
    expect(c.Ready).toBe('False StoresNotUp: 0 of 3 TiKV stores Up (3 Down: see Degraded)');
    expect(c.TiKVAvailable).toBe('False NoStoresUp: 0 of 3 TiKV stores Up, fewer than the 2 needed to serve every Region (3 Down: see Degraded)');
    expect(c.Degraded).toContain(
      "Store 1 (basic-tikv-0) is Down: PD's last heartbeat from it was at 2025-08-19T10:00:00Z; no store is Up, so PD cannot re-create its Region replicas elsewhere; check the pod basic-tikv-0.",
    );
    expect(c.Degraded).not.toContain('re-creates');
  });

  it('says PD re-creates replicas where it can while other stores are Up', async () => {
    const w = await World.atRest(3, 3);
    w.pd.setStoreState(2, 'Down');
    await w.reconcile();
    expect(w.condition('Degraded')?.message).toBe(
      "store 3 (basic-tikv-2) is Down: PD's last heartbeat from it was at 2025-08-19T10:00:00Z; PD re-creates its Region replicas on the Up stores where it can; check the pod basic-tikv-2",
    );
  });
});

describe('PD unreachable after the cluster ran', () => {
  it('says why in PDAvailable only; Ready, TiKVAvailable and Degraded point there', async () => {
    const w = await World.atRest(3, 3);
    w.pd.reachable = false;
    await w.reconcile();
    const c = conditions(w);
    expect(c.PDAvailable).toMatch(
      /^Unknown PDUnreachable: PD is unreachable: GET \/pd\/api\/v1\/health failed: .*ECONNREFUSED 10.96.0.10:2379; the operator will not change PD members or stores until it can reach PD$/,
    );
    expect(c.Ready).toBe('Unknown PDUnreachable: PD is unreachable (see PDAvailable)');
    expect(c.TiKVAvailable).toBe('Unknown PDUnreachable: the TiKV store states are unknown while PD is unreachable (see PDAvailable)');
    expect(c.Degraded).toBe('Unknown PDUnreachable: whether members or stores are unhealthy is unknown while PD is unreachable (see PDAvailable)');
    const all = Object.values(c).join('\n');
    expect(all.split('ECONNREFUSED').length - 1).toBe(1);
  });
});

describe('a scale-in under way (a store Offline)', () => {
  it('reads as a removal in Ready, with the store details in Progressing', async () => {
    const w = await World.atRest(3, 3);
    tikvReplicas(w, 2);
    w.pd.maxReplicas = 1;
    await w.reconcile();
    await w.reconcile();
    const c = conditions(w);
    expect(c.Ready).toBe('False StoresNotUp: 2 of 2 TiKV stores Up (1 Offline, being removed: see Progressing). Scaling TiKV from 3 to 2 pods.');
    expect(c.Progressing).toMatch(/^True (StoreOffline|RemovingStores): store 3 \(basic-tikv-2\) is Offline/);
  });
});

describe('the ScaleInBlocked Event', () => {
  it('is one Warning with the details, however many passes the block lasts', async () => {
    const w = await World.atRest(3, 3);
    tikvReplicas(w, 2);
    await w.settle();
    await w.reconcile();
    const blocked = w.events.events.filter((e) => e.reason === 'ScaleInBlocked');
    expect(blocked).toEqual([expect.objectContaining({ type: 'Warning', message: expect.stringMatching(/^removing store 3 \(basic-tikv-2\) would leave 2 Up stores/) })]);
    expect(w.events.events.filter((e) => e.reason === 'StoresNotUp')).toEqual([]);
  });
});

describe('Event types: a Warning means trouble', () => {
  const readyLost = (w: World) => w.events.events.filter((e) => ['StoresNotUp', 'RollingOut', 'PDMembersNotReady'].includes(e.reason));

  it('a scale-out the user asked for loses Ready with a Normal Event', async () => {
    const w = await World.atRest(3, 3);
    tikvReplicas(w, 4);
    await w.reconcile();
    expect(w.condition('Ready')?.status).toBe('False');
    expect(readyLost(w)).toEqual([expect.objectContaining({ type: 'Normal' })]);
  });

  it('a roll to a new version loses Ready with a Normal Event', async () => {
    const w = await World.atRest(3, 3);
    w.store.editSpec((spec) => {
      spec.version = 'v8.5.6';
    });
    await w.reconcile();
    expect(w.condition('Ready')?.status).toBe('False');
    expect(readyLost(w)).toEqual([expect.objectContaining({ type: 'Normal' })]);
  });

  it('a store that stops is a Warning', async () => {
    const w = await World.atRest(3, 3);
    w.pd.setStoreState(1, 'Disconnected');
    await w.reconcile();
    expect(readyLost(w)).toEqual([expect.objectContaining({ type: 'Warning', reason: 'StoresNotUp' })]);
  });
});
