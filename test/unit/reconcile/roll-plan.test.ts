import { describe, expect, it } from 'vitest';
import { tikvAdvertiseAddr, tikvPodName } from '../../../src/api/names.js';
import type { PDMemberStatus, TiKVStoreStatus } from '../../../src/api/v1alpha1.js';
import type { MembersView, StoresView } from '../../../src/controller/pd/view.js';
import {
  EVICT_LEADER_TIMEOUT_MS,
  type EvictionView,
  evictionsToRemove,
  pdRollUnsettled,
  planPDRoll,
  planTiKVRoll,
  type RollPod,
  type RollState,
} from '../../../src/controller/reconcile/roll-plan.js';

const C = 'basic';
const NOW = Date.parse('2025-08-19T10:00:00Z');
const member = (ordinal: number, health = true): PDMemberStatus => ({ name: `${C}-pd-${ordinal}`, id: `${100 + ordinal}`, health });
const store = (ordinal: number, over: Partial<TiKVStoreStatus> = {}): TiKVStoreStatus => ({
  id: `${ordinal + 1}`,
  podName: tikvPodName(C, ordinal),
  address: tikvAdvertiseAddr(C, 'ns', ordinal),
  state: 'Up',
  leaderCount: 5,
  lastHeartbeatTime: new Date(NOW).toISOString(),
  ...over,
});
const observed = (list: TiKVStoreStatus[]): StoresView => ({ kind: 'Observed', stores: list });

/** A StatefulSet mid-roll: revision r2 applied, `partition` as live. */
const rolling = (partition: number, replicas = 3): RollState => ({
  replicas,
  partition,
  templateChanging: false,
  statusCurrent: true,
  currentRevision: 'r1',
  updateRevision: 'r2',
});
/** Pods below `partition` on r1, the rest on r2; all Ready unless listed. */
const pods = (partition: number, replicas = 3, notReady: number[] = []): RollPod[] =>
  Array.from({ length: replicas }, (_, i) => ({ ordinal: i, revision: i < partition ? 'r1' : 'r2', ready: !notReady.includes(i), createdMs: NOW - 1000 }));
const noEviction: EvictionView = { stores: [], since: new Map(), now: NOW };

describe('planPDRoll', () => {
  const pd = { kind: 'Observed' as const, members: [member(0), member(1), member(2)], leader: `${C}-pd-0` };

  it('starts at partition = replicas when the template changes: nothing is replaced yet', () => {
    const plan = planPDRoll(C, { ...rolling(0), templateChanging: true, currentRevision: 'r1', updateRevision: 'r1' }, pods(3), pd);
    expect(plan.partition).toBe(3);
    expect(plan.waiting?.reason).toBe('RollingUpdate');
    expect(plan.rolls).toBeUndefined();
  });

  it('is 0 when nothing rolls, and for a StatefulSet that does not exist yet', () => {
    expect(planPDRoll(C, { ...rolling(0), updateRevision: 'r1' }, pods(0), pd)).toEqual({ partition: 0 });
    expect(planPDRoll(C, undefined, [], pd)).toEqual({ partition: 0 });
  });

  it('holds the live partition while the StatefulSet status is older than its spec', () => {
    expect(planPDRoll(C, { ...rolling(3), statusCurrent: false, updateRevision: 'r1' }, pods(3), pd)).toEqual({ partition: 3 });
  });

  it('steps one ordinal down, high to low, once every higher pod is updated, Ready and PD healthy', () => {
    expect(planPDRoll(C, rolling(3), pods(3), pd)).toMatchObject({ partition: 2, rolls: `${C}-pd-2` });
    expect(planPDRoll(C, rolling(2), pods(2), pd)).toMatchObject({ partition: 1, rolls: `${C}-pd-1` });
  });

  it('waits on a replaced pod that is not updated, not Ready, or whose member is unhealthy', () => {
    const notYet = planPDRoll(C, rolling(2), pods(3), pd);
    expect(notYet).toMatchObject({ partition: 2 });
    expect(notYet.waiting?.message).toContain(`${C}-pd-2: the pod is not yet replaced with revision r2`);
    expect(planPDRoll(C, rolling(2), pods(2, 3, [2]), pd).waiting?.message).toContain(`${C}-pd-2: the pod is not Ready`);
    const sick = planPDRoll(C, rolling(2), pods(2), { ...pd, members: [member(0), member(1), member(2, false)] });
    expect(sick.partition).toBe(2);
    expect(sick.waiting?.message).toContain(`PD member ${C}-pd-2 not healthy`);
  });

  it('holds when PD is unreachable', () => {
    const plan = planPDRoll(C, rolling(2), pods(2), { kind: 'Unreachable', error: 'connect ECONNREFUSED' });
    expect(plan.partition).toBe(2);
    expect(plan.rolls).toBeUndefined();
    expect(plan.waiting?.message).toContain('PD is unreachable (connect ECONNREFUSED)');
    expect(planPDRoll(C, rolling(3), pods(3), { kind: 'Unreachable', error: 'x' }).partition).toBe(3);
  });

  it("moves leadership off the next pod first, to a member already on the new revision", () => {
    const plan = planPDRoll(C, rolling(1), pods(1), pd);
    expect(plan.partition).toBe(1);
    expect(plan.action).toEqual({ kind: 'transferLeader', from: `${C}-pd-0`, to: `${C}-pd-2` });
    expect(planPDRoll(C, rolling(1), pods(1), { ...pd, leader: `${C}-pd-2` })).toMatchObject({ partition: 0, rolls: `${C}-pd-0` });
  });

  it('replaces a single-member PD at once', () => {
    expect(planPDRoll(C, { ...rolling(0, 1), templateChanging: true }, pods(0, 1), { ...pd, members: [member(0)] })).toEqual({ partition: 0 });
  });
});

