// Step act: the writes the plans ask for besides the objects themselves, after apply and
// knowing what it did. Gated pods are admitted (their PVC marked first), a leftover PVC
// is deleted, a refused downgrade gets its Event, then the PD calls: at most one scale-in
// step per component, the removal of a PD member whose pod lost its data (pd-lost-data.ts,
// not beside a PD scale-in call), evict-leader entries no roll needs any more, and each
// roll's leader move. A pod a roll releases gets its Event only when its StatefulSet was applied: a
// refused partition replaces no pod. Each failure is reported as a wait and retried by the
// next reconcile; none stops the others.
import { pdPvcName, tikvPvcName } from '../../api/names.js';
import { ADMISSION_GATE, CLAIM_MEMBER_ANNOTATION, CLAIM_STORE_ANNOTATION } from '../../charts/index.js';
import { ordinalOfName } from '../kube/objects.js';
import { lookAtPD, viewsOf } from '../pd/observe.js';
import { errorText, type MembersView } from '../pd/view.js';
import { type Applied, applied } from './apply.js';
import type { Observation } from './observe.js';
import { recoverLostPDMember } from './pd-lost-data.js';
import type { PDAction, TiKVAction } from './plan.js';
import type { Roll } from './roll.js';
import type { RollAction, RollPlan } from './roll-plan.js';
import type { Admission, ClaimDelete, Component, ComponentScale, Scale } from './scale.js';
import type { Pass, Step, Wait } from './steps.js';

const step: Step = 'act';

/** What act waits for, by where each belongs in the list of waits (the order of the steps that planned it). */
export interface Acted {
  admissions: Wait[];
  /** Each component's scale plan's wait, as the PVC delete left it. */
  scale: Wait[];
  scaleIn: Wait[];
  roll: Wait[];
}

export async function act(pass: Pass, obs: Observation, scaled: Scale, rolled: Roll | undefined, done: Applied): Promise<Acted> {
  const out: Acted = { admissions: [], scale: [], scaleIn: [], roll: [] };
  for (const a of [...scaled.admissions.pd, ...scaled.admissions.tikv]) {
    const wait = await admit(pass, a);
    if (wait) out.admissions.push(wait);
  }
  for (const plan of [scaled.pd, scaled.tikv]) {
    if (!plan) continue;
    const wait = plan.deleteClaim ? await deleteClaim(pass, plan.deleteClaim) : plan.waiting;
    if (wait) out.scale.push(wait);
  }
  if (rolled?.downgrade) {
    const { version } = obs.cluster.spec;
    if (pass.memory.lastDowngrade !== version) await pass.writes.emit(pass.target, 'Warning', rolled.downgrade.reason, rolled.downgrade.message);
    pass.memory.lastDowngrade = version;
  } else if (scaled.pd) {
    pass.memory.lastDowngrade = undefined;
  }
  if (!rolled) return out;
  for (const plan of [scaled.pd, scaled.tikv] as Array<ComponentScale<PDAction | TiKVAction> | undefined>) {
    if (plan?.action) await scaleInStep(pass, plan.action, obs.pd.members, out.scaleIn);
  }
  if (!scaled.pd?.action) {
    const recovered = await recoverLostMember(pass, obs);
    if (recovered) out.scaleIn.push(recovered);
  }
  for (const roll of [rolled.pd, rolled.tikv]) if (roll?.waiting) out.roll.push(roll.waiting);
  for (const id of rolled.evictionsToRemove) await removeEviction(pass, id, out.roll);
  const n = { pd: `StatefulSet/${pass.ref.name}-pd`, tikv: `StatefulSet/${pass.ref.name}-tikv` };
  for (const component of ['pd', 'tikv'] as const) {
    const roll = rolled[component];
    if (roll) await rollStep(pass, component, applied(done, n[component]) ? roll : { ...roll, rolls: undefined }, out.roll);
  }
  return out;
}

// --- admission ------------------------------------------------------------------------

/**
 * Before a pod goes, its PVC is marked admitted (with PD's cluster ID for TiKV when this is
 * the first pod on it): a PVC still `pending` then proves that no pod ever ran on it.
 */
