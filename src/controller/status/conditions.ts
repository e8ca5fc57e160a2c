// The five conditions of a TikvCluster (metav1.Condition rules: lastTransitionTime moves
// only when status flips, observedGeneration follows the spec they were computed from),
// from what PD said and what the StatefulSets report. Pure: `now` is passed in.
import type { Condition, TiKVStoreStatus } from '../../api/v1alpha1.js';
import { type MembersView, quorum, type StoresView } from '../pd/view.js';
import type { ClusterRef } from '../ref.js';
import { ACTIVE, describeOffline, describeStoreProblem, describeUnhealthyMember, IS_FAULTY, IS_UP, listProblems } from './messages.js';
import type { StatefulSetObservation } from './statefulset.js';
import { rfc3339 } from './time.js';

export const CONDITION_TYPES = ['Ready', 'PDAvailable', 'TiKVAvailable', 'Progressing', 'Degraded'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export interface ConditionInput {
  cluster: ClusterRef;
  desired: { pd: number; tikv: number };
  /** Undefined when the StatefulSet does not exist (yet). */
  pdStatefulSet?: StatefulSetObservation;
  tikvStatefulSet?: StatefulSetObservation;
  pd: MembersView;
  stores: StoresView;
  /** status.pd.bootstrapped: the initial PD members formed the cluster. */
  pdBootstrapped: boolean;
  paused: boolean;
  /** Why the spec is invalid, when it is. */
  invalid?: string;
  /** What the apiserver refused to apply in this reconcile, when it refused. */
  applyFailed?: string;
}

export interface ConditionState {
  status: Condition['status'];
  reason: string;
  message: string;
}

// Each condition says one thing once: why PD is unreachable is PDAvailable's to say, why
// the stores are unknown TiKVAvailable's; the others name what they cannot tell and point there.
const pdUnreachable = (error: string): ConditionState => ({
  status: 'Unknown',
  reason: 'PDUnreachable',
  message: `PD is unreachable: ${error}; the operator will not change PD members or stores until it can reach PD`,
});
const pointToPD = (what: string): ConditionState => ({ status: 'Unknown', reason: 'PDUnreachable', message: `${what} (see PDAvailable)` });
const storesUnknown = (error: string): ConditionState => ({ status: 'Unknown', reason: 'StoresUnknown', message: `cannot read the TiKV stores from PD: ${error}` });
const pointToStores = (what: string): ConditionState => ({ status: 'Unknown', reason: 'StoresUnknown', message: `${what} (see TiKVAvailable)` });

/** "1 Down, 2 Disconnected": the stores not Up (tombstones aside) by state, in a fixed order. */
function notUpCounts(active: readonly TiKVStoreStatus[]): string[] {
  const counts = new Map<string, number>();
  for (const s of active) if (!IS_UP(s)) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
  return [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([state, n]) => `${n} ${state}`);
}

/**
 * PDAvailable: PD answers and a quorum (⌊n/2⌋+1) of the n members PD lists is healthy.
 * etcd's quorum is over its actual members, not spec.pd.replicas: counting the desired
 * number would call PD unavailable during a large scale-out and available during a
 * scale-in that left too few healthy (the reconciler gates TiKV on the same rule).
 */
function pdAvailable(input: ConditionInput): ConditionState {
  if (input.pd.kind === 'Unreachable') return pdUnreachable(input.pd.error);
  const { members, leader } = input.pd;
  const desired = input.desired.pd;
  const healthy = members.filter((m) => m.health).length;
  const unhealthy = members.filter((m) => !m.health).map((m) => m.name);
  const need = quorum(Math.max(members.length, 1));
  if (healthy >= need) {
    const all = unhealthy.length === 0 && members.length === desired;
    const detail = unhealthy.length ? `; unhealthy: ${unhealthy.join(', ')}` : '';
    return {
      status: 'True',
      reason: all ? 'AllMembersHealthy' : 'QuorumHealthy',
      message: `${healthy} of ${desired} PD members healthy${leader ? `, leader ${leader}` : ''}${detail}`,
    };
  }
  if (members.length === 0) {
    return { status: 'False', reason: 'NoMembers', message: 'PD reports no members; check the PD pods and their logs' };
  }
  return {
    status: 'False',
    reason: 'QuorumNotHealthy',
    message:
      `only ${healthy} of ${members.length} PD members are healthy and PD needs ${need} for a quorum` +
      `${unhealthy.length ? ` (unhealthy: ${unhealthy.join(', ')})` : ''}; check the PD pods and their logs`,
  };
}

/**
 * TiKVAvailable. Each Region keeps max-replicas copies (3 by default) and serves while a
 * majority of them is up. The operator does not know where Regions live, so it approximates:
 * available (True) while a majority of the desired stores is Up — reason AllStoresUp when all
 * are, SomeStoresNotUp otherwise; False below that majority or before TiKV bootstrapped;
 * Unknown when PD (or its store list) cannot be read.
 */
function tikvAvailable(input: ConditionInput): ConditionState {
  if (input.pd.kind === 'Unreachable') return pointToPD('the TiKV store states are unknown while PD is unreachable');
  const { stores: obs } = input;
  if (obs.kind === 'Unknown') return storesUnknown(obs.error);
  if (obs.kind === 'NotBootstrapped') {
    return {
      status: 'False',
      reason: 'NotBootstrapped',
      message: `PD has no TiKV store yet: the first TiKV pod bootstraps the cluster when it starts; check the pod ${input.cluster.name}-tikv-0 if this lasts`,
    };
  }
  const desired = input.desired.tikv;
  const active = obs.stores.filter(ACTIVE);
  const up = active.filter(IS_UP).length;
  const faulty = active.filter(IS_FAULTY).length;
  const enough = up >= quorum(desired);
  const summary = enough ? storesUp(up, desired) : `${storesUp(up, desired)}, fewer than the ${quorum(desired)} needed to serve every Region`;
  if (enough && up >= desired && faulty === 0) return { status: 'True', reason: 'AllStoresUp', message: summary };
  // Which stores and what to check is Degraded's to say (or Progressing's, for a removal).
  const message = `${summary}${storeBreakdown(active, desired)}`;
  if (enough) return { status: 'True', reason: 'SomeStoresNotUp', message };
  return { status: 'False', reason: up === 0 ? 'NoStoresUp' : 'TooFewStoresUp', message };
}

/** "2 of 3 TiKV stores Up"; "3 TiKV stores Up, 2 desired" while more run than are wanted. */
const storesUp = (up: number, desired: number) => (up > desired ? `${up} TiKV stores Up, ${desired} desired` : `${up} of ${desired} TiKV stores Up`);

/**
 * What the stores that are not Up are, counted, with the condition that says more:
 * " (1 Down: see Degraded; 1 Offline: see Progressing; 1 not registered with PD yet)".
 */
function storeBreakdown(active: readonly TiKVStoreStatus[], desired: number): string {
  const faulty = active.filter(IS_FAULTY);
  const offline = active.filter((s) => s.state === 'Offline').length;
  const up = active.length - faulty.length - offline;
  const parts: string[] = [];
  if (faulty.length) parts.push(`${notUpCounts(faulty).join(', ')}: see Degraded`);
  if (offline) parts.push(`${offline} Offline, being removed: see Progressing`);
  const unregistered = desired - up - faulty.length;
  if (unregistered > 0) parts.push(`${unregistered} not registered with PD yet`);
  return parts.length ? ` (${parts.join('; ')})` : '';
}

/** Degraded: a PD member unhealthy or a store Disconnected/Down (anything but Up, Offline, Tombstone). */
function degraded(input: ConditionInput): ConditionState {
  if (input.pd.kind === 'Unreachable') return pointToPD('whether members or stores are unhealthy is unknown while PD is unreachable');
  const members = input.pd.members.filter((m) => !m.health).map(describeUnhealthyMember);
  const observed = input.stores.kind === 'Observed' ? input.stores.stores : [];
  const upCount = observed.filter(IS_UP).length;
  const stores = observed.filter(IS_FAULTY).map((s) => describeStoreProblem(s, upCount));
  if (members.length === 0 && stores.length === 0) {
    if (input.stores.kind === 'Unknown') return pointToStores('whether stores are unhealthy is unknown');
    return { status: 'False', reason: 'AllHealthy', message: 'all PD members are healthy and no TiKV store is Disconnected or Down' };
  }
  const reason = members.length && stores.length ? 'PDMemberUnhealthyAndStoreNotUp' : members.length ? 'PDMemberUnhealthy' : 'StoreNotUp';
  return { status: 'True', reason, message: listProblems([...members, ...stores]) };
}

interface Progress {
  reason: string;
  message: string;
}

/** Why a StatefulSet is not yet at `desired` replicas of its newest revision, all ready. */
function rolloutProgress(component: 'PD' | 'TiKV', sts: StatefulSetObservation, desired: number): Progress | undefined {
  if (sts.generation !== undefined && sts.observedGeneration !== undefined && sts.observedGeneration < sts.generation) {
    return { reason: 'RollingUpdate', message: `the ${component} StatefulSet controller has not yet seen the latest spec` };
  }
  if (sts.specReplicas !== desired) {
    return { reason: 'Scaling', message: `scaling ${component} from ${sts.specReplicas} to ${desired} pods` };
  }
  if (sts.replicas !== sts.specReplicas) {
    return { reason: 'Scaling', message: `${component}: ${sts.replicas} of ${sts.specReplicas} pods exist` };
  }
  if ((sts.updateRevision && sts.currentRevision !== sts.updateRevision) || sts.updatedReplicas < sts.specReplicas) {
    return {
      reason: 'RollingUpdate',
      message: `${component}: ${sts.updatedReplicas} of ${sts.specReplicas} pods updated${sts.updateRevision ? ` to ${sts.updateRevision}` : ''}`,
    };
  }
  if (sts.readyReplicas < sts.specReplicas) {
    return { reason: 'WaitingForPods', message: `${component}: ${sts.readyReplicas} of ${sts.specReplicas} pods ready` };
  }
  return undefined;
}

function progressItems(input: ConditionInput): Progress[] {
  const items: Progress[] = [];
  const push = (p: Progress | undefined) => p && items.push(p);
  const { cluster, desired } = input;
  if (!input.pdStatefulSet) {
    return [{ reason: 'Creating', message: `creating the PD StatefulSet ${cluster.name}-pd` }];
  }
  push(rolloutProgress('PD', input.pdStatefulSet, desired.pd));
  if (!input.pdBootstrapped) {
    push({ reason: 'Bootstrapping', message: 'waiting for the initial PD members to become healthy and form the cluster' });
  }
  if (input.pd.kind === 'Observed' && input.pd.members.length < desired.pd) {
    push({ reason: 'MembersJoining', message: `${input.pd.members.length} of ${desired.pd} PD members have joined` });
  }
  if (!input.tikvStatefulSet) {
    push({ reason: 'Bootstrapping', message: 'TiKV is created once PD is available' });
  } else {
    push(rolloutProgress('TiKV', input.tikvStatefulSet, desired.tikv));
  }
  if (input.stores.kind === 'NotBootstrapped') {
    push({ reason: 'Bootstrapping', message: 'waiting for the first TiKV store to bootstrap the cluster' });
  } else if (input.stores.kind === 'Observed') {
    const active = input.stores.stores.filter(ACTIVE);
    for (const s of active.filter((x) => x.state === 'Offline')) {
      push({ reason: 'RemovingStores', message: describeOffline(s) });
    }
    const joined = active.filter((s) => s.state !== 'Offline').length;
    if (joined < desired.tikv) push({ reason: 'StoresJoining', message: `${joined} of ${desired.tikv} TiKV stores have registered with PD` });
  }
  return items;
}

/** Progressing: a StatefulSet is rolling out or scaling, or the cluster is still forming. */
function progressing(input: ConditionInput): ConditionState {
  if (input.invalid !== undefined) return { status: 'False', reason: 'InvalidSpec', message: 'the spec is invalid; see the Ready condition' };
  if (input.paused) {
    return { status: 'False', reason: 'Paused', message: 'spec.paused is true: the operator leaves the objects alone; set it to false to resume' };
  }
  const items = progressItems(input);
  if (items.length === 0) {
    return { status: 'False', reason: 'UpToDate', message: 'every StatefulSet is rolled out and every PD member and TiKV store has joined' };
  }
  const bootstrapping = items.find((i) => i.reason === 'Creating' || i.reason === 'Bootstrapping');
  return {
    status: 'True',
    reason: (bootstrapping ?? items[0])?.reason ?? 'Progressing',
    message: listProblems(items.map((i) => i.message)),
  };
}

/**
 * Ready: PD available, every desired member present and healthy, exactly the desired
 * number of stores (tombstones aside) all Up, and both StatefulSets rolled out.
 */
function ready(input: ConditionInput, pdAvail: ConditionState): ConditionState {
  if (input.invalid !== undefined) {
    return { status: 'False', reason: 'InvalidSpec', message: `the spec is invalid: ${input.invalid}; fix the TikvCluster spec` };
  }
  // Known whatever PD says: the spec did not reach the objects, so the cluster is not as desired.
  if (input.applyFailed !== undefined) {
    return { status: 'False', reason: 'ApplyFailed', message: `the apiserver refused an object, the operator retries with backoff: ${input.applyFailed}` };
  }
  if (input.pd.kind === 'Unreachable') return pointToPD('PD is unreachable');
  if (input.stores.kind === 'Unknown') return pointToStores('the TiKV store states are unknown');
  const unmet: Progress[] = [];
  const { desired } = input;
  if (pdAvail.status !== 'True') unmet.push({ reason: 'PDUnavailable', message: `PD is not available (see PDAvailable)` });
  const members = input.pd.members;
  const healthy = members.filter((m) => m.health).length;
  if (pdAvail.status === 'True' && (members.length !== desired.pd || healthy !== members.length)) {
    unmet.push({ reason: 'PDMembersNotReady', message: `${healthy} healthy of ${members.length} PD members, ${desired.pd} desired` });
  }
  if (input.stores.kind === 'NotBootstrapped') {
    unmet.push({ reason: 'TiKVNotBootstrapped', message: 'TiKV has not bootstrapped yet' });
  } else {
    const active = input.stores.stores.filter(ACTIVE);
    const up = active.filter(IS_UP).length;
    if (up !== desired.tikv || active.length !== up) {
      unmet.push({ reason: 'StoresNotUp', message: `${storesUp(up, desired.tikv)}${storeBreakdown(active, desired.tikv)}` });
    }
  }
  for (const [component, sts, want] of [
    ['PD', input.pdStatefulSet, desired.pd],
    ['TiKV', input.tikvStatefulSet, desired.tikv],
  ] as const) {
    if (!sts) unmet.push({ reason: 'RollingOut', message: `the ${component} StatefulSet does not exist yet` });
    else {
      const p = rolloutProgress(component, sts, want);
      if (p) unmet.push({ reason: 'RollingOut', message: p.message });
    }
  }
  if (unmet.length === 0) {
    return {
      status: 'True',
      reason: 'ClusterReady',
      message: `${desired.pd} PD members healthy, ${desired.tikv} TiKV stores Up, StatefulSets rolled out`,
    };
  }
  return { status: 'False', reason: unmet[0]?.reason ?? 'NotReady', message: listProblems(unmet.map((u) => u.message)) };
}

/**
 * Upserts one condition following metav1.Condition rules: `lastTransitionTime` moves only
 * when `status` flips; reason, message and observedGeneration always follow the newest input.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
  state: ConditionState,
  generation: number | undefined,
  now: Date,
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === type);
  const before = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    type,
    status: state.status,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    lastTransitionTime: before && before.status === state.status ? before.lastTransitionTime : rfc3339(now),
    reason: state.reason,
    message: state.message.slice(0, 32768),
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

/**
 * The five standard conditions, in a fixed order, followed by any other condition types
 * already present (left untouched). Unknown PD yields Unknown, never a guessed False.
 */
export function deriveConditions(prev: readonly Condition[] | undefined, input: ConditionInput, generation: number | undefined, now: Date): Condition[] {
  const pdAvail = pdAvailable(input);
  const states: Record<ConditionType, ConditionState> = {
    Ready: ready(input, pdAvail),
    PDAvailable: pdAvail,
    TiKVAvailable: tikvAvailable(input),
    Progressing: progressing(input),
    Degraded: degraded(input),
  };
  let out: Condition[] = [...(prev ?? [])];
  for (const type of CONDITION_TYPES) out = setCondition(out, type, states[type], generation, now);
  const rank = (t: string) => {
    const r = (CONDITION_TYPES as readonly string[]).indexOf(t);
    return r < 0 ? CONDITION_TYPES.length : r;
  };
  return out.map((c, i) => ({ c, i })).sort((a, b) => rank(a.c.type) - rank(b.c.type) || a.i - b.i).map(({ c }) => c);
}