describe('planTiKVRoll', () => {
  const three = () => observed([store(0), store(1), store(2)]);

  it('evicts the leaders of the next store before its pod may go', () => {
    const plan = planTiKVRoll(C, rolling(3), pods(3), three(), noEviction);
    expect(plan.partition).toBe(3);
    expect(plan.action).toEqual({ kind: 'evictLeader', storeId: '3', podName: `${C}-tikv-2` });
    expect(plan.keepEvicted).toBe(2);
  });

  it('waits while the evicted store still has leaders, and goes once it has none or the timeout passed', () => {
    const evicting: EvictionView = { stores: ['3'], since: new Map([['3', NOW - 1000]]), now: NOW };
    const waiting = planTiKVRoll(C, rolling(3), pods(3), three(), evicting);
    expect(waiting).toMatchObject({ partition: 3, keepEvicted: 2 });
    expect(waiting.action).toBeUndefined();
    expect(waiting.waiting?.message).toContain('moving the Raft leaders off store 3');
    const drained = observed([store(0), store(1), store(2, { leaderCount: 0 })]);
    expect(planTiKVRoll(C, rolling(3), pods(3), drained, evicting)).toMatchObject({ partition: 2, rolls: `${C}-tikv-2`, keepEvicted: 2 });
    const late: EvictionView = { ...evicting, now: NOW - 1000 + EVICT_LEADER_TIMEOUT_MS };
    expect(planTiKVRoll(C, rolling(3), pods(3), three(), late)).toMatchObject({ partition: 2, rolls: `${C}-tikv-2` });
  });

  it('waits for the replaced store to be Up and heard from since its pod was created', () => {
    const down = planTiKVRoll(C, rolling(2), pods(2), observed([store(0), store(1), store(2, { state: 'Disconnected' })]), noEviction);
    expect(down).toMatchObject({ partition: 2, keepEvicted: 2 });
    expect(down.waiting?.message).toContain('store 3 is Disconnected');
    const stale = pods(2).map((p) => (p.ordinal === 2 ? { ...p, createdMs: NOW + 5000 } : p));
    expect(planTiKVRoll(C, rolling(2), stale, three(), noEviction).waiting?.message).toContain('has not sent a heartbeat since the pod restarted');
    expect(planTiKVRoll(C, rolling(2), pods(2), three(), noEviction).action).toEqual({ kind: 'evictLeader', storeId: '2', podName: `${C}-tikv-1` });
  });

  it('holds when PD cannot tell the store states or the scheduler list', () => {
    const unknown = planTiKVRoll(C, rolling(2), pods(2), { kind: 'Unknown', error: 'timeout' }, noEviction);
    expect(unknown.partition).toBe(2);
    expect(unknown.waiting?.message).toContain('PD cannot tell the store states (timeout)');
    const noList = planTiKVRoll(C, rolling(3), pods(3), three(), { ...noEviction, stores: undefined });
    expect(noList).toMatchObject({ partition: 3 });
    expect(noList.action).toBeUndefined();
  });

  it('waits for PD to finish rolling first', () => {
    const plan = planTiKVRoll(C, rolling(3), pods(3), three(), noEviction, 'PD is rolled first');
    expect(plan.partition).toBe(3);
    expect(plan.action).toBeUndefined();
    expect(plan.waiting?.message).toContain('PD is rolled first');
  });

  it('skips eviction with a single Up store, and replaces a single TiKV at once', () => {
    const lonely = observed([store(0, { state: 'Down' }), store(1, { state: 'Down' }), store(2)]);
    expect(planTiKVRoll(C, rolling(3), pods(3), lonely, noEviction)).toMatchObject({ partition: 2, rolls: `${C}-tikv-2` });
    expect(planTiKVRoll(C, { ...rolling(1, 1), templateChanging: true }, pods(1, 1), observed([store(0)]), noEviction)).toEqual({ partition: 0 });
  });
});

