// Step observe: what the caches hold and what PD says, read once into one typed
// observation that every later step reads. PD is asked its three questions (health,
// members, stores with tombstones); only when TiKV is planned also for max-replicas (a
// scale-in needs it) and the evict-leader scheduler (a roll needs it).
import { names } from '../../api/names.js';
import type { TikvCluster } from '../../api/v1alpha1.js';
import { PD_BOOTSTRAPPED_KEY, PD_INITIAL_CLUSTER_KEY } from '../../charts/index.js';
import { type LiveConfigMap, type LivePod, type LiveStatefulSet, replicasOf } from '../kube/objects.js';
import { lookAtPD, viewsOf } from '../pd/observe.js';
import type { PDReads } from '../pd/reads.js';
import { errorText, hasQuorum, type MembersView, type StoresView } from '../pd/view.js';
import { initialMemberCount, pdBootstrapped } from './plan.js';
import type { Pass, Step } from './steps.js';

const step: Step = 'observe';

export interface Observation {
  cluster: TikvCluster;
  live: {
    pdConfigMap?: LiveConfigMap;
    pdStatefulSet?: LiveStatefulSet;
    tikvStatefulSet?: LiveStatefulSet;
    pods: { pd: readonly LivePod[]; tikv: readonly LivePod[] };
  };
  pd: {
    reads: PDReads;
    members: MembersView;
    /** This cluster's stores, for status. */
    stores: StoresView;
    clusterID?: string;
    /** A quorum of the members PD lists is healthy: PD can serve TiKV. */
    available: boolean;
  };
  /** Sticky once true: the initial members formed the cluster, later members join it. */
  bootstrapped: boolean;
  /** The member count of `--initial-cluster` (the live ConfigMap's, else spec.pd.replicas). */
  initialMembers: number;
  /**
   * What TiKV's plans read; undefined while TiKV is left alone (paused, or PD not
   * bootstrapped or without a quorum). `stores` carries max-replicas while a scale-in is
   * wanted (Unknown when PD would not say); `evicted` is undefined when unreadable.
   */
  tikv?: { stores: StoresView; evicted?: string[] };
}

export async function observe(pass: Pass, cluster: TikvCluster): Promise<Observation> {
  const { reads, ref, log } = pass;
  const n = names(ref.name);
  const pdReads = reads.pd(ref);
  const look = await lookAtPD(pdReads);
  if (!look.reachable) log.warn({ step, error: look.error }, 'PD is unreachable; no member or store will be touched');
  const { members, stores } = viewsOf(look, ref);
  const cache = reads.cache;
  const live = {
    pdConfigMap: cache.owned('ConfigMap', ref.namespace, n.pdConfigMap),
    pdStatefulSet: cache.owned('StatefulSet', ref.namespace, n.pdStatefulSet),
    tikvStatefulSet: cache.owned('StatefulSet', ref.namespace, n.tikvStatefulSet),
    pods: { pd: cache.pods(ref.namespace, ref.name, 'pd'), tikv: cache.pods(ref.namespace, ref.name, 'tikv') },
  };
  const data = live.pdConfigMap?.data ?? {};
  const initialMembers = initialMemberCount(data[PD_INITIAL_CLUSTER_KEY]) ?? cluster.spec.pd.replicas;
  const bootstrapped = pdBootstrapped({
    marker: data[PD_BOOTSTRAPPED_KEY],
    statusBootstrapped: pass.raw.status?.pd?.bootstrapped,
    healthyMembers: members.kind === 'Observed' ? members.members.filter((m) => m.health).length : undefined,
    initialMembers,
  });
  if (bootstrapped && data[PD_BOOTSTRAPPED_KEY] !== 'true' && live.pdConfigMap) {
    log.info({ step, initialMembers }, 'initial PD members are healthy; later PD pods will join');
  }
  const available = members.kind === 'Observed' && hasQuorum(members.members);
  const clusterID = members.kind === 'Observed' ? members.clusterID : undefined;
  const obs: Observation = {
    cluster,
    live,
    pd: { reads: pdReads, members, stores, ...(clusterID !== undefined ? { clusterID } : {}), available },
    bootstrapped,
    initialMembers,
  };
  if (!cluster.spec.paused && available && bootstrapped) obs.tikv = await observeForTiKV(pass, obs);
  return obs;
}

async function observeForTiKV(pass: Pass, obs: Observation): Promise<NonNullable<Observation['tikv']>> {
  let stores = obs.pd.stores;
  const live = replicasOf(obs.live.tikvStatefulSet);
  if (stores.kind === 'Observed' && live !== undefined && obs.cluster.spec.tikv.replicas < live) {
    try {
      stores = { ...stores, maxReplicas: (await obs.pd.reads.replicationConfig()).maxReplicas };
    } catch (e) {
      stores = { kind: 'Unknown', error: errorText(e) };
    }
  }
  if (stores.kind !== 'Observed') return { stores };
  try {
    return { stores, evicted: await obs.pd.reads.evictLeaderStores() };
  } catch (e) {
    pass.log.warn({ step, error: errorText(e) }, "could not read PD's evict-leader scheduler");
    return { stores };
  }
}
