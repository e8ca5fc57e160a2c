// Step scale: how many pods each StatefulSet may have now, and which gated pods to admit.
// The decisions are plan.ts's; this step gathers what they need beyond the observation, in
// the order the admission fence needs it (plan.ts): before a scale-in leans on "PD lists no
// store or member for pod k", pod k, its PVC's record and its StatefulSet are read fresh,
// and PD is asked again only after. Before a scale-out reuses an ordinal whose PVC was
// left behind, that PVC is judged (and its deletion planned for act). Nothing is written
// here. TiKV is planned only once PD can serve it; while paused only admissions are.
import { names, pdPodName, pdPvcName, tikvPodName, tikvPvcName } from '../../api/names.js';
import { ADMISSION_GATE, CLAIM_MEMBER_ANNOTATION, CLAIM_STORE_ANNOTATION } from '../../charts/index.js';
import type { VolumeClaim } from '../kube/claims.js';
import { gateIndex, ordinalOfName, replicasOf } from '../kube/objects.js';
import { lookAtPD, viewsOf } from '../pd/observe.js';
import { errorText, type MembersView, type StoresView, storesView, storesViewOfError } from '../pd/view.js';
import type { Observation } from './observe.js';
import {
  buriedTiKVTop,
  type ClaimDecision,
  type ClaimFacts,
  decidePDClaim,
  decideTiKVClaim,
  type GatedPod,
  type PDAction,
  planPDReplicas,
  planTiKVReplicas,
  podsToAdmit,
  type RemovalProof,
  recreatesGated,
  removedPDTop,
  replaceBuried,
  type ScalePlan,
  type TiKVAction,
} from './plan.js';
import type { Pass, Step, Wait } from './steps.js';

const step: Step = 'scale';

export type Component = 'pd' | 'tikv';

/** A gated pod to admit, and the PVC to mark admitted first (with PD's cluster ID for TiKV). */
export interface Admission {
  pod: GatedPod;
  pvc: string;
  clusterID?: string;
}

/** A leftover PVC a scale-out may only pass once it is gone; act deletes it. */
export interface ClaimDelete {
  claim: VolumeClaim;
  ordinal: number;
  reason: string;
}

export type ComponentScale<A> = ScalePlan<A> & { deleteClaim?: ClaimDelete };

export interface Scale {
  admissions: { pd: Admission[]; tikv: Admission[] };
  /** Why TiKV pods wait for admission (PD has not answered with its cluster ID). */
  admissionWaits: Wait[];
  /** Undefined while paused. */
  pd?: ComponentScale<PDAction>;
  /** Undefined while TiKV is left alone. */
  tikv?: ComponentScale<TiKVAction>;
  waits: Wait[];
}

export async function scale(pass: Pass, obs: Observation): Promise<Scale> {
  const { cluster } = obs;
  const result: Scale = {
    admissions: { pd: admissions(pass, obs, 'pd'), tikv: obs.pd.clusterID !== undefined ? admissions(pass, obs, 'tikv') : [] },
    admissionWaits: [],
    waits: [],
  };
  if (obs.pd.clusterID === undefined && obs.live.pods.tikv.some((p) => gateIndex(p, ADMISSION_GATE) >= 0)) {
    result.admissionWaits.push({ reason: 'AdmissionWaiting', message: "new TiKV pods are admitted once PD answers: the first pod on a volume is recorded with PD's cluster ID" });
  }
  if (cluster.spec.paused) return result;
  result.pd = await scalePD(pass, obs);
  if (obs.tikv) result.tikv = await scaleTiKV(pass, obs, obs.tikv.stores);
  else result.waits.push({ reason: 'WaitingForPD', message: 'TiKV waits until PD is bootstrapped and a quorum of its members is healthy' });
  return result;
}

// --- admission ------------------------------------------------------------------------

/**
 * The gated pods of one component that the StatefulSet holds and that are wanted (plan.ts
 * podsToAdmit). Also while paused: the StatefulSets stay as they are, and the pods they
 * (re)create still need the operator to run.
 */
