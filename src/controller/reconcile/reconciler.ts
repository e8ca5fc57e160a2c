// Reconcile of one TikvCluster: a level-based, idempotent function of its key that reads
// from caches, asks PD, applies the charts with server-side apply and writes status.
// Steps, in order, each named in logs and conditions when it waits:
//   validate -> observe PD -> plan PD (scale-in, or scale-out past leftover PVCs) ->
//   plan TiKV likewise (only once PD is available) -> plan rolling updates (partitions) ->
//   sync objects -> PD calls of the plans (scale-in steps, cancelling a removal, leader
//   transfer and evict-leader for a roll) -> status + events.
// Deletion relies on owner references; PVCs are kept on purpose, and deleted only when a
// scale-out would otherwise hand a new pod dead data (PD must confirm it is dead).
// Pods start gated and are admitted here (charts/admission.ts): a scale-in that PD has no
// store or member for leans on the gate, not on a PD read a starting pod could outrun.
// Any unexpected exception ends in a status that says so (Ready False, ReconcileError).
import { names, pdPodName, pdPvcName, tikvPodName, tikvPvcName } from '../../api/names.js';
import type { Condition, TikvCluster, TikvClusterStatus } from '../../api/v1alpha1.js';
import { API_VERSION, KIND } from '../../api/v1alpha1.js';
import { validateTikvCluster, formatIssues } from '../../api/validate.js';
import {
  ADMISSION_GATE,
  CLAIM_ADMISSION_ANNOTATION,
  CLAIM_MEMBER_ANNOTATION,
  CLAIM_STORE_ANNOTATION,
  type KubeObject,
  LABELS,
  PD_BOOTSTRAPPED_KEY,
  PD_INITIAL_CLUSTER_KEY,
  selectorLabels,
  synthesize,
} from '../../charts/index.js';
import { type ApplyResult, contentHash, difference, TEMPLATE_HASH_ANNOTATION } from '../kube/apply.js';
import type { ClaimAPI, VolumeClaim } from '../kube/claims.js';
import type { PodAPI } from '../kube/pods.js';
import { lookAtPD, type PDLook } from '../pd/observe.js';
import { refuseDowngrade } from './downgrade.js';
import { gateConfigs } from './config-check.js';
import { recoverLostPDMember } from './pd-lost-data.js';
import { type FailurePod, newFailures, PODS_HEALTHY, podFailures, podsHealthy } from './pod-failures.js';
import type { EventRecorder, EventTarget } from '../kube/events.js';
import type { ClusterRef, PDClient, PDResolver, PDStore } from '../pd/client.js';
import {
  deriveConditions,
  derivePDStatus,
  derivePhase,
  deriveTiKVStatus,
  errorText,
  observeStatefulSet,
  setCondition,
  type PDMembersObservation,
  type StoresObservation,
  statusEqual,
  storesObservationOfError,
} from '../pd/status.js';
import type { Logger } from '../runtime/log.js';
import {
  type ClaimDecision,
  buriedTiKVTop,
  type ClaimFacts,
  decidePDClaim,
  decideTiKVClaim,
  evictionsToRemove,
  initialMemberCount,
  type GatedPod,
  type PDAction,
  type PDView,
  pdBootstrapped,
  pdRollUnsettled,
  podsToAdmit,
  recreatesGated,
  type RemovalProof,
  removedPDTop,
  replaceBuried,
  planPDReplicas,
  planPDRoll,
  planTiKVReplicas,
  planTiKVRoll,
  type RollAction,
  type RollPlan,
  type RollPod,
  type RollState,
  type ScalePlan,
  type StoresView,
  type TiKVAction,
} from './plan.js';

/** A TikvCluster as the API returns it: not validated yet. */
export interface TikvClusterObject extends KubeObject {
  spec?: unknown;
  status?: TikvClusterStatus;
}

/** Read access to the informer caches. */
export interface ObjectStore {
  cluster(namespace: string, name: string): TikvClusterObject | undefined;
  object(kind: 'StatefulSet' | 'ConfigMap' | 'Service', namespace: string, name: string): KubeObject | undefined;
  /** The pods of one component of a cluster (by the instance and component labels). */
  pods(namespace: string, cluster: string, component: 'pd' | 'tikv'): readonly KubeObject[];
}

export interface ReconcilerDeps {
  store: ObjectStore;
  apply: (desired: KubeObject, live: KubeObject | undefined) => Promise<ApplyResult>;
  writeStatus: (key: ClusterRef, live: TikvClusterStatus | undefined, desired: TikvClusterStatus) => Promise<boolean>;
  pd: PDResolver;
  /** PVCs (read by name only while a scale-out is planned) and fresh StatefulSet reads. */
  claims: ClaimAPI;
  /** Fresh pod and StatefulSet reads, admission (gate removal) and the one pod delete. */
  pods: PodAPI;
  events: EventRecorder;
  log: Logger;
  now?: () => Date;
  /** Poll interval while the cluster is ready / while anything is in flux. */
  steadyRequeueMs?: number;
  busyRequeueMs?: number;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** One component's scale-out, as the leftover-PVC check needs it. */
interface ScaleOutGuard {
  namespace: string;
  statefulSet: string;
  /** spec.replicas in the cache. */
  live: number | undefined;
  pvcName: (ordinal: number) => string;
  podName: (ordinal: number) => string;
  decide: (ordinal: number, claim: ClaimFacts) => ClaimDecision;
  /** The same decision on a PD answer read now (after the pod was found gone). */
  decideAgain: (ordinal: number, claim: ClaimFacts) => Promise<ClaimDecision>;
  target: EventTarget;
  log: Logger;
}

/** The apply failures of a reconcile, already in status; rethrown for the retry with backoff. */
class ApplyFailedError extends Error {}
/** The TikvCluster is gone (a status write met 404): the reconcile is done. */
class ClusterGoneError extends Error {}
/** Errors of status writes themselves: writing another status about them is pointless. */
const statusWriteErrors = new WeakSet<object>();

type Wait = { reason: string; message: string };

/** What PD told this reconcile, or why it could not be asked. */
type PDObservation = PDLook;

const VOLATILE_REFRESH_MS = 5 * 60_000;

export class TikvClusterReconciler {
  private readonly now: () => Date;
  private readonly steadyMs: number;
  private readonly busyMs: number;
  /** When per-store counters were last written, so a cluster at rest is not patched every poll. */
  private readonly volatileWrittenAt = new Map<string, number>();
  /** The status this process last wrote per key, and the resourceVersion it was written over. */
  private readonly lastWritten = new Map<string, { basedOn: string; status: TikvClusterStatus }>();
  private readonly startedAt: number;
  /**
   * When this process began evicting each store's leaders, per cluster key. In memory on
   * purpose: after a restart the wait starts again (at most one more timeout), which is
   * cheaper than a pod annotation write per eviction.
   */
  private readonly evictingSince = new Map<string, Map<string, number>>();
  /** The last apply error reported per cluster, so a retry does not repeat its Event. */
  private readonly lastApplyError = new Map<string, string>();
  /** The refused spec.version per cluster, so a refusal gets one Event. */
  private readonly lastDowngrade = new Map<string, string>();
  /** The pod each component's roll last released, per cluster key, so each gets one Event. */
  private readonly lastRolled = new Map<string, string>();
  /** The last unexpected reconcile error reported per cluster, so a retry does not repeat its Event. */
  private readonly lastReconcileError = new Map<string, string>();

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
    this.steadyMs = deps.steadyRequeueMs ?? 10_000;
    this.busyMs = deps.busyRequeueMs ?? 3_000;
    this.startedAt = this.now().getTime();
  }

