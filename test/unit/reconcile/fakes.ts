// In-memory stand-ins for everything the reconciler talks to. They behave (a store the
// apply writes into, a PD that reacts to writes the way PD does) rather than returning
// canned answers, so multi-step flows (bootstrap, scale-in) are exercised end to end.
import { names, tikvAdvertiseAddr } from '../../../src/api/names.js';
import type { TikvClusterStatus } from '../../../src/api/v1alpha1.js';
import { API_VERSION, KIND } from '../../../src/api/v1alpha1.js';
import { CLAIM_ADMISSION_ANNOTATION, CLAIM_ADMITTED, CLAIM_CLUSTER_ID_ANNOTATION, CLAIM_PENDING, type KubeObject } from '../../../src/charts/index.js';
import { type ApplyResult, contains } from '../../../src/controller/kube/apply.js';
import type { AdmissionRecord, ClaimAPI, VolumeClaim } from '../../../src/controller/kube/claims.js';
import type { EventRecorder, EventTarget, EventType } from '../../../src/controller/kube/events.js';
import type { LivePod, LiveStatefulSet, OwnedKinds, TikvClusterObject } from '../../../src/controller/kube/objects.js';
import type { PodAPI, PodIncarnation } from '../../../src/controller/kube/pods.js';
import type {
  PDMember,
  PDMemberHealth,
  PDMembers,
  PDReads,
  PDReplicationConfig,
  PDStore,
  PDStoreState,
  PDWrites,
} from '../../../src/controller/pd/client.js';
import { PDError } from '../../../src/controller/pd/json.js';
import { composeIO, type Guarded, guardWrites, type ObjectCache, type Reads, type Writes } from '../../../src/controller/reconcile/io.js';
import { Memory } from '../../../src/controller/reconcile/memory.js';
import type { Pass } from '../../../src/controller/reconcile/steps.js';
import { TikvClusterReconciler } from '../../../src/controller/reconcile/reconciler.js';
import type { ClusterRef } from '../../../src/controller/ref.js';
import type { Logger } from '../../../src/controller/runtime/log.js';

export const NS = 'ns';
export const NAME = 'basic';
export const KEY = `${NS}/${NAME}`;
export const UID = 'uid-basic-1';
export const T0 = Date.parse('2025-08-19T10:00:00Z');
export const STEADY_MS = 10_000;
export const BUSY_MS = 3_000;

type OwnedKind = 'StatefulSet' | 'ConfigMap' | 'Service';

/** The informer caches: clusters and owned objects by kind/namespace/name. */
export class FakeStore implements ObjectCache {
  readonly clusters = new Map<string, TikvClusterObject>();
  readonly objects = new Map<string, KubeObject>();
  /** PVCs by name, as the StatefulSet controller leaves them (retained on scale-in). */
  readonly pvcs = new Map<string, VolumeClaim>();
  private rv = 1;

  cluster(namespace: string, name: string): TikvClusterObject | undefined {
    const c = this.clusters.get(`${namespace}/${name}`);
    return c && structuredClone(c);
  }

  object(kind: OwnedKind, namespace: string, name: string): KubeObject | undefined {
    const o = this.objects.get(`${kind}/${namespace}/${name}`);
    return o && structuredClone(o);
  }

  owned<K extends OwnedKind>(kind: K, namespace: string, name: string): OwnedKinds[K] | undefined {
    return this.object(kind, namespace, name) as OwnedKinds[K] | undefined;
  }

  put(obj: KubeObject): void {
    this.objects.set(`${obj.kind}/${obj.metadata.namespace ?? NS}/${obj.metadata.name}`, structuredClone(obj));
  }

  get(kind: OwnedKind, name: string): KubeObject | undefined {
    return this.object(kind, NS, name);
  }

  nextResourceVersion(): string {
    this.rv += 1;
    return String(this.rv);
  }

  /** What `kubectl apply` of the CR would do: a new spec bumps the generation. */
  setCluster(obj: TikvClusterObject): void {
    const key = `${obj.metadata.namespace ?? NS}/${obj.metadata.name}`;
    const old = this.clusters.get(key);
    const generation = old ? ((old.metadata.generation as number) ?? 1) + 1 : 1;
    this.clusters.set(key, {
      ...structuredClone(obj),
      metadata: { ...obj.metadata, generation, resourceVersion: this.nextResourceVersion() },
      ...(old?.status ? { status: old.status } : {}),
    });
  }

  editSpec(edit: (spec: Record<string, unknown>) => void): void {
    const c = this.clusters.get(KEY);
    if (!c) throw new Error('no cluster');
    const spec = structuredClone((c.spec ?? {}) as Record<string, unknown>);
    edit(spec);
    this.setCluster({ ...c, spec });
  }

