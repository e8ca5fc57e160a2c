// Status derivation: pure functions from observations (PD answers, StatefulSet status) to
// the TikvCluster status. No I/O, `now` is passed in, so every rule is unit-testable.
import type { V1StatefulSet } from '@kubernetes/client-node';
import { podNameOfStoreAddress } from '../../api/names.js';
import type { Condition, PDMemberStatus, TiKVStoreStatus, TikvClusterStatus } from '../../api/v1alpha1.js';
import { type ClusterRef, compareIds, type PDMember, type PDMemberHealth, type PDMembers, type PDStore } from './client.js';
import { isPDError } from './json.js';

export type PDStatus = NonNullable<TikvClusterStatus['pd']>;
export type TiKVStatus = NonNullable<TikvClusterStatus['tikv']>;
export type Phase = NonNullable<TikvClusterStatus['phase']>;

/** Kubernetes times are second-precision RFC 3339. */
export const rfc3339 = (d: Date) => `${d.toISOString().slice(0, 19)}Z`;

// --- PD members -----------------------------------------------------------------------

export interface PDObservation {
  health: PDMemberHealth[];
  members: PDMembers;
  /** From /leader; falls back to members.leader. */
  leader?: PDMember;
}

/**
 * A member that has not finished joining has no name; its peer URL still names the pod
 * (`http://<pod>.<peer-svc>.<ns>.svc:2380`). The key must be unique and non-empty.
 */
function memberName(name: string, peerURLs: readonly string[], id: string): string {
  if (name) return name;
  const host = peerURLs[0] ? safeHost(peerURLs[0]) : undefined;
  const pod = host?.split('.')[0];
  return pod && /^[a-z][-a-z0-9]*-pd-\d+$/.test(pod) ? pod : `unnamed-${id}`;
}

function safeHost(url: string): string | undefined {
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}

/**
 * PD status from /health, /members and /leader. Members are joined by id (names can be
 * missing); `lastTransitionTime` moves only when a member's health changes. `replicas`,
 * `readyReplicas` and `bootstrapped` belong to the controller and are carried over from `prev`.
 * The cluster ID is `obs.members.clusterID` (status.clusterID).
 */
export function derivePDStatus(prev: PDStatus | undefined, obs: PDObservation, now: Date): PDStatus {
  const healthById = new Map(obs.health.map((h) => [h.id, h]));
  const prevByName = new Map((prev?.members ?? []).map((m) => [m.name, m]));
  const seen = new Set<string>();
  const members: PDMemberStatus[] = [];
  const add = (id: string, name: string, clientURLs: readonly string[]) => {
    if (seen.has(id)) return;
    seen.add(id);
    const health = healthById.get(id)?.health ?? false;
    const before = prevByName.get(name);
    const unchanged = before && before.id === id && before.health === health && before.lastTransitionTime;
    members.push({
      name,
      id,
      ...(clientURLs[0] ? { clientURL: clientURLs[0] } : {}),
      health,
      lastTransitionTime: unchanged ? before.lastTransitionTime : rfc3339(now),
    });
  };
  for (const m of obs.members.members) add(m.id, memberName(m.name, m.peerURLs, m.id), m.clientURLs);
  // /health lists etcd members; one missing from /members is still a member
  for (const h of obs.health) add(h.id, memberName(h.name, [], h.id), h.clientURLs);
  dedupeNames(members);
  members.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const leader = obs.leader ?? obs.members.leader;
  const leaderName = leader ? memberName(leader.name, leader.peerURLs, leader.id) : undefined;
  const { leader: _oldLeader, members: _oldMembers, ...carried } = prev ?? {};
  return { ...carried, ...(leaderName ? { leader: leaderName } : {}), members };
}

/** `name` is the list-map key in the CRD: two members must never share it. */
function dedupeNames(members: PDMemberStatus[]): void {
  const count = new Map<string, number>();
  for (const m of members) count.set(m.name, (count.get(m.name) ?? 0) + 1);
  for (const m of members) if ((count.get(m.name) ?? 0) > 1) m.name = `${m.name}-${m.id}`;
}

// --- TiKV stores ----------------------------------------------------------------------

/**
 * TiKV status from PD's store list (tombstones included). Only this cluster's stores are
 * kept, recognized by their advertise address; `lastTransitionTime` moves only when the
 * state changes. `replicas`, `readyReplicas` and `selector` are carried over from `prev`.
 */