function admissions(pass: Pass, obs: Observation, component: Component): Admission[] {
  const { name } = pass.ref;
  const gated: GatedPod[] = obs.live.pods[component].flatMap((p) => {
    const index = gateIndex(p, ADMISSION_GATE);
    const ordinal = ordinalOfName(p.metadata.name);
    const uid = p.metadata.uid;
    if (index < 0 || ordinal === undefined || !uid || p.metadata.deletionTimestamp) return [];
    return [{ ordinal, name: p.metadata.name, uid, gateIndex: index }];
  });
  if (gated.length === 0) return [];
  const pd = component === 'pd';
  const live = replicasOf(pd ? obs.live.pdStatefulSet : obs.live.tikvStatefulSet);
  const wanted = pd ? (obs.bootstrapped ? obs.cluster.spec.pd.replicas : obs.initialMembers) : obs.cluster.spec.tikv.replicas;
  const keeps = pd ? memberKept(name, obs.pd.members) : storeKept(name, obs.pd.stores);
  return podsToAdmit(gated, live, wanted, keeps).map((p) => ({
    pod: p,
    pvc: pd ? pdPvcName(name, p.ordinal) : tikvPvcName(name, p.ordinal),
    ...(!pd && obs.pd.clusterID !== undefined ? { clusterID: obs.pd.clusterID } : {}),
  }));
}

/** PD lists a member for the PD pod of this ordinal (its pod keeps running until PD removed it). */
function memberKept(cluster: string, members: MembersView): (ordinal: number) => boolean {
  return (ordinal) => {
    if (members.kind !== 'Observed') return false;
    const pod = pdPodName(cluster, ordinal);
    return members.members.some((m) => m.name === pod || m.name.startsWith(`${pod}-`));
  };
}

/** PD lists a store that is not a Tombstone for the TiKV pod of this ordinal. */
function storeKept(cluster: string, stores: StoresView): (ordinal: number) => boolean {
  const list = stores.kind === 'Observed' ? stores.stores : [];
  return (ordinal) => list.some((s) => s.podName === tikvPodName(cluster, ordinal) && s.state !== 'Tombstone');
}

// --- replicas -------------------------------------------------------------------------

/** Before bootstrap the member count stays at the initial one: every initial pod must start with the same --initial-cluster list. */
async function scalePD(pass: Pass, obs: Observation): Promise<ComponentScale<PDAction>> {
  const { name } = pass.ref;
  const { bootstrapped } = obs;
  const desired = obs.cluster.spec.pd.replicas;
  const live = replicasOf(obs.live.pdStatefulSet);
  const members = obs.pd.members;
  const again = async () => viewsOf(await lookAtPD(obs.pd.reads), pass.ref).members;
  let plan: ScalePlan<PDAction> = bootstrapped ? planPDReplicas(name, desired, live, members) : { replicas: obs.initialMembers };
  if (plan.prove !== undefined) {
    const k = plan.prove;
    plan = await withProof(pass, plan, { statefulSet: names(name).pdStatefulSet, pod: pdPodName(name, k), pvc: pdPvcName(name, k), record: CLAIM_MEMBER_ANNOTATION }, async (proof) =>
      planPDReplicas(name, desired, live, await again(), proof),
    );
  }
  const top = live !== undefined && plan.replicas >= live ? removedPDTop(name, live, members, bootstrapped) : undefined;
  if (top !== undefined && live !== undefined) {
    const gone = (id: string) => members.kind === 'Observed' && !members.members.some((m) => m.id === id);
    plan = (await replaceIfBuried<PDAction>(pass, pdPvcName(name, top), pdPodName(name, top), live, CLAIM_MEMBER_ANNOTATION, 'member', gone)) ?? plan;
  }
  return guardScaleOut(pass, plan, {
    statefulSet: names(name).pdStatefulSet,
    live,
    pvc: (i) => pdPvcName(name, i),
    pod: (i) => pdPodName(name, i),
    decide: (i, claim) => decidePDClaim(name, i, members, bootstrapped, claim),
    decideAgain: async (i, claim) => decidePDClaim(name, i, await again(), bootstrapped, claim),
  });
}

