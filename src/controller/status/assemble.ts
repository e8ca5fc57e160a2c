// The whole TikvCluster status of one reconcile, from what it observed and what its steps
// waited for: PD's members and stores (transition times carried over), the StatefulSets'
// counts, the five conditions, and the phase. Pure: `now` is passed in.

import type { Condition, TikvClusterStatus } from '../../api/v1alpha1.js';
import { selectorLabels } from '../../charts/labels.js';
import type { LiveStatefulSet } from '../kube/objects.js';
import type { MembersView, StoresView } from '../pd/view.js';
import type { ClusterRef } from '../ref.js';
import { deriveConditions, setCondition } from './conditions.js';
import { derivePDStatus, deriveTiKVStatus } from './members.js';
import { derivePhase } from './phase.js';
import { IS_UP } from './messages.js';
import { observeStatefulSet, runningVersion } from './statefulset.js';

/** Something a step waits for, for the Progressing condition. */
export interface Wait {
  reason: string;
  message: string;
  /** Set when only the user can end the wait: Ready False with this wait's reason and these words. */
  blocked?: string;
}

export interface StatusInput {
  cluster: ClusterRef;
  /** The status the cluster has (or the one this process last wrote, when the cache lags). */
  prev: TikvClusterStatus | undefined;
  generation: number | undefined;
  desired: { pd: number; tikv: number };
  paused: boolean;
  members: MembersView;
  stores: StoresView;
  bootstrapped: boolean;
  statefulSets: { pd?: LiveStatefulSet; tikv?: LiveStatefulSet };
  /** What the steps wait for, in step order. */
  waits: readonly Wait[];
  /** What the apiserver refused to apply, as `Kind/name: message`. */
  applyErrors: readonly string[];
}

export function assembleStatus(input: StatusInput, now: Date): TikvClusterStatus {
  const prev = input.prev ?? {};
  const { generation, members, stores, bootstrapped } = input;
  // While PD is unreachable, what it said last stays; the conditions say it is stale.
  const pdStatus = members.kind === 'Observed' ? derivePDStatus(prev.pd, members, now) : prev.pd;
  const tikvStatus = members.kind === 'Observed' && stores.kind === 'Observed' ? deriveTiKVStatus(prev.tikv, stores, now) : prev.tikv;
  const pdSts = observeStatefulSet(input.statefulSets.pd);
  const tikvSts = observeStatefulSet(input.statefulSets.tikv);
  const selector = Object.entries(selectorLabels(input.cluster.name, 'tikv'))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

  let conditions: Condition[] = deriveConditions(
    prev.conditions,
    {
      cluster: input.cluster,
      desired: input.desired,
      pdStatefulSet: pdSts,
      tikvStatefulSet: tikvSts,
      pd: members,
      stores,
      pdBootstrapped: bootstrapped,
      paused: input.paused,
      ...(input.applyErrors.length ? { applyFailed: input.applyErrors.join('; ') } : {}),
    },
    generation,
    now,
  );
  // A scale-in that waits on PD is progress the generic rules cannot see.
  const wait = input.waits.find((w) => w.reason !== 'WaitingForPD');
  if (wait && !input.paused) {
    conditions = setCondition(conditions, 'Progressing', { status: 'True', reason: wait.reason, message: wait.message }, generation, now);
  }
  // A wait only the user can end is why the cluster is not Ready, whatever the counts say
  // ("3 TiKV stores Up, 2 desired" says nothing to someone waiting for Ready).
  const blocked = input.waits.find((w) => w.blocked !== undefined);
  const ready = conditions.find((c) => c.type === 'Ready');
  if (blocked?.blocked && !input.paused && ready?.status === 'False' && ready.reason !== 'ApplyFailed') {
    conditions = setCondition(conditions, 'Ready', { status: 'False', reason: blocked.reason, message: blocked.blocked }, generation, now);
  }
  // Invalid and Paused say nothing about whether the cluster ever ran; one whose PD never
  // bootstrapped has not, so it reads Pending/Bootstrapping again rather than Updating.
  const prevPhase = (prev.phase === 'Invalid' || prev.phase === 'Paused') && !bootstrapped ? undefined : prev.phase;
  const phase = derivePhase(conditions, input.paused, false, prevPhase);
  const clusterID = (members.kind === 'Observed' ? members.clusterID : undefined) ?? prev.clusterID;
  const version = runningVersion(input.statefulSets.pd, input.statefulSets.tikv, prev.version);
  const upStores = tikvStatus?.stores ? tikvStatus.stores.filter(IS_UP).length : undefined;
  return {
    observedGeneration: generation,
    ...(prev.lastSyncTime ? { lastSyncTime: prev.lastSyncTime } : {}),
    ...(version ? { version } : {}),
    phase,
    conditions,
    ...(clusterID ? { clusterID } : {}),
    pd: { ...(pdStatus ?? {}), replicas: pdSts?.replicas ?? 0, readyReplicas: pdSts?.readyReplicas ?? 0, bootstrapped },
    tikv: {
      ...(tikvStatus ?? {}),
      replicas: tikvSts?.replicas ?? 0,
      readyReplicas: tikvSts?.readyReplicas ?? 0,
      ...(upStores !== undefined ? { upStores } : {}),
      selector,
    },
  };
}

/** Over whatever status the cluster had: Ready and Progressing False, reason InvalidSpec. */
export function invalidStatus(prev: TikvClusterStatus | undefined, message: string, generation: number | undefined, now: Date): TikvClusterStatus {
  const before = prev ?? {};
  let conditions = setCondition(before.conditions, 'Ready', { status: 'False', reason: 'InvalidSpec', message }, generation, now);
  conditions = setCondition(conditions, 'Progressing', { status: 'False', reason: 'InvalidSpec', message }, generation, now);
  return { ...before, observedGeneration: generation, phase: 'Invalid', conditions };
}

/** Over whatever status the cluster had: Ready False, reason ReconcileError, with the error. */
export function reconcileErrorStatus(prev: TikvClusterStatus | undefined, message: string, generation: number | undefined, now: Date): TikvClusterStatus {
  const before = prev ?? {};
  const conditions = setCondition(before.conditions, 'Ready', { status: 'False', reason: 'ReconcileError', message }, generation, now);
  return { ...before, phase: before.phase ?? 'Pending', conditions };
}
