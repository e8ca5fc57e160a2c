// Pure decisions of the reconcile loop: when PD counts as bootstrapped, and how many
// replicas each StatefulSet may have right now. Scale-in is where data can be lost, so
// every step down needs PD's confirmation; without it the answer is "keep what exists".
// The same holds for deleting a leftover PVC before a scale-out reuses its ordinal.
import { pdPodName, pdPvcName, tikvPodName, tikvPvcName } from '../../api/names.js';
import { ADMISSION_GATE, CLAIM_ADMISSION_ANNOTATION, CLAIM_ADMITTED, CLAIM_CLUSTER_ID_ANNOTATION, CLAIM_MEMBER_ANNOTATION, CLAIM_PENDING, CLAIM_STORE_ANNOTATION } from '../../charts/admission.js';
import { hasGate, type LiveStatefulSet } from '../kube/objects.js';
import type { PodIncarnation } from '../kube/pods.js';
import { type MembersView, quorum, type StoresView } from '../pd/view.js';

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

/** Deletes one incarnation (uid) of a pod that was admitted but never registered. */
export type RestartPod = { kind: 'restartPod'; podName: string; uid: string };
export type PDAction = { kind: 'transferLeader'; from: string; to: string } | { kind: 'deleteMember'; name: string } | RestartPod;
export type TiKVAction = { kind: 'offlineStore' | 'cancelStoreRemoval'; id: string; podName: string } | RestartPod;

export interface ScalePlan<A> {
  /** The StatefulSet replicas to apply now. */
  replicas: number;
  /** A PD call to make before the next step down. */
  action?: A;
  /**
   * Why the scale-in waits, for the Progressing condition; unset when nothing waits. A wait
   * only the user can end (ScaleInBlocked) also has `blocked`: Ready's short words, with the fix.
   */
  waiting?: { reason: string; message: string; blocked?: string };
  /**
   * The ordinal whose removal waits for a RemovalProof: PD lists no store or member for
   * it, which alone proves nothing (its process may be registering right now).
   */
  prove?: number;
}

// --- the admission fence on scale-in ------------------------------------------------------
//
// Why the race between "PD lists no store for pod k" and "shrink the StatefulSet" cannot
// happen: a pod starts gated (charts/admission.ts) and only this reconcile removes gates,
// never for the ordinal it is removing. So the pod about to go is either
//  - still gated: it was never scheduled, never ran, and cannot run before it is gone;
//  - absent while the StatefulSet can only create it gated: the same, for the pod to come;
//  - admitted: it may be starting a store right now, and PD's "no store" proves nothing.
//    It is not removed; that incarnation is deleted (uid precondition) instead, and the
//    decision is taken again once it is gone, about its gated replacement.
// Every earlier incarnation is gone by then, and the PD read the decision uses is made
// after the pod read (the reconciler orders them), so a store any incarnation registered
// is in that PD answer. What this leans on: only the operator removes the gate, and a
// process is dead once the apiserver no longer has its pod (the kubelet deletes the pod
// only after its containers stopped; a force delete, or a registration still in flight
// from a process that already died, are outside it).
// A store PD made a Tombstone needs none of this when the ordinal's PVC records that
// store (written before PD was asked to remove it): every pod on that PVC runs that
// store, which cannot come back.

/** What fresh reads showed about the ordinal a scale-in would remove on "PD lists none". */
export interface RemovalProof {
  /** The ordinal's pod (a GET made before the PD read the plan is given); undefined: none. */
  pod?: PodIncarnation;
  /** Whether the StatefulSet (a fresh GET) can only create that ordinal's pod gated. */
  recreatedGated: boolean;
  /** The store or member id the ordinal's PVC records as its data. */
  recorded?: string;
}

const proveWait = (podName: string, what: string) => ({
  reason: 'ScaleInConfirming',
  message: `checking that ${podName} never ran a ${what} before removing it`,
});

function removeUnregistered<A>(podName: string, what: 'store' | 'member', live: number, proof: RemovalProof | undefined): ScalePlan<A | RestartPod> {
  if (!proof) return { replicas: live, prove: live - 1, waiting: proveWait(podName, what) };
  const wait = (message: string) => ({ replicas: live, waiting: { reason: 'ScaleInWaitingForPod', message } });
  const { pod } = proof;
  if (!pod) {
    if (proof.recreatedGated) return { replicas: live - 1 };
    return wait(`${podName} does not exist yet and its StatefulSet could create it without the admission gate; its removal waits for the pod`);
  }
  if (pod.deleting) return wait(`${podName} is terminating and could still start a ${what}; its removal waits until it is gone`);
  if (pod.gated) return { replicas: live - 1 };
  if (!proof.recreatedGated) {
    return wait(
      `${podName} runs without the admission gate (its StatefulSet predates it) and PD lists no ${what} for it; its removal waits until it registers (then it is removed through PD) or a rolling update replaces it with a gated pod`,
    );
  }
  return {
    replicas: live,
    action: { kind: 'restartPod', podName, uid: pod.uid },
    waiting: {
      reason: 'ScaleInRestartingPod',
      message: `${podName} was admitted but PD lists no ${what} for it: deleting this incarnation so that it cannot register while it is removed; its gated replacement is removed next`,
    },
  };
}