describe('evictionsToRemove', () => {
  const view = observed([store(0), store(1), store(2), { id: '40', address: 'other-tikv-0.other-tikv-peer.x.svc:20160', state: 'Up' }]);

  it("removes this cluster's evictions except the store of the pod being replaced", () => {
    expect(evictionsToRemove(C, ['1', '3', '40'], view, 2)).toEqual(['1']);
    expect(evictionsToRemove(C, ['1', '3', '40'], view, undefined)).toEqual(['1', '3']);
  });

  it('touches nothing without PD’s store list', () => {
    expect(evictionsToRemove(C, ['1'], { kind: 'Unknown', error: 'x' }, undefined)).toEqual([]);
  });
});

describe('pdRollUnsettled (TiKV rolls only after PD has finished)', () => {
  const done = (): RollState => ({ replicas: 3, partition: 0, templateChanging: false, statusCurrent: true, currentRevision: 'r2', updateRevision: 'r2' });
  const healthy: MembersView = { kind: 'Observed', members: [member(0), member(1), member(2)] };
  const onR2 = (notReady: number[] = []) => pods(0, 3, notReady);

  it('is settled once every pod runs the update revision, is Ready, and PD says every member is healthy', () => {
    expect(pdRollUnsettled(C, done(), onR2(), healthy)).toBeUndefined();
    expect(pdRollUnsettled(C, undefined, [], healthy)).toBeUndefined();
  });

  it('is not while the last released pod is not back, not Ready, or not healthy in PD', () => {
    expect(pdRollUnsettled(C, rolling(0), pods(0), healthy)).toContain('PD is rolled first');
    expect(pdRollUnsettled(C, done(), onR2([0]), healthy)).toContain('basic-pd-0');
    expect(pdRollUnsettled(C, done(), onR2().filter((p) => p.ordinal !== 0), healthy)).toContain('does not exist');
    expect(pdRollUnsettled(C, done(), onR2(), { kind: 'Observed', members: [member(0, false), member(1), member(2)] })).toContain('basic-pd-0 not healthy');
    expect(pdRollUnsettled(C, done(), onR2(), { kind: 'Unreachable', error: 'refused' })).toContain('refused');
    expect(pdRollUnsettled(C, { ...done(), statusCurrent: false }, onR2(), healthy)).toBeDefined();
    expect(pdRollUnsettled(C, { ...done(), templateChanging: true }, onR2(), healthy)).toBeDefined();
  });
});
