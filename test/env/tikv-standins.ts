// What a kubelet running TiKV would do in the test environment: every Running TiKV pod
// (kwok's pods run nothing) gets a store stand-in that registers with the environment's
// PD under the pod's stable DNS address, the address real TiKV advertises; a pod that
// goes away (or is re-created: a new uid is a new TiKV process) stops its stand-in.
// Used by the integration tests (one cluster at a time) and by the playground
// (`npm run testenv -- up`: every TiKV pod in every namespace).
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { tikvAdvertiseAddr } from '../../src/api/names.js';
import { LABELS, MANAGED_BY } from '../../src/charts/labels.js';
import { type ProtoDirs, type StoreStandin, startStoreStandin } from './stores.js';

export interface PodStandinsOptions {
  kc: KubeConfig;
  pdURLs: string[];
  protoDirs: ProtoDirs;
  /** Only this namespace (default: all). */
  namespace?: string;
  /** Only this TikvCluster's pods (default: every cluster's). */
  cluster?: string;
  heartbeatIntervalMs?: number;
  pollMs?: number;
  /** Told when a stand-in starts or stops, and when starting one failed. */
  log?: (s: string) => void;
}

export class PodStandins {
  /** By `<namespace>/<pod>`; `uid` tells a re-created pod from the old one. */
  private readonly stores = new Map<string, { uid: string; standin: StoreStandin }>();
  private readonly core: CoreV1Api;
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> = Promise.resolve();
  private lastError: string | undefined;

  constructor(private readonly o: PodStandinsOptions) {
    this.core = o.kc.makeApiClient(CoreV1Api);
  }

  start(): this {
    let busy = false;
    // One sync at a time: two overlapping syncs would both start a stand-in for a new pod,
    // and a paused one would then hide behind its twin's heartbeats.
    const tick = () => {
      if (busy) return;
      busy = true;
      this.syncing = this.sync()
        .then(() => {
          this.lastError = undefined;
        })
        .catch((e: unknown) => {
          const msg = (e as Error).message;
          if (msg !== this.lastError) this.o.log?.(`store stand-ins: ${msg}`);
          this.lastError = msg;
        })
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

  count(): number {
    return this.stores.size;
  }

  private async sync(): Promise<void> {
    const selector = [`${LABELS.component}=tikv`, `${LABELS.managedBy}=${MANAGED_BY}`, ...(this.o.cluster ? [`${LABELS.instance}=${this.o.cluster}`] : [])].join(',');
    const pods = this.o.namespace
      ? await this.core.listNamespacedPod({ namespace: this.o.namespace, labelSelector: selector })
      : await this.core.listPodForAllNamespaces({ labelSelector: selector });
    // key -> what its stand-in needs; a pod deleted and re-created between two syncs is a new process.
    const running = new Map<string, { uid: string; namespace: string; cluster: string; ordinal: number }>();
    for (const p of pods.items) {
      const name = p.metadata?.name ?? '';
      const cluster = p.metadata?.labels?.[LABELS.instance];
      const ordinal = Number(name.slice(name.lastIndexOf('-') + 1));
      if (p.status?.phase !== 'Running' || p.metadata?.deletionTimestamp || !cluster || !Number.isInteger(ordinal)) continue;
      const namespace = p.metadata?.namespace ?? '';
      running.set(`${namespace}/${name}`, { uid: p.metadata?.uid ?? '', namespace, cluster, ordinal });
    }
    for (const [key, s] of this.stores) {
      if (running.get(key)?.uid === s.uid) continue;
      this.stores.delete(key);
      await s.standin.stop();
      this.o.log?.(`store stand-in for pod ${key} stopped`);
    }
    for (const [key, pod] of running) {
      if (this.stores.has(key)) continue;
      const standin = await startStoreStandin({
        pdEndpoints: this.o.pdURLs,
        address: tikvAdvertiseAddr(pod.cluster, pod.namespace, pod.ordinal),
        protoDirs: this.o.protoDirs,
        heartbeatIntervalMs: this.o.heartbeatIntervalMs ?? 1000,
      });
      this.stores.set(key, { uid: pod.uid, standin });
      this.o.log?.(`store stand-in ${standin.id} for pod ${key} registered with PD as ${standin.address}`);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.syncing;
    await Promise.all([...this.stores.values()].map((s) => s.standin.stop()));
    this.stores.clear();
  }
}