async function scaleTiKV(pass: Pass, obs: Observation, stores: StoresView): Promise<ComponentScale<TiKVAction>> {
  const { name } = pass.ref;
  const desired = obs.cluster.spec.tikv.replicas;
  const live = replicasOf(obs.live.tikvStatefulSet);
  const clusterID = obs.pd.clusterID;
  const again = () => storesAgain(pass, obs, stores);
  let plan = planTiKVReplicas(name, desired, live, stores);
  if (plan.prove !== undefined) {
    const k = plan.prove;
    plan = await withProof(pass, plan, { statefulSet: names(name).tikvStatefulSet, pod: tikvPodName(name, k), pvc: tikvPvcName(name, k), record: CLAIM_STORE_ANNOTATION }, async (proof) =>
      planTiKVReplicas(name, desired, live, await again(), proof),
    );
  }
  const top = live !== undefined && plan.replicas >= live ? buriedTiKVTop(name, live, stores) : undefined;
  if (top !== undefined && live !== undefined) {
    const tombstones = new Set(stores.kind === 'Observed' ? stores.stores.filter((x) => x.state === 'Tombstone').map((x) => x.id) : []);
    plan = (await replaceIfBuried<TiKVAction>(pass, tikvPvcName(name, top), tikvPodName(name, top), live, CLAIM_STORE_ANNOTATION, 'store', (id) => tombstones.has(id))) ?? plan;
  }
  return guardScaleOut(pass, plan, {
    statefulSet: names(name).tikvStatefulSet,
    live,
    pvc: (i) => tikvPvcName(name, i),
    pod: (i) => tikvPodName(name, i),
    decide: (i, claim) => decideTiKVClaim(name, i, stores, claim, clusterID),
    decideAgain: async (i, claim) => decideTiKVClaim(name, i, await again(), claim, clusterID),
  });
}

/** PD's stores read again, as a view (same max-replicas as the first read of this reconcile). */
async function storesAgain(pass: Pass, obs: Observation, first: StoresView): Promise<StoresView> {
  let view: ReturnType<typeof storesView>;
  try {
    view = storesView(await obs.pd.reads.stores({ includeTombstone: true }), pass.ref);
  } catch (e) {
    return storesViewOfError(e);
  }
  return first.kind === 'Observed' && first.maxReplicas !== undefined ? { ...view, maxReplicas: first.maxReplicas } : view;
}

// --- the fence's proof ----------------------------------------------------------------

interface ProofTarget {
  statefulSet: string;
  pod: string;
  pvc: string;
  /** The PVC annotation recording the store or member it holds. */
  record: string;
}

/**
 * Gathers the RemovalProof a plan asks for, in the order the fence needs: the PVC's
 * record, the pod and the StatefulSet first, PD only after (`replan` reads it). A read
 * that fails keeps the plan as it was (nothing is removed) and says why.
 */
async function withProof<A>(pass: Pass, plan: ScalePlan<A>, t: ProofTarget, replan: (proof: RemovalProof) => Promise<ScalePlan<A>>): Promise<ScalePlan<A>> {
  const { api } = pass.reads;
  const { namespace } = pass.ref;
  const ordinal = plan.prove ?? 0;
  try {
    const claim = await api.claim(namespace, t.pvc);
    const pod = await api.pod(namespace, t.pod, ADMISSION_GATE);
    const sts = await api.statefulSet(namespace, t.statefulSet);
    const recorded = claim && !claim.deleting ? claim.annotations?.[t.record] : undefined;
    const proof: RemovalProof = { ...(pod ? { pod } : {}), recreatedGated: recreatesGated(sts, ordinal), ...(recorded !== undefined ? { recorded } : {}) };
    const next = await replan(proof);
    pass.log.debug({ step, pod: t.pod, proof, replicas: next.replicas }, 'checked the admission fence');
    // A second "prove" would mean PD now lists a different ordinal's story: keep the count.
    return next.prove !== undefined ? { ...next, replicas: Math.max(next.replicas, ordinal + 1) } : next;
  } catch (e) {
    pass.log.warn({ step, pod: t.pod, error: errorText(e) }, 'could not check the pod before removing it; will retry');
    return { replicas: ordinal + 1, waiting: { reason: 'ScaleInWaitingForPod', message: `checking ${t.pod} before removing it failed: ${errorText(e)}` } };
  }
}

/**
 * The replacing plan (plan.ts replaceBuried) when the top pod's PVC records data PD buried.
 * Tombstones and removed members do not come back, so the PD answer of this reconcile
 * holds; the PVC is read fresh.
 */
