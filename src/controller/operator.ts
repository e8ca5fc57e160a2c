// Wires the runtime to the TikvCluster reconciler: informers for TikvClusters and the
// objects the operator owns, a work queue, and (optionally) Lease-based leader election.
// Informers and workers exist only while this process leads, so two replicas never
// reconcile at once. Used by `tikv-operator run` and, in-process, by the integration tests.
import type { KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION, KIND } from '../api/v1alpha1.js';
import { LABELS, MANAGED_BY, RETENTION_ANNOTATION } from '../charts/labels.js';
import { podSummary, withoutManagedFields } from './cache.js';
import { Applier } from './kube/apply.js';
import { type ClaimAPI, KubeClaims } from './kube/claims.js';
import { KubePods, type PodAPI } from './kube/pods.js';
import { KubeEventRecorder } from './kube/events.js';
import { clusterWidePath, resourcePath } from './kube/resources.js';
import { writeStatus } from './kube/status.js';
import type { OperatorMetrics } from './metrics.js';
import { createPDResolver, type PDClient, type PDResolver } from './pd/client.js';
import { type ObjectStore, TikvClusterReconciler, type TikvClusterObject } from './reconcile/reconciler.js';
import { Controller, createInformer, type Informer, type InformerOptions, type KubeClient, LeaderElector, objectKey } from './runtime/index.js';
import { parseExactJSON } from './runtime/exact-json.js';
import type { Logger } from './runtime/log.js';

export interface OperatorOptions {
  kc: KubeClient;
  log: Logger;
  /** Watch one namespace; all namespaces when unset. */
  namespace?: string;
  /** How to reach each cluster's PD; defaults to createPDResolver (DNS in a pod, else the service proxy). */
  pd?: PDResolver;
  metrics?: OperatorMetrics;
  /** Lease to hold while reconciling; without it this process reconciles unconditionally. */
  leaderElection?: { namespace: string; name: string; identity: string; leaseDurationSeconds?: number; renewIntervalMs?: number };
  workers?: number;
  resyncMs?: number;
  steadyRequeueMs?: number;
  busyRequeueMs?: number;
}

export interface OperatorHandle {
  /** Leading (or not electing) and every cache has synced. */
  ready(): boolean;
  isLeader(): boolean;
  /** Reconciles run by this process so far, of every cluster or of the one `key` (namespace/name): tests count them. */
  reconciles(key?: string): number;
  stop(): Promise<void>;
}

const OWNED_KINDS = ['StatefulSet', 'Service', 'ConfigMap'] as const;
const MANAGED_SELECTOR = `${LABELS.managedBy}=${MANAGED_BY}`;

