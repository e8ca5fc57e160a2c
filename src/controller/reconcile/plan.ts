// Pure decisions of the reconcile loop: when PD counts as bootstrapped, and how many
// replicas each StatefulSet may have right now. Scale-in is where data can be lost, so
// every step down needs PD's confirmation; without it the answer is "keep what exists".
import { pdPodName, tikvPodName } from '../../api/names.js';
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
export type TiKVAction = { kind: 'offlineStore'; id: string; podName: string };

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
 */
export function planTiKVReplicas(cluster: string, desired: number, live: number | undefined, view: StoresView): ScalePlan<TiKVAction> {
  if (live === undefined || desired >= live) return { replicas: desired };
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
