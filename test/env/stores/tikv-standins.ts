// What a kubelet running TiKV would do in the test environment: every Running TiKV pod
// (kwok's pods run nothing) gets a store stand-in that registers with the environment's
// PD under the pod's stable DNS address, the address real TiKV advertises; a pod that
// goes away (or is re-created: a new uid is a new TiKV process) stops its stand-in.
// Used by the integration tests (one cluster at a time, with a policy for the scale-in
// races) and by the playground (`npm run testenv -- up`: every TiKV pod in every namespace).
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { tikvAdvertiseAddr, tikvPodName } from '../../../src/api/names.js';
import { LABELS, MANAGED_BY } from '../../../src/charts/labels.js';
import { waitFor } from '../process.js';
import { type ProtoDirs, type StoreIdentity, type StoreStandin, startStoreStandin } from './stores.js';

/** How the stand-ins behave (tests of the scale-in races set these). */
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

export interface TiKVStandinsOptions {
  kc: KubeConfig;
  pdURLs: string[];
  protoDirs: ProtoDirs;
  /** Only this namespace (default: all). */
  namespace?: string;
  /** Only this TikvCluster's pods (default: every cluster's). */
  cluster?: string;
  heartbeatIntervalMs?: number;
  pollMs?: number;
  policy?: StandinPolicy;
  /** Told when a stand-in starts or stops, and when starting one failed. */
  log?: (s: string) => void;
  /** Each stand-in's own log lines. */
  standinLog?: (line: string) => void;
}

interface RunningPod {
  namespace: string;
  name: string;
  uid: string;
  cluster: string;
  ordinal: number;
}

export class TiKVStandins {
  /** By `<namespace>/<pod>`; `uid` tells a re-created pod (a new TiKV process) from the old one. */
  private readonly stores = new Map<string, { uid: string; standin: StoreStandin }>();
  /** Store ids by PVC uid (StandinPolicy.dataDirs). */
  readonly dataDirs = new Map<string, { storeId?: string }>();
  /** Every store a stand-in ran (dataDirs only): store id -> the PVC it ran on, and when its registration began. */
  readonly ranOn = new Map<string, { pvc: string; pvcUid: string; registeredAt: Date }>();
  private readonly starting = new Map<string, Promise<boolean>>();
  private readonly core: CoreV1Api;
  private readonly policy: StandinPolicy;
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> = Promise.resolve();
  private lastError: string | undefined;

  constructor(private readonly o: TiKVStandinsOptions) {
    this.core = o.kc.makeApiClient(CoreV1Api);
    this.policy = o.policy ?? {};
  }

  start(): this {
    let busy = false;
    // One sync at a time: two overlapping syncs would both start a stand-in for a new pod,
    // and a paused one would then hide behind its twin's heartbeats.
    const tick = () => {
      if (busy) return;
      busy = true;
      this.syncing = this.sync()
        .then((ok) => {
          if (ok) this.lastError = undefined;
        })
        .catch((e: unknown) => this.report(`store stand-ins: ${(e as Error).message}`))
        .finally(() => {
          busy = false;
        });
    };
    tick();
    this.timer = setInterval(tick, this.o.pollMs ?? 500);
    return this;
  }

  /** The stand-in behind `namespace/pod`, if its pod runs. */
  byPod(namespace: string, pod: string): StoreStandin | undefined {
    return this.stores.get(`${namespace}/${pod}`)?.standin;
  }

  /** The stand-in of the pod of this ordinal (of the one namespace and cluster these stand-ins serve). */
  get(ordinal: number): StoreStandin | undefined {
    const { namespace, cluster } = this.o;
    if (namespace === undefined || cluster === undefined) throw new Error('get(ordinal) needs the namespace and cluster option');
    return this.byPod(namespace, tikvPodName(cluster, ordinal));
  }

  /**
   * The stand-in behind a TiKV pod, once it has one. PD can list the store Up (and the
   * cluster turn Ready) a moment before its registration call returns here, so a test
   * that acts on a store right after Ready waits for it instead of reading get().
   */
  running(ordinal: number, timeoutMs = 30_000): Promise<StoreStandin> {
    return waitFor(`a store stand-in behind ${tikvPodName(this.o.cluster ?? '?', ordinal)}`, async () => this.get(ordinal), { timeoutMs, intervalMs: 100 });
  }

  count(): number {
    return this.stores.size;
  }

  /**
   * Registers the pod's store right now (a TiKV that finished starting), if the pod runs
   * and has no stand-in yet; resolves whether it registered one.
   */
  async startNow(pod: string, namespace = this.o.namespace): Promise<boolean> {
    const running = (await this.runningPods()).get(`${namespace}/${pod}`);
    if (!running || this.stores.has(`${namespace}/${pod}`)) return false;
    return this.startOne(running);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.syncing;
    await Promise.allSettled([...this.starting.values()]);
    await Promise.all([...this.stores.values()].map((s) => s.standin.stop()));
    this.stores.clear();
  }

