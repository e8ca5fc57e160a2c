// Step roll: what the StatefulSets become and how far each may roll now. The version is
// checked first (a downgrade is refused unless asked for, downgrade.ts), then a changed
// config (config-check.ts: held until the binary's --config-check accepted it); the charts
// are synthesized once, with the replicas of the scale step; then each StatefulSet's
// partition is planned against the pod template about to be applied (roll-plan.ts): PD
// first, TiKV only once PD has settled. Nothing is written here (apply makes the config
// check's writes).
import { names } from '../../api/names.js';
import type { TikvCluster } from '../../api/v1alpha1.js';
import { CLAIM_ADMISSION_ANNOTATION, type KubeObject, synthesize } from '../../charts/index.js';
import { contentHash, difference, TEMPLATE_HASH_ANNOTATION } from '../kube/apply.js';
import type { LivePod, LiveStatefulSet } from '../kube/objects.js';
import { type ConfigCheckWrite, gateConfigs } from './config-check.js';
import { type DowngradeRefusal, refuseDowngrade } from './downgrade.js';
import type { Observation } from './observe.js';
import { evictionsToRemove, pdRollUnsettled, planPDRoll, planTiKVRoll, type RollPlan, type RollPod, type RollState } from './roll-plan.js';
import type { Scale } from './scale.js';
import type { Pass, Wait } from './steps.js';

export interface Roll {
  /** The objects to apply: synthesized once, with the planned partitions. */
  desired: KubeObject[];
  /** The refused spec.version, when it is lower than what runs. */
  downgrade?: DowngradeRefusal;
  pd: RollPlan;
  /** Undefined while TiKV is left alone. */
  tikv?: RollPlan;
  /** Evict-leader entries of this cluster's stores that no roll needs any more. */
  evictionsToRemove: string[];
  /** The config check's writes (check pods, a refusal's Event), for apply. */
  configChecks: ConfigCheckWrite[];
  waits: Wait[];
}

/** Undefined while paused (nothing is applied). */
export async function roll(pass: Pass, obs: Observation, scaled: Scale): Promise<Roll | undefined> {
  const { pd: pdScale, tikv: tikvScale } = scaled;
  if (!pdScale) return undefined;
  const { cluster, live } = obs;
  const n = names(pass.ref.name);
  const downgrade = refuseDowngrade({
    specVersion: cluster.spec.version,
    components: [
      { component: 'pd', image: cluster.spec.pd.image, liveImage: firstImage(live.pdStatefulSet) },
      { component: 'tikv', image: cluster.spec.tikv.image, liveImage: firstImage(live.tikvStatefulSet) },
    ],
    annotations: cluster.metadata.annotations,
  });
  const versioned = downgrade ? { ...cluster, spec: { ...cluster.spec, version: downgrade.keep } } : cluster;
  const gate = await gateConfigs(
    {
      liveConfigMap: (c) => pass.reads.cache.owned('ConfigMap', pass.ref.namespace, c === 'pd' ? n.pdConfigMap : n.tikvConfigMap),
      liveStatefulSet: (c) => (c === 'pd' ? live.pdStatefulSet : live.tikvStatefulSet) !== undefined,
      readPod: (ns, name) => pass.reads.api.wholePod(ns, name),
      uid: pass.raw.metadata.uid,
      log: pass.log,
    },
    versioned,
    tikvScale ? ['pd', 'tikv'] : ['pd'],
  );
  const desired = synthesize(withReplicas(gate.cluster, pdScale.replicas, tikvScale?.replicas ?? cluster.spec.tikv.replicas), {
    uid: pass.raw.metadata.uid,
    pdBootstrapped: obs.bootstrapped,
    pdClaimMarker: claimMarker(live.pdStatefulSet),
    tikvClaimMarker: claimMarker(live.tikvStatefulSet),
  });

  const pdState = rollState(live.pdStatefulSet, desired, n.pdStatefulSet, pdScale.replicas);
  const pdPods = rollPods(live.pods.pd);
  const pd = planPDRoll(pass.ref.name, pdState, pdPods, obs.pd.members);
  let tikv: RollPlan | undefined;
  let toRemove: string[] = [];
  if (tikvScale && obs.tikv) {
    // TiKV starts only once PD has finished: not merely released its last pod (partition
    // 0 in this very reconcile) but seen it back, Ready and healthy in PD.
    const pdUnsettled =
      pd.partition > 0 || pd.waiting !== undefined || pd.rolls !== undefined ? 'PD is rolled first' : pdRollUnsettled(pass.ref.name, pdState, pdPods, obs.pd.members);
    const { stores, evicted } = obs.tikv;
    const since = evicted ? evictionsSince(pass, evicted) : pass.memory.evictingSince;
    tikv = planTiKVRoll(
      pass.ref.name,
      rollState(live.tikvStatefulSet, desired, n.tikvStatefulSet, tikvScale.replicas),
      rollPods(live.pods.tikv),
      stores,
      { stores: evicted, since, now: pass.now.getTime() },
      pdUnsettled,
    );
    // A replaced store gets its leaders back before the next store gives its away.
    if (evicted) toRemove = evictionsToRemove(pass.ref.name, evicted, stores, tikv.keepEvicted);
  }
  setPartition(desired, n.pdStatefulSet, pd.partition);
  setPartition(desired, n.tikvStatefulSet, tikv?.partition ?? 0);
  return {
    desired,
    ...(downgrade ? { downgrade } : {}),
    pd,
    ...(tikv ? { tikv } : {}),
    evictionsToRemove: toRemove,
    configChecks: gate.writes,
    waits: [...(downgrade ? [{ reason: downgrade.reason, message: downgrade.message }] : []), ...gate.waits],
  };
}