  /**
   * The StatefulSet controller's view: every pod of spec.replicas exists, is ready and
   * updated, each with its PVC (made if missing, from the volumeClaimTemplate's
   * annotations; kept when the pod goes); and the pvc-protection controller's: a PVC being
   * deleted goes once its pod is gone. Missing pods are created from the template, so they
   * start gated when it has the admission gate: Pending until the operator admits them,
   * then ready (`ready` counts the pods that come up ready). Pods that exist stay.
   */
  rollOut(name: string, ready?: number): void {
    const sts = this.objects.get(`StatefulSet/${NS}/${name}`);
    if (!sts) throw new Error(`no StatefulSet ${name}`);
    const spec = sts.spec as { replicas: number; template: unknown; volumeClaimTemplates?: Array<{ metadata?: { annotations?: Record<string, string> } }> };
    const replicas = spec.replicas;
    const claimAnnotations = spec.volumeClaimTemplates?.[0]?.metadata?.annotations;
    for (let i = 0; i < replicas; i++) {
      const pvc = `${volumeOf(name)}-${name}-${i}`;
      if (!this.pvcs.has(pvc)) {
        this.pvcs.set(pvc, { name: pvc, uid: `uid-${pvc}-${this.nextResourceVersion()}`, deleting: false, ...(claimAnnotations ? { annotations: { ...claimAnnotations } } : {}) });
      }
    }
    const revision = this.revisionOf(name, spec.template);
    for (let i = 0; i < replicas; i++) {
      const up = i < (ready ?? replicas);
      const pod = this.podObjects.get(`${name}-${i}`);
      if (!pod || pod.metadata.labels?.['controller-revision-hash'] !== revision) this.putPod(name, i, revision, up);
      else if (gatedPod(pod)) this.readyOnAdmit.set(pod.metadata.name, up);
      else this.setPodReady(pod.metadata.name, up);
    }
    for (const [podName] of this.podObjects) {
      if (podName.startsWith(`${name}-`) && Number(podName.slice(name.length + 1)) >= replicas) this.podObjects.delete(podName);
    }
    sts.status = {
      observedGeneration: sts.metadata.generation,
      replicas,
      readyReplicas: ready ?? replicas,
      updatedReplicas: replicas,
      currentRevision: revision,
      updateRevision: revision,
    };
    for (const [pvc, claim] of this.pvcs) if (claim.deleting && !this.podUses(pvc)) this.pvcs.delete(pvc);
  }

  /** Whether a gated pod comes up ready once it is admitted (the scheduler and kubelet, at once). */
  readonly readyOnAdmit = new Map<string, boolean>();
  private podSerial = 0;

  /** Pods by name, as the StatefulSet controller keeps them. */
  readonly podObjects = new Map<string, KubeObject>();
  /** Revision name per pod template, per StatefulSet (what ControllerRevisions record). */
  private readonly revisions = new Map<string, string[]>();
  /** The clock pods are created by. */
  clock: () => number = () => T0;

  pods(_namespace: string, cluster: string, component: 'pd' | 'tikv'): LivePod[] {
    const prefix = `${component === 'pd' ? names(cluster).pdStatefulSet : names(cluster).tikvStatefulSet}-`;
    return [...this.podObjects.values()].filter((p) => p.metadata.name.startsWith(prefix)).map((p) => structuredClone(p) as LivePod);
  }

  pod(name: string): KubeObject | undefined {
    return this.podObjects.get(name);
  }

  private revisionOf(sts: string, template: unknown): string {
    const list = this.revisions.get(sts) ?? [];
    const json = JSON.stringify(template);
    let i = list.indexOf(json);
    if (i < 0) i = list.push(json) - 1;
    this.revisions.set(sts, list);
    return `${sts}-r${i + 1}`;
  }

