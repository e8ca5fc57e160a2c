import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tikvAdvertiseAddr, tikvPodName } from '../../../src/api/names.js';
import type { PDMemberStatus, TiKVStoreStatus } from '../../../src/api/v1alpha1.js';
import { ADMISSION_GATE } from '../../../src/charts/index.js';
import type { MembersView, StoresView } from '../../../src/controller/pd/view.js';
import {
  buriedTiKVTop,
  decidePDClaim,
  decideTiKVClaim,
  initialMemberCount,
  pdBootstrapped,
  planPDReplicas,
  planTiKVReplicas,
  podsToAdmit,
  type RemovalProof,
  recreatesGated,
  removedPDTop,
  replaceBuried,
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
  const up = (ms: PDMemberStatus[], leader?: string): MembersView => ({ kind: 'Observed', members: ms, leader });

  it('scales out at once and creates with the desired count', () => {
    expect(planPDReplicas(C, 5, 3, up(members(3)))).toEqual({ replicas: 5 });
    expect(planPDReplicas(C, 3, undefined, { kind: 'Unreachable', error: 'x' })).toEqual({ replicas: 3 });
  });

  it('keeps every pod while PD is unreachable and says why', () => {
    const plan = planPDReplicas(C, 3, 5, { kind: 'Unreachable', error: 'connect ECONNREFUSED' });
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
    // the PVC records member 104 (written before PD was asked to remove it)
    expect(planPDReplicas(C, 3, 5, up(members(4), 'basic-pd-0'), { recreatedGated: true, recorded: '104' })).toEqual({ replicas: 4 });
  });

  it('without PD ever having listed the member, asks for proof that the pod never ran, and drops it only on the fence', () => {
    const ask = planPDReplicas(C, 3, 5, up(members(4), 'basic-pd-0'));
    expect(ask).toMatchObject({ replicas: 5, prove: 4, waiting: { reason: 'ScaleInConfirming' } });
    const gated = { uid: 'u4', gated: true, deleting: false };
    expect(planPDReplicas(C, 3, 5, up(members(4)), { pod: gated, recreatedGated: true })).toEqual({ replicas: 4 });
    // a record of a member PD still lists is no proof
    expect(planPDReplicas(C, 3, 5, up([...members(4), { name: 'other', id: '104', health: true }]), { recreatedGated: true, recorded: '104' }).replicas).toBe(5);
    const admitted = planPDReplicas(C, 3, 5, up(members(4)), { pod: { ...gated, gated: false }, recreatedGated: true });
    expect(admitted).toMatchObject({ replicas: 5, action: { kind: 'restartPod', podName: 'basic-pd-4', uid: 'u4' }, waiting: { reason: 'ScaleInRestartingPod' } });
  });

  it('treats a half-joined member named after the pod as its member, and waits on one it cannot attribute', () => {
    const halfJoined = [...members(4), { name: 'basic-pd-4-9001', id: '9001', health: false }];
    expect(planPDReplicas(C, 3, 5, up(halfJoined, 'basic-pd-0'))).toEqual({ replicas: 5, action: { kind: 'deleteMember', name: 'basic-pd-4' } });
    const unnamed = planPDReplicas(C, 3, 5, up([...members(4), { name: 'unnamed-77', id: '77', health: false }]), {
      pod: { uid: 'u4', gated: true, deleting: false },
      recreatedGated: true,
    });
    expect(unnamed).toMatchObject({ replicas: 5, waiting: { reason: 'ScaleInBlocked', message: expect.stringContaining('member 77') } });
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
    // the PVC records store 4 (written before PD was asked to take it offline)
    expect(planTiKVReplicas(C, 3, 4, observed(tombstone), { recreatedGated: true, recorded: '4' })).toEqual({ replicas: 3 });
  });

  it('drops a pod that never registered a store, and any pod before TiKV bootstrapped, once the pod is still gated', () => {
    const gated = { pod: { uid: 'u', gated: true, deleting: false }, recreatedGated: true };
    expect(planTiKVReplicas(C, 3, 4, observed(stores(3)), gated)).toEqual({ replicas: 3 });
    expect(planTiKVReplicas(C, 1, 3, { kind: 'NotBootstrapped' }, gated)).toEqual({ replicas: 2 });
  });

  describe('the admission fence, when PD lists no live store for the pod', () => {
    const pod = (over: Partial<{ gated: boolean; deleting: boolean }> = {}) => ({ uid: 'u3', gated: false, deleting: false, ...over });
    const plan = (proof?: Parameters<typeof planTiKVReplicas>[4], list = stores(3)) => planTiKVReplicas(C, 3, 4, observed(list), proof);

    it('asks for proof first and keeps the pod meanwhile', () => {
      expect(plan()).toMatchObject({ replicas: 4, prove: 3, waiting: { reason: 'ScaleInConfirming', message: expect.stringContaining('basic-tikv-3') } });
      expect(planTiKVReplicas(C, 1, 3, { kind: 'NotBootstrapped' })).toMatchObject({ replicas: 3, prove: 2 });
    });

    it('drops a gated pod, or an absent one the StatefulSet can only create gated', () => {
      expect(plan({ pod: pod({ gated: true }), recreatedGated: false })).toEqual({ replicas: 3 });
      expect(plan({ recreatedGated: true })).toEqual({ replicas: 3 });
      expect(plan({ recreatedGated: false })).toMatchObject({ replicas: 4, waiting: { reason: 'ScaleInWaitingForPod' } });
    });

    it('never drops an admitted pod on "no store": it deletes that incarnation instead, or waits when its replacement would not be gated', () => {
      expect(plan({ pod: pod(), recreatedGated: true })).toEqual({
        replicas: 4,
        action: { kind: 'restartPod', podName: 'basic-tikv-3', uid: 'u3' },
        waiting: expect.objectContaining({ reason: 'ScaleInRestartingPod' }),
      });
      expect(plan({ pod: pod(), recreatedGated: false })).toMatchObject({ replicas: 4, waiting: { reason: 'ScaleInWaitingForPod' } });
      expect(plan({ pod: pod({ deleting: true }), recreatedGated: true })).toMatchObject({ replicas: 4, waiting: { message: expect.stringContaining('terminating') } });
      expect(plan({ pod: pod({ deleting: true, gated: true }), recreatedGated: true }).replicas).toBe(4);
    });

    it('takes a Tombstone as the end of the pod only when the PVC records that very store', () => {
      const list = [...stores(3), store(3, 'Tombstone', '9')];
      expect(plan({ pod: pod(), recreatedGated: true, recorded: '9' }, list)).toEqual({ replicas: 3 });
      // a Tombstone of an older PVC says nothing about the pod's new one
      expect(plan({ pod: pod(), recreatedGated: true, recorded: '8' }, list).replicas).toBe(4);
      expect(plan({ pod: pod(), recreatedGated: true }, list).action).toMatchObject({ kind: 'restartPod' });
    });
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

describe('decideTiKVClaim with what the PVC records', () => {
  const observed = (s: TiKVStoreStatus[]): StoresView => ({ kind: 'Observed', stores: s });
  const claim = (annotations: Record<string, string>) => ({ annotations });
  const CID = '7412345678901234567';

  it('reuses a PVC no pod was ever admitted onto, whatever PD says or cannot say', () => {
    for (const view of [observed(stores(3)), { kind: 'NotBootstrapped' } as const, { kind: 'Unknown', error: 'down' } as const]) {
      expect(decideTiKVClaim(C, 3, view, claim({ 'tikv.org/admission': 'pending' }), CID)).toMatchObject({ kind: 'reuse' });
    }
  });

  it('deletes at once a PVC recording the Tombstone store, and only after a fresh check one that does not', () => {
    const list = [...stores(3), store(3, 'Tombstone', '4')];
    expect(decideTiKVClaim(C, 3, observed(list), claim({ 'tikv.org/store-id': '4' }))).toEqual({ kind: 'delete', reason: expect.stringContaining('store 4') });
    expect(decideTiKVClaim(C, 3, observed(list), claim({}))).toMatchObject({ kind: 'delete', confirm: true });
    expect(decideTiKVClaim(C, 3, observed(list), claim({ 'tikv.org/store-id': '2' }))).toMatchObject({ kind: 'delete', confirm: true });
  });

  it('deletes (after a fresh check) a PVC whose first pod ran under this PD cluster when PD never had a store for it', () => {
    const ours = claim({ 'tikv.org/admission': 'admitted', 'tikv.org/pd-cluster-id': CID });
    expect(decideTiKVClaim(C, 3, observed(stores(3)), ours, CID)).toMatchObject({ kind: 'delete', confirm: true });
    expect(decideTiKVClaim(C, 3, { kind: 'NotBootstrapped' }, ours, CID)).toMatchObject({ kind: 'delete', confirm: true });
    // another PD cluster's data, an unknown first cluster, or a live store: a human decides
    expect(decideTiKVClaim(C, 3, observed(stores(3)), ours, '1')).toMatchObject({ kind: 'wait' });
    expect(decideTiKVClaim(C, 3, observed(stores(3)), claim({ 'tikv.org/admission': 'admitted' }), CID)).toMatchObject({ kind: 'wait' });
    expect(decideTiKVClaim(C, 3, observed([...stores(3), store(3, 'Down', '9')]), ours, CID)).toMatchObject({ kind: 'wait' });
    expect(decideTiKVClaim(C, 3, { kind: 'Unknown', error: 'x' }, ours, CID)).toMatchObject({ kind: 'wait' });
  });
});

describe('decidePDClaim (a leftover PVC before scale-out)', () => {
  const up = (ms: PDMemberStatus[]): MembersView => ({ kind: 'Observed', members: ms });

  it('deletes it when bootstrapped PD lists every member by pod name and not this one', () => {
    const d = decidePDClaim(C, 3, up(members(3)), true);
    expect(d.kind === 'delete' && d.reason).toContain('basic-pd-3 is not a member of PD');
  });

  it('keeps it while PD still lists the member, or a member it cannot name', () => {
    expect(decidePDClaim(C, 3, up(members(4)), true)).toMatchObject({ kind: 'wait', message: expect.stringContaining('PD still lists member basic-pd-3') });
    const unnamed = decidePDClaim(C, 3, up([...members(3), { name: 'unnamed-77', id: '77', health: false }]), true);
    expect(unnamed.kind === 'wait' && unnamed.message).toContain('member 77');
  });

  it('deletes at once a PVC recording a removed member, after a fresh check one without; reuses a never-admitted one', () => {
    expect(decidePDClaim(C, 3, up(members(3)), true, { annotations: { 'tikv.org/pd-member-id': '103' } })).toEqual({ kind: 'delete', reason: expect.any(String) });
    expect(decidePDClaim(C, 3, up(members(3)), true, {})).toMatchObject({ kind: 'delete', confirm: true });
    expect(decidePDClaim(C, 3, { kind: 'Unreachable', error: 'x' }, false, { annotations: { 'tikv.org/admission': 'pending' } })).toMatchObject({ kind: 'reuse' });
  });

  it('keeps it when PD is unreachable or not bootstrapped', () => {
    const down = decidePDClaim(C, 3, { kind: 'Unreachable', error: 'i/o timeout' }, true);
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
          const action = plan.action;
          const upOthers = s.filter((x) => x.state === 'Up' && (action.kind === 'restartPod' || x.id !== action.id)).length;
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
        const plan = planPDReplicas(C, desired, live, { kind: 'Observed', members: ms, leader: ms[0]?.name });
        const unreachable = planPDReplicas(C, desired, live, { kind: 'Unreachable', error: 'down' });
        if (desired >= live) return plan.replicas === desired;
        const targetListed = ms.some((m) => m.name === `${C}-pd-${live - 1}`);
        const dropOk = plan.replicas === live || (plan.replicas === live - 1 && !targetListed);
        return dropOk && unreachable.replicas === live && unreachable.action === undefined;
      }),
    );
  });

  it('TiKV: drops a pod PD lists no live store for only on the fence: gated, absent and only re-created gated, or its recorded store a Tombstone', () => {
    const podState = fc.option(fc.record({ uid: fc.constant('u'), gated: fc.boolean(), deleting: fc.boolean() }), { nil: undefined });
    const proofs = fc.option(
      fc.record({ pod: podState, recreatedGated: fc.boolean(), recorded: fc.option(fc.constantFrom('1', '2', '3', '4', '9'), { nil: undefined }) }),
      { nil: undefined },
    );
    fc.assert(
      fc.property(storeList, fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), proofs, (s, desired, live, raw) => {
        const proof = raw && ({ recreatedGated: raw.recreatedGated, ...(raw.pod ? { pod: raw.pod } : {}), ...(raw.recorded ? { recorded: raw.recorded } : {}) } as RemovalProof);
        const plan = planTiKVReplicas(C, desired, live, observed(s, 3), proof);
        if (desired >= live) return plan.replicas === desired;
        const target = tikvPodName(C, live - 1);
        const liveStore = s.some((x) => x.podName === target && x.state !== 'Tombstone');
        const buried = proof?.recorded !== undefined && s.some((x) => x.podName === target && x.id === proof.recorded && x.state === 'Tombstone');
        const fenced = proof !== undefined && (proof.pod ? proof.pod.gated && !proof.pod.deleting : proof.recreatedGated);
        if (plan.replicas < live) return plan.replicas === live - 1 && !liveStore && (buried || fenced) && plan.action === undefined;
        if (plan.action?.kind === 'restartPod') return !liveStore && proof?.pod !== undefined && !proof.pod.gated && !proof.pod.deleting && proof.recreatedGated;
        return plan.replicas === live && (plan.action !== undefined || plan.waiting !== undefined);
      }),
    );
  });

  function observed(s: TiKVStoreStatus[], maxReplicas: number): StoresView {
    return { kind: 'Observed', stores: s, maxReplicas };
  }
});