export function startOperator(opts: OperatorOptions): OperatorHandle {
  const log = opts.log;
  const pd =
    opts.pd ??
    createPDResolver({
      kubeConfig: opts.kc,
      onRequest: (path, status, seconds) => opts.metrics?.pdRequest(path, status ? String(status) : 'error', seconds),
    });
  const applier = new Applier(opts.kc);
  const events = new KubeEventRecorder(opts.kc, 'tikv-operator', (err) => log.warn({ err }, 'could not record an Event'));
  let reconcileCount = 0;
  const reconcilesByKey = new Map<string, number>();
  let running: { abort: AbortController; done: Promise<void>; controller: Controller; informers: Informer<KubernetesObject>[] } | undefined;

  const path = (kind: string) => (opts.namespace ? resourcePath(kind, opts.namespace) : clusterWidePath(kind));

  let stopping: Promise<void> | undefined;

  const startWorkers = () => {
    if (running) return;
    // Leadership regained while the last workers still drain: start after them, so no key
    // is ever reconciled by two worker sets of this process.
    if (stopping) {
      void stopping.then(() => {
        if (!elector || elector.isLeader()) startWorkers();
      });
      return;
    }
    const abort = new AbortController();
    const writes = writeGuard(abort.signal);
    const informer = <T extends KubernetesObject>(kind: string, extra: Partial<InformerOptions<T>> = {}) =>
      createInformer<T>({ kc: opts.kc, path: path(kind), transform: withoutManagedFields, log: log.child({ informer: kind }), ...extra });
    // Exact integers: spec.*.config values beyond 2^53 reach the rendered TOML as written.
    const clusters = informer<TikvClusterObject & KubernetesObject>(KIND, { parse: parseExactJSON });
    // No finalizer holds a deleted TikvCluster back: its informer delete is the moment to say what stays.
    clusters.on('delete', (obj) => {
      const { name = '', namespace = '', uid } = obj.metadata ?? {};
      void events.emit({ apiVersion: API_VERSION, kind: KIND, name, namespace, uid }, 'Normal', 'PVCsRetained', pvcsRetainedMessage(namespace, name));
    });
    const owned = Object.fromEntries(OWNED_KINDS.map((k) => [k, informer<KubernetesObject>(k, { labelSelector: MANAGED_SELECTOR })])) as Record<
      (typeof OWNED_KINDS)[number],
      Informer<KubernetesObject>
    >;
    // Pods are looked up per cluster and component on every reconcile: indexed, not scanned.
    const podKey = (ns: string | undefined, instance: string | undefined, component: string | undefined) =>
      instance && component ? `${ns ?? ''}/${instance}/${component}` : undefined;
    const pods = informer<KubernetesObject>('Pod', {
      labelSelector: MANAGED_SELECTOR,
      transform: podSummary,
      indexBy: (p) => podKey(p.metadata?.namespace, p.metadata?.labels?.[LABELS.instance], p.metadata?.labels?.[LABELS.component]),
    });

    const store: ObjectStore = {
      cluster: (ns, name) => clusters.get(name, ns) as TikvClusterObject | undefined,
      object: (kind, ns, name) => owned[kind].get(name, ns) as never,
      pods: (ns, name, component) => pods.byIndex(podKey(ns, name, component) ?? '') as never,
    };
    const reconciler = new TikvClusterReconciler({
      store,
      apply: writes.wrap((desired, live) => applier.apply(desired, live)),
      writeStatus: writes.wrap((key, live, desired) => writeStatus(opts.kc, key, live, desired)),
      pd: (ref) => writes.pd(pd(ref)),
      claims: writes.claims(new KubeClaims(opts.kc)),
      pods: writes.pods(new KubePods(opts.kc)),
      events,
      log,
      steadyRequeueMs: opts.steadyRequeueMs,
      busyRequeueMs: opts.busyRequeueMs,
    });
    const controller = new Controller({
      name: 'tikvcluster',
      reconcile: async (key, ctx) => {
        reconcileCount++;
        reconcilesByKey.set(key, (reconcilesByKey.get(key) ?? 0) + 1);
        return reconciler.reconcile(key, ctx.log);
      },
      workers: opts.workers,
      resyncMs: opts.resyncMs,
      log,
      metrics: opts.metrics,
    });
    // Our own status writes bump resourceVersion, not generation: only spec changes and
    // deletion need a reconcile; the requeue interval covers everything PD-side.
    controller.watchPrimary(clusters, {
      update: (obj, old) => !old || obj.metadata?.generation !== old.metadata?.generation || !!obj.metadata?.deletionTimestamp,
    });
    for (const inf of Object.values(owned)) controller.watchOwned(inf, KIND, API_VERSION);
    // Pods are owned by StatefulSets; the instance label names their cluster.
    controller.watch(pods, (pod) => {
      const instance = pod.metadata?.labels?.[LABELS.instance];
      return instance ? [objectKey({ metadata: { namespace: pod.metadata?.namespace, name: instance } })] : [];
    });

    const informers = [clusters, ...Object.values(owned), pods] as Informer<KubernetesObject>[];
    const done = controller.run(abort.signal).catch((err) => log.error({ err }, 'controller stopped with an error'));
    running = { abort, done, controller, informers };
    log.info({ namespace: opts.namespace ?? '(all)' }, 'reconciling TikvClusters');
  };

  const stopWorkers = async () => {
    const r = running;
    if (!r) return stopping;
    running = undefined;
    r.abort.abort();
    for (const inf of r.informers) inf.stop();
    stopping = r.done.finally(() => {
      stopping = undefined;
    });
    await stopping;
  };

  let elector: LeaderElector | undefined;
  const electionAbort = new AbortController();
  let electionDone: Promise<void> | undefined;
  if (opts.leaderElection) {
    elector = new LeaderElector({
      kc: opts.kc,
      ...opts.leaderElection,
      log: log.child({ component: 'leader-election' }),
      onStartedLeading: startWorkers,
      onStoppedLeading: stopWorkers,
    });
    electionDone = elector.run(electionAbort.signal);
  } else {
    startWorkers();
  }

  return {
    ready: () => (elector ? !elector.isLeader() || !!running?.controller.hasSynced() : !!running?.controller.hasSynced()),
    isLeader: () => (elector ? elector.isLeader() : true),
    reconciles: (key) => (key === undefined ? reconcileCount : (reconcilesByKey.get(key) ?? 0)),
    stop: async () => {
      electionAbort.abort();
      await stopWorkers();
      await electionDone;
    },
  };
}