/**
 * PD's evict-leader stores with when this process saw each eviction begin (remembered: a
 * store stays evicted across reconciles, and its wait is bounded from the first sight).
 */
function evictionsSince(pass: Pass, evicted: readonly string[]): ReadonlyMap<string, number> {
  const old = pass.memory.evictingSince;
  const nowMs = pass.now.getTime();
  pass.memory.evictingSince = new Map(evicted.map((id) => [id, old.get(id) ?? nowMs]));
  return pass.memory.evictingSince;
}

function withReplicas(cluster: TikvCluster, pd: number, tikv: number): TikvCluster {
  return { ...cluster, spec: { ...cluster.spec, pd: { ...cluster.spec.pd, replicas: pd }, tikv: { ...cluster.spec.tikv, replicas: tikv } } };
}

const firstImage = (sts: LiveStatefulSet | undefined) => sts?.spec?.template?.spec?.containers?.[0]?.image;

/**
 * Whether the StatefulSet's volumeClaimTemplates carry the `pending` marker: always for a
 * StatefulSet about to be created; a live one keeps what it was created with (immutable).
 */
function claimMarker(sts: LiveStatefulSet | undefined): boolean {
  if (!sts) return true;
  return (sts.spec?.volumeClaimTemplates ?? []).some((t) => t.metadata?.annotations?.[CLAIM_ADMISSION_ANNOTATION] !== undefined);
}

type DesiredStatefulSet = KubeObject & { spec?: { template?: unknown; updateStrategy?: { rollingUpdate?: { partition?: number } } } };

const desiredStatefulSet = (desired: KubeObject[], name: string) =>
  desired.find((o): o is DesiredStatefulSet => o.kind === 'StatefulSet' && o.metadata.name === name);

/**
 * The partition the roll allows, on the StatefulSet the charts rendered (they render the
 * rolling-update strategy with partition 0; the pod template does not depend on it, so
 * the roll is planned against the one synthesis and the partition set after).
 */
function setPartition(desired: KubeObject[], name: string, partition: number): void {
  const rolling = desiredStatefulSet(desired, name)?.spec?.updateStrategy?.rollingUpdate;
  if (rolling) rolling.partition = partition;
}

const REVISION_LABEL = 'controller-revision-hash';

/** What the roll needs of the live StatefulSet, against the desired one about to be applied. */
function rollState(live: LiveStatefulSet | undefined, desired: KubeObject[], name: string, replicas: number): RollState | undefined {
  if (!live) return undefined;
  const want = desiredStatefulSet(desired, name);
  const status = live.status;
  return {
    replicas,
    partition: live.spec?.updateStrategy?.rollingUpdate?.partition ?? 0,
    templateChanging: want !== undefined && templateDiffers(live, want),
    statusCurrent: (status?.observedGeneration ?? 0) >= (live.metadata.generation ?? 0),
    ...(status?.currentRevision ? { currentRevision: status.currentRevision } : {}),
    ...(status?.updateRevision ? { updateRevision: status.updateRevision } : {}),
  };
}

/**
 * Whether applying `want` would change the pod template. The hash the Applier stamps also
 * sees fields the chart stopped sending, which a containment check cannot.
 */
function templateDiffers(live: LiveStatefulSet, want: DesiredStatefulSet): boolean {
  const applied = live.metadata.annotations?.[TEMPLATE_HASH_ANNOTATION];
  if (applied !== undefined && applied !== contentHash(want.spec?.template)) return true;
  return difference(live.spec?.template, want.spec?.template) !== undefined;
}

function rollPods(pods: readonly LivePod[]): RollPod[] {
  return pods.flatMap((p) => {
    if (p.metadata.deletionTimestamp) return [];
    const ordinal = Number(p.metadata.name.slice(p.metadata.name.lastIndexOf('-') + 1));
    if (!Number.isInteger(ordinal)) return [];
    const created = Date.parse(p.metadata.creationTimestamp ?? '');
    const revision = p.metadata.labels?.[REVISION_LABEL];
    return [
      {
        ordinal,
        ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
        ...(revision ? { revision } : {}),
        ...(Number.isFinite(created) ? { createdMs: created } : {}),
      },
    ];
  });
}
