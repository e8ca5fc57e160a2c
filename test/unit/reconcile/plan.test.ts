import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tikvAdvertiseAddr, tikvPodName } from '../../../src/api/names.js';
import type { PDMemberStatus, TiKVStoreStatus } from '../../../src/api/v1alpha1.js';
import {
  decidePDClaim,
  decideTiKVClaim,
  initialMemberCount,
  type PDView,
  pdBootstrapped,
  planPDReplicas,
  planTiKVReplicas,
  type StoresView,
} from '../../../src/controller/reconcile/plan.js';

const C = 'basic';
const member = (ordinal: number, health = true): PDMemberStatus => ({ name: `${C}-pd-${ordinal}`, id: `${100 + ordinal}`, health });
const members = (n: number, unhealthy: number[] = []) => Array.from({ length: n }, (_, i) => member(i, !unhealthy.includes(i)));
const store = (ordinal: number, state = 'Up', id = `${ordinal + 1}`): TiKVStoreStatus => ({
  id,
  podName: tikvPodName(C, ordinal),
  address: tikvAdvertiseAddr(C, 'ns', ordinal),
  state,
  regionCount: 12,
});
const stores = (n: number) => Array.from({ length: n }, (_, i) => store(i));

describe('initialMemberCount', () => {
  it('counts name=url entries and says undefined when there is no list', () => {
    expect(initialMemberCount('basic-pd-0=http://a:2380,basic-pd-1=http://b:2380,basic-pd-2=http://c:2380')).toBe(3);
    expect(initialMemberCount('basic-pd-0=http://a:2380')).toBe(1);
    expect(initialMemberCount(undefined)).toBeUndefined();
    expect(initialMemberCount('')).toBeUndefined();
    expect(initialMemberCount('garbage')).toBeUndefined();
  });
});

describe('pdBootstrapped', () => {
  it('needs every initial member healthy', () => {
    expect(pdBootstrapped({ marker: 'false', statusBootstrapped: false, healthyMembers: 3, initialMembers: 3 })).toBe(true);
    expect(pdBootstrapped({ marker: 'false', statusBootstrapped: false, healthyMembers: 2, initialMembers: 3 })).toBe(false);
    expect(pdBootstrapped({ marker: undefined, statusBootstrapped: undefined, healthyMembers: undefined, initialMembers: 1 })).toBe(false);
  });

  it('is sticky once the marker or the status says so, even with PD unreachable', () => {
    expect(pdBootstrapped({ marker: 'true', statusBootstrapped: false, healthyMembers: undefined, initialMembers: 3 })).toBe(true);
    expect(pdBootstrapped({ marker: 'false', statusBootstrapped: true, healthyMembers: 0, initialMembers: 3 })).toBe(true);
  });
});

describe('planPDReplicas', () => {
  const up = (ms: PDMemberStatus[], leader?: string): PDView => ({ reachable: true, members: ms, leader });

  it('scales out at once and creates with the desired count', () => {
    expect(planPDReplicas(C, 5, 3, up(members(3)))).toEqual({ replicas: 5 });
    expect(planPDReplicas(C, 3, undefined, { reachable: false, error: 'x' })).toEqual({ replicas: 3 });
  });

  it('keeps every pod while PD is unreachable and says why', () => {
    const plan = planPDReplicas(C, 3, 5, { reachable: false, error: 'connect ECONNREFUSED' });
    expect(plan.replicas).toBe(5);
    expect(plan.action).toBeUndefined();
    expect(plan.waiting?.reason).toBe('ScaleInWaitingForPD');
    expect(plan.waiting?.message).toContain('connect ECONNREFUSED');
  });

  it('moves leadership off the highest ordinal first, to the lowest healthy other member', () => {
    const plan = planPDReplicas(C, 3, 5, up(members(5, [0]), 'basic-pd-4'));
    expect(plan).toEqual({ replicas: 5, action: { kind: 'transferLeader', from: 'basic-pd-4', to: 'basic-pd-1' } });
  });

  it('removes the highest-ordinal member when it is not the leader, keeping the pod meanwhile', () => {
    expect(planPDReplicas(C, 3, 5, up(members(5), 'basic-pd-0'))).toEqual({ replicas: 5, action: { kind: 'deleteMember', name: 'basic-pd-4' } });
  });

  it('drops the pod only once its member is gone from PD, one ordinal at a time', () => {
    expect(planPDReplicas(C, 3, 5, up(members(4), 'basic-pd-0'))).toEqual({ replicas: 4 });
  });

  it('refuses to remove a member when the rest would have no healthy quorum', () => {
    const plan = planPDReplicas(C, 3, 5, up(members(5, [1, 2]), 'basic-pd-0'));
    expect(plan.replicas).toBe(5);
    expect(plan.action).toBeUndefined();
    expect(plan.waiting).toMatchObject({ reason: 'ScaleInBlocked' });
    expect(plan.waiting?.message).toContain('basic-pd-4');
    expect(plan.waiting?.message).toContain('fix the unhealthy members');
  });
});