  /** `log` carries the cluster key (the runtime's child logger). */
  async reconcile(key: string, log: Logger = this.deps.log): Promise<ReconcileResult> {
    const [namespace, name] = splitKey(key);
    const cached = this.deps.store.cluster(namespace, name);
    if (!cached || cached.metadata.deletionTimestamp) {
      this.forget(key);
      return {};
    }
    const raw = this.withOwnStatus(key, cached);
    const ref = { namespace, name };
    try {
      return await this.reconcileCluster(key, raw, ref, log);
    } catch (e) {
      if (e instanceof ClusterGoneError) {
        log.info({ step: 'status' }, 'the TikvCluster is gone; nothing left to do');
        this.forget(key);
        return {};
      }
      // Anything unexpected (a bug, an overflowing validation walk) is still reported in
      // status, so a cluster is never silently stuck in a retry loop.
      if (!(e instanceof ApplyFailedError) && !(typeof e === 'object' && e !== null && statusWriteErrors.has(e))) {
        log.error({ err: errorText(e) }, 'reconcile failed unexpectedly');
        await this.writeErrorStatus(raw, ref, key, e).catch((err) => log.warn({ err: errorText(err) }, 'could not report the reconcile error in status'));
      }
      throw e;
    }
  }

  private forget(key: string): void {
    this.volatileWrittenAt.delete(key);
    this.lastWritten.delete(key);
    this.evictingSince.delete(key);
    this.lastRolled.delete(`${key}/pd`);
    this.lastRolled.delete(`${key}/tikv`);
    this.lastReconcileError.delete(key);
    this.lastDowngrade.delete(key);
  }