  private putPod(sts: string, ordinal: number, revision: string, ready: boolean): void {
    const name = `${sts}-${ordinal}`;
    const template = this.templateOf(sts, revision) as { spec?: { schedulingGates?: Array<{ name: string }> } } | undefined;
    const gates = template?.spec?.schedulingGates ?? [];
    this.podSerial += 1;
    this.podObjects.set(name, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: NS,
        uid: `uid-${name}-${this.podSerial}`,
        creationTimestamp: new Date(this.clock()).toISOString(),
        labels: { 'controller-revision-hash': revision },
      },
      ...(gates.length ? { spec: { schedulingGates: structuredClone(gates) } } : {}),
      // A gated pod is never scheduled: Pending, not ready, until it is admitted.
      status: { conditions: [{ type: 'Ready', status: ready && !gates.length ? 'True' : 'False' }] },
    });
    if (gates.length) this.readyOnAdmit.set(name, ready);
  }

  /** The pod template of a revision name this store handed out. */
  private templateOf(sts: string, revision: string): unknown {
    const i = Number(revision.slice(revision.lastIndexOf('-r') + 2)) - 1;
    const json = this.revisions.get(sts)?.[i];
    return json === undefined ? undefined : JSON.parse(json);
  }

  /**
   * One pass of the StatefulSet controller with a RollingUpdate strategy: the template's
   * revision becomes updateRevision; pods at or above the partition on another revision
   * are replaced (new pods come up `ready`, or not); below it they keep theirs. Status
   * follows, with observedGeneration caught up.
   */
  runStatefulSet(name: string, opts: { ready?: boolean } = {}): void {
    const sts = this.objects.get(`StatefulSet/${NS}/${name}`);
    if (!sts) throw new Error(`no StatefulSet ${name}`);
    const spec = sts.spec as { replicas: number; template: unknown; updateStrategy?: { rollingUpdate?: { partition?: number } } };
    const old = (sts.status ?? {}) as { currentRevision?: string };
    const update = this.revisionOf(name, spec.template);
    const current = old.currentRevision ?? update;
    const partition = spec.updateStrategy?.rollingUpdate?.partition ?? 0;
    for (let i = 0; i < spec.replicas; i++) {
      const pod = this.podObjects.get(`${name}-${i}`);
      const rev = pod?.metadata.labels?.['controller-revision-hash'];
      if (!pod) this.putPod(name, i, i < partition ? current : update, opts.ready ?? true);
      else if (i >= partition && rev !== update) this.putPod(name, i, update, opts.ready ?? true);
    }
    for (const [podName] of this.podObjects) {
      if (podName.startsWith(`${name}-`) && Number(podName.slice(name.length + 1)) >= spec.replicas) this.podObjects.delete(podName);
    }
    const mine = this.pods(NS, NAME, name === names(NAME).pdStatefulSet ? 'pd' : 'tikv');
    const updated = mine.filter((p) => p.metadata.labels?.['controller-revision-hash'] === update).length;
    const ready = mine.filter((p) => (p.status as { conditions: Array<{ status: string }> }).conditions[0]?.status === 'True').length;
    sts.status = {
      observedGeneration: sts.metadata.generation,
      replicas: mine.length,
      readyReplicas: ready,
      updatedReplicas: updated,
      currentRevision: updated === spec.replicas ? update : current,
      updateRevision: update,
    };
  }

  /** Marks a pod Ready (its process came up). */
  setPodReady(name: string, ready = true): void {
    const pod = this.podObjects.get(name);
    if (!pod) throw new Error(`no pod ${name}`);
    pod.status = { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] };
  }

  /** A pod of the StatefulSet (status.replicas of them exist) mounts the PVC. */
  podUses(pvc: string): boolean {
    for (const sts of [names(NAME).pdStatefulSet, names(NAME).tikvStatefulSet]) {
      const prefix = `${volumeOf(sts)}-${sts}-`;
      if (!pvc.startsWith(prefix)) continue;
      const pods = (this.objects.get(`StatefulSet/${NS}/${sts}`)?.status as { replicas?: number } | undefined)?.replicas ?? 0;
      return Number(pvc.slice(prefix.length)) < pods;
    }
    return false;
  }
}

const gatedPod = (pod: KubeObject) => ((pod.spec as { schedulingGates?: unknown[] } | undefined)?.schedulingGates ?? []).length > 0;

const volumeOf = (sts: string) => (sts === names(NAME).pdStatefulSet ? names(NAME).pdVolume : names(NAME).tikvVolume);

/**
 * The API server's side of PVCs: GET, DELETE with the uid precondition, and a PVC a pod
 * still uses lingering as deleting (pvc-protection). StatefulSet replicas come from the
 * cache unless a test sets `apiReplicas` to make the cache lag behind the server.
 */
export class FakeClaims implements ClaimAPI {
  readonly deletes: string[] = [];
  reads = 0;
  readonly apiReplicas = new Map<string, number>();
  failDelete: Error | undefined;

  constructor(private readonly store: FakeStore) {}

  async getClaim(_namespace: string, name: string): Promise<VolumeClaim | undefined> {
    this.reads += 1;
    const c = this.store.pvcs.get(name);
    return c && { ...c };
  }

  async deleteClaim(_namespace: string, claim: VolumeClaim): Promise<void> {
    this.deletes.push(claim.name);
    if (this.failDelete) throw this.failDelete;
    const c = this.store.pvcs.get(claim.name);
    if (!c) return;
    if (claim.uid && c.uid !== claim.uid) throw new Error(`Precondition failed: UID in precondition: ${claim.uid}, UID in object meta: ${c.uid}`);
    if (this.store.podUses(claim.name)) c.deleting = true;
    else this.store.pvcs.delete(claim.name);
  }

