// Pure decisions of the reconcile loop: when PD counts as bootstrapped, and how many
// replicas each StatefulSet may have right now. Scale-in is where data can be lost, so
// every step down needs PD's confirmation; without it the answer is "keep what exists".
// The same holds for deleting a leftover PVC before a scale-out reuses its ordinal.
import { pdPodName, pdPvcName, tikvPodName, tikvPvcName } from '../../api/names.js';
import type { PDMemberStatus, TiKVStoreStatus } from '../../api/v1alpha1.js';
import { ADMISSION_GATE, CLAIM_ADMISSION_ANNOTATION, CLAIM_ADMITTED, CLAIM_CLUSTER_ID_ANNOTATION, CLAIM_MEMBER_ANNOTATION, CLAIM_PENDING, CLAIM_STORE_ANNOTATION } from '../../charts/admission.js';
import type { KubeObject } from '../../charts/types.js';
import { hasGate, type LivePod } from '../kube/pods.js';

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
  /** Why the scale-in waits, for the Progressing condition; unset when nothing waits. */
  waiting?: { reason: string; message: string };
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
  pod?: LivePod;
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
export function recreatesGated(sts: KubeObject | undefined, ordinal: number, gate = ADMISSION_GATE): boolean {
  if (!sts) return false;
  const spec = sts.spec as { template?: { spec?: { schedulingGates?: Array<{ name?: string }> } }; updateStrategy?: { rollingUpdate?: { partition?: number } } } | undefined;
  const status = sts.status as { observedGeneration?: number; currentRevision?: string; updateRevision?: string } | undefined;
  if (!hasGate(spec?.template, gate)) return false;
  if ((status?.observedGeneration ?? 0) < ((sts.metadata.generation as number | undefined) ?? 0)) return false;
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
export function removedPDTop(cluster: string, live: number | undefined, pd: PDView, bootstrapped: boolean): number | undefined {
  if (live === undefined || live < 1 || !bootstrapped || !pd.reachable || pd.members.length === 0) return undefined;
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

const quorum = (n: number) => Math.floor(n / 2) + 1;

export type PDView =
  | { reachable: true; members: PDMemberStatus[]; leader?: string }
  | { reachable: false; error: string };

/**
 * PD members: scale out at once (new pods `--join`); scale in one member at a time, highest
 * ordinal first: move leadership away, remove the member from PD, then drop the pod.
 */
export function planPDReplicas(cluster: string, desired: number, live: number | undefined, pd: PDView, proof?: RemovalProof): ScalePlan<PDAction> {
  if (live === undefined || desired >= live) return { replicas: desired };
  if (!pd.reachable) {
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
        waiting: { reason: 'ScaleInBlocked', message: `PD lists member ${unnamed.id} as ${unnamed.name}, which could be ${target}; its removal waits until PD names it` },
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
export function decidePDClaim(cluster: string, ordinal: number, pd: PDView, bootstrapped: boolean, claim?: ClaimFacts): ClaimDecision {
  const pvc = pdPvcName(cluster, ordinal);
  const pod = pdPodName(cluster, ordinal);
  if (neverAdmitted(claim)) return { kind: 'reuse', reason: `no pod was ever admitted onto ${pvc}, so it holds no data` };
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
  const reason = `${pod} is not a member of PD; a new member cannot start on a removed member's data`;
  // A PVC recording a member PD removed holds that member; any other might be a pod's
  // that is joining right now.
  const recorded = claim?.annotations?.[CLAIM_MEMBER_ANNOTATION];
  return recorded !== undefined ? { kind: 'delete', reason } : { kind: 'delete', reason, confirm: true };
}

// --- rolling update ---------------------------------------------------------------------
//
// The operator steps each StatefulSet's rollingUpdate.partition itself instead of letting
// the StatefulSet controller replace every pod high→low at its own pace: ordinal i may be
// replaced only once every higher ordinal runs the new revision, is Ready, and PD confirms
// it (PD: all members healthy; TiKV: the pod's store Up and heard from since it restarted).
// PD's leader is moved away before its pod goes; a TiKV store's Raft leaders are evicted
// first. Anything PD cannot confirm holds the partition where it is.

/** How long a TiKV pod waits for PD to move its leaders away before it is replaced anyway. */
export const EVICT_LEADER_TIMEOUT_MS = 2 * 60_000;

/** One pod of the StatefulSet, from the cache. */
export interface RollPod {
  ordinal: number;
  /** The `controller-revision-hash` label. */
  revision?: string;
  ready: boolean;
  /** creationTimestamp (ms): a store must have been heard from since the pod was made. */
  createdMs?: number;
}

/** The StatefulSet as the roll needs it; undefined while it does not exist. */
export interface RollState {
  /** spec.replicas about to be applied. */
  replicas: number;
  /** The live rollingUpdate.partition (0 when unset). */
  partition: number;
  /** The desired pod template differs from the live one: this apply starts a new revision. */
  templateChanging: boolean;
  /** status.observedGeneration has caught up with metadata.generation. */
  statusCurrent: boolean;
  currentRevision?: string;
  updateRevision?: string;
}

export type RollAction = { kind: 'transferLeader'; from: string; to: string } | { kind: 'evictLeader'; storeId: string; podName: string };

export interface RollPlan {
  /** The partition to apply now. */
  partition: number;
  action?: RollAction;
  waiting?: { reason: 'RollingUpdate'; message: string };
  /** The pod this plan lets the StatefulSet controller replace (one Event each). */
  rolls?: string;
  /** The ordinal whose store must stay in the evict-leader scheduler; every other eviction goes. */
  keepEvicted?: number;
}

const rollWait = (message: string) => ({ reason: 'RollingUpdate' as const, message });

/** A new revision exists that not every pod runs. */
export const isRolling = (s: RollState) => s.updateRevision !== undefined && s.currentRevision !== s.updateRevision;

interface Walk {
  what: string;
  podName: (ordinal: number) => string;
  /** Why PD does not (yet) confirm a replaced pod; undefined when it does. */
  confirm: (pod: RollPod) => string | undefined;
  /** A step before `ordinal` may go (a PD call, or waiting for one to take effect). */
  prepare: (ordinal: number) => Omit<RollPlan, 'partition'> | undefined;
  /** Why the roll may not advance at all right now. */
  blocked?: string;
}

function walkPartition(sts: RollState | undefined, pods: RollPod[], w: Walk): RollPlan {
  if (!sts || sts.replicas <= 1) return { partition: 0 };
  const top = w.podName(sts.replicas - 1);
  if (sts.templateChanging) {
    return { partition: sts.replicas, waiting: rollWait(`${w.what}: a new pod template; pods are replaced one at a time from ${top} down`) };
  }
  const p = Math.min(sts.partition, sts.replicas);
  // Revisions in a status older than the spec may not know the template just applied: a
  // "not rolling" from them must not drop the partition to 0. Progressing says it waits.
  if (!sts.statusCurrent) return { partition: p };
  if (!isRolling(sts)) return { partition: 0 };
  for (let k = p; k < sts.replicas; k++) {
    const why = podNotDone(pods.find((x) => x.ordinal === k), sts.updateRevision, w.confirm);
    if (why) return { partition: p, keepEvicted: k, waiting: rollWait(`${w.what}: rolling waits on ${w.podName(k)}: ${why}`) };
  }
  if (p === 0) return { partition: 0 };
  if (w.blocked) return { partition: p, waiting: rollWait(`${w.what}: rolling waits before ${w.podName(p - 1)}: ${w.blocked}`) };
  const prep = w.prepare(p - 1);
  if (prep) return { partition: p, keepEvicted: p - 1, ...prep };
  return { partition: p - 1, keepEvicted: p - 1, rolls: w.podName(p - 1) };
}

function podNotDone(pod: RollPod | undefined, revision: string | undefined, confirm: Walk['confirm']): string | undefined {
  if (!pod) return 'the pod does not exist yet';
  if (pod.revision !== revision) return `the pod is not yet replaced with revision ${revision}`;
  if (!pod.ready) return 'the pod is not Ready';
  return confirm(pod);
}

/**
 * PD: a replaced pod counts once every member PD lists is healthy (a restarted member stays
 * listed, unhealthy until it is back). The leader's pod goes only after leadership moved.
 */
export function planPDRoll(cluster: string, sts: RollState | undefined, pods: RollPod[], pd: PDView): RollPlan {
  const unconfirmed = (): string | undefined => {
    if (!pd.reachable) return `PD is unreachable (${pd.error})`;
    if (pd.members.length === 0) return 'PD lists no members';
    const sick = pd.members.filter((m) => !m.health).map((m) => m.name || m.id);
    return sick.length ? `PD member${sick.length > 1 ? 's' : ''} ${sick.join(', ')} not healthy` : undefined;
  };
  return walkPartition(sts, pods, {
    what: 'PD',
    podName: (i) => pdPodName(cluster, i),
    confirm: unconfirmed,
    prepare: (i) => {
      const why = unconfirmed();
      if (why || !pd.reachable) return { waiting: rollWait(`PD: rolling waits before ${pdPodName(cluster, i)}: ${why}`) };
      const target = pdPodName(cluster, i);
      if (pd.leader !== target) return undefined;
      // Higher ordinals run the new revision already: prefer them as the new leader.
      const to = pd.members.filter((m) => m.health && m.name !== target).sort((a, b) => b.name.localeCompare(a.name))[0];
      if (!to) return { waiting: rollWait(`PD: ${target} is the leader and no other member is healthy to take over`) };
      return {
        action: { kind: 'transferLeader', from: target, to: to.name },
        waiting: rollWait(`PD: moving leadership from ${target} to ${to.name} before replacing ${target}`),
      };
    },
  });
}

/**
 * Why PD has not finished rolling, or undefined when it has: every pod on the update
 * revision and Ready, and every member PD lists healthy. TiKV waits for this, not for
 * the partition reaching 0: the reconcile that releases the last PD pod has not seen it
 * come back yet, and evicting a store's leaders while PD restarts moves them twice.
 */
export function pdRollUnsettled(cluster: string, sts: RollState | undefined, pods: RollPod[], pd: PDView): string | undefined {
  if (!sts) return undefined;
  if (sts.templateChanging) return 'PD is rolled first';
  if (!sts.statusCurrent) return 'PD is rolled first (its StatefulSet status is behind its spec)';
  if (isRolling(sts)) return 'PD is rolled first';
  for (let k = 0; k < sts.replicas && sts.updateRevision !== undefined; k++) {
    const why = podNotDone(pods.find((x) => x.ordinal === k), sts.updateRevision, () => undefined);
    if (why) return `PD is rolled first: ${pdPodName(cluster, k)}: ${why}`;
  }
  if (!pd.reachable) return `PD is rolled first: PD is unreachable (${pd.error})`;
  const sick = pd.members.filter((m) => !m.health).map((m) => m.name || m.id);
  if (sick.length) return `PD is rolled first: PD member${sick.length > 1 ? 's' : ''} ${sick.join(', ')} not healthy`;
  return undefined;
}

export interface EvictionView {
  /** Stores in PD's evict-leader scheduler; undefined when PD could not list them. */
  stores: string[] | undefined;
  /** When the eviction of each store began (ms), as far as this process knows. */
  since: ReadonlyMap<string, number>;
  now: number;
}

/**
 * TiKV: a replaced pod counts once its store is Up and PD has heard from it since the pod
 * was created. Before a pod goes, PD evicts its store's leaders (with 2+ Up stores) until
 * none are left or EVICT_LEADER_TIMEOUT_MS passed. `blocked`: PD is still rolling.
 */
export function planTiKVRoll(
  cluster: string,
  sts: RollState | undefined,
  pods: RollPod[],
  view: StoresView,
  eviction: EvictionView,
  blocked?: string,
): RollPlan {
  const storeOf = (i: number) =>
    view.kind === 'Observed' ? view.stores.find((s) => s.podName === tikvPodName(cluster, i) && s.state !== 'Tombstone') : undefined;
  return walkPartition(sts, pods, {
    what: 'TiKV',
    podName: (i) => tikvPodName(cluster, i),
    blocked,
    confirm: (pod) => {
      if (view.kind === 'Unknown') return `PD cannot tell the store states (${view.error})`;
      if (view.kind === 'NotBootstrapped') return undefined;
      const store = storeOf(pod.ordinal);
      if (!store) return 'PD has no store for it yet';
      if (store.state !== 'Up') return `store ${store.id} is ${store.state}`;
      const heard = store.lastHeartbeatTime ? Date.parse(store.lastHeartbeatTime) : undefined;
      if (pod.createdMs !== undefined && heard !== undefined && heard < pod.createdMs) return `store ${store.id} has not sent a heartbeat since the pod restarted`;
      return undefined;
    },
    prepare: (i) => {
      const podName = tikvPodName(cluster, i);
      if (view.kind === 'Unknown') return { waiting: rollWait(`TiKV: rolling waits before ${podName}: PD cannot tell the store states (${view.error})`) };
      const store = storeOf(i);
      const up = view.kind === 'Observed' ? view.stores.filter((s) => s.state === 'Up').length : 0;
      // No leaders to move: no store, a store that is down anyway, or nowhere to move them.
      if (store?.state !== 'Up' || up < 2) return undefined;
      if (!eviction.stores) return { waiting: rollWait(`TiKV: rolling waits before ${podName}: PD's evict-leader scheduler could not be read`) };
      if (!eviction.stores.includes(store.id)) {
        return {
          action: { kind: 'evictLeader', storeId: store.id, podName },
          waiting: rollWait(`TiKV: evicting the Raft leaders of store ${store.id} (${podName}) before replacing it`),
        };
      }
      const since = eviction.since.get(store.id) ?? eviction.now;
      if ((store.leaderCount ?? 0) === 0 || eviction.now - since >= EVICT_LEADER_TIMEOUT_MS) return undefined;
      return {
        waiting: rollWait(`TiKV: rolling waits before ${podName}: PD is moving the Raft leaders off store ${store.id} (at most ${EVICT_LEADER_TIMEOUT_MS / 60_000} min)`),
      };
    },
  });
}

/**
 * The evict-leader entries of this cluster's stores to remove: all of them but the store of
 * `keep` (the pod being replaced or about to be). Stores of other clusters sharing the PD
 * are never touched.
 */
export function evictionsToRemove(cluster: string, evicted: readonly string[], view: StoresView, keep: number | undefined): string[] {
  if (view.kind !== 'Observed') return [];
  const keepPod = keep === undefined ? undefined : tikvPodName(cluster, keep);
  const ours = new Map(view.stores.filter((s) => s.podName !== undefined).map((s) => [s.id, s.podName as string]));
  return evicted.filter((id) => {
    const pod = ours.get(id);
    return pod !== undefined && pod !== keepPod;
  });
}