async function admit(pass: Pass, a: Admission): Promise<Wait | undefined> {
  const { namespace } = pass.ref;
  const { pod, pvc } = a;
  try {
    const recorded = await pass.writes.claims.recordAdmission(namespace, pvc, a.clusterID);
    if (recorded === 'missing') return { reason: 'AdmissionWaiting', message: `pod ${pod.name} is admitted once its PVC ${pvc} exists` };
    const result = await pass.writes.pods.admit(namespace, pod.name, pod.uid, ADMISSION_GATE, pod.gateIndex);
    pass.log.info({ step, pod: pod.name, uid: pod.uid, pvc, recorded, result }, result === 'admitted' ? 'admitted the pod' : 'the pod changed before it was admitted');
    return undefined;
  } catch (e) {
    pass.log.warn({ step, pod: pod.name, error: errorText(e) }, 'could not admit the pod; will retry');
    return { reason: 'AdmissionFailed', message: `admitting pod ${pod.name} failed: ${errorText(e)}` };
  }
}

// --- a leftover PVC -------------------------------------------------------------------

/** Deletes the PVC a scale-out waits for; the ordinal is created once it is gone. */
async function deleteClaim(pass: Pass, d: ClaimDelete): Promise<Wait> {
  const pvc = d.claim.name;
  try {
    await pass.writes.claims.delete(pass.ref.namespace, d.claim);
  } catch (e) {
    pass.log.warn({ step, pvc, error: errorText(e) }, 'could not delete the old PVC; will retry');
    return { reason: 'ScaleOutFailed', message: `deleting the old PVC ${pvc} failed: ${errorText(e)}` };
  }
  pass.log.info({ step, pvc, reason: d.reason }, 'deleted the old PVC before the scale-out reuses its ordinal');
  await pass.writes.emit(pass.target, 'Normal', 'PVCDeleted', `deleted PVC ${pvc} before scale-out: ${d.reason}`);
  return { reason: 'ScaleOutWaitingForPVC', message: `deleted the old PVC ${pvc} (${d.reason}); ordinal ${d.ordinal} is created once it is gone` };
}

// --- scale-in -------------------------------------------------------------------------

/**
 * Runs the call a plan asks for (a PD call, or deleting an admitted pod that never
 * registered). Before PD is asked to remove a store or member, its PVC records it as its
 * data (plan.ts: the Tombstone fast path and a PVC's deletion lean on that record).
 */
async function scaleInStep(pass: Pass, a: PDAction | TiKVAction, members: MembersView, waits: Wait[]): Promise<void> {
  const { writes, ref, target, log } = pass;
  try {
    if (a.kind === 'transferLeader') {
      await writes.pd.transferLeader(ref, a.to);
      log.info({ step, from: a.from, to: a.to }, 'moving PD leadership before removing the member');
      waits.push({ reason: 'TransferringPDLeader', message: `moving PD leadership from ${a.from} to ${a.to} before removing ${a.from}` });
    } else if (a.kind === 'deleteMember') {
      const id = members.kind === 'Observed' ? members.members.find((m) => m.name === a.name)?.id : undefined;
      const ordinal = ordinalOfName(a.name);
      if (id !== undefined && ordinal !== undefined) await recordOnClaim(pass, pdPvcName(ref.name, ordinal), CLAIM_MEMBER_ANNOTATION, id);
      await writes.pd.deleteMember(ref, a.name);
      await writes.emit(target, 'Normal', 'PDMemberRemoved', `removed PD member ${a.name} for scale-in`);
      waits.push({ reason: 'RemovingPDMember', message: `removed PD member ${a.name}; its pod goes next` });
    } else if (a.kind === 'cancelStoreRemoval') {
      await writes.pd.cancelStoreRemoval(ref, a.id);
      await writes.emit(target, 'Normal', 'StoreRemovalCancelled', `cancelled the removal of store ${a.id} (${a.podName}): spec.tikv.replicas wants its pod again`);
      waits.push({ reason: 'StoreRemovalCancelled', message: `cancelled the removal of store ${a.id} (${a.podName}); PD keeps it` });
    } else if (a.kind === 'restartPod') {
      await writes.pods.delete(ref.namespace, a.podName, a.uid);
      log.info({ step, pod: a.podName, uid: a.uid }, 'deleted an admitted pod that never registered, so it cannot register while it is removed');
      await writes.emit(
        target,
        'Normal',
        'PodDeletedForScaleIn',
        `deleted pod ${a.podName} (uid ${a.uid}): it was admitted but never registered with PD; its gated replacement is removed for scale-in`,
      );
    } else {
      const ordinal = ordinalOfName(a.podName);
      if (ordinal !== undefined) await recordOnClaim(pass, tikvPvcName(ref.name, ordinal), CLAIM_STORE_ANNOTATION, a.id);
      await writes.pd.deleteStore(ref, a.id);
      await writes.emit(target, 'Normal', 'StoreOffline', `asked PD to take store ${a.id} (${a.podName}) offline for scale-in`);
      waits.push({ reason: 'StoreOffline', message: `store ${a.id} (${a.podName}) is going Offline; its pod goes once PD makes it a Tombstone` });
    }
  } catch (e) {
    log.warn({ step, action: a.kind, error: errorText(e) }, 'scale-in step failed; will retry');
    waits.push({ reason: 'ScaleInFailed', message: `scale step ${a.kind} failed: ${errorText(e)}` });
  }
}