  private async reconcileCluster(key: string, raw: TikvClusterObject, ref: ClusterRef, log: Logger): Promise<ReconcileResult> {
    const { namespace, name } = ref;
    // step: validate. The spec only: status is ours, and a value an older operator wrote
    // (say a phase the enum no longer has) must not lock the cluster out as "invalid spec".
    const valid = validateTikvCluster({ ...raw, status: undefined, metadata: { ...raw.metadata, namespace } });
    if (!valid.ok) {
      const message = `spec is invalid, fix it and re-apply: ${formatIssues(valid.issues)}`;
      log.warn({ step: 'validate', issues: valid.issues }, 'invalid TikvCluster; waiting for a corrected spec');
      await this.writeInvalidStatus(raw, ref, message, key);
      return {};
    }
    const cluster = valid.value;

    // step: observe PD
    const pdClient = this.deps.pd(ref);
    const pd = await this.observePD(pdClient);
    if (!pd.reachable) log.warn({ step: 'observe', error: pd.error }, 'PD is unreachable; no member or store will be touched');

    const n = names(name);
    const pdConfigMap = this.deps.store.object('ConfigMap', namespace, n.pdConfigMap);
    const liveData = (pdConfigMap?.data ?? {}) as Record<string, string>;
    const initialMembers = initialMemberCount(liveData[PD_INITIAL_CLUSTER_KEY]) ?? cluster.spec.pd.replicas;
    const bootstrapped = pdBootstrapped({
      marker: liveData[PD_BOOTSTRAPPED_KEY],
      statusBootstrapped: raw.status?.pd?.bootstrapped,
      healthyMembers: pd.reachable ? pd.health.filter((h) => h.health).length : undefined,
      initialMembers,
    });
    if (bootstrapped && liveData[PD_BOOTSTRAPPED_KEY] !== 'true' && pdConfigMap) {
      log.info({ step: 'bootstrap', initialMembers }, 'initial PD members are healthy; later PD pods will join');
    }

    // Apply failures (a webhook, a quota, a field the apiserver refuses) still reach status.
    const applyErrors: string[] = [];
    const waits: Array<{ reason: string; message: string }> = [];
    const pdSts = this.deps.store.object('StatefulSet', namespace, n.pdStatefulSet);
    const tikvSts = this.deps.store.object('StatefulSet', namespace, n.tikvStatefulSet);
    const pdAvailable = this.pdAvailable(pd);
    const clusterID = pd.reachable ? pd.members.clusterID : undefined;

    // step: admit. Also while paused: the StatefulSets stay as they are, and the pods they
    // (re)create still need the operator to run.
    await this.admitPods(ref, 'pd', stsReplicas(pdSts), bootstrapped ? cluster.spec.pd.replicas : initialMembers, pd, undefined, waits, log);
    if (clusterID !== undefined) {
      await this.admitPods(ref, 'tikv', stsReplicas(tikvSts), cluster.spec.tikv.replicas, pd, clusterID, waits, log);
    } else if (this.deps.store.pods(namespace, name, 'tikv').some((p) => gateIndex(p) >= 0)) {
      waits.push({ reason: 'AdmissionWaiting', message: 'new TiKV pods are admitted once PD answers: the first pod on a volume is recorded with PD\'s cluster ID' });
    }

    if (!cluster.spec.paused) {
      const target = eventTarget(raw, ref);
      const guard = (
        statefulSet: string,
        live: number | undefined,
        pvcName: ScaleOutGuard['pvcName'],
        podName: ScaleOutGuard['podName'],
        decide: ScaleOutGuard['decide'],
        decideAgain: ScaleOutGuard['decideAgain'],
      ) => ({ namespace, statefulSet, live, pvcName, podName, decide, decideAgain, target, log }) satisfies ScaleOutGuard;
      // step: plan PD. Before bootstrap the member count stays at the initial one: every
      // initial pod must start with the same --initial-cluster list.
      const pdLive = stsReplicas(pdSts);
      let pdScale: ScalePlan<PDAction> = bootstrapped ? planPDReplicas(name, cluster.spec.pd.replicas, pdLive, pdView(pd)) : { replicas: initialMembers };
      if (pdScale.prove !== undefined) {
        const k = pdScale.prove;
        pdScale = await this.withProof(pdScale, ref, n.pdStatefulSet, pdPodName(name, k), pdPvcName(name, k), CLAIM_MEMBER_ANNOTATION, log, async (proof) =>
          planPDReplicas(name, cluster.spec.pd.replicas, pdLive, pdView(await this.observePD(pdClient)), proof),
        );
      }
      const pdTop = pdScale.replicas >= (pdLive ?? 0) ? removedPDTop(name, pdLive, pdView(pd), bootstrapped) : undefined;
      if (pdTop !== undefined && pdLive !== undefined) {
        const ids = pdView(pd);
        const replace = await this.replaceIfBuried<PDAction>(ref, pdPvcName(name, pdTop), pdPodName(name, pdTop), pdLive, CLAIM_MEMBER_ANNOTATION, 'member', (id) =>
          ids.reachable ? !ids.members.some((m) => m.id === id) : false,
        );
        if (replace) pdScale = replace;
      }
      const pdPlan = await this.guardScaleOut(
        guard(
          n.pdStatefulSet,
          pdLive,
          (i) => pdPvcName(name, i),
          (i) => pdPodName(name, i),
          (i, claim) => decidePDClaim(name, i, pdView(pd), bootstrapped, claim),
          async (i, claim) => decidePDClaim(name, i, pdView(await this.observePD(pdClient)), bootstrapped, claim),
        ),
        pdScale,
      );
      // step: plan TiKV, only once PD can serve it; TiKV objects are left alone while PD is down.
      let tikvPlan: ScalePlan<TiKVAction> | undefined;
      let view: StoresView | undefined;
      if (pdAvailable && bootstrapped) {
        const tikvLive = stsReplicas(tikvSts);
        const stores = await this.storesView(pd, pdClient, tikvSts, cluster, ref);
        view = stores;
        let tikvScale = planTiKVReplicas(name, cluster.spec.tikv.replicas, tikvLive, stores);
        if (tikvScale.prove !== undefined) {
          const k = tikvScale.prove;
          tikvScale = await this.withProof(tikvScale, ref, n.tikvStatefulSet, tikvPodName(name, k), tikvPvcName(name, k), CLAIM_STORE_ANNOTATION, log, async (proof) =>
            planTiKVReplicas(name, cluster.spec.tikv.replicas, tikvLive, await this.storesAgain(pdClient, stores, ref), proof),
          );
        }
        const tikvTop = tikvLive !== undefined && tikvScale.replicas >= tikvLive ? buriedTiKVTop(name, tikvLive, stores) : undefined;
        if (tikvTop !== undefined && tikvLive !== undefined) {
          const tombstones = new Set(stores.kind === 'Observed' ? stores.stores.filter((x) => x.state === 'Tombstone').map((x) => x.id) : []);
          const replace = await this.replaceIfBuried<TiKVAction>(ref, tikvPvcName(name, tikvTop), tikvPodName(name, tikvTop), tikvLive, CLAIM_STORE_ANNOTATION, 'store', (id) =>
            tombstones.has(id),
          );
          if (replace) tikvScale = replace;
        }
        tikvPlan = await this.guardScaleOut(
          guard(
            n.tikvStatefulSet,
            tikvLive,
            (i) => tikvPvcName(name, i),
            (i) => tikvPodName(name, i),
            (i, claim) => decideTiKVClaim(name, i, stores, claim, clusterID),
            async (i, claim) => decideTiKVClaim(name, i, await this.storesAgain(pdClient, stores, ref), claim, clusterID),
          ),
          tikvScale,
        );
      }
      if (!tikvPlan) {
        waits.push({ reason: 'WaitingForPD', message: 'TiKV waits until PD is bootstrapped and a quorum of its members is healthy' });
      }

      // step: version. A lower spec.version than what runs is refused unless asked for (downgrade.ts).
      const downgrade = refuseDowngrade({
        specVersion: cluster.spec.version,
        components: [
          { component: 'pd', image: cluster.spec.pd.image, liveImage: firstImage(pdSts) },
          { component: 'tikv', image: cluster.spec.tikv.image, liveImage: firstImage(tikvSts) },
        ],
        annotations: cluster.metadata.annotations,
      });
      if (downgrade) {
        waits.push({ reason: downgrade.reason, message: downgrade.message });
        if (this.lastDowngrade.get(key) !== cluster.spec.version) await this.deps.events.emit(target, 'Warning', downgrade.reason, downgrade.message);
        this.lastDowngrade.set(key, cluster.spec.version);
      } else this.lastDowngrade.delete(key);
      const versioned = downgrade ? { ...cluster, spec: { ...cluster.spec, version: downgrade.keep } } : cluster;
      // step: config check (config-check.ts): a changed config reaches no pod before the binary's --config-check accepted it.
      const gate = await gateConfigs(
        { ...this.configGateDeps(ref), target, uid: raw.metadata.uid as string | undefined, log },
        versioned,
        tikvPlan ? ['pd', 'tikv'] : ['pd'],
      );
      waits.push(...gate.waits);
      const scaled = withReplicas(gate.cluster, pdPlan.replicas, tikvPlan?.replicas ?? cluster.spec.tikv.replicas);
      const synthOpts = {
        uid: raw.metadata.uid as string | undefined,
        pdBootstrapped: bootstrapped,
        pdClaimMarker: claimMarker(pdSts),
        tikvClaimMarker: claimMarker(tikvSts),
      };
      let desired = synthesize(scaled, synthOpts);

      // step: plan rolling updates. The partitions need the desired pod templates, which
      // do not depend on them: synthesize again only when a partition is not 0.
      const pdRollState = rollState(pdSts, desired, n.pdStatefulSet, pdPlan.replicas);
      const pdPods = rollPods(this.deps.store.pods(namespace, name, 'pd'));
      const pdRoll = planPDRoll(name, pdRollState, pdPods, pdView(pd));
      // TiKV starts only once PD has finished: not merely released its last pod (partition
      // 0 in this very reconcile) but seen it back, Ready and healthy in PD.
      const pdUnsettled =
        pdRoll.partition > 0 || pdRoll.waiting !== undefined || pdRoll.rolls !== undefined
          ? 'PD is rolled first'
          : pdRollUnsettled(name, pdRollState, pdPods, pdView(pd));
      let tikvRoll: RollPlan | undefined;
      let evicted: string[] | undefined;
      if (tikvPlan && view) {
        evicted = view.kind === 'Observed' ? await this.evictedStores(pdClient, key, log) : undefined;
        tikvRoll = planTiKVRoll(
          name,
          rollState(tikvSts, desired, n.tikvStatefulSet, tikvPlan.replicas),
          rollPods(this.deps.store.pods(namespace, name, 'tikv')),
          view,
          { stores: evicted, since: this.evictingSince.get(key) ?? new Map(), now: this.now().getTime() },
          pdUnsettled,
        );
      }
      if (pdRoll.partition > 0 || (tikvRoll?.partition ?? 0) > 0) {
        desired = synthesize(scaled, { ...synthOpts, pdPartition: pdRoll.partition, tikvPartition: tikvRoll?.partition ?? 0 });
      }
      applyErrors.push(...(await this.applyComponent(desired, 'pd', namespace, log)));
      if (tikvPlan) applyErrors.push(...(await this.applyComponent(desired, 'tikv', namespace, log)));
      for (const e of applyErrors) waits.push({ reason: 'ApplyFailed', message: e });

      // step: PD calls of the plans, at most one per component per reconcile
      for (const plan of [pdPlan, tikvPlan]) if (plan?.waiting) waits.push(plan.waiting);
      await this.runScaleInActions(pdClient, [pdPlan.action, tikvPlan?.action], { ref, pd: pdView(pd) }, target, waits, log);
      // step: recover a PD member whose pod lost its data (pd-lost-data.ts); not beside a scale-in's PD call.
      const recovered = pdPlan.action
        ? undefined
        : await recoverLostPDMember(
            {
              observeAgain: async () => pdView(await this.observePD(pdClient)),
              deleteMember: (member) => pdClient.deleteMember(member),
              emit: (reason, message) => this.deps.events.emit(target, 'Warning', reason, message),
              log: (message, fields) => log.warn(fields, message),
            },
            { bootstrapped, pd: pdView(pd), pods: this.deps.store.pods(namespace, name, 'pd') as readonly FailurePod[] },
          );
      if (recovered) waits.push(recovered);
      for (const roll of [pdRoll, tikvRoll]) if (roll?.waiting) waits.push(roll.waiting);
      // A replaced store gets its leaders back before the next store gives its away.
      if (tikvRoll && evicted && view) {
        await this.removeEvictions(pdClient, key, evictionsToRemove(name, evicted, view, tikvRoll.keepEvicted), waits, log);
      }
      await this.runRollSteps(key, pdClient, target, waits, log, { pd: pdRoll, tikv: tikvRoll });
    }

    // step: status
    const status = this.buildStatus(raw, cluster, pd, bootstrapped, waits, ref, applyErrors);
    // step: pod failures (pod-failures.ts): the PodsHealthy condition, and one Warning Event per new failure.
    const failures = podFailures([...this.deps.store.pods(namespace, name, 'pd'), ...this.deps.store.pods(namespace, name, 'tikv')] as FailurePod[]);
    const podsBefore = raw.status?.conditions?.find((c) => c.type === PODS_HEALTHY);
    status.conditions = setCondition(status.conditions, PODS_HEALTHY, podsHealthy(failures), raw.metadata.generation as number | undefined, this.now());
    await this.writeStatusIfChanged(raw, ref, status, key);
    for (const e of newFailures(podsBefore, failures)) await this.deps.events.emit(eventTarget(raw, ref), 'Warning', e.reason, e.message);
    this.lastReconcileError.delete(key);
    if (applyErrors.length) {
      if (this.lastApplyError.get(key) !== applyErrors[0]) await this.deps.events.emit(eventTarget(raw, ref), 'Warning', 'ApplyFailed', applyErrors[0] ?? '');
      this.lastApplyError.set(key, applyErrors[0] ?? '');
      // Thrown after status is written, so the runtime retries with backoff.
      throw new ApplyFailedError(`apply failed: ${applyErrors.join('; ')}`);
    }
    this.lastApplyError.delete(key);
    const ready = status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    return { requeueAfterMs: ready ? this.steadyMs : this.busyMs };
  }