  async liveReplicas(_namespace: string, statefulSet: string): Promise<number | undefined> {
    const cached = this.store.get('StatefulSet', statefulSet);
    return this.apiReplicas.get(statefulSet) ?? (cached ? (cached.spec as { replicas: number }).replicas : undefined);
  }

  /** Every annotation write, as `<pvc> <key>=<value>`. */
  readonly annotations: string[] = [];

  /** The conditional flip of the `pending` marker (a JSON patch test in the real one). */
  async recordAdmission(_namespace: string, name: string, clusterID?: string): Promise<AdmissionRecord> {
    const c = this.store.pvcs.get(name);
    if (!c) return 'missing';
    if (c.annotations?.[CLAIM_ADMISSION_ANNOTATION] !== CLAIM_PENDING) return 'not-pending';
    c.annotations = { ...c.annotations, [CLAIM_ADMISSION_ANNOTATION]: CLAIM_ADMITTED, ...(clusterID ? { [CLAIM_CLUSTER_ID_ANNOTATION]: clusterID } : {}) };
    this.annotations.push(`${name} ${CLAIM_ADMISSION_ANNOTATION}=${CLAIM_ADMITTED}${clusterID ? ` ${CLAIM_CLUSTER_ID_ANNOTATION}=${clusterID}` : ''}`);
    return 'recorded';
  }

  async annotateClaim(_namespace: string, claim: VolumeClaim, annotations: Record<string, string>): Promise<void> {
    const c = this.store.pvcs.get(claim.name);
    if (!c) throw new Error(`persistentvolumeclaims "${claim.name}" not found`);
    if (claim.uid && c.uid !== claim.uid) throw new Error(`metadata.uid: Invalid value: "${claim.uid}": field is immutable`);
    c.annotations = { ...(c.annotations ?? {}), ...annotations };
    for (const [k, v] of Object.entries(annotations)) this.annotations.push(`${claim.name} ${k}=${v}`);
  }
}

/**
 * The API server's side of pods: GET, the admission patch (gate removed, and the scheduler
 * and kubelet bring the pod up at once, ready or not as the StatefulSet controller fake
 * decided), and DELETE with the uid precondition: the pod is gone at once, or, with
 * `terminate`, lingers as terminating until `finishTermination`. StatefulSets come from
 * the cache unless a test sets `apiStatefulSets`.
 */
export class FakePods implements PodAPI {
  readonly admitted: string[] = [];
  readonly deletes: string[] = [];
  readonly reads: string[] = [];
  terminate = false;
  readonly apiStatefulSets = new Map<string, KubeObject>();
  /** Called as the admission patch lands, before the pod is up (a test injects events there). */
  onAdmit: (podName: string) => void = () => {};

  constructor(private readonly store: FakeStore) {}

  async getPod(_namespace: string, name: string, gate: string): Promise<PodIncarnation | undefined> {
    this.reads.push(name);
    const pod = this.store.podObjects.get(name);
    if (!pod) return undefined;
    const gates = (pod.spec as { schedulingGates?: Array<{ name: string }> } | undefined)?.schedulingGates ?? [];
    return { uid: pod.metadata.uid as string, gated: gates.some((g) => g.name === gate), deleting: !!pod.metadata.deletionTimestamp };
  }

  async admitPod(_namespace: string, name: string, uid: string, gate: string, index: number): Promise<'admitted' | 'changed'> {
    const pod = this.store.podObjects.get(name);
    const spec = pod?.spec as { schedulingGates?: Array<{ name: string }> } | undefined;
    if (!pod || pod.metadata.uid !== uid || spec?.schedulingGates?.[index]?.name !== gate) return 'changed';
    spec.schedulingGates.splice(index, 1);
    if (spec.schedulingGates.length === 0) delete spec.schedulingGates;
    this.admitted.push(name);
    this.onAdmit(name);
    this.store.setPodReady(name, this.store.readyOnAdmit.get(name) ?? true);
    this.store.readyOnAdmit.delete(name);
    return 'admitted';
  }

  async deletePod(_namespace: string, name: string, uid: string): Promise<void> {
    this.deletes.push(name);
    const pod = this.store.podObjects.get(name);
    if (!pod || pod.metadata.uid !== uid) return;
    if (this.terminate) pod.metadata.deletionTimestamp = new Date(this.store.clock()).toISOString();
    else this.store.podObjects.delete(name);
  }

  /** The kubelet is done with a terminating pod: it is gone. */
  finishTermination(name: string): void {
    const pod = this.store.podObjects.get(name);
    if (pod?.metadata.deletionTimestamp) this.store.podObjects.delete(name);
  }