/**
 * Whether the StatefulSet creates the pod of `ordinal` with the admission gate: its
 * template has it and its status has caught up; mid-roll, ordinals below the partition
 * come from the current revision, which then must be the update revision too.
 */
export function recreatesGated(sts: LiveStatefulSet | undefined, ordinal: number, gate = ADMISSION_GATE): boolean {
  if (!sts) return false;
  const { spec, status } = sts;
  if (!hasGate(spec?.template, gate)) return false;
  if ((status?.observedGeneration ?? 0) < (sts.metadata.generation ?? 0)) return false;
  if (status?.updateRevision !== undefined && status.currentRevision === status.updateRevision) return true;
  return ordinal >= (spec?.updateStrategy?.rollingUpdate?.partition ?? 0);
}

// --- a wanted pod whose data PD buried ------------------------------------------------
//
// A scale-in that reached PD's end (store Tombstone, member removed) but not yet the
// StatefulSet write leaves a pod on dead data when the spec wants it again: TiKV refuses to
// start on a tombstoned store, PD on a removed member's data. The pod cannot run again;
// removing it is safe on the PVC's record alone (a pod on that PVC can only run what PD
// buried), and the scale-out that follows replaces the PVC through the usual rules.

/** The top ordinal when PD lists only Tombstones for its pod (the reconciler then checks the PVC's record). */
export function buriedTiKVTop(cluster: string, live: number | undefined, view: StoresView): number | undefined {
  if (live === undefined || live < 1 || view.kind !== 'Observed') return undefined;
  const here = view.stores.filter((s) => s.podName === tikvPodName(cluster, live - 1));
  return here.length > 0 && here.every((s) => s.state === 'Tombstone') ? live - 1 : undefined;
}

/** The top ordinal when a bootstrapped PD lists every member by pod name and none for it. */
export function removedPDTop(cluster: string, live: number | undefined, pd: MembersView, bootstrapped: boolean): number | undefined {
  if (live === undefined || live < 1 || !bootstrapped || pd.kind === 'Unreachable' || pd.members.length === 0) return undefined;
  const target = pdPodName(cluster, live - 1);
  const podNamed = new RegExp(`^${cluster}-pd-\\d+(-\\d+)?$`);
  if (pd.members.some((m) => !podNamed.test(m.name) || m.name === target || m.name.startsWith(`${target}-`))) return undefined;
  return live - 1;
}

/**
 * The plan that replaces the top pod (one ordinal down), when its PVC records the store or
 * member PD buried; undefined when it does not (a new pod on a new volume, say).
 */
export function replaceBuried<A>(
  podName: string,
  live: number,
  recorded: string | undefined,
  buried: (id: string) => boolean,
  what: 'store' | 'member',
): ScalePlan<A> | undefined {
  if (recorded === undefined || !buried(recorded)) return undefined;
  const gone = what === 'store' ? `store ${recorded} is a Tombstone` : `member ${recorded} was removed from PD`;
  return {
    replicas: live - 1,
    waiting: {
      reason: 'ReplacingPod',
      message: `${podName} cannot start again: its ${gone}; the pod is removed and re-created on a new volume`,
    },
  };
}

/** A gated pod in the cache. */
export interface GatedPod {
  ordinal: number;
  name: string;
  uid: string;
  /** Where the admission gate sits in spec.schedulingGates. */
  gateIndex: number;
}

/**
 * The gated pods to admit: ordinals the StatefulSet holds (`live`) and the spec wants, or
 * whose store or member PD still counts (`keeps`: a removal not finished yet, whose pod
 * keeps running until PD lets it go). A pod about to be removed is never admitted.
 */
export function podsToAdmit(gated: readonly GatedPod[], live: number | undefined, wanted: number, keeps: (ordinal: number) => boolean): GatedPod[] {
  if (live === undefined) return [];
  return gated.filter((p) => p.ordinal < live && (p.ordinal < wanted || keeps(p.ordinal)));
}

/**
 * PD members: scale out at once (new pods `--join`); scale in one member at a time, highest
 * ordinal first: move leadership away, remove the member from PD, then drop the pod.
 */