export function deriveTiKVStatus(prev: TiKVStatus | undefined, obs: { stores: PDStore[] }, cluster: ClusterRef, now: Date): TiKVStatus {
  const prevById = new Map((prev?.stores ?? []).map((s) => [s.id, s]));
  const stores: TiKVStoreStatus[] = [];
  for (const s of obs.stores) {
    const podName = podNameOfStoreAddress(cluster.name, cluster.namespace, s.address);
    if (!podName) continue;
    const before = prevById.get(s.id);
    const unchanged = before && before.state === s.stateName && before.lastTransitionTime;
    stores.push({
      id: s.id,
      podName,
      address: s.address,
      state: s.stateName,
      leaderCount: s.leaderCount,
      regionCount: s.regionCount,
      ...(s.capacity ? { capacity: s.capacity } : {}),
      ...(s.available ? { available: s.available } : {}),
      ...(s.lastHeartbeatTS ? { lastHeartbeatTime: s.lastHeartbeatTS } : {}),
      lastTransitionTime: unchanged ? before.lastTransitionTime : rfc3339(now),
    });
  }
  stores.sort((a, b) => compareIds(a.id, b.id));
  const { stores: _old, ...carried } = prev ?? {};
  return { ...carried, stores };
}

// --- conditions -----------------------------------------------------------------------

