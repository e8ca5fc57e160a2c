// Pure decisions of a rolling update: how far each StatefulSet's partition may go down
// now, and which PD call comes first (a leader moved, a store's leaders evicted).
import { pdPodName, tikvPodName } from '../../api/names.js';
import type { MembersView, StoresView } from '../pd/view.js';

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
export function planPDRoll(cluster: string, sts: RollState | undefined, pods: RollPod[], pd: MembersView): RollPlan {
  const unconfirmed = (): string | undefined => {
    if (pd.kind === 'Unreachable') return `PD is unreachable (${pd.error})`;
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
      if (why || pd.kind === 'Unreachable') return { waiting: rollWait(`PD: rolling waits before ${pdPodName(cluster, i)}: ${why}`) };
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
export function pdRollUnsettled(cluster: string, sts: RollState | undefined, pods: RollPod[], pd: MembersView): string | undefined {
  if (!sts) return undefined;
  if (sts.templateChanging) return 'PD is rolled first';
  if (!sts.statusCurrent) return 'PD is rolled first (its StatefulSet status is behind its spec)';
  if (isRolling(sts)) return 'PD is rolled first';
  for (let k = 0; k < sts.replicas && sts.updateRevision !== undefined; k++) {
    const why = podNotDone(pods.find((x) => x.ordinal === k), sts.updateRevision, () => undefined);
    if (why) return `PD is rolled first: ${pdPodName(cluster, k)}: ${why}`;
  }
  if (pd.kind === 'Unreachable') return `PD is rolled first: PD is unreachable (${pd.error})`;
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