export const pvcsRetainedMessage = (namespace: string, name: string) =>
  `TikvCluster deleted; its PersistentVolumeClaims are kept on purpose (retention policy Retain, annotation ${RETENTION_ANNOTATION}) so the data survives: ` +
  `kubectl -n ${namespace} get pvc -l ${LABELS.instance}=${name} lists them; delete them once the data is no longer needed`;

/** PD calls that change the cluster; reads stay allowed while a reconcile drains. */
const PD_WRITES = new Set(['deleteStore', 'deleteMember', 'transferLeader', 'cancelStoreRemoval', 'evictLeader', 'removeEvictLeader']);

/**
 * Once this process stops leading, a reconcile still in flight must not write: another
 * replica may already lead. Every write the reconciler can make goes through this check.
 */
export function writeGuard(signal: AbortSignal) {
  const check = () => {
    if (signal.aborted) throw new Error('no longer the leader: dropping the write');
  };
  return {
    wrap:
      <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        check();
        return fn(...args);
      },
    pd: (client: PDClient): PDClient =>
      new Proxy(client, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver);
          if (typeof value !== 'function') return value;
          if (!PD_WRITES.has(String(prop))) return value.bind(target);
          return async (...args: unknown[]) => {
            check();
            return value.apply(target, args);
          };
        },
      }),
    claims: (claims: ClaimAPI): ClaimAPI => ({
      getClaim: (ns, name) => claims.getClaim(ns, name),
      liveReplicas: (ns, sts) => claims.liveReplicas(ns, sts),
      deleteClaim: async (ns, claim) => {
        check();
        return claims.deleteClaim(ns, claim);
      },
      recordAdmission: async (ns, name, clusterID) => {
        check();
        return claims.recordAdmission(ns, name, clusterID);
      },
      annotateClaim: async (ns, claim, annotations) => {
        check();
        return claims.annotateClaim(ns, claim, annotations);
      },
    }),
    pods: (pods: PodAPI): PodAPI => ({
      getPod: (ns, name, gate) => pods.getPod(ns, name, gate),
      getStatefulSet: (ns, name) => pods.getStatefulSet(ns, name),
      readPod: (ns, name) => pods.readPod(ns, name),
      admitPod: async (ns, name, uid, gate, index) => {
        check();
        return pods.admitPod(ns, name, uid, gate, index);
      },
      deletePod: async (ns, name, uid) => {
        check();
        return pods.deletePod(ns, name, uid);
      },
    }),
  };
}