  async getStatefulSet(_namespace: string, name: string): Promise<LiveStatefulSet | undefined> {
    return (this.apiStatefulSets.get(name) ?? this.store.get('StatefulSet', name)) as LiveStatefulSet | undefined;
  }

  /** Pods the operator applied itself (the config-check pod) live in the store's objects. */
  async readPod(namespace: string, name: string): Promise<LivePod | undefined> {
    this.reads.push(name);
    const o = this.store.objects.get(`Pod/${namespace}/${name}`);
    return o && (structuredClone(o) as LivePod);
  }
}

export interface ApplyCall {
  kind: string;
  name: string;
  result: ApplyResult;
}

/**
 * Server-side apply against the FakeStore: skipped with the real `contains` check, like
 * the Applier; otherwise the applied object becomes the live one (its status is kept).
 */
export function fakeApply(store: FakeStore, calls: ApplyCall[]) {
  return async (desired: KubeObject, live: KubeObject | undefined): Promise<ApplyResult> => {
    let result: ApplyResult;
    if (live && contains(live, desired)) result = 'unchanged';
    else {
      result = live ? 'configured' : 'created';
      const stored = structuredClone(desired);
      if (live?.status !== undefined) stored.status = live.status;
      // The apiserver bumps generation on a spec change; the StatefulSet status lags until
      // its controller runs (rollOut / runStatefulSet).
      if (desired.kind === 'StatefulSet') stored.metadata.generation = ((live?.metadata.generation as number | undefined) ?? 0) + 1;
      store.put(stored);
    }
    calls.push({ kind: desired.kind, name: desired.metadata.name, result });
    return result;
  };
}

export interface FakeMember {
  name: string;
  id: string;
  health: boolean;
}

const pdPeer = (name: string) => `http://${name}.${names(NAME).pdPeerService}.${NS}.svc:2380`;
const pdClient = (name: string) => `http://${name}.${names(NAME).pdPeerService}.${NS}.svc:2379`;

/**
 * A PD: scripted members/stores/replication config; records every write it is asked for
 * (also when unreachable) and reacts to writes the way PD does, so a test can step on.
 */
export class FakePD implements PDReads, PDWrites {
  reachable = false;
  unreachableError = 'GET /pd/api/v1/health failed: connect ECONNREFUSED 10.96.0.10:2379';
  clusterID = '7412345678901234567';
  memberList: FakeMember[] = [];
  leaderName: string | undefined;
  /** undefined: TiKV has not bootstrapped the cluster yet. */
  storeList: PDStore[] | undefined;
  maxReplicas = 3;
  storesError: Error | undefined;
  readonly writes: string[] = [];
  resolved = 0;

  constructor(private readonly clock: () => number) {}

  /** `n` healthy members named like the pods, leader the first. */
  healthyMembers(n: number): void {
    this.reachable = true;
    this.memberList = Array.from({ length: n }, (_, i) => ({ name: `${NAME}-pd-${i}`, id: `${9_000_000_000_000_000_000n + BigInt(i)}`, health: true }));
    this.leaderName = this.memberList[0]?.name;
  }

  upStores(n: number): void {
    this.storeList = Array.from({ length: n }, (_, i) => this.makeStore(String(i + 1), i));
  }

  makeStore(id: string, ordinal: number, stateName = 'Up'): PDStore {
    const state: PDStoreState = stateName === 'Offline' || stateName === 'Tombstone' ? stateName : 'Up';
    return {
      id,
      address: tikvAdvertiseAddr(NAME, NS, ordinal),
      stateName,
      state,
      capacity: '10GiB',
      available: '9GiB',
      leaderCount: 10,
      regionCount: 30,
      lastHeartbeatTS: new Date(this.clock()).toISOString(),
    };
  }

  store(podOrdinal: number): PDStore {
    const s = this.storeList?.find((x) => x.address === tikvAdvertiseAddr(NAME, NS, podOrdinal) && x.state !== 'Tombstone');
    if (!s) throw new Error(`no store for ordinal ${podOrdinal}`);
    return s;
  }

  setStoreState(podOrdinal: number, stateName: string): PDStore {
    const s = this.store(podOrdinal);
    s.stateName = stateName;
    s.state = stateName === 'Offline' || stateName === 'Tombstone' ? stateName : 'Up';
    return s;
  }

  /** Per-heartbeat counters move while nothing is wrong. */
  heartbeat(): void {
    for (const s of this.storeList ?? []) {
      if (s.state === 'Tombstone') continue;
      // An evicted store gains no leaders (drainLeaders takes them away).
      if (!this.evicted.has(s.id)) s.leaderCount += 1;
      s.regionCount += 2;
      s.available = `${9000 - s.regionCount}MiB`;
      s.lastHeartbeatTS = new Date(this.clock()).toISOString();
    }
  }

