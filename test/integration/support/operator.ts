// Running the operator against the test environment the way a user runs it: the CRD and
// the deploy/ RBAC installed, the operator acting as its own ServiceAccount (so a missing
// permission fails a test), PD reached through the one seam the operator has for it (the
// PD resolver), and TiKV pods backed by store stand-ins that register with the real PD.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import pino from 'pino';
import { tikvAdvertiseAddr, tikvPodName } from '../../../src/api/names.js';
import { GROUP, PLURAL, type TikvClusterInput, type TikvClusterStatus, VERSION } from '../../../src/api/v1alpha1.js';
import { LEASE_NAME, OPERATOR_NAME, OPERATOR_NAMESPACE } from '../../../src/charts/operator.js';
import { FIELD_MANAGER } from '../../../src/controller/kube/apply.js';
import { type OperatorHandle, startOperator } from '../../../src/controller/operator.js';
import { directTransport, pdClient } from '../../../src/controller/pd/client.js';
import type { PDResolver } from '../../../src/controller/pd/resolve.js';
import type { ClusterRef } from '../../../src/controller/ref.js';
import { createServiceAccountKubeconfig, getEnv } from '../../env/context.js';
import { installOperatorPrerequisitesWith } from '../../env/operator-install.js';
import { waitFor } from '../../env/process.js';
import { loadProtoDirs, type ProtoDirs, type StoreIdentity, type StoreStandin, startStoreStandin } from '../../env/stores.js';

export { adminApply } from '../../env/operator-install.js';

let installed: Promise<void> | undefined;

/** The CRD from crds/ and the operator's Namespace, ServiceAccount and RBAC from deploy/ (not its Deployment). */
export function installOperatorPrerequisites(): Promise<void> {
  installed ??= installOperatorPrerequisitesWith(getEnv().kc);
  return installed;
}

/** PD for every cluster is the environment's PD, unless a test marks a cluster unreachable. */
export class TestPDResolver {
  private readonly unreachable = new Set<string>();
  constructor(private readonly urls: string[]) {}

  setReachable(ref: ClusterRef, reachable: boolean): void {
    const key = `${ref.namespace}/${ref.name}`;
    if (reachable) this.unreachable.delete(key);
    else this.unreachable.add(key);
  }

  /**
   * Runs after PD answered one of the operator's calls and before the operator sees the
   * answer: the moment a test injects a competing event (a store registering) into the
   * window between the operator's read and its write.
   */
  afterAnswer: ((ref: ClusterRef, method: string) => Promise<void>) | undefined;
  /** Runs before each of the operator's calls is sent (a test delays one call behind another). */
  beforeCall: ((ref: ClusterRef, method: string) => Promise<void>) | undefined;

  readonly resolve: PDResolver = (ref) => {
    // A closed loopback port: connection refused, like a PD whose pods are all gone.
    const url = this.unreachable.has(`${ref.namespace}/${ref.name}`) ? 'http://127.0.0.1:9' : (this.urls[0] ?? 'http://127.0.0.1:9');
    const client = pdClient(directTransport(url), { timeoutMs: 2000 });
    const observed = <T extends object>(calls: T): T =>
      new Proxy(calls, {
        get: (target, prop, receiver) => {
          const value = Reflect.get(target, prop, receiver);
          if (typeof value !== 'function') return value;
          return async (...args: unknown[]) => {
            await this.beforeCall?.(ref, String(prop));
            const answer = await value.apply(target, args);
            await this.afterAnswer?.(ref, String(prop));
            return answer;
          };
        },
      });
    return { reads: observed(client.reads), writes: observed(client.writes) };
  };
}

export interface TestOperator extends OperatorHandle {
  username: string;
}

export async function startTestOperator(opts: {
  pd: TestPDResolver;
  leaderElection?: boolean;
  identity?: string;
  namespace?: string;
  /** Where the operator logs; silent unless TEST_OPERATOR_LOG names a level. */
  log?: pino.Logger;
  /** How often every cluster is reconciled whatever happens (the operator's default is 5 minutes). */
  resyncMs?: number;
}): Promise<TestOperator> {
  await installOperatorPrerequisites();
  const sa = await createServiceAccountKubeconfig(OPERATOR_NAMESPACE, OPERATOR_NAME);
  const handle = startOperator({
    kc: sa.kc,
    log: opts.log ?? pino({ level: process.env.TEST_OPERATOR_LOG ?? 'silent' }),
    namespace: opts.namespace,
    pd: opts.pd.resolve,
    leaderElection: opts.leaderElection
      ? { namespace: OPERATOR_NAMESPACE, name: LEASE_NAME, identity: opts.identity ?? 'test', leaseDurationSeconds: 6, renewIntervalMs: 1000 }
      : undefined,
    steadyRequeueMs: 3000,
    busyRequeueMs: 1000,
    resyncMs: opts.resyncMs,
  });
  return Object.assign(handle, { username: sa.username });
}

// --- TikvClusters ---------------------------------------------------------------------