describe('planTiKVReplicas', () => {
  const observed = (s: TiKVStoreStatus[], maxReplicas: number | undefined = 3): StoresView => ({ kind: 'Observed', stores: s, maxReplicas });

  it('scales out at once', () => {
    expect(planTiKVReplicas(C, 5, 3, observed(stores(3)))).toEqual({ replicas: 5 });
    expect(planTiKVReplicas(C, 3, undefined, { kind: 'Unknown', error: 'x' })).toEqual({ replicas: 3 });
  });

  it('keeps every pod while PD cannot tell the store states', () => {
    const plan = planTiKVReplicas(C, 3, 4, { kind: 'Unknown', error: 'GET /stores: 503' });
    expect(plan).toMatchObject({ replicas: 4, waiting: { reason: 'ScaleInWaitingForPD' } });
    expect(plan.waiting?.message).toContain('GET /stores: 503');
  });

  it('asks PD to take the highest-ordinal store offline when enough Up stores remain', () => {
    const plan = planTiKVReplicas(C, 3, 4, observed(stores(4)));
    expect(plan).toEqual({ replicas: 4, action: { kind: 'offlineStore', id: '4', podName: 'basic-tikv-3' } });
  });

  it('waits while the store is Offline and drops the pod once it is a Tombstone', () => {
    const offline = [...stores(3), store(3, 'Offline')];
    expect(planTiKVReplicas(C, 3, 4, observed(offline))).toMatchObject({ replicas: 4, waiting: { reason: 'StoreOffline' } });
    expect(planTiKVReplicas(C, 3, 4, observed(offline)).action).toBeUndefined();
    const tombstone = [...stores(3), store(3, 'Tombstone')];
    expect(planTiKVReplicas(C, 3, 4, observed(tombstone))).toEqual({ replicas: 3 });
  });

  it('drops a pod that never registered a store, and any pod before TiKV bootstrapped', () => {
    expect(planTiKVReplicas(C, 3, 4, observed(stores(3)))).toEqual({ replicas: 3 });
    expect(planTiKVReplicas(C, 1, 3, { kind: 'NotBootstrapped' })).toEqual({ replicas: 2 });
  });

  it('looks at the live store of the ordinal, not an old tombstone of the same pod', () => {
    const s = [...stores(3), store(3, 'Tombstone', '9'), store(3, 'Up', '10')];
    expect(planTiKVReplicas(C, 3, 4, observed(s)).action).toEqual({ kind: 'offlineStore', id: '10', podName: 'basic-tikv-3' });
  });

  it('blocks when the other Up stores would be fewer than max-replicas, and says what to do', () => {
    const plan = planTiKVReplicas(C, 2, 3, observed(stores(3), 3));
    expect(plan.replicas).toBe(3);
    expect(plan.action).toBeUndefined();
    expect(plan.waiting?.reason).toBe('ScaleInBlocked');
    expect(plan.waiting?.message).toContain('store 3 (basic-tikv-2)');
    expect(plan.waiting?.message).toContain('max-replicas 3');
    expect(plan.waiting?.message).toContain('keep spec.tikv.replicas at 3, or lower PD\'s max-replicas at run time (pd-ctl config set max-replicas N');
  });

  it('counts only Up stores: a Disconnected one does not hold a replica safely', () => {
    const s = [store(0), store(1, 'Disconnected'), store(2), store(3)];
    expect(planTiKVReplicas(C, 3, 4, observed(s)).waiting?.reason).toBe('ScaleInBlocked');
  });

  it('cancels the removal of a store whose pod is wanted again, while it is still Offline', () => {
    const offline = [...stores(3), store(3, 'Offline')];
    const cancel = { kind: 'cancelStoreRemoval', id: '4', podName: 'basic-tikv-3' };
    expect(planTiKVReplicas(C, 4, 4, observed(offline))).toEqual({ replicas: 4, action: cancel });
    expect(planTiKVReplicas(C, 6, 4, observed(offline))).toEqual({ replicas: 6, action: cancel });
  });

  it('cancels nothing it cannot: a Tombstone, a pod not running, or stores PD cannot list', () => {
    expect(planTiKVReplicas(C, 4, 4, observed([...stores(3), store(3, 'Tombstone')]))).toEqual({ replicas: 4 });
    // ordinal 3 has no pod (live 3): its removal finishes, a scale-out deals with its PVC
    expect(planTiKVReplicas(C, 4, 3, observed([...stores(3), store(3, 'Offline')]))).toEqual({ replicas: 4 });
    expect(planTiKVReplicas(C, 4, 4, { kind: 'Unknown', error: 'x' })).toEqual({ replicas: 4 });
  });

  it('waits when PD did not say max-replicas', () => {
    // (a default parameter would turn an explicit undefined into 3, so the view is spelled out)
    expect(planTiKVReplicas(C, 3, 4, { kind: 'Observed', stores: stores(4) })).toMatchObject({ replicas: 4, waiting: { reason: 'ScaleInWaitingForPD' } });
  });
});