export function planPDReplicas(cluster: string, desired: number, live: number | undefined, pd: MembersView, proof?: RemovalProof): ScalePlan<PDAction> {
  if (live === undefined || desired >= live) return { replicas: desired };
  if (pd.kind === 'Unreachable') {
    return {
      replicas: live,
      waiting: { reason: 'ScaleInWaitingForPD', message: `PD scale-in from ${live} to ${desired} waits: PD is unreachable (${pd.error})` },
    };
  }
  const target = pdPodName(cluster, live - 1);
  // Status names a half-joined member after its peer URL's pod, and twins `<pod>-<id>`.
  const member = pd.members.find((m) => m.name === target || m.name.startsWith(`${target}-`));
  if (!member) {
    const podNamed = new RegExp(`^${cluster}-pd-\\d+(-\\d+)?$`);
    const unnamed = pd.members.find((m) => !podNamed.test(m.name));
    if (unnamed) {
      return {
        replicas: live,
        waiting: {
          reason: 'ScaleInBlocked',
          message: `PD lists member ${unnamed.id} as ${unnamed.name}, which could be ${target}; its removal waits until PD names it`,
          blocked: `the PD scale-in from ${live} to ${desired} members waits until PD names member ${unnamed.id}; check the PD pods (see Progressing)`,
        },
      };
    }
    // Removed through PD, and the PVC holds that member's data: a pod on it cannot rejoin.
    if (proof?.recorded !== undefined && !pd.members.some((m) => m.id === proof.recorded)) return { replicas: live - 1 };
    return removeUnregistered(target, 'member', live, proof);
  }
  const remaining = pd.members.filter((m) => m.name !== target);
  const healthyRemaining = remaining.filter((m) => m.health).length;
  if (healthyRemaining < quorum(remaining.length)) {
    return {
      replicas: live,
      waiting: {
        reason: 'ScaleInBlocked',
        message: `removing PD member ${target} would leave ${healthyRemaining} healthy of ${remaining.length} members, no quorum; fix the unhealthy members first`,
        blocked: `the PD scale-in from ${live} to ${desired} members is blocked: it would leave PD without a quorum; fix the unhealthy PD members first (see Progressing)`,
      },
    };
  }
  if (pd.leader === target) {
    const to = remaining.filter((m) => m.health).sort((a, b) => a.name.localeCompare(b.name))[0];
    if (to) return { replicas: live, action: { kind: 'transferLeader', from: target, to: to.name } };
  }
  return { replicas: live, action: { kind: 'deleteMember', name: target } };
}

/**
 * TiKV stores: scale out at once; scale in one store at a time, highest ordinal first: ask
 * PD to take the store offline (only if enough Up stores remain for max-replicas), wait
 * until PD has moved its regions away and made it a Tombstone, then drop the pod. PVCs stay.
 * A removal still under way for an ordinal the spec wants again is cancelled.
 */