  private check(path: string): void {
    if (!this.reachable) throw new PDError({ kind: 'Network', status: 0, method: 'GET', path, detail: this.unreachableError });
  }

  async health(): Promise<PDMemberHealth[]> {
    this.check('/pd/api/v1/health');
    return this.memberList.map((m) => ({ id: m.id, name: m.name, clientURLs: [pdClient(m.name)], health: m.health }));
  }

  private member(m: FakeMember): PDMember {
    return { id: m.id, name: m.name, peerURLs: [pdPeer(m.name)], clientURLs: [pdClient(m.name)] };
  }

  async members(): Promise<PDMembers> {
    this.check('/pd/api/v1/members');
    const leader = this.memberList.find((m) => m.name === this.leaderName);
    const answer = {
      clusterID: this.clusterID,
      members: this.memberList.map((m) => this.member(m)),
      ...(leader ? { leader: this.member(leader) } : {}),
    };
    this.afterMembersRead();
    return answer;
  }

  /** Runs after each /stores answer is taken, before the caller sees it: the moment to register a store behind its back. */
  afterStoresRead: () => void = () => {};
  /** Runs after each /members answer is taken, before the caller sees it. */
  afterMembersRead: () => void = () => {};

  async stores(): Promise<PDStore[]> {
    this.check('/pd/api/v1/stores');
    if (this.storesError) throw this.storesError;
    let answer: PDStore[] | undefined;
    let refusal: unknown;
    try {
      answer = this.storesAnswer();
    } catch (e) {
      refusal = e;
    }
    this.afterStoresRead();
    if (!answer) throw refusal;
    return answer;
  }

  private storesAnswer(): PDStore[] {
    if (!this.storeList) {
      throw new PDError({
        kind: 'HTTP',
        status: 500,
        method: 'GET',
        path: '/pd/api/v1/stores',
        detail: 'TiKV cluster not bootstrapped, please start TiKV first',
      });
    }
    return structuredClone(this.storeList);
  }

  async replicationConfig(): Promise<PDReplicationConfig> {
    this.check('/pd/api/v1/config/replicate');
    return { maxReplicas: this.maxReplicas };
  }

  async deleteStore(id: string): Promise<'offline' | 'gone'> {
    this.writes.push(`deleteStore ${id}`);
    this.check(`/pd/api/v1/store/${id}`);
    const s = this.storeList?.find((x) => x.id === id);
    if (!s || s.state === 'Tombstone') return 'gone';
    s.state = 'Offline';
    s.stateName = 'Offline';
    return 'offline';
  }

  /** PD's UpStore: only a store still being removed can come back. */
  async cancelStoreRemoval(id: string): Promise<void> {
    this.writes.push(`cancelStoreRemoval ${id}`);
    this.check(`/pd/api/v1/store/${id}/state`);
    const s = this.storeList?.find((x) => x.id === id);
    if (!s) throw new PDError({ kind: 'HTTP', status: 404, method: 'POST', path: `/pd/api/v1/store/${id}/state`, detail: `store ${id} not found` });
    if (s.state === 'Tombstone') throw new PDError({ kind: 'HTTP', status: 400, method: 'POST', path: `/pd/api/v1/store/${id}/state`, detail: `store ${id} has been removed` });
    Object.assign(s, { state: 'Up', stateName: 'Up' });
  }

  async deleteMember(name: string): Promise<'removed' | 'gone'> {
    this.writes.push(`deleteMember ${name}`);
    this.check(`/pd/api/v1/members/name/${name}`);
    const before = this.memberList.length;
    this.memberList = this.memberList.filter((m) => m.name !== name);
    if (this.leaderName === name) this.leaderName = this.memberList[0]?.name;
    return this.memberList.length < before ? 'removed' : 'gone';
  }

  async transferLeader(name: string): Promise<void> {
    this.writes.push(`transferLeader ${name}`);
    this.check(`/pd/api/v1/leader/transfer/${name}`);
    this.leaderName = name;
  }

  /** Stores in the evict-leader scheduler; PD moves their leaders away on `drainLeaders`. */
  readonly evicted = new Set<string>();

  async evictLeader(storeId: string): Promise<void> {
    this.writes.push(`evictLeader ${storeId}`);
    this.check('/pd/api/v1/schedulers');
    if (!this.storeList?.some((s) => s.id === storeId)) {
      throw new PDError({ kind: 'HTTP', status: 500, method: 'POST', path: '/pd/api/v1/schedulers', detail: `store id ${storeId} not found` });
    }
    this.evicted.add(storeId);
  }