export const CONDITION_TYPES = ['Ready', 'PDAvailable', 'TiKVAvailable', 'Progressing', 'Degraded'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export interface StatefulSetObservation {
  /** spec.replicas */
  specReplicas: number;
  /** status.replicas: pods that exist. */
  replicas: number;
  readyReplicas: number;
  updatedReplicas: number;
  currentRevision?: string;
  updateRevision?: string;
  generation?: number;
  observedGeneration?: number;
}

/** What PD said about its members, or why it could not be asked. */
export type PDMembersObservation =
  | { kind: 'Observed'; members: PDMemberStatus[]; leader?: string }
  | { kind: 'Unreachable'; error: string };

/** What PD said about the stores (already derived into status form, this cluster's only). */
export type StoresObservation =
  | { kind: 'Observed'; stores: TiKVStoreStatus[] }
  | { kind: 'NotBootstrapped' }
  | { kind: 'Unknown'; error: string };

export interface ConditionInput {
  cluster: ClusterRef;
  desired: { pd: number; tikv: number };
  /** Undefined when the StatefulSet does not exist (yet). */
  pdStatefulSet?: StatefulSetObservation;
  tikvStatefulSet?: StatefulSetObservation;
  pd: PDMembersObservation;
  stores: StoresObservation;
  /** status.pd.bootstrapped: the initial PD members formed the cluster. */
  pdBootstrapped: boolean;
  paused: boolean;
  /** Why the spec is invalid, when it is. */
  invalid?: string;
  /** What the apiserver refused to apply in this reconcile, when it refused. */
  applyFailed?: string;
}

interface ConditionState {
  status: Condition['status'];
  reason: string;
  message: string;
}

export function observeStatefulSet(sts: V1StatefulSet | undefined): StatefulSetObservation | undefined {
  if (!sts) return undefined;
  const st = sts.status;
  return {
    specReplicas: sts.spec?.replicas ?? 1,
    replicas: st?.replicas ?? 0,
    readyReplicas: st?.readyReplicas ?? 0,
    updatedReplicas: st?.updatedReplicas ?? 0,
    ...(st?.currentRevision ? { currentRevision: st.currentRevision } : {}),
    ...(st?.updateRevision ? { updateRevision: st.updateRevision } : {}),
    ...(sts.metadata?.generation !== undefined ? { generation: sts.metadata.generation } : {}),
    ...(st?.observedGeneration !== undefined ? { observedGeneration: st.observedGeneration } : {}),
  };
}

/** A failed /stores call as a StoresObservation: "not bootstrapped" is an answer, not an unknown. */
export function storesObservationOfError(e: unknown): StoresObservation {
  if (isPDError(e) && e.notBootstrapped) return { kind: 'NotBootstrapped' };
  return { kind: 'Unknown', error: errorText(e) };
}

export const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
const quorum = (n: number) => Math.floor(n / 2) + 1;
const MAX_LISTED = 8;

/** One item reads as a clause; several become sentences, since items use ";" themselves. */
function listProblems(items: string[]): string {
  const shown = items.slice(0, MAX_LISTED);
  if (items.length > MAX_LISTED) shown.push(`and ${items.length - MAX_LISTED} more`);
  if (shown.length === 1) return shown[0] ?? '';
  return shown.map((i) => `${i.charAt(0).toUpperCase()}${i.slice(1)}.`).join(' ');
}

/** "summary: item" for one item, "Summary. Item one. Item two." for several. */
function withDetails(summary: string, items: string[]): string {
  if (items.length === 0) return summary;
  if (items.length === 1) return `${summary}: ${items[0]}`;
  return listProblems([summary, ...items]);
}

/** Coarser as it grows, so a condition message does not change on every poll of a long outage. */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 120) return `${s}s`;
  if (s < 2 * 3600) return `${Math.floor(s / 60)}m`;
  if (s < 2 * 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

const storeLabel = (s: TiKVStoreStatus) => `store ${s.id} (${s.podName ?? s.address})`;
const podHint = (s: TiKVStoreStatus) => `check the pod ${s.podName ?? `at ${s.address}`}`;

function heartbeatAge(s: TiKVStoreStatus, now: Date): string {
  if (!s.lastHeartbeatTime) return 'PD never received a heartbeat from it';
  return `no heartbeat for ${formatAge((now.getTime() - Date.parse(s.lastHeartbeatTime)) / 1000)}`;
}

function describeStoreProblem(s: TiKVStoreStatus, now: Date): string {
  switch (s.state) {
    case 'Disconnected':
      return `${storeLabel(s)} is Disconnected: ${heartbeatAge(s, now)}; ${podHint(s)}`;
    case 'Down':
      return `${storeLabel(s)} is Down: ${heartbeatAge(s, now)}; PD is re-creating its Region replicas on other stores; ${podHint(s)}`;
    case 'Offline':
      return describeOffline(s);
    default:
      return `${storeLabel(s)} is ${s.state}; ${podHint(s)}`;
  }
}

const describeOffline = (s: TiKVStoreStatus) => `${storeLabel(s)} is Offline: PD is moving its Regions away before removing it`;
const describeUnhealthyMember = (m: PDMemberStatus) => `PD member ${m.name} is unhealthy; check its pod and logs`;

const ACTIVE = (s: TiKVStoreStatus) => s.state !== 'Tombstone';
const IS_UP = (s: TiKVStoreStatus) => s.state === 'Up';
/** Offline is a store being removed on purpose (scale-in): progress, not degradation. */
const IS_FAULTY = (s: TiKVStoreStatus) => s.state !== 'Up' && s.state !== 'Tombstone' && s.state !== 'Offline';

const pdUnreachable = (error: string): ConditionState => ({
  status: 'Unknown',
  reason: 'PDUnreachable',
  message: `PD is unreachable: ${error}; the operator will not change PD members or stores until it can reach PD`,
});

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
function tikvAvailable(input: ConditionInput, now: Date): ConditionState {
  if (input.pd.kind === 'Unreachable') return pdUnreachable(input.pd.error);
  const { stores: obs } = input;
  if (obs.kind === 'Unknown') {
    return { status: 'Unknown', reason: 'StoresUnknown', message: `cannot read the TiKV stores from PD: ${obs.error}` };
  }
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
  const problems = active.filter(IS_FAULTY).map((s) => describeStoreProblem(s, now));
  const unregistered = desired - up - problems.length;
  const missing = unregistered > 0 ? [`${plural(unregistered, 'desired store')} not registered with PD`] : [];
  const details = [...problems, ...missing];
  const summary = `${up} of ${desired} TiKV stores Up`;
  if (up >= quorum(desired)) {
    return up >= desired && problems.length === 0
      ? { status: 'True', reason: 'AllStoresUp', message: summary }
      : { status: 'True', reason: 'SomeStoresNotUp', message: withDetails(summary, details) };
  }
  return {
    status: 'False',
    reason: up === 0 ? 'NoStoresUp' : 'TooFewStoresUp',
    message: withDetails(`${summary}, fewer than the ${quorum(desired)} needed to serve every Region`, details),
  };
}

/** Degraded: a PD member unhealthy or a store Disconnected/Down (anything but Up, Offline, Tombstone). */
function degraded(input: ConditionInput, now: Date): ConditionState {
  if (input.pd.kind === 'Unreachable') return pdUnreachable(input.pd.error);
  const members = input.pd.members.filter((m) => !m.health).map(describeUnhealthyMember);
  const stores = input.stores.kind === 'Observed' ? input.stores.stores.filter(IS_FAULTY).map((s) => describeStoreProblem(s, now)) : [];
  if (members.length === 0 && stores.length === 0) {
    if (input.stores.kind === 'Unknown') {
      return { status: 'Unknown', reason: 'StoresUnknown', message: `cannot read the TiKV stores from PD: ${input.stores.error}` };
    }
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
  if (input.pd.kind === 'Unreachable') return pdUnreachable(input.pd.error);
  if (input.stores.kind === 'Unknown') {
    return { status: 'Unknown', reason: 'StoresUnknown', message: `cannot read the TiKV stores from PD: ${input.stores.error}` };
  }
  const unmet: Progress[] = [];
  const { desired } = input;
  if (pdAvail.status !== 'True') unmet.push({ reason: 'PDUnavailable', message: pdAvail.message });
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
      const others = active.length - up;
      unmet.push({
        reason: 'StoresNotUp',
        message: `${up} of ${desired.tikv} TiKV stores Up${others ? ` (${plural(others, 'other store')} not Up)` : ''}`,
      });
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
    TiKVAvailable: tikvAvailable(input, now),
    Progressing: progressing(input),
    Degraded: degraded(input, now),
  };
  let out: Condition[] = [...(prev ?? [])];
  for (const type of CONDITION_TYPES) out = setCondition(out, type, states[type], generation, now);
  const rank = (t: string) => {
    const r = (CONDITION_TYPES as readonly string[]).indexOf(t);
    return r < 0 ? CONDITION_TYPES.length : r;
  };
  return out.map((c, i) => ({ c, i })).sort((a, b) => rank(a.c.type) - rank(b.c.type) || a.i - b.i).map(({ c }) => c);
}

const isTrue = (conditions: readonly Condition[], type: ConditionType) => conditions.find((c) => c.type === type)?.status === 'True';

/**
 * One-word summary. `prevPhase` keeps a cluster that has never been Running in
 * Pending/Bootstrapping instead of Updating while its first pods come up.
 */
export function derivePhase(conditions: readonly Condition[], paused: boolean, invalid: boolean, prevPhase?: Phase): Phase {
  if (invalid) return 'Invalid';
  if (paused) return 'Paused';
  if (isTrue(conditions, 'Ready')) return 'Running';
  const progressingReason = conditions.find((c) => c.type === 'Progressing' && c.status === 'True')?.reason;
  const neverRan = prevPhase === undefined || prevPhase === 'Pending' || prevPhase === 'Bootstrapping';
  // while a cluster forms, members are unhealthy and stores missing as a matter of course
  if (progressingReason && neverRan) {
    return progressingReason === 'Creating' && prevPhase !== 'Bootstrapping' ? 'Pending' : 'Bootstrapping';
  }
  if (isTrue(conditions, 'Degraded')) return 'Degraded';
  return progressingReason ? 'Updating' : 'Degraded';
}

// --- change detection -----------------------------------------------------------------

export interface StatusEqualOptions {
  /**
   * Ignore per-store values that move with every heartbeat while nothing is wrong
   * (lastHeartbeatTime, leaderCount, regionCount, available), so a cluster at rest is
   * not re-patched on every poll.
   */
  ignoreVolatile?: boolean;
}

const VOLATILE_STORE_FIELDS = ['lastHeartbeatTime', 'leaderCount', 'regionCount', 'available'] as const;

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k, canonical(v)] as const);
    return Object.fromEntries(entries);
  }
  return value;
}

