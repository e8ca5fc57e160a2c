// Pure decisions of the reconcile loop: when PD counts as bootstrapped, and how many
// replicas each StatefulSet may have right now. Scale-in is where data can be lost, so
// every step down needs PD's confirmation; without it the answer is "keep what exists".
// The same holds for deleting a leftover PVC before a scale-out reuses its ordinal.
import { pdPodName, pdPvcName, tikvPodName, tikvPvcName } from '../../api/names.js';
import type { PDMemberStatus, TiKVStoreStatus } from '../../api/v1alpha1.js';

/** Entries of the `initial-cluster` value `a=http://…,b=http://…`. */
export function initialMemberCount(initialCluster: string | undefined): number | undefined {
  if (!initialCluster) return undefined;
  return initialCluster.split(',').filter((s) => s.includes('=')).length || undefined;
}

/**
 * Sticky: once the marker is written (or status says so) PD stays bootstrapped. Otherwise
 * it becomes bootstrapped when PD reports at least the initial members, all healthy.
 */
export function pdBootstrapped(args: {
  marker: string | undefined;
  statusBootstrapped: boolean | undefined;
  healthyMembers: number | undefined;
  initialMembers: number;
}): boolean {
  if (args.marker === 'true' || args.statusBootstrapped) return true;
  return args.healthyMembers !== undefined && args.healthyMembers >= args.initialMembers;
}

export type PDAction = { kind: 'transferLeader'; from: string; to: string } | { kind: 'deleteMember'; name: string };
export type TiKVAction = { kind: 'offlineStore' | 'cancelStoreRemoval'; id: string; podName: string };

export interface ScalePlan<A> {
  /** The StatefulSet replicas to apply now. */
  replicas: number;
  /** A PD call to make before the next step down. */
  action?: A;
  /** Why the scale-in waits, for the Progressing condition; unset when nothing waits. */
  waiting?: { reason: string; message: string };
}

const quorum = (n: number) => Math.floor(n / 2) + 1;

export type PDView =
  | { reachable: true; members: PDMemberStatus[]; leader?: string }
  | { reachable: false; error: string };

/**
 * PD members: scale out at once (new pods `--join`); scale in one member at a time, highest
 * ordinal first: move leadership away, remove the member from PD, then drop the pod.
 */
export function planPDReplicas(cluster: string, desired: number, live: number | undefined, pd: PDView): ScalePlan<PDAction> {
  if (live === undefined || desired >= live) return { replicas: desired };
  if (!pd.reachable) {
    return {
      replicas: live,
      waiting: { reason: 'ScaleInWaitingForPD', message: `PD scale-in from ${live} to ${desired} waits: PD is unreachable (${pd.error})` },
    };
  }
  const target = pdPodName(cluster, live - 1);
  const member = pd.members.find((m) => m.name === target);
  if (!member) return { replicas: live - 1 };
  const remaining = pd.members.filter((m) => m.name !== target);
  const healthyRemaining = remaining.filter((m) => m.health).length;
  if (healthyRemaining < quorum(remaining.length)) {
    return {
      replicas: live,
      waiting: {
        reason: 'ScaleInBlocked',
        message: `removing PD member ${target} would leave ${healthyRemaining} healthy of ${remaining.length} members, no quorum; fix the unhealthy members first`,
      },
    };
  }
  if (pd.leader === target) {
    const to = remaining.filter((m) => m.health).sort((a, b) => a.name.localeCompare(b.name))[0];
    if (to) return { replicas: live, action: { kind: 'transferLeader', from: target, to: to.name } };
  }
  return { replicas: live, action: { kind: 'deleteMember', name: target } };
}

export type StoresView =
  | { kind: 'Observed'; stores: TiKVStoreStatus[]; maxReplicas?: number }
  | { kind: 'NotBootstrapped' }
  | { kind: 'Unknown'; error: string };

/**
 * TiKV stores: scale out at once; scale in one store at a time, highest ordinal first: ask
 * PD to take the store offline (only if enough Up stores remain for max-replicas), wait
 * until PD has moved its regions away and made it a Tombstone, then drop the pod. PVCs stay.
 * A removal still under way for an ordinal the spec wants again is cancelled.
 */
export function planTiKVReplicas(cluster: string, desired: number, live: number | undefined, view: StoresView): ScalePlan<TiKVAction> {
  if (live === undefined || desired >= live) {
    const cancel = live === undefined ? undefined : removalToCancel(cluster, live, view);
    return cancel ? { replicas: desired, action: cancel } : { replicas: desired };
  }
  if (view.kind === 'Unknown') {
    return {
      replicas: live,
      waiting: { reason: 'ScaleInWaitingForPD', message: `TiKV scale-in from ${live} to ${desired} waits: PD cannot tell the store states (${view.error})` },
    };
  }
  // Before the first store bootstraps the cluster no store holds data.
  if (view.kind === 'NotBootstrapped') return { replicas: live - 1 };
  const target = tikvPodName(cluster, live - 1);
  const store = view.stores.find((s) => s.podName === target && s.state !== 'Tombstone');
  if (!store) return { replicas: live - 1 };
  if (store.state === 'Offline') {
    return {
      replicas: live,
      waiting: {
        reason: 'StoreOffline',
        message: `store ${store.id} (${target}) is Offline: PD is moving its ${store.regionCount ?? 0} regions to other stores; the pod goes once PD makes it a Tombstone`,
      },
    };
  }
  const upOthers = view.stores.filter((s) => s.state === 'Up' && s.id !== store.id).length;
  const maxReplicas = view.maxReplicas;
  if (maxReplicas === undefined) {
    return { replicas: live, waiting: { reason: 'ScaleInWaitingForPD', message: 'TiKV scale-in waits: PD did not report replication.max-replicas' } };
  }
  if (upOthers < maxReplicas) {
    return {
      replicas: live,
      waiting: {
        reason: 'ScaleInBlocked',
        message: `removing store ${store.id} (${target}) would leave ${upOthers} Up stores, fewer than PD's max-replicas ${maxReplicas}; keep spec.tikv.replicas at ${live} or lower replication.max-replicas in spec.pd.config`,
      },
    };
  }
  return { replicas: live, action: { kind: 'offlineStore', id: store.id, podName: target } };
}