  /** Running TiKV pods by `<namespace>/<pod>`: a pod deleted and re-created between two syncs is a new process. */
  private async runningPods(): Promise<Map<string, RunningPod>> {
    const { namespace, cluster } = this.o;
    const labelSelector = [`${LABELS.component}=tikv`, `${LABELS.managedBy}=${MANAGED_BY}`, ...(cluster ? [`${LABELS.instance}=${cluster}`] : [])].join(',');
    const pods = namespace ? await this.core.listNamespacedPod({ namespace, labelSelector }) : await this.core.listPodForAllNamespaces({ labelSelector });
    const running = new Map<string, RunningPod>();
    for (const p of pods.items) {
      const name = p.metadata?.name ?? '';
      const instance = p.metadata?.labels?.[LABELS.instance];
      const ordinal = Number(name.slice(name.lastIndexOf('-') + 1));
      if (p.status?.phase !== 'Running' || p.metadata?.deletionTimestamp || !instance || !Number.isInteger(ordinal)) continue;
      const ns = p.metadata?.namespace ?? '';
      running.set(`${ns}/${name}`, { namespace: ns, name, uid: p.metadata?.uid ?? '', cluster: instance, ordinal });
    }
    return running;
  }

  /** Whether every pod that may start got its stand-in. */
  private async sync(): Promise<boolean> {
    const running = await this.runningPods();
    let ok = true;
    for (const [key, s] of this.stores) {
      if (running.get(key)?.uid === s.uid) continue;
      this.stores.delete(key);
      await s.standin.stop();
      this.o.log?.(`store stand-in for pod ${key} stopped`);
      await this.policy.onGone?.(key.slice(key.indexOf('/') + 1), s.standin.id);
    }
    for (const [key, pod] of running) {
      if (this.stores.has(key) || (this.policy.mayStart && !this.policy.mayStart(pod.name, pod.uid))) continue;
      await this.startOne(pod).catch((e: unknown) => {
        ok = false;
        this.report(`store stand-in for pod ${key}: ${(e as Error).message}`);
      });
    }
    return ok;
  }

  private startOne(pod: RunningPod): Promise<boolean> {
    const key = `${pod.namespace}/${pod.name}`;
    const inFlight = this.starting.get(key);
    if (inFlight) return inFlight;
    const run = (async () => {
      if (this.stores.has(key)) return false;
      let dataDir: { storeId?: string } | undefined;
      let pvcUid: string | undefined;
      if (this.policy.dataDirs) {
        pvcUid = (await this.core.readNamespacedPersistentVolumeClaim({ namespace: pod.namespace, name: `tikv-${pod.name}` })).metadata?.uid;
        if (!pvcUid) return false;
        dataDir = this.dataDirs.get(pvcUid) ?? {};
        this.dataDirs.set(pvcUid, dataDir);
      }
      const startedAt = new Date();
      // A TiKV registers only while its process runs: here, while this pod incarnation does.
      const alive = async () => {
        try {
          const p = await this.core.readNamespacedPod({ namespace: pod.namespace, name: pod.name });
          return p.metadata?.uid === pod.uid && p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp;
        } catch {
          return false;
        }
      };
      const standin = await startStoreStandin({
        pdEndpoints: this.o.pdURLs,
        address: tikvAdvertiseAddr(pod.cluster, pod.namespace, pod.ordinal),
        protoDirs: this.o.protoDirs,
        heartbeatIntervalMs: this.o.heartbeatIntervalMs ?? 1000,
        ...(dataDir ? { identity: dataDirIdentity(dataDir), registerTimeoutMs: 5000 } : {}),
        ...(this.o.standinLog ? { log: this.o.standinLog } : {}),
        stillRunning: alive,
      });
      if (pvcUid && !this.ranOn.has(standin.id)) this.ranOn.set(standin.id, { pvc: `tikv-${pod.name}`, pvcUid, registeredAt: startedAt });
      this.stores.set(key, { uid: pod.uid, standin });
      this.o.log?.(`store stand-in ${standin.id} for pod ${key} registered with PD as ${standin.address}`);
      return true;
    })().finally(() => this.starting.delete(key));
    this.starting.set(key, run);
    return run;
  }

  /** Each distinct failure once, until a sync succeeds. */
  private report(message: string): void {
    if (message !== this.lastError) this.o.log?.(message);
    this.lastError = message;
  }
}

/** A PVC's data dir as TiKV keeps its store id there (stores.ts StoreIdentity). */
function dataDirIdentity(dir: { storeId?: string }): StoreIdentity {
  return {
    ...(dir.storeId ? { storeId: dir.storeId } : {}),
    save: ({ storeId }) => {
      dir.storeId = storeId;
    },
  };
}