  async removeEvictLeader(storeId: string): Promise<'removed' | 'gone'> {
    this.writes.push(`removeEvictLeader ${storeId}`);
    this.check(`/pd/api/v1/schedulers/evict-leader-scheduler-${storeId}`);
    return this.evicted.delete(storeId) ? 'removed' : 'gone';
  }

  async evictLeaderStores(): Promise<string[]> {
    this.check('/pd/api/v1/scheduler-config/evict-leader-scheduler/list');
    return [...this.evicted];
  }

  /** What the scheduler does over a few heartbeats: evicted stores end with no leaders. */
  drainLeaders(): void {
    for (const s of this.storeList ?? []) if (this.evicted.has(s.id)) s.leaderCount = 0;
  }
}

export interface RecordedEvent {
  type: EventType;
  reason: string;
  message: string;
  target: EventTarget;
}

export class RecordingEvents implements EventRecorder {
  readonly events: RecordedEvent[] = [];
  async emit(target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    this.events.push({ target, type, reason, message });
  }
  reasons(): string[] {
    return this.events.map((e) => e.reason);
  }
}

export const silentLog: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLog,
};

/** A logger that keeps every entry's fields (with its bindings) and message. */
export function recordingLog(into: Array<Record<string, unknown>>, bindings: Record<string, unknown> = {}): Logger {
  const at = (level: string) => (obj: Record<string, unknown>, msg?: string) => void into.push({ ...bindings, ...obj, level, msg });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (more) => recordingLog(into, { ...bindings, ...more }) };
}

export interface StatusWrite {
  key: ClusterRef;
  live: TikvClusterStatus | undefined;
  desired: TikvClusterStatus;
}

export function basicCluster(spec: Record<string, unknown> = { pd: { replicas: 3 }, tikv: { replicas: 3 } }): TikvClusterObject {
  return { apiVersion: API_VERSION, kind: KIND, metadata: { name: NAME, namespace: NS, uid: UID }, spec };
}

/** The reconciler wired to the fakes, with a clock the test moves. */
export class World {
  nowMs = T0;
  readonly store = Object.assign(new FakeStore(), { clock: () => this.nowMs });
  readonly pd = new FakePD(() => this.nowMs);
  readonly events = new RecordingEvents();
  readonly claims = new FakeClaims(this.store);
  readonly pods = new FakePods(this.store);
  readonly applies: ApplyCall[] = [];
  readonly statusWrites: StatusWrite[] = [];
  /** Whether a status write reaches the cache (false: a lagging informer). */
  statusReachesCache = true;
  failStatusWrites = 0;
  /** An apiserver refusal for an object (a webhook, a quota, strict validation). */
  rejectApply: (obj: KubeObject) => string | undefined = () => undefined;
  /** Runs as an apply reaches the apiserver, before it lands (a test injects events there). */
  onApply: (desired: KubeObject, live: KubeObject | undefined) => void = () => {};
  /** Thrown by the next status writes (then cleared), e.g. a 404 for a cluster just deleted. */
  statusWriteError: Error | undefined;
  reconciler: TikvClusterReconciler;
  /** Every log entry of the reconciler, fields and message. */
  readonly logged: Array<Record<string, unknown>> = [];
  /** Aborted: this process lost its Lease, and the reconciler's writes refuse. */
  readonly leading = new AbortController();

  /** `null`: no cluster in the cache. */
  constructor(cluster: TikvClusterObject | null = basicCluster()) {
    if (cluster) this.store.setCluster(cluster);
    this.reconciler = this.newReconciler();
  }

  /** A new operator process over the same caches and PD: nothing in memory survives. */
  restart(): void {
    this.reconciler = this.newReconciler();
  }

  /** The reads and guarded writes over the fakes, as the operator composes its own. */
  io(): { reads: Reads; writes: Guarded<Writes> } {
    const { reads, writes } = composeIO({
      cache: this.store,
      claims: this.claims,
      pods: this.pods,
      events: this.events,
      apply: async (desired, live) => {
        const refusal = this.rejectApply(desired);
        if (refusal) throw new Error(refusal);
        const liveObject = live as KubeObject | undefined;
        this.onApply(desired, liveObject);
        return fakeApply(this.store, this.applies)(desired, liveObject);
      },
      writeStatus: async (key, live, desired) => {
        if (this.statusWriteError) throw this.statusWriteError;
        if (this.failStatusWrites > 0) {
          this.failStatusWrites -= 1;
          throw new Error('the server rejected our request (Conflict)');
        }
        this.statusWrites.push({ key, live: structuredClone(live), desired: structuredClone(desired) });
        const c = this.store.clusters.get(`${key.namespace}/${key.name}`);
        if (c && this.statusReachesCache) {
          c.status = structuredClone(desired);
          c.metadata.resourceVersion = this.store.nextResourceVersion();
        }
        return true;
      },
      pd: () => {
        this.pd.resolved += 1;
        return { reads: this.pd, writes: this.pd };
      },
    });
    return { reads, writes: guardWrites(writes, this.leading.signal) };
  }