  /**
   * Admits the gated pods of one component that the StatefulSet holds and that are wanted
   * (plan.ts podsToAdmit). Before a pod goes, its PVC is marked admitted (with PD's cluster
   * ID for TiKV when this is the first pod on it): a PVC still `pending` then proves that
   * no pod ever ran on it.
   */
  /** What the config-check step reads and writes (config-check.ts). */
  private configGateDeps(ref: ClusterRef) {
    const n = names(ref.name);
    return {
      liveConfigMap: (c: 'pd' | 'tikv') => this.deps.store.object('ConfigMap', ref.namespace, c === 'pd' ? n.pdConfigMap : n.tikvConfigMap),
      liveStatefulSet: (c: 'pd' | 'tikv') => this.deps.store.object('StatefulSet', ref.namespace, c === 'pd' ? n.pdStatefulSet : n.tikvStatefulSet) !== undefined,
      readPod: (ns: string, name: string) => this.deps.pods.readPod(ns, name),
      apply: this.deps.apply,
      events: this.deps.events,
    };
  }

  private async admitPods(
    ref: ClusterRef,
    component: 'pd' | 'tikv',
    live: number | undefined,
    wanted: number,
    pd: PDObservation,
    clusterID: string | undefined,
    waits: Wait[],
    log: Logger,
  ): Promise<void> {
    const { namespace, name } = ref;
    const gated: GatedPod[] = this.deps.store.pods(namespace, name, component).flatMap((p) => {
      const index = gateIndex(p);
      const ordinal = ordinalOf(p);
      const uid = p.metadata.uid as string | undefined;
      if (index < 0 || ordinal === undefined || !uid || p.metadata.deletionTimestamp) return [];
      return [{ ordinal, name: p.metadata.name, uid, gateIndex: index }];
    });
    if (gated.length === 0) return;
    const keeps = component === 'pd' ? pdMemberKept(name, pd) : storeKept(name, pd, ref, this.now());
    for (const p of podsToAdmit(gated, live, wanted, keeps)) {
      const pvc = component === 'pd' ? pdPvcName(name, p.ordinal) : tikvPvcName(name, p.ordinal);
      try {
        const recorded = await this.deps.claims.recordAdmission(namespace, pvc, clusterID);
        if (recorded === 'missing') {
          waits.push({ reason: 'AdmissionWaiting', message: `pod ${p.name} is admitted once its PVC ${pvc} exists` });
          continue;
        }
        const result = await this.deps.pods.admitPod(namespace, p.name, p.uid, ADMISSION_GATE, p.gateIndex);
        log.info({ step: 'admit', pod: p.name, uid: p.uid, pvc, recorded, result }, result === 'admitted' ? 'admitted the pod' : 'the pod changed before it was admitted');
      } catch (e) {
        log.warn({ step: 'admit', pod: p.name, error: errorText(e) }, 'could not admit the pod; will retry');
        waits.push({ reason: 'AdmissionFailed', message: `admitting pod ${p.name} failed: ${errorText(e)}` });
      }
    }
  }

  /**
   * Gathers the RemovalProof a plan asks for, in the order the fence needs: the PVC's
   * record, the pod and the StatefulSet first, PD only after (`replan` reads it). A read
   * that fails keeps the plan as it was (nothing is removed) and says why.
   */
  private async withProof<A>(
    plan: ScalePlan<A>,
    ref: ClusterRef,
    statefulSet: string,
    podName: string,
    pvcName: string,
    recordKey: string,
    log: Logger,
    replan: (proof: RemovalProof) => Promise<ScalePlan<A>>,
  ): Promise<ScalePlan<A>> {
    const ordinal = plan.prove ?? 0;
    try {
      const claim = await this.deps.claims.getClaim(ref.namespace, pvcName);
      const pod = await this.deps.pods.getPod(ref.namespace, podName, ADMISSION_GATE);
      const sts = await this.deps.pods.getStatefulSet(ref.namespace, statefulSet);
      const recorded = claim && !claim.deleting ? claim.annotations?.[recordKey] : undefined;
      const proof: RemovalProof = { ...(pod ? { pod } : {}), recreatedGated: recreatesGated(sts, ordinal), ...(recorded !== undefined ? { recorded } : {}) };
      const next = await replan(proof);
      log.debug({ step: 'scale-in', pod: podName, proof, replicas: next.replicas }, 'checked the admission fence');
      // A second "prove" would mean PD now lists a different ordinal's story: keep the count.
      return next.prove !== undefined ? { ...next, replicas: Math.max(next.replicas, ordinal + 1) } : next;
    } catch (e) {
      log.warn({ step: 'scale-in', pod: podName, error: errorText(e) }, 'could not check the pod before removing it; will retry');
      return { replicas: ordinal + 1, waiting: { reason: 'ScaleInWaitingForPod', message: `checking ${podName} before removing it failed: ${errorText(e)}` } };
    }
  }

  /**
   * The replacing plan (plan.ts replaceBuried) when the top pod's PVC records data PD buried.
   * Tombstones and removed members do not come back, so the PD answer of this reconcile
   * holds; the PVC is read fresh.
   */
  private async replaceIfBuried<A>(
    ref: ClusterRef,
    pvcName: string,
    podName: string,
    live: number,
    recordKey: string,
    what: 'store' | 'member',
    buried: (id: string) => boolean,
  ): Promise<ScalePlan<A> | undefined> {
    const claim = await this.deps.claims.getClaim(ref.namespace, pvcName);
    const recorded = claim && !claim.deleting ? claim.annotations?.[recordKey] : undefined;
    return replaceBuried<A>(podName, live, recorded, buried, what);
  }

  /** PD's stores read again, as a view (same max-replicas as the first read of this reconcile). */
  private async storesAgain(client: PDClient, first: StoresView, ref: ClusterRef): Promise<StoresView> {
    let stores: PDStore[];
    try {
      stores = await client.stores({ includeTombstone: true });
    } catch (e) {
      return storesObservationOfError(e);
    }
    const derived = deriveTiKVStatus(undefined, { stores }, ref, this.now()).stores ?? [];
    return { kind: 'Observed', stores: derived, ...(first.kind === 'Observed' && first.maxReplicas !== undefined ? { maxReplicas: first.maxReplicas } : {}) };
  }

  /**
   * The cluster with the newest status we know of. The cache can lag behind our own status
   * write (an owned object's event may trigger the next reconcile first); diffing against
   * the old status would then write again and repeat every event. A status write always
   * moves resourceVersion, so a cached object still at the version we wrote over has not
   * seen our write yet.
   */
  private withOwnStatus(key: string, cached: TikvClusterObject): TikvClusterObject {
    const mine = this.lastWritten.get(key);
    const rv = cached.metadata.resourceVersion as string | undefined;
    if (!mine || rv === undefined || rv !== mine.basedOn) {
      this.lastWritten.delete(key);
      return cached;
    }
    return { ...cached, status: mine.status };
  }