describe('decideTiKVClaim (a leftover PVC before scale-out)', () => {
  const observed = (s: TiKVStoreStatus[]): StoresView => ({ kind: 'Observed', stores: s });

  it('deletes it only for a Tombstone at the pod address with no other store there', () => {
    const d = decideTiKVClaim(C, 3, observed([...stores(3), store(3, 'Tombstone', '4')]));
    expect(d.kind).toBe('delete');
    expect(d.kind === 'delete' && d.reason).toContain('store 4 of basic-tikv-3 is a Tombstone');
  });

  it('keeps it while a store PD still counts lives there, naming the store and what to do', () => {
    const d = decideTiKVClaim(C, 3, observed([...stores(3), store(3, 'Tombstone', '4'), store(3, 'Down', '9')]));
    expect(d).toMatchObject({ kind: 'wait', reason: 'ScaleOutWaitingForPVC' });
    expect(d.kind === 'wait' && d.message).toContain('PVC tikv-basic-tikv-3');
    expect(d.kind === 'wait' && d.message).toContain('store 9, which PD lists as Down');
  });

  it('keeps it without PD positive word: no record, not bootstrapped, stores unknown', () => {
    expect(decideTiKVClaim(C, 3, observed(stores(3)))).toMatchObject({ kind: 'wait', message: expect.stringContaining('PD has no store at its address') });
    expect(decideTiKVClaim(C, 3, { kind: 'NotBootstrapped' }).kind).toBe('wait');
    const unknown = decideTiKVClaim(C, 3, { kind: 'Unknown', error: 'connect ECONNREFUSED' });
    expect(unknown.kind === 'wait' && unknown.message).toContain('connect ECONNREFUSED');
  });

  it('deletes only on a Tombstone-only address (property)', () => {
    const states = fc.constantFrom('Up', 'Disconnected', 'Down', 'Offline', 'Tombstone');
    const entries = fc.array(fc.tuple(fc.integer({ min: 0, max: 4 }), states), { maxLength: 8 });
    fc.assert(
      fc.property(entries, fc.integer({ min: 0, max: 4 }), (es, ordinal) => {
        const s = es.map(([o, st], i) => store(o, st, `${i + 1}`));
        const here = s.filter((x) => x.podName === tikvPodName(C, ordinal));
        const deleted = decideTiKVClaim(C, ordinal, observed(s)).kind === 'delete';
        return deleted === (here.length > 0 && here.every((x) => x.state === 'Tombstone'));
      }),
    );
  });
});