describe('recreatesGated (would the StatefulSet create the pod with the admission gate?)', () => {
  const sts = (over: { gate?: boolean; partition?: number; current?: string; update?: string; generation?: number; observed?: number } = {}) => ({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'basic-tikv', generation: over.generation ?? 2 },
    spec: {
      template: { spec: over.gate === false ? {} : { schedulingGates: [{ name: ADMISSION_GATE }] } },
      updateStrategy: { rollingUpdate: { partition: over.partition ?? 0 } },
    },
    status: { observedGeneration: over.observed ?? 2, currentRevision: over.current ?? 'r2', updateRevision: over.update ?? 'r2' },
  });

  it('yes when the template has the gate and every pod comes from it', () => {
    expect(recreatesGated(sts(), 3)).toBe(true);
  });

  it('no without the gate, without a StatefulSet, or while its status lags behind the spec', () => {
    expect(recreatesGated(sts({ gate: false }), 3)).toBe(false);
    expect(recreatesGated(undefined, 3)).toBe(false);
    expect(recreatesGated(sts({ observed: 1 }), 3)).toBe(false);
  });

  it('mid-roll, only for ordinals at or above the partition (below it the old revision is used)', () => {
    const rolling = sts({ current: 'r1', update: 'r2', partition: 2 });
    expect(recreatesGated(rolling, 2)).toBe(true);
    expect(recreatesGated(rolling, 1)).toBe(false);
  });
});