  private observePD(pd: PDClient): Promise<PDObservation> {
    return lookAtPD(pd);
  }

  /**
   * PD can serve TiKV: a quorum of the members PD itself lists is healthy (the rule of the
   * PDAvailable condition). Not of spec.pd.replicas: etcd's quorum is over its members, so
   * the desired count would block TiKV while a big PD scale-out (or a spec raised before
   * bootstrap) is still joining, and would call a 5-member PD with 2 healthy available
   * when the spec says 1.
   */
  private pdAvailable(pd: PDObservation): boolean {
    if (!pd.reachable) return false;
    const view = pdView(pd);
    if (!view.reachable || view.members.length === 0) return false;
    return view.members.filter((m) => m.health).length >= Math.floor(view.members.length / 2) + 1;
  }

  private async storesView(pd: PDObservation, client: PDClient, tikvSts: KubeObject | undefined, cluster: TikvCluster, ref: ClusterRef): Promise<StoresView> {
    if (!pd.reachable) return { kind: 'Unknown', error: pd.error };
    if (!Array.isArray(pd.stores)) return pd.stores;
    const stores = deriveTiKVStatus(undefined, { stores: pd.stores }, ref, this.now()).stores ?? [];
    const live = stsReplicas(tikvSts);
    if (live === undefined || cluster.spec.tikv.replicas >= live) return { kind: 'Observed', stores };
    try {
      return { kind: 'Observed', stores, maxReplicas: (await client.replicationConfig()).maxReplicas };
    } catch (e) {
      return { kind: 'Unknown', error: errorText(e) };
    }
  }

  /**
   * Caps a scale-out below the first new ordinal whose retained PVC is still there, and
   * deletes that PVC when PD confirms its data is dead (plan.ts decides). The StatefulSet
   * grows past the ordinal only once the PVC is really gone: a PVC being deleted still
   * hands its data to a new pod. One PVC per reconcile; the next sees whether it went.
   */
  private async guardScaleOut<A>(g: ScaleOutGuard, plan: ScalePlan<A>): Promise<ScalePlan<A>> {
    // Creating the StatefulSet is not a scale-out: PVCs of an earlier cluster of the same
    // name are the user's data to come back to (deleting the CR keeps them on purpose).
    if (g.live === undefined) return plan;
    const { claims, events } = this.deps;
    for (let i = g.live; i < plan.replicas; i++) {
      const pvc = g.pvcName(i);
      const claim = await claims.getClaim(g.namespace, pvc);
      if (!claim) continue;
      const hold = (waiting: Wait): ScalePlan<A> => ({ ...plan, replicas: i, waiting });
      if (claim.deleting) {
        return hold({ reason: 'ScaleOutWaitingForPVC', message: `scale-out waits at ordinal ${i}: its old PVC ${pvc} is being deleted` });
      }
      let decision = g.decide(i, claim);
      if (decision.kind === 'reuse') {
        g.log.info({ step: 'scale-out', pvc, reason: decision.reason }, 'the new pod reuses the old PVC');
        continue;
      }
      if (decision.kind === 'wait') return hold(decision);
      // The cache may lag behind a StatefulSet that already runs a new pod on this PVC.
      const fresh = await claims.liveReplicas(g.namespace, g.statefulSet);
      if (fresh === undefined || fresh > i) {
        const message = `the StatefulSet ${g.statefulSet} already has ${fresh ?? 'no'} replicas; waiting for the cache to catch up`;
        return { ...plan, replicas: fresh ?? i, waiting: { reason: 'ScaleOutWaitingForCache', message } };
      }
      if (decision.confirm) {
        // A pod of this ordinal, even one being deleted, could be registering from this
        // PVC right now: the PVC goes only once no pod is left, on a PD answer read after.
        const confirmed = await this.confirmClaimDelete(g, i, claim);
        if (confirmed.kind === 'wait') return hold(confirmed);
        if (confirmed.kind === 'reuse') continue;
        decision = confirmed;
      }
      try {
        await claims.deleteClaim(g.namespace, claim);
      } catch (e) {
        g.log.warn({ step: 'scale-out', pvc, error: errorText(e) }, 'could not delete the old PVC; will retry');
        return hold({ reason: 'ScaleOutFailed', message: `deleting the old PVC ${pvc} failed: ${errorText(e)}` });
      }
      g.log.info({ step: 'scale-out', pvc, reason: decision.reason }, 'deleted the old PVC before the scale-out reuses its ordinal');
      await events.emit(g.target, 'Normal', 'PVCDeleted', `deleted PVC ${pvc} before scale-out: ${decision.reason}`);
      return hold({ reason: 'ScaleOutWaitingForPVC', message: `deleted the old PVC ${pvc} (${decision.reason}); ordinal ${i} is created once it is gone` });
    }
    return plan;
  }

  /** The delete decision taken again after a fresh read shows no pod of the ordinal. */
  private async confirmClaimDelete(g: ScaleOutGuard, i: number, claim: VolumeClaim): Promise<ClaimDecision> {
    const podName = g.podName(i);
    const pod = await this.deps.pods.getPod(g.namespace, podName, ADMISSION_GATE);
    if (pod) {
      return {
        kind: 'wait',
        reason: 'ScaleOutWaitingForPVC',
        message: `scale-out waits at ${podName}: its old PVC ${claim.name} is deleted once the old pod ${podName} is gone`,
      };
    }
    const again = await g.decideAgain(i, claim);
    return again.kind === 'delete' ? { kind: 'delete', reason: again.reason } : again;
  }

  /** Applies one component's objects; returns what failed (and goes on with the rest). */
  private async applyComponent(desired: KubeObject[], component: 'pd' | 'tikv', namespace: string, log: Logger): Promise<string[]> {
    const failed: string[] = [];
    for (const obj of desired.filter((o) => o.metadata.labels?.[LABELS.component] === component)) {
      const live = this.deps.store.object(obj.kind as 'StatefulSet' | 'ConfigMap' | 'Service', namespace, obj.metadata.name);
      let result: ApplyResult;
      try {
        result = await this.deps.apply(obj, live);
      } catch (e) {
        failed.push(`${obj.kind}/${obj.metadata.name}: ${errorText(e)}`);
        log.error({ step: `sync-${component}`, object: `${obj.kind}/${obj.metadata.name}`, err: errorText(e) }, 'apply failed');
        continue;
      }
      if (result !== 'unchanged') {
        // Why it wrote: the first field where the live object differed from the chart.
        const drift = live ? difference(live, { ...obj, apiVersion: undefined, kind: undefined }) : undefined;
        log.info({ step: `sync-${component}`, object: `${obj.kind}/${obj.metadata.name}`, result, drift }, `${result} ${obj.kind}`);
      }
    }
    return failed;
  }

  /** PD's evict-leader stores, with when this process saw each eviction begin; undefined if unreadable. */
  private async evictedStores(client: PDClient, key: string, log: Logger): Promise<string[] | undefined> {
    let stores: string[];
    try {
      stores = await client.evictLeaderStores();
    } catch (e) {
      log.warn({ step: 'roll', error: errorText(e) }, "could not read PD's evict-leader scheduler");
      return undefined;
    }
    const old = this.evictingSince.get(key);
    const nowMs = this.now().getTime();
    const since = new Map(stores.map((id) => [id, old?.get(id) ?? nowMs]));
    if (since.size) this.evictingSince.set(key, since);
    else this.evictingSince.delete(key);
    return stores;
  }