export function planTiKVReplicas(cluster: string, desired: number, live: number | undefined, view: StoresView, proof?: RemovalProof): ScalePlan<TiKVAction> {
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
  const target = tikvPodName(cluster, live - 1);
  // Before the first store bootstraps the cluster no store holds data, but the pod may be
  // bootstrapping it right now: the fence decides, as for any pod PD lists no store for.
  if (view.kind === 'NotBootstrapped') return removeUnregistered(target, 'store', live, proof);
  const store = view.stores.find((s) => s.podName === target && s.state !== 'Tombstone');
  if (!store) {
    const buried = proof?.recorded !== undefined && view.stores.some((s) => s.podName === target && s.id === proof.recorded && s.state === 'Tombstone');
    if (buried) return { replicas: live - 1 };
    return removeUnregistered(target, 'store', live, proof);
  }
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
        message: `removing store ${store.id} (${target}) would leave ${upOthers} Up stores, fewer than PD's max-replicas ${maxReplicas}; keep spec.tikv.replicas at ${live}, or lower PD's max-replicas at run time (pd-ctl config set max-replicas N, or POST /pd/api/v1/config/replicate): PD reads replication settings from spec.pd.config only when the cluster bootstraps`,
        blocked: `the TiKV scale-in from ${live} to ${desired} stores is blocked: PD's max-replicas ${maxReplicas} needs more Up stores than would remain; set spec.tikv.replicas back to ${live}, or lower max-replicas with pd-ctl (see Progressing)`,
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

/**
 * What to do with the PVC of an ordinal a scale-out is about to (re)create. `reuse`: it
 * holds no data, the new pod may have it. `delete` with `confirm`: only once a fresh read
 * shows no pod of that ordinal and PD, asked again after that read, still says the same.
 */
export type ClaimDecision =
  | { kind: 'delete'; reason: string; confirm?: true }
  | { kind: 'reuse'; reason: string }
  | { kind: 'wait'; reason: string; message: string };

/** What the PVC itself says (the operator's records, charts/admission.ts). */
export interface ClaimFacts {
  annotations?: Record<string, string>;
}

const claimWait = (pvc: string, pod: string, why: string): ClaimDecision => ({
  kind: 'wait',
  reason: 'ScaleOutWaitingForPVC',
  message: `scale-out waits at ${pod}: its old PVC ${pvc} is still there and ${why}`,
});

const neverAdmitted = (claim: ClaimFacts | undefined) => claim?.annotations?.[CLAIM_ADMISSION_ANNOTATION] === CLAIM_PENDING;

/**
 * PVCs are retained on scale-in, so a scale-out would hand ordinal i the data of the store
 * that used to live there. A PVC no pod was ever admitted onto holds nothing and is
 * reused. Otherwise the PVC may go only when PD positively says its data is dead:
 *  - a Tombstone at the pod's address and no other store there (when the PVC records
 *    that store as its data, at once; otherwise once no pod of the ordinal exists);
 *  - or no store at all, for a PVC whose first pod was admitted while PD had the cluster
 *    ID PD has now: whatever that pod wrote never became a store of this cluster.
 * Anything less (PD unreachable, no record, a live store, another cluster's data) keeps it.
 */
export function decideTiKVClaim(cluster: string, ordinal: number, view: StoresView, claim?: ClaimFacts, clusterID?: string): ClaimDecision {
  const pvc = tikvPvcName(cluster, ordinal);
  const pod = tikvPodName(cluster, ordinal);
  if (neverAdmitted(claim)) return { kind: 'reuse', reason: `no pod was ever admitted onto ${pvc}, so it holds no data` };
  if (view.kind === 'Unknown') return claimWait(pvc, pod, `PD cannot tell whose data it holds (${view.error})`);
  const annotations = claim?.annotations ?? {};
  const ours =
    annotations[CLAIM_ADMISSION_ANNOTATION] === CLAIM_ADMITTED && clusterID !== undefined && annotations[CLAIM_CLUSTER_ID_ANNOTATION] === clusterID;
  const noStore = (): ClaimDecision =>
    ours
      ? { kind: 'delete', confirm: true, reason: `PD cluster ${clusterID}, the only one pods on ${pvc} belonged to, never had a store for ${pod}` }
      : claimWait(pvc, pod, 'PD has no store at its address, so it cannot tell whose data it holds; delete the PVC if its data is not needed');
  if (view.kind === 'NotBootstrapped') {
    return ours ? noStore() : claimWait(pvc, pod, 'PD has no stores yet, so it cannot tell whose data it holds; delete the PVC if its data is not needed');
  }
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
  if (!tombstone) return noStore();
  const recorded = here.find((s) => s.id === annotations[CLAIM_STORE_ANNOTATION]);
  const reason = `store ${(recorded ?? tombstone).id} of ${pod} is a Tombstone in PD; a new store cannot start on its data`;
  // Without the record the PVC might be a newer one a pod is about to register from.
  return recorded ? { kind: 'delete', reason } : { kind: 'delete', reason, confirm: true };
}

/**
 * The PD twin: a removed member's data would make the new pod rejoin as a member PD no
 * longer knows. Deleted only when PD (reachable, bootstrapped) lists every member by its
 * pod name and none is this pod; a member without one could be it, so it blocks. A PVC no
 * pod was ever admitted onto is reused.
 */
export function decidePDClaim(cluster: string, ordinal: number, pd: MembersView, bootstrapped: boolean, claim?: ClaimFacts): ClaimDecision {
  const pvc = pdPvcName(cluster, ordinal);
  const pod = pdPodName(cluster, ordinal);
  if (neverAdmitted(claim)) return { kind: 'reuse', reason: `no pod was ever admitted onto ${pvc}, so it holds no data` };
  if (pd.kind === 'Unreachable') return claimWait(pvc, pod, `PD is unreachable, so it cannot tell whether the member is gone (${pd.error})`);
  if (!bootstrapped) return claimWait(pvc, pod, 'PD is not bootstrapped yet');
  if (pd.members.some((m) => m.name === pod)) {
    return claimWait(pvc, pod, `PD still lists member ${pod}; remove it (pd-ctl member delete name ${pod}) or delete the PVC if its data is not needed`);
  }
  // Status names a half-joined member `unnamed-<id>` and disambiguates twins with the id:
  // either way the name is not a pod name and says nothing about which pod it is.
  const podNamed = new RegExp(`^${cluster}-pd-\\d+$`);
  const unnamed = pd.members.find((m) => !podNamed.test(m.name));
  if (unnamed) return claimWait(pvc, pod, `PD lists member ${unnamed.id} as ${unnamed.name}, which could be ${pod}`);
  const reason = `${pod} is not a member of PD; a new member cannot start on a removed member's data`;
  // A PVC recording a member PD removed holds that member; any other might be a pod's
  // that is joining right now.
  const recorded = claim?.annotations?.[CLAIM_MEMBER_ANNOTATION];
  return recorded !== undefined ? { kind: 'delete', reason } : { kind: 'delete', reason, confirm: true };
}