export interface TikvClusterObj {
  metadata: { name: string; namespace: string; uid: string; generation: number };
  spec: Record<string, unknown>;
  status?: TikvClusterStatus;
}

export async function createCluster(namespace: string, body: Omit<TikvClusterInput, 'apiVersion' | 'kind'>): Promise<void> {
  const api = getEnv().kc.makeApiClient(CustomObjectsApi);
  await api.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: PLURAL,
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'TikvCluster', ...body, metadata: { ...body.metadata, namespace } },
  });
}

export async function getCluster(namespace: string, name: string): Promise<TikvClusterObj> {
  const api = getEnv().kc.makeApiClient(CustomObjectsApi);
  return (await api.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name })) as TikvClusterObj;
}

/** A JSON merge patch of spec, as a user editing the object would. */
export async function patchSpec(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  const api = getEnv().kc.makeApiClient(CustomObjectsApi);
  await api.patchNamespacedCustomObject(
    { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: { spec } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

export async function deleteCluster(namespace: string, name: string): Promise<void> {
  const api = getEnv().kc.makeApiClient(CustomObjectsApi);
  await api.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name });
}

export const condition = (c: TikvClusterObj, type: string) => c.status?.conditions?.find((x) => x.type === type);

/** Polls the TikvCluster until `check` holds; the message says what was awaited and what was last seen. */
export async function waitForCluster(
  namespace: string,
  name: string,
  what: string,
  check: (c: TikvClusterObj) => boolean,
  timeoutMs = 60_000,
): Promise<TikvClusterObj> {
  let last: TikvClusterObj | undefined;
  try {
    return await waitFor(
      what,
      async () => {
        last = await getCluster(namespace, name);
        return check(last) ? last : undefined;
      },
      { timeoutMs, intervalMs: 250 },
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}\nlast status: ${JSON.stringify(last?.status, null, 1)}`);
  }
}

// --- TiKV stand-ins -------------------------------------------------------------------

let protoDirs: ProtoDirs | undefined;
function protos(): ProtoDirs {
  if (!protoDirs) {
    const env = getEnv();
    const file = join(env.dir, 'paths-for-standins.env');
    writeFileSync(file, Object.entries(env.paths).map(([k, v]) => `${k}=${v}`).join('\n'));
    protoDirs = loadProtoDirs(file);
  }
  return protoDirs;
}

/** How the stand-ins of TiKVStandins behave (tests of the scale-in races set these). */
export interface StandinPolicy {
  /** Whether a Running pod's TiKV (this incarnation: uid) registers yet; false: it is still starting (asked on every sync). */
  mayStart?: (pod: string, uid: string) => boolean;
  /**
   * Data directories by PVC uid, as TiKV keeps its store id: a new PVC is a new store, and
   * a PVC whose store PD buried cannot start again. Without it a pod resumes the store PD
   * lists at its address.
   */
  dataDirs?: boolean;
  /** A pod's stand-in stopped because the pod went away (deleted, or re-created). */
  onGone?: (pod: string, storeId: string) => void | Promise<void>;
}

/**
 * What a kubelet running TiKV would do for this test: every Running TiKV pod of the
 * cluster gets a store stand-in that registers with the real PD under the pod's stable
 * DNS address; a pod that goes away stops its stand-in.
 */
export class TiKVStandins {
  /** By pod name; `uid` tells a re-created pod (a new TiKV process) from the old one. */
  private readonly stores = new Map<string, { uid: string; standin: StoreStandin }>();
  /** Store ids by PVC uid (StandinPolicy.dataDirs). */
  readonly dataDirs = new Map<string, { storeId?: string }>();
  /** Every store a stand-in ran (dataDirs only): store id -> the PVC it ran on, and when its registration began. */
  readonly ranOn = new Map<string, { pvc: string; pvcUid: string; registeredAt: Date }>();
  private readonly starting = new Map<string, Promise<boolean>>();
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> = Promise.resolve();

  constructor(
    private readonly namespace: string,
    private readonly cluster: string,
    private readonly policy: StandinPolicy = {},
  ) {}

  start(): this {
    let busy = false;
    // One sync at a time: two overlapping syncs would both start a stand-in for a new pod,
    // and a paused one would then hide behind its twin's heartbeats.
    const tick = () => {
      if (busy) return;
      busy = true;
      this.syncing = this.sync()
        .catch(() => {})
        .finally(() => {
          busy = false;
        });
    };
    tick();
    this.timer = setInterval(tick, 500);
    return this;
  }

  get(ordinal: number): StoreStandin | undefined {
    return this.stores.get(tikvPodName(this.cluster, ordinal))?.standin;
  }

  /**
   * The stand-in behind a TiKV pod, once it has one. PD can list the store Up (and the
   * cluster turn Ready) a moment before its registration call returns here, so a test
   * that acts on a store right after Ready waits for it instead of reading get().
   */
  running(ordinal: number, timeoutMs = 30_000): Promise<StoreStandin> {
    return waitFor(`a store stand-in behind ${tikvPodName(this.cluster, ordinal)}`, async () => this.get(ordinal), { timeoutMs, intervalMs: 100 });
  }

  count(): number {
    return this.stores.size;
  }

  private async runningPods(): Promise<Map<string, string>> {
    const core = getEnv().kc.makeApiClient(CoreV1Api);
    const pods = await core.listNamespacedPod({
      namespace: this.namespace,
      labelSelector: `app.kubernetes.io/instance=${this.cluster},app.kubernetes.io/component=tikv`,
    });
    // pod name -> uid: a pod deleted and re-created between two syncs is a new process.
    return new Map(
      pods.items
        .filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)
        .map((p) => [p.metadata?.name ?? '', p.metadata?.uid ?? ''] as const),
    );
  }

  private async sync(): Promise<void> {
    const running = await this.runningPods();
    for (const [pod, s] of this.stores) {
      if (running.get(pod) === s.uid) continue;
      this.stores.delete(pod);
      await s.standin.stop();
      await this.policy.onGone?.(pod, s.standin.id);
    }
    for (const [pod, uid] of running) {
      if (this.stores.has(pod) || (this.policy.mayStart && !this.policy.mayStart(pod, uid))) continue;
      await this.startOne(pod, uid).catch(() => {});
    }
  }

  /**
   * Registers the pod's store right now (a TiKV that finished starting), if the pod runs
   * and has no stand-in yet; resolves whether it registered one.
   */
  async startNow(pod: string): Promise<boolean> {
    const uid = (await this.runningPods()).get(pod);
    if (uid === undefined || this.stores.has(pod)) return false;
    return this.startOne(pod, uid);
  }

  private startOne(pod: string, uid: string): Promise<boolean> {
    const inFlight = this.starting.get(pod);
    if (inFlight) return inFlight;
    const run = (async () => {
      if (this.stores.has(pod)) return false;
      const ordinal = Number(pod.slice(pod.lastIndexOf('-') + 1));
      const core = getEnv().kc.makeApiClient(CoreV1Api);
      let dataDir: { storeId?: string } | undefined;
      let pvcUid: string | undefined;
      if (this.policy.dataDirs) {
        pvcUid = (await core.readNamespacedPersistentVolumeClaim({ namespace: this.namespace, name: `tikv-${pod}` })).metadata?.uid;
        if (!pvcUid) return false;
        dataDir = this.dataDirs.get(pvcUid) ?? {};
        this.dataDirs.set(pvcUid, dataDir);
      }
      const startedAt = new Date();
      // A TiKV registers only while its process runs: here, while this pod incarnation does.
      const alive = async () => {
        try {
          const p = await core.readNamespacedPod({ namespace: this.namespace, name: pod });
          return p.metadata?.uid === uid && p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp;
        } catch {
          return false;
        }
      };
      const standin = await startStoreStandin({
        pdEndpoints: getEnv().pdURLs,
        address: tikvAdvertiseAddr(this.cluster, this.namespace, ordinal),
        protoDirs: protos(),
        heartbeatIntervalMs: 1000,
        ...(dataDir ? { identity: dataDirIdentity(dataDir), registerTimeoutMs: 5000 } : {}),
        ...(process.env.STANDIN_LOG ? { log: (line: string) => console.log(`${new Date().toISOString()} ${line}`) } : {}),
        stillRunning: alive,
      });
      if (pvcUid && !this.ranOn.has(standin.id)) this.ranOn.set(standin.id, { pvc: `tikv-${pod}`, pvcUid, registeredAt: startedAt });
      this.stores.set(pod, { uid, standin });
      return true;
    })().finally(() => this.starting.delete(pod));
    this.starting.set(pod, run);
    return run;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.syncing;
    await Promise.allSettled([...this.starting.values()]);
    await Promise.all([...this.stores.values()].map((s) => s.standin.stop()));
    this.stores.clear();
  }
}

/** A PVC's data dir as TiKV keeps its store id there (test/env/stores.ts StoreIdentity). */
function dataDirIdentity(dir: { storeId?: string }): StoreIdentity {
  return {
    ...(dir.storeId ? { storeId: dir.storeId } : {}),
    save: ({ storeId }) => {
      dir.storeId = storeId;
    },
  };
}

// --- the audit log --------------------------------------------------------------------

export interface AuditEvent {
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  requestReceivedTimestamp: string;
  stage: string;
  responseStatus?: { code?: number };
}

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** Write requests `username` made at or after `since`, from the apiserver's audit log. */
export function auditWrites(username: string, since: Date): AuditEvent[] {
  const lines = readFileSync(getEnv().auditLogPath, 'utf8').split('\n').filter(Boolean);
  return lines
    .map((l) => JSON.parse(l) as AuditEvent)
    .filter(
      (e) =>
        e.stage === 'ResponseComplete' &&
        e.user.username === username &&
        WRITE_VERBS.has(e.verb) &&
        e.objectRef?.resource !== 'leases' &&
        new Date(e.requestReceivedTimestamp) >= since,
    );
}

export { FIELD_MANAGER };