  /** The PD call of each roll plan, and one Event per pod a plan lets the StatefulSet replace. */
  private async runRollSteps(
    key: string,
    client: PDClient,
    target: EventTarget,
    waits: Wait[],
    log: Logger,
    rolls: Record<'pd' | 'tikv', RollPlan | undefined>,
  ): Promise<void> {
    const { events } = this.deps;
    for (const [component, roll] of Object.entries(rolls) as Array<['pd' | 'tikv', RollPlan | undefined]>) {
      if (!roll) continue;
      if (roll.action) await this.runRollAction(key, client, roll.action, target, waits, log);
      const rolledKey = `${key}/${component}`;
      if (roll.rolls && this.lastRolled.get(rolledKey) !== roll.rolls) {
        log.info({ step: 'roll', component, pod: roll.rolls, partition: roll.partition }, 'lowered the partition: the pod is replaced next');
        await events.emit(target, 'Normal', 'RollingUpdate', `replacing pod ${roll.rolls} with the new revision (partition ${roll.partition})`);
      }
      if (roll.rolls) this.lastRolled.set(rolledKey, roll.rolls);
      else if (!roll.waiting && roll.partition === 0) this.lastRolled.delete(rolledKey);
    }
  }

  private async runRollAction(key: string, client: PDClient, a: RollAction, target: EventTarget, waits: Wait[], log: Logger): Promise<void> {
    try {
      if (a.kind === 'transferLeader') {
        await client.transferLeader(a.to);
        log.info({ step: 'roll', from: a.from, to: a.to }, 'moving PD leadership before replacing the pod');
      } else {
        await client.evictLeader(a.storeId);
        const since = this.evictingSince.get(key) ?? new Map<string, number>();
        since.set(a.storeId, this.now().getTime());
        this.evictingSince.set(key, since);
        log.info({ step: 'roll', store: a.storeId, pod: a.podName }, 'evicting the store leaders before replacing the pod');
        await this.deps.events.emit(target, 'Normal', 'EvictingLeaders', `evicting the Raft leaders of store ${a.storeId} (${a.podName}) before replacing the pod`);
      }
    } catch (e) {
      log.warn({ step: 'roll', action: a.kind, error: errorText(e) }, 'PD call failed; will retry');
      waits.push({ reason: 'RollingUpdate', message: `rolling step ${a.kind} failed: ${errorText(e)}` });
    }
  }

  /** Evict-leader entries this cluster no longer needs (the pod is back, or no roll is under way). */
  private async removeEvictions(client: PDClient, key: string, ids: string[], waits: Wait[], log: Logger): Promise<void> {
    for (const id of ids) {
      try {
        await client.removeEvictLeader(id);
        this.evictingSince.get(key)?.delete(id);
        log.info({ step: 'roll', store: id }, 'removed the evict-leader entry of the store');
      } catch (e) {
        log.warn({ step: 'roll', store: id, error: errorText(e) }, 'could not remove the evict-leader entry; will retry');
        waits.push({ reason: 'RollingUpdate', message: `removing the evict-leader entry of store ${id} failed: ${errorText(e)}` });
      }
    }
  }

  /**
   * Runs the call a plan asks for (a PD call, or deleting an admitted pod that never
   * registered); a failure is reported and retried next time. Before PD is asked to
   * remove a store or member, its PVC records it as its data (plan.ts: the Tombstone fast
   * path and a PVC's deletion lean on that record).
   */
  private async runScaleInActions(
    client: PDClient,
    actions: Array<PDAction | TiKVAction | undefined>,
    ctx: { ref: ClusterRef; pd: PDView },
    target: EventTarget,
    waits: Array<{ reason: string; message: string }>,
    log: Logger,
  ): Promise<void> {
    const { events } = this.deps;
    const { namespace, name } = ctx.ref;
    for (const a of actions) {
      if (!a) continue;
      try {
        if (a.kind === 'transferLeader') {
          await client.transferLeader(a.to);
          log.info({ step: 'scale-in-pd', from: a.from, to: a.to }, 'moving PD leadership before removing the member');
          waits.push({ reason: 'TransferringPDLeader', message: `moving PD leadership from ${a.from} to ${a.to} before removing ${a.from}` });
        } else if (a.kind === 'deleteMember') {
          const id = ctx.pd.reachable ? ctx.pd.members.find((m) => m.name === a.name)?.id : undefined;
          const ordinal = ordinalOfName(a.name);
          if (id !== undefined && ordinal !== undefined) await this.recordOnClaim(namespace, pdPvcName(name, ordinal), CLAIM_MEMBER_ANNOTATION, id);
          await client.deleteMember(a.name);
          await events.emit(target, 'Normal', 'PDMemberRemoved', `removed PD member ${a.name} for scale-in`);
          waits.push({ reason: 'RemovingPDMember', message: `removed PD member ${a.name}; its pod goes next` });
        } else if (a.kind === 'cancelStoreRemoval') {
          await client.cancelStoreRemoval(a.id);
          await events.emit(target, 'Normal', 'StoreRemovalCancelled', `cancelled the removal of store ${a.id} (${a.podName}): spec.tikv.replicas wants its pod again`);
          waits.push({ reason: 'StoreRemovalCancelled', message: `cancelled the removal of store ${a.id} (${a.podName}); PD keeps it` });
        } else if (a.kind === 'restartPod') {
          await this.deps.pods.deletePod(namespace, a.podName, a.uid);
          log.info({ step: 'scale-in', pod: a.podName, uid: a.uid }, 'deleted an admitted pod that never registered, so it cannot register while it is removed');
          await events.emit(
            target,
            'Normal',
            'PodDeletedForScaleIn',
            `deleted pod ${a.podName} (uid ${a.uid}): it was admitted but never registered with PD; its gated replacement is removed for scale-in`,
          );
        } else {
          const ordinal = ordinalOfName(a.podName);
          if (ordinal !== undefined) await this.recordOnClaim(namespace, tikvPvcName(name, ordinal), CLAIM_STORE_ANNOTATION, a.id);
          await client.deleteStore(a.id);
          await events.emit(target, 'Normal', 'StoreOffline', `asked PD to take store ${a.id} (${a.podName}) offline for scale-in`);
          waits.push({ reason: 'StoreOffline', message: `store ${a.id} (${a.podName}) is going Offline; its pod goes once PD makes it a Tombstone` });
        }
      } catch (e) {
        log.warn({ step: 'scale', action: a.kind, error: errorText(e) }, 'scale-in step failed; will retry');
        waits.push({ reason: 'ScaleInFailed', message: `scale step ${a.kind} failed: ${errorText(e)}` });
      }
    }
  }

  /**
   * Records on a PVC whose data it holds. The live store (or member) was read from PD
   * before this read of the PVC, and a PVC is replaced only by this operator, only once PD
   * says its data is dead, so that store's data is on this PVC.
   */
  private async recordOnClaim(namespace: string, pvc: string, key: string, value: string): Promise<void> {
    const claim = await this.deps.claims.getClaim(namespace, pvc);
    if (!claim || claim.deleting || claim.annotations?.[key] === value) return;
    await this.deps.claims.annotateClaim(namespace, claim, { [key]: value });
  }