describe('podsToAdmit', () => {
  const gated = (ordinals: number[]) => ordinals.map((o) => ({ ordinal: o, name: `${C}-tikv-${o}`, uid: `u${o}`, gateIndex: 0 }));

  it('admits ordinals the StatefulSet holds and the spec wants', () => {
    expect(podsToAdmit(gated([0, 1, 2, 3]), 4, 4, () => false).map((p) => p.ordinal)).toEqual([0, 1, 2, 3]);
    expect(podsToAdmit(gated([0, 3]), 4, 3, () => false).map((p) => p.ordinal)).toEqual([0]);
  });

  it('admits a pod beyond the spec only while PD still counts its store, and never one the StatefulSet does not hold', () => {
    expect(podsToAdmit(gated([3]), 4, 3, (o) => o === 3).map((p) => p.ordinal)).toEqual([3]);
    expect(podsToAdmit(gated([4]), 4, 5, () => true)).toEqual([]);
    expect(podsToAdmit(gated([0]), undefined, 3, () => true)).toEqual([]);
  });
});

describe('a wanted top pod whose data PD buried', () => {
  it('TiKV: only Tombstones at the top pod address; the PVC must record one of them', () => {
    const obs = (s: TiKVStoreStatus[]): StoresView => ({ kind: 'Observed', stores: s });
    expect(buriedTiKVTop(C, 4, obs([...stores(3), store(3, 'Tombstone', '9')]))).toBe(3);
    expect(buriedTiKVTop(C, 4, obs([...stores(3), store(3, 'Tombstone', '9'), store(3, 'Up', '10')]))).toBeUndefined();
    expect(buriedTiKVTop(C, 4, obs(stores(3)))).toBeUndefined();
    expect(buriedTiKVTop(C, 4, { kind: 'Unknown', error: 'x' })).toBeUndefined();
    expect(replaceBuried('basic-tikv-3', 4, '9', (id) => id === '9', 'store')).toMatchObject({ replicas: 3, waiting: { reason: 'ReplacingPod' } });
    expect(replaceBuried('basic-tikv-3', 4, '8', (id) => id === '9', 'store')).toBeUndefined();
    expect(replaceBuried('basic-tikv-3', 4, undefined, () => true, 'store')).toBeUndefined();
  });

  it('PD: a bootstrapped PD that names every member and none for the top pod', () => {
    const up = (ms: PDMemberStatus[]): MembersView => ({ kind: 'Observed', members: ms });
    expect(removedPDTop(C, 4, up(members(3)), true)).toBe(3);
    expect(removedPDTop(C, 4, up(members(4)), true)).toBeUndefined();
    expect(removedPDTop(C, 4, up([...members(3), { name: 'unnamed-7', id: '7', health: false }]), true)).toBeUndefined();
    expect(removedPDTop(C, 4, up(members(3)), false)).toBeUndefined();
    expect(removedPDTop(C, 4, { kind: 'Unreachable', error: 'x' }, true)).toBeUndefined();
  });
});