/**
 * Records on a PVC whose data it holds. The live store (or member) was read from PD
 * before this read of the PVC, and a PVC is replaced only by this operator, only once PD
 * says its data is dead, so that store's data is on this PVC.
 */
async function recordOnClaim(pass: Pass, pvc: string, key: string, value: string): Promise<void> {
  const { namespace } = pass.ref;
  const claim = await pass.reads.api.claim(namespace, pvc);
  if (!claim || claim.deleting || claim.annotations?.[key] === value) return;
  await pass.writes.claims.annotate(namespace, claim, { [key]: value });
}

// --- a PD member whose pod lost its data ----------------------------------------------

/** Decided on this pass's look at PD, and again on a fresh one right before the one DELETE. */
function recoverLostMember(pass: Pass, obs: Observation): Promise<Wait | undefined> {
  const { writes, ref, target, log } = pass;
  return recoverLostPDMember(
    {
      observeAgain: async () => viewsOf(await lookAtPD(obs.pd.reads), ref).members,
      deleteMember: (member) => writes.pd.deleteMember(ref, member),
      emit: (reason, message) => writes.emit(target, 'Warning', reason, message),
      log: (message, fields) => log.warn({ step, ...fields }, message),
    },
    { bootstrapped: obs.bootstrapped, pd: obs.pd.members, pods: obs.live.pods.pd },
  );
}

// --- rolling update -------------------------------------------------------------------

/** Evict-leader entries this cluster no longer needs (the pod is back, or no roll is under way). */
async function removeEviction(pass: Pass, id: string, waits: Wait[]): Promise<void> {
  try {
    await pass.writes.pd.removeEvictLeader(pass.ref, id);
    pass.memory.evictingSince.delete(id);
    pass.log.info({ step, store: id }, 'removed the evict-leader entry of the store');
  } catch (e) {
    pass.log.warn({ step, store: id, error: errorText(e) }, 'could not remove the evict-leader entry; will retry');
    waits.push({ reason: 'RollingUpdate', message: `removing the evict-leader entry of store ${id} failed: ${errorText(e)}` });
  }
}

/** The PD call of one roll plan, and one Event per pod the plan lets the StatefulSet replace. */
async function rollStep(pass: Pass, component: Component, roll: RollPlan, waits: Wait[]): Promise<void> {
  if (roll.action) await rollAction(pass, roll.action, waits);
  const { memory } = pass;
  if (roll.rolls && memory.lastRolled[component] !== roll.rolls) {
    pass.log.info({ step, component, pod: roll.rolls, partition: roll.partition }, 'lowered the partition: the pod is replaced next');
    await pass.writes.emit(pass.target, 'Normal', 'RollingUpdate', `replacing pod ${roll.rolls} with the new revision (partition ${roll.partition})`);
  }
  if (roll.rolls) memory.lastRolled[component] = roll.rolls;
  else if (!roll.waiting && roll.partition === 0) memory.lastRolled[component] = undefined;
}

async function rollAction(pass: Pass, a: RollAction, waits: Wait[]): Promise<void> {
  const { writes, ref, log } = pass;
  try {
    if (a.kind === 'transferLeader') {
      await writes.pd.transferLeader(ref, a.to);
      log.info({ step, from: a.from, to: a.to }, 'moving PD leadership before replacing the pod');
    } else {
      await writes.pd.evictLeader(ref, a.storeId);
      pass.memory.evictingSince.set(a.storeId, pass.now.getTime());
      log.info({ step, store: a.storeId, pod: a.podName }, 'evicting the store leaders before replacing the pod');
      await writes.emit(pass.target, 'Normal', 'EvictingLeaders', `evicting the Raft leaders of store ${a.storeId} (${a.podName}) before replacing the pod`);
    }
  } catch (e) {
    log.warn({ step, action: a.kind, error: errorText(e) }, 'PD call failed; will retry');
    waits.push({ reason: 'RollingUpdate', message: `rolling step ${a.kind} failed: ${errorText(e)}` });
  }
}