  private buildStatus(
    raw: TikvClusterObject,
    cluster: TikvCluster,
    pd: PDObservation,
    bootstrapped: boolean,
    waits: Array<{ reason: string; message: string }>,
    ref: ClusterRef,
    applyErrors: readonly string[] = [],
  ): TikvClusterStatus {
    const prev = raw.status ?? {};
    const now = this.now();
    const n = names(ref.name);
    const pdSts = this.deps.store.object('StatefulSet', ref.namespace, n.pdStatefulSet);
    const tikvSts = this.deps.store.object('StatefulSet', ref.namespace, n.tikvStatefulSet);
    let pdStatus = prev.pd;
    let members: PDMembersObservation;
    let stores: StoresObservation;
    let tikvStatus = prev.tikv;
    if (pd.reachable) {
      pdStatus = derivePDStatus(prev.pd, { health: pd.health, members: pd.members }, now);
      members = { kind: 'Observed', members: pdStatus.members ?? [], leader: pdStatus.leader };
      if (Array.isArray(pd.stores)) {
        tikvStatus = deriveTiKVStatus(prev.tikv, { stores: pd.stores }, ref, now);
        stores = { kind: 'Observed', stores: tikvStatus.stores ?? [] };
      } else {
        stores = pd.stores;
      }
    } else {
      // Keep what PD said last; the conditions say it is stale.
      members = { kind: 'Unreachable', error: pd.error };
      stores = { kind: 'Unknown', error: pd.error };
    }
    const pdObs = observeStatefulSet(pdSts as never);
    const tikvObs = observeStatefulSet(tikvSts as never);
    const selector = Object.entries(selectorLabels(ref.name, 'tikv'))
      .map(([k, v]) => `${k}=${v}`)
      .join(',');

    let conditions: Condition[] = deriveConditions(
      prev.conditions,
      {
        cluster: ref,
        desired: { pd: cluster.spec.pd.replicas, tikv: cluster.spec.tikv.replicas },
        pdStatefulSet: pdObs,
        tikvStatefulSet: tikvObs,
        pd: members,
        stores,
        pdBootstrapped: bootstrapped,
        paused: cluster.spec.paused,
        ...(applyErrors.length ? { applyFailed: applyErrors.join('; ') } : {}),
      },
      raw.metadata.generation as number | undefined,
      now,
    );
    // A scale-in that waits on PD is progress the generic rules cannot see.
    const wait = waits.find((w) => w.reason !== 'WaitingForPD');
    if (wait && !cluster.spec.paused) {
      conditions = setCondition(conditions, 'Progressing', { status: 'True', ...wait }, raw.metadata.generation as number | undefined, now);
    }
    // Invalid and Paused say nothing about whether the cluster ever ran; one whose PD never
    // bootstrapped has not, so it reads Pending/Bootstrapping again rather than Updating.
    const prevPhase = (prev.phase === 'Invalid' || prev.phase === 'Paused') && !bootstrapped ? undefined : prev.phase;
    const phase = derivePhase(conditions, cluster.spec.paused, false, prevPhase);
    const clusterID = (pd.reachable ? pd.members.clusterID : undefined) ?? prev.clusterID;
    return {
      observedGeneration: raw.metadata.generation as number | undefined,
      phase,
      conditions,
      ...(clusterID ? { clusterID } : {}),
      pd: {
        ...(pdStatus ?? {}),
        replicas: pdObs?.replicas ?? 0,
        readyReplicas: pdObs?.readyReplicas ?? 0,
        bootstrapped,
      },
      tikv: {
        ...(tikvStatus ?? {}),
        replicas: tikvObs?.replicas ?? 0,
        readyReplicas: tikvObs?.readyReplicas ?? 0,
        selector,
      },
    };
  }

  private async writeInvalidStatus(raw: TikvClusterObject, ref: ClusterRef, message: string, key: string): Promise<void> {
    const prev = raw.status ?? {};
    const generation = raw.metadata.generation as number | undefined;
    const now = this.now();
    let conditions = setCondition(prev.conditions, 'Ready', { status: 'False', reason: 'InvalidSpec', message }, generation, now);
    conditions = setCondition(conditions, 'Progressing', { status: 'False', reason: 'InvalidSpec', message }, generation, now);
    const status: TikvClusterStatus = { ...prev, observedGeneration: generation, phase: 'Invalid', conditions };
    await this.writeStatusIfChanged(raw, ref, status, key);
  }

  private async writeStatusIfChanged(raw: TikvClusterObject, ref: ClusterRef, status: TikvClusterStatus, key: string): Promise<void> {
    const prev = raw.status;
    const nowMs = this.now().getTime();
    const lastVolatile = this.volatileWrittenAt.get(key) ?? this.startedAt;
    const refreshVolatile = nowMs - lastVolatile >= VOLATILE_REFRESH_MS;
    if (statusEqual(prev, status, { ignoreVolatile: !refreshVolatile })) return;
    await this.writeStatusOrMark(ref, prev, status);
    this.volatileWrittenAt.set(key, nowMs);
    const rv = raw.metadata.resourceVersion as string | undefined;
    if (rv !== undefined) this.lastWritten.set(key, { basedOn: rv, status });
    // After the write: a failed write is retried, and events emitted before it would repeat.
    await this.emitTransitions(raw, ref, prev, status);
  }

  /** writeStatus; a 404 means the cluster was just deleted (done), other errors are marked as status errors. */
  private async writeStatusOrMark(ref: ClusterRef, prev: TikvClusterStatus | undefined, status: TikvClusterStatus): Promise<void> {
    try {
      await this.deps.writeStatus(ref, prev, status);
    } catch (e) {
      if (isNotFound(e)) throw new ClusterGoneError(`TikvCluster ${ref.namespace}/${ref.name} is gone`);
      if (typeof e === 'object' && e !== null) statusWriteErrors.add(e);
      throw e;
    }
  }

  /**
   * Ready False, reason ReconcileError, with the error, over whatever status the cluster
   * had; one Warning Event per distinct error. Best effort: the caller rethrows anyway.
   */
  private async writeErrorStatus(raw: TikvClusterObject, ref: ClusterRef, key: string, e: unknown): Promise<void> {
    const prev = raw.status ?? {};
    const generation = raw.metadata.generation as number | undefined;
    const message = `the reconcile failed and is retried with backoff: ${errorText(e)}`.slice(0, 4096);
    const conditions = setCondition(prev.conditions, 'Ready', { status: 'False', reason: 'ReconcileError', message }, generation, this.now());
    const status: TikvClusterStatus = { ...prev, phase: prev.phase ?? 'Pending', conditions };
    if (!statusEqual(prev, status)) {
      await this.writeStatusOrMark(ref, raw.status, status);
      const rv = raw.metadata.resourceVersion as string | undefined;
      if (rv !== undefined) this.lastWritten.set(key, { basedOn: rv, status });
    }
    if (this.lastReconcileError.get(key) !== message) {
      this.lastReconcileError.set(key, message);
      await this.deps.events.emit(eventTarget(raw, ref), 'Warning', 'ReconcileError', message);
    }
  }