const byKey =
  <T>(key: (t: T) => string, cmp: (a: string, b: string) => number = (a, b) => (a < b ? -1 : a > b ? 1 : 0)) =>
  (a: T, b: T) =>
    cmp(key(a), key(b));

/**
 * A canonical form of a status: keys sorted, undefined dropped, list-maps (conditions by
 * type, members by name, stores by id) sorted by their key. Equal statuses serialize equally.
 */
export function normalizeStatus(status: TikvClusterStatus | undefined, options: StatusEqualOptions = {}): unknown {
  if (!status) return {};
  const { conditions, pd, tikv, ...rest } = status;
  return canonical({
    ...rest,
    conditions: conditions && [...conditions].sort(byKey((c) => c.type)),
    pd: pd && { ...pd, members: pd.members && [...pd.members].sort(byKey((m) => m.name)) },
    tikv: tikv && {
      ...tikv,
      stores:
        tikv.stores &&
        [...tikv.stores]
          .sort(byKey((x) => x.id, compareIds))
          .map((x) => (options.ignoreVolatile ? omit(x, VOLATILE_STORE_FIELDS) : x)),
    },
  });
}

function omit<T extends object>(o: T, keys: readonly string[]): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k))) as Partial<T>;
}

/** Whether two statuses say the same thing, regardless of key and list order. */
export function statusEqual(a: TikvClusterStatus | undefined, b: TikvClusterStatus | undefined, options: StatusEqualOptions = {}): boolean {
  return JSON.stringify(normalizeStatus(a, options)) === JSON.stringify(normalizeStatus(b, options));
}