/**
 * A store of a pod that exists and is wanted (ordinal below both the live and the desired
 * count) that PD is still removing: replicas were raised again before it became a
 * Tombstone. Left alone it becomes one and its pod crash-loops on tombstoned data, so the
 * removal is cancelled (PD can do that only while the store is Offline). The highest
 * ordinal first, one per reconcile. PD's own view is required: nothing is cancelled blind.
 */
function removalToCancel(cluster: string, live: number, view: StoresView): TiKVAction | undefined {
  if (view.kind !== 'Observed') return undefined;
  for (let i = live - 1; i >= 0; i--) {
    const podName = tikvPodName(cluster, i);
    const store = view.stores.find((s) => s.podName === podName && s.state === 'Offline');
    if (store) return { kind: 'cancelStoreRemoval', id: store.id, podName };
  }
  return undefined;
}

// --- scale-out over a leftover PVC ------------------------------------------------------

/** What to do with the PVC of an ordinal a scale-out is about to (re)create. */
export type ClaimDecision = { kind: 'delete'; reason: string } | { kind: 'wait'; reason: string; message: string };

const claimWait = (pvc: string, pod: string, why: string): ClaimDecision => ({
  kind: 'wait',
  reason: 'ScaleOutWaitingForPVC',
  message: `scale-out waits at ${pod}: its old PVC ${pvc} is still there and ${why}`,
});

/**
 * PVCs are retained on scale-in, so a scale-out would hand ordinal i the data of the store
 * that used to live there. Once that store is a Tombstone, TiKV refuses to start on it; the
 * PVC may go only when PD positively says so: a Tombstone at the pod's address and no
 * other store there. Anything less (PD unreachable, no record, a live store) keeps it.
 */
export function decideTiKVClaim(cluster: string, ordinal: number, view: StoresView): ClaimDecision {
  const pvc = tikvPvcName(cluster, ordinal);
  const pod = tikvPodName(cluster, ordinal);
  if (view.kind === 'Unknown') return claimWait(pvc, pod, `PD cannot tell whose data it holds (${view.error})`);
  if (view.kind === 'NotBootstrapped') return claimWait(pvc, pod, 'PD has no stores yet, so it cannot tell whose data it holds; delete the PVC if its data is not needed');
  const here = view.stores.filter((s) => s.podName === pod);
  const alive = here.find((s) => s.state !== 'Tombstone');
  if (alive) {
    return claimWait(
      pvc,
      pod,
      `holds store ${alive.id}, which PD lists as ${alive.state}, not Tombstone; remove the store in PD (pd-ctl store delete ${alive.id}) or delete the PVC if its data is not needed`,
    );
  }
  const tombstone = here.find((s) => s.state === 'Tombstone');
  if (!tombstone) return claimWait(pvc, pod, 'PD has no store at its address, so it cannot tell whose data it holds; delete the PVC if its data is not needed');
  return { kind: 'delete', reason: `store ${tombstone.id} of ${pod} is a Tombstone in PD; a new store cannot start on its data` };
}

/**
 * The PD twin: a removed member's data would make the new pod rejoin as a member PD no
 * longer knows. Deleted only when PD (reachable, bootstrapped) lists every member by its
 * pod name and none is this pod; a member without one could be it, so it blocks.
 */
export function decidePDClaim(cluster: string, ordinal: number, pd: PDView, bootstrapped: boolean): ClaimDecision {
  const pvc = pdPvcName(cluster, ordinal);
  const pod = pdPodName(cluster, ordinal);
  if (!pd.reachable) return claimWait(pvc, pod, `PD is unreachable, so it cannot tell whether the member is gone (${pd.error})`);
  if (!bootstrapped) return claimWait(pvc, pod, 'PD is not bootstrapped yet');
  if (pd.members.some((m) => m.name === pod)) {
    return claimWait(pvc, pod, `PD still lists member ${pod}; remove it (pd-ctl member delete name ${pod}) or delete the PVC if its data is not needed`);
  }
  // Status names a half-joined member `unnamed-<id>` and disambiguates twins with the id:
  // either way the name is not a pod name and says nothing about which pod it is.
  const podNamed = new RegExp(`^${cluster}-pd-\\d+$`);
  const unnamed = pd.members.find((m) => !podNamed.test(m.name));
  if (unnamed) return claimWait(pvc, pod, `PD lists member ${unnamed.id} as ${unnamed.name}, which could be ${pod}`);
  return { kind: 'delete', reason: `${pod} is not a member of PD; a new member cannot start on a removed member's data` };
}