  /** Events for the transitions a person would want in `kubectl describe`. */
  private async emitTransitions(raw: TikvClusterObject, ref: ClusterRef, prev: TikvClusterStatus | undefined, next: TikvClusterStatus): Promise<void> {
    const target = eventTarget(raw, ref);
    const emit = this.deps.events.emit.bind(this.deps.events);
    // While PD forms, an unreachable PD and unhealthy members are expected, not news.
    const formed = prev?.pd?.bootstrapped === true;
    const before = new Map((prev?.conditions ?? []).map((c) => [c.type, c]));
    for (const c of next.conditions ?? []) {
      const old = before.get(c.type);
      // InvalidSpec is a change of reason (Ready may have been False already) and gets
      // exactly one event, not a second generic "no longer ready" one.
      if (c.type === 'Ready' && c.reason === 'InvalidSpec') {
        if (old?.reason !== 'InvalidSpec') await emit(target, 'Warning', 'InvalidSpec', c.message);
        continue;
      }
      if (old?.status === c.status) continue;
      if (c.type === 'Ready' && c.status === 'True') await emit(target, 'Normal', 'ClusterReady', c.message);
      if (c.type === 'Ready' && c.status === 'False' && old?.status === 'True') await emit(target, 'Warning', c.reason, c.message);
      if (c.type === 'PDAvailable' && c.status === 'Unknown' && formed) await emit(target, 'Warning', c.reason, c.message);
      if (c.type === 'Degraded' && c.status === 'True' && formed) await emit(target, 'Warning', c.reason, c.message);
    }
    if (next.pd?.bootstrapped && !prev?.pd?.bootstrapped) await emit(target, 'Normal', 'PDBootstrapped', 'the initial PD members formed the cluster');
    const oldStores = new Map((prev?.tikv?.stores ?? []).map((s) => [s.id, s.state]));
    for (const s of next.tikv?.stores ?? []) {
      const was = oldStores.get(s.id);
      if (was === s.state) continue;
      // Offline is a removal under way (our own scale-in), reported like its end, Tombstone.
      const type = s.state === 'Up' || s.state === 'Offline' || s.state === 'Tombstone' ? 'Normal' : 'Warning';
      await emit(target, type, 'StoreStateChanged', `store ${s.id} (${s.podName ?? s.address}) is ${s.state}${was ? ` (was ${was})` : ''}`);
    }
  }
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return i < 0 ? ['default', key] : [key.slice(0, i), key.slice(i + 1)];
}

const isNotFound = (e: unknown) => typeof e === 'object' && e !== null && (e as { status?: unknown }).status === 404;

/** The ordinal of a StatefulSet pod name (`<sts>-<n>`). */
function ordinalOfName(name: string): number | undefined {
  const n = Number(name.slice(name.lastIndexOf('-') + 1));
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}
const ordinalOf = (pod: KubeObject) => ordinalOfName(pod.metadata.name);

/** Where the admission gate sits in a pod's spec.schedulingGates; -1 when it has none. */
function gateIndex(pod: KubeObject): number {
  const gates = (pod.spec as { schedulingGates?: Array<{ name?: string }> } | undefined)?.schedulingGates ?? [];
  return gates.findIndex((g) => g.name === ADMISSION_GATE);
}

/**
 * Whether the StatefulSet's volumeClaimTemplates carry the `pending` marker: always for a
 * StatefulSet about to be created; a live one keeps what it was created with (immutable).
 */
function claimMarker(sts: KubeObject | undefined): boolean {
  if (!sts) return true;
  const templates = (sts.spec as { volumeClaimTemplates?: Array<{ metadata?: { annotations?: Record<string, string> } }> } | undefined)?.volumeClaimTemplates;
  return (templates ?? []).some((t) => t.metadata?.annotations?.[CLAIM_ADMISSION_ANNOTATION] !== undefined);
}

/** PD lists a member for the PD pod of this ordinal (its pod keeps running until PD removed it). */
function pdMemberKept(cluster: string, pd: PDObservation): (ordinal: number) => boolean {
  const view = pdView(pd);
  return (ordinal) => {
    if (!view.reachable) return false;
    const pod = pdPodName(cluster, ordinal);
    return view.members.some((m) => m.name === pod || m.name.startsWith(`${pod}-`));
  };
}

/** PD lists a store that is not a Tombstone for the TiKV pod of this ordinal. */
function storeKept(cluster: string, pd: PDObservation, ref: ClusterRef, now: Date): (ordinal: number) => boolean {
  const stores = pd.reachable && Array.isArray(pd.stores) ? (deriveTiKVStatus(undefined, { stores: pd.stores }, ref, now).stores ?? []) : [];
  return (ordinal) => stores.some((s) => s.podName === tikvPodName(cluster, ordinal) && s.state !== 'Tombstone');
}

const stsReplicas = (sts: KubeObject | undefined) => (sts ? ((sts.spec as { replicas?: number } | undefined)?.replicas ?? 1) : undefined);

const firstImage = (sts: KubeObject | undefined) =>
  (sts as { spec?: { template?: { spec?: { containers?: Array<{ image?: string }> } } } } | undefined)?.spec?.template?.spec?.containers?.[0]?.image;

function withReplicas(cluster: TikvCluster, pd: number, tikv: number): TikvCluster {
  return { ...cluster, spec: { ...cluster.spec, pd: { ...cluster.spec.pd, replicas: pd }, tikv: { ...cluster.spec.tikv, replicas: tikv } } };
}

const REVISION_LABEL = 'controller-revision-hash';

/** What the roll needs of the live StatefulSet, against the desired one about to be applied. */
function rollState(live: KubeObject | undefined, desired: KubeObject[], name: string, replicas: number): RollState | undefined {
  if (!live) return undefined;
  type Sts = {
    spec?: { template?: unknown; updateStrategy?: { rollingUpdate?: { partition?: number } } };
    status?: { observedGeneration?: number; currentRevision?: string; updateRevision?: string };
  };
  const l = live as KubeObject & Sts;
  const want = desired.find((o) => o.kind === 'StatefulSet' && o.metadata.name === name) as (KubeObject & Sts) | undefined;
  return {
    replicas,
    partition: l.spec?.updateStrategy?.rollingUpdate?.partition ?? 0,
    templateChanging: want !== undefined && templateDiffers(l, want),
    statusCurrent: (l.status?.observedGeneration ?? 0) >= ((l.metadata.generation as number | undefined) ?? 0),
    ...(l.status?.currentRevision ? { currentRevision: l.status.currentRevision } : {}),
    ...(l.status?.updateRevision ? { updateRevision: l.status.updateRevision } : {}),
  };
}

/**
 * Whether applying `want` would change the pod template. The hash the Applier stamps also
 * sees fields the chart stopped sending, which a containment check cannot.
 */
function templateDiffers(live: KubeObject & { spec?: { template?: unknown } }, want: KubeObject & { spec?: { template?: unknown } }): boolean {
  const applied = live.metadata.annotations?.[TEMPLATE_HASH_ANNOTATION];
  if (applied !== undefined && applied !== contentHash(want.spec?.template)) return true;
  return difference(live.spec?.template, want.spec?.template) !== undefined;
}

function rollPods(pods: readonly KubeObject[]): RollPod[] {
  return pods.flatMap((p) => {
    if (p.metadata.deletionTimestamp) return [];
    const ordinal = Number(p.metadata.name.slice(p.metadata.name.lastIndexOf('-') + 1));
    if (!Number.isInteger(ordinal)) return [];
    const conditions = (p.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions ?? [];
    const created = Date.parse(String(p.metadata.creationTimestamp ?? ''));
    return [
      {
        ordinal,
        ready: conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
        ...(p.metadata.labels?.[REVISION_LABEL] ? { revision: p.metadata.labels[REVISION_LABEL] } : {}),
        ...(Number.isFinite(created) ? { createdMs: created } : {}),
      },
    ];
  });
}

function pdView(pd: PDObservation): PDView {
  if (!pd.reachable) return { reachable: false, error: pd.error };
  const status = derivePDStatus(undefined, { health: pd.health, members: pd.members }, new Date(0));
  return { reachable: true, members: status.members ?? [], leader: status.leader };
}

function eventTarget(raw: TikvClusterObject, ref: ClusterRef): EventTarget {
  return { apiVersion: API_VERSION, kind: KIND, name: ref.name, namespace: ref.namespace, uid: raw.metadata.uid as string | undefined };
}