  /**
   * One pass over the cluster in the cache, as reconcile() hands it to each step, with a
   * memory of its own (`memory` to carry one across passes): for a step's own test.
   */
  pass(memory = new Memory().of(KEY)): Pass {
    const raw = this.store.cluster(NS, NAME);
    if (!raw) throw new Error('no cluster in the cache');
    const { reads, writes } = this.io();
    return {
      key: KEY,
      ref: { namespace: NS, name: NAME },
      raw,
      reads,
      writes,
      memory,
      log: recordingLog(this.logged),
      now: new Date(this.nowMs),
      target: { apiVersion: API_VERSION, kind: KIND, name: NAME, namespace: NS, uid: raw.metadata.uid },
    };
  }

  private newReconciler(): TikvClusterReconciler {
    const { reads, writes } = this.io();
    return new TikvClusterReconciler({
      reads,
      writes,
      log: recordingLog(this.logged),
      now: () => new Date(this.nowMs),
      steadyRequeueMs: STEADY_MS,
      busyRequeueMs: BUSY_MS,
    });
  }

  reconcile(key = KEY) {
    return this.reconciler.reconcile(key);
  }

  advance(ms: number): void {
    this.nowMs += ms;
  }

  get status(): TikvClusterStatus | undefined {
    return this.store.clusters.get(KEY)?.status;
  }

  condition(type: string) {
    return this.status?.conditions?.find((c) => c.type === type);
  }

  /** Counts of what a reconcile did, for "nothing happened" assertions. */
  mark() {
    const from = {
      applies: this.applies.length,
      writes: this.statusWrites.length,
      events: this.events.events.length,
      pdWrites: this.pd.writes.length,
      pvcDeletes: this.claims.deletes.length,
    };
    return () => ({
      changedApplies: this.applies.slice(from.applies).filter((a) => a.result !== 'unchanged'),
      applyCalls: this.applies.length - from.applies,
      statusWrites: this.statusWrites.length - from.writes,
      events: this.events.events.slice(from.events),
      pdWrites: this.pd.writes.slice(from.pdWrites),
      pvcDeletes: this.claims.deletes.slice(from.pvcDeletes),
    });
  }

  /**
   * A cluster of `pd` members and `tikv` stores driven to rest: PD members healthy,
   * bootstrapped, TiKV stores Up, both StatefulSets rolled out, reconciled until a pass
   * changes nothing.
   */
  static async atRest(pd = 3, tikv = 3): Promise<World> {
    const w = new World(basicCluster({ pd: { replicas: pd }, tikv: { replicas: tikv } }));
    await w.bringUp(pd, tikv);
    return w;
  }

  /** Drives the cluster in the cache to rest with `pd` members and `tikv` stores. */
  async bringUp(pd = 3, tikv = 3): Promise<void> {
    await this.reconcile();
    this.pd.healthyMembers(pd);
    this.store.rollOut(names(NAME).pdStatefulSet);
    await this.reconcile();
    this.pd.upStores(tikv);
    this.store.rollOut(names(NAME).tikvStatefulSet);
    await this.settle();
  }

  /** Reconciles until a pass makes no change (bounded). */
  async settle(max = 10): Promise<void> {
    for (let i = 0; i < max; i++) {
      const done = this.mark();
      const admitted = this.pods.admitted.length;
      const podDeletes = this.pods.deletes.length;
      await this.reconcile();
      const d = done();
      const podsChanged = this.pods.admitted.length !== admitted || this.pods.deletes.length !== podDeletes;
      if (d.changedApplies.length === 0 && d.statusWrites === 0 && d.pdWrites.length === 0 && d.pvcDeletes.length === 0 && !podsChanged) return;
    }
    throw new Error(`no rest after ${max} reconciles`);
  }
}

/**
 * A cluster at rest with 4 stores scaled in to 3: the store of ordinal 3 is a Tombstone,
 * its pod gone and its PVC kept (the StatefulSet controller retains it).
 */
export async function tombstonedStore3(): Promise<World> {
  const w = await World.atRest(3, 4);
  w.store.editSpec((s) => {
    s.tikv = { replicas: 3 };
  });
  await w.reconcile();
  w.pd.setStoreState(3, 'Tombstone');
  await w.reconcile();
  return w;
}