async function replaceIfBuried<A>(
  pass: Pass,
  pvc: string,
  pod: string,
  live: number,
  record: string,
  what: 'store' | 'member',
  buried: (id: string) => boolean,
): Promise<ScalePlan<A> | undefined> {
  const claim = await pass.reads.api.claim(pass.ref.namespace, pvc);
  const recorded = claim && !claim.deleting ? claim.annotations?.[record] : undefined;
  return replaceBuried<A>(pod, live, recorded, buried, what);
}

// --- scale-out over leftover PVCs -----------------------------------------------------

interface ScaleOutGuard {
  statefulSet: string;
  /** spec.replicas in the cache. */
  live: number | undefined;
  pvc: (ordinal: number) => string;
  pod: (ordinal: number) => string;
  decide: (ordinal: number, claim: ClaimFacts) => ClaimDecision;
  /** The same decision on a PD answer read now (after the pod was found gone). */
  decideAgain: (ordinal: number, claim: ClaimFacts) => Promise<ClaimDecision>;
}

/**
 * Caps a scale-out below the first new ordinal whose retained PVC is still there, and
 * plans that PVC's deletion when PD confirms its data is dead (plan.ts decides). The
 * StatefulSet grows past the ordinal only once the PVC is really gone: a PVC being deleted
 * still hands its data to a new pod. One PVC per reconcile; the next sees whether it went.
 */
async function guardScaleOut<A>(pass: Pass, plan: ScalePlan<A>, g: ScaleOutGuard): Promise<ComponentScale<A>> {
  // Creating the StatefulSet is not a scale-out: PVCs of an earlier cluster of the same
  // name are the user's data to come back to (deleting the CR keeps them on purpose).
  if (g.live === undefined) return plan;
  const { api } = pass.reads;
  const { namespace } = pass.ref;
  for (let i = g.live; i < plan.replicas; i++) {
    const pvc = g.pvc(i);
    const claim = await api.claim(namespace, pvc);
    if (!claim) continue;
    const hold = (waiting: Wait): ComponentScale<A> => ({ ...plan, replicas: i, waiting });
    if (claim.deleting) {
      return hold({ reason: 'ScaleOutWaitingForPVC', message: `scale-out waits at ordinal ${i}: its old PVC ${pvc} is being deleted` });
    }
    let decision = g.decide(i, claim);
    if (decision.kind === 'reuse') {
      pass.log.info({ step, pvc, reason: decision.reason }, 'the new pod reuses the old PVC');
      continue;
    }
    if (decision.kind === 'wait') return hold(decision);
    // The cache may lag behind a StatefulSet that already runs a new pod on this PVC.
    const fresh = await api.replicas(namespace, g.statefulSet);
    if (fresh === undefined || fresh > i) {
      const message = `the StatefulSet ${g.statefulSet} already has ${fresh ?? 'no'} replicas; waiting for the cache to catch up`;
      return { ...plan, replicas: fresh ?? i, waiting: { reason: 'ScaleOutWaitingForCache', message } };
    }
    if (decision.confirm) {
      // A pod of this ordinal, even one being deleted, could be registering from this
      // PVC right now: the PVC goes only once no pod is left, on a PD answer read after.
      const confirmed = await confirmClaimDelete(pass, g, i, claim);
      if (confirmed.kind === 'wait') return hold(confirmed);
      if (confirmed.kind === 'reuse') continue;
      decision = confirmed;
    }
    const { waiting: _replaced, ...rest } = plan;
    return { ...rest, replicas: i, deleteClaim: { claim, ordinal: i, reason: decision.reason } };
  }
  return plan;
}

/** The delete decision taken again after a fresh read shows no pod of the ordinal. */
async function confirmClaimDelete(pass: Pass, g: ScaleOutGuard, i: number, claim: VolumeClaim): Promise<ClaimDecision> {
  const pod = g.pod(i);
  if (await pass.reads.api.pod(pass.ref.namespace, pod, ADMISSION_GATE)) {
    return { kind: 'wait', reason: 'ScaleOutWaitingForPVC', message: `scale-out waits at ${pod}: its old PVC ${claim.name} is deleted once the old pod ${pod} is gone` };
  }
  const again = await g.decideAgain(i, claim);
  return again.kind === 'delete' ? { kind: 'delete', reason: again.reason } : again;
}