describe('decidePDClaim (a leftover PVC before scale-out)', () => {
  const up = (ms: PDMemberStatus[]): PDView => ({ reachable: true, members: ms });

  it('deletes it when bootstrapped PD lists every member by pod name and not this one', () => {
    const d = decidePDClaim(C, 3, up(members(3)), true);
    expect(d.kind === 'delete' && d.reason).toContain('basic-pd-3 is not a member of PD');
  });

  it('keeps it while PD still lists the member, or a member it cannot name', () => {
    expect(decidePDClaim(C, 3, up(members(4)), true)).toMatchObject({ kind: 'wait', message: expect.stringContaining('PD still lists member basic-pd-3') });
    const unnamed = decidePDClaim(C, 3, up([...members(3), { name: 'unnamed-77', id: '77', health: false }]), true);
    expect(unnamed.kind === 'wait' && unnamed.message).toContain('member 77');
  });

  it('keeps it when PD is unreachable or not bootstrapped', () => {
    const down = decidePDClaim(C, 3, { reachable: false, error: 'i/o timeout' }, true);
    expect(down.kind === 'wait' && down.message).toContain('i/o timeout');
    expect(decidePDClaim(C, 3, up(members(3)), false).kind).toBe('wait');
  });
});

describe('scale-in safety (properties)', () => {
  const states = fc.constantFrom('Up', 'Disconnected', 'Down', 'Offline', 'Tombstone');
  const storeList = fc.array(states, { minLength: 1, maxLength: 7 }).map((ss) => ss.map((s, i) => store(i, s)));

  it('TiKV: never drops more than one pod, and asks for offline only when max-replicas Up stores remain', () => {
    fc.assert(
      fc.property(storeList, fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 5 }), (s, desired, live, max) => {
        const plan = planTiKVReplicas(C, desired, live, observed(s, max));
        if (desired >= live) return plan.replicas === desired;
        if (plan.replicas < live) {
          // dropping a pod is only allowed when its store is gone or never existed
          const target = s.find((x) => x.podName === tikvPodName(C, live - 1) && x.state !== 'Tombstone');
          return plan.replicas === live - 1 && target === undefined && plan.action === undefined;
        }
        if (plan.action) {
          const upOthers = s.filter((x) => x.state === 'Up' && x.id !== plan.action?.id).length;
          return upOthers >= max && plan.action.podName === tikvPodName(C, live - 1);
        }
        return plan.waiting !== undefined;
      }),
    );
  });

  it('PD: never drops a pod whose member PD still lists, and never touches anything when unreachable', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), (health, desired, live) => {
        const ms = health.map((h, i) => member(i, h));
        const plan = planPDReplicas(C, desired, live, { reachable: true, members: ms, leader: ms[0]?.name });
        const unreachable = planPDReplicas(C, desired, live, { reachable: false, error: 'down' });
        if (desired >= live) return plan.replicas === desired;
        const targetListed = ms.some((m) => m.name === `${C}-pd-${live - 1}`);
        const dropOk = plan.replicas === live || (plan.replicas === live - 1 && !targetListed);
        return dropOk && unreachable.replicas === live && unreachable.action === undefined;
      }),
    );
  });

  function observed(s: TiKVStoreStatus[], maxReplicas: number): StoresView {
    return { kind: 'Observed', stores: s, maxReplicas };
  }
});
