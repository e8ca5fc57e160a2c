// Wires the runtime to the TikvCluster reconciler: informers for TikvClusters and the
// objects the operator owns, a work queue, and (optionally) Lease-based leader election.
// Informers and workers exist only while this process leads, so two replicas never
// reconcile at once. Used by `tikv-operator run` and, in-process, by the integration tests.
import { API_VERSION, KIND } from '../api/v1alpha1.js';
import { LABELS, MANAGED_BY, RETENTION_ANNOTATION } from '../charts/labels.js';
import { podSummary, withoutManagedFields } from './cache.js';
import { Applier } from './kube/apply.js';
import { KubeClaims } from './kube/claims.js';
import { KubeEventRecorder } from './kube/events.js';
import type { LiveObject, LivePod, OwnedKind, OwnedKinds, TikvClusterObject } from './kube/objects.js';
import { KubePods } from './kube/pods.js';
import { clusterWidePath, resourcePath } from './kube/resources.js';
import { writeStatus } from './kube/status.js';
import type { OperatorMetrics } from './metrics.js';
import { createPDResolver, type PDResolver } from './pd/resolve.js';
import { composeIO, guardWrites, type ObjectCache } from './reconcile/io.js';
import { TikvClusterReconciler } from './reconcile/reconciler.js';
import { parseExactJSON } from './runtime/exact-json.js';
import { Controller, createInformer, type Informer, type InformerOptions, type KubeClient, LeaderElector, objectKey } from './runtime/index.js';
import type { KubeResource } from './runtime/informer.js';
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
  let running: { abort: AbortController; done: Promise<void>; controller: Controller; informers: Informer<KubeResource>[] } | undefined;

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
    const informer = <T extends KubeResource>(kind: string, extra: Partial<InformerOptions<T>> = {}) =>
      createInformer<T>({ kc: opts.kc, path: path(kind), transform: withoutManagedFields, log: log.child({ informer: kind }), ...extra });
    // Exact integers: spec.*.config values beyond 2^53 reach the rendered TOML as written.
    const clusters = informer<TikvClusterObject>(KIND, { parse: parseExactJSON });
    const ownedInformer = <K extends OwnedKind>(kind: K) => informer<OwnedKinds[K]>(kind, { labelSelector: MANAGED_SELECTOR });
    const owned: { [K in OwnedKind]: Informer<OwnedKinds[K]> } = {
      StatefulSet: ownedInformer('StatefulSet'),
      Service: ownedInformer('Service'),
      ConfigMap: ownedInformer('ConfigMap'),
    };
    // Pods are looked up per cluster and component on every reconcile: indexed, not scanned.
    const podKey = (ns: string | undefined, instance: string | undefined, component: string | undefined) =>
      instance && component ? `${ns ?? ''}/${instance}/${component}` : undefined;
    const pods = informer<LivePod>('Pod', {
      labelSelector: MANAGED_SELECTOR,
      transform: podSummary,
      indexBy: (p) => podKey(p.metadata?.namespace, p.metadata?.labels?.[LABELS.instance], p.metadata?.labels?.[LABELS.component]),
    });

    const cache: ObjectCache = {
      cluster: (ns, name) => clusters.get(name, ns),
      owned: (kind, ns, name) => owned[kind].get(name, ns),
      pods: (ns, name, component) => pods.byIndex(podKey(ns, name, component) ?? ''),
    };
    const io = composeIO({
      cache,
      claims: new KubeClaims(opts.kc),
      pods: new KubePods(opts.kc),
      events,
      apply: (desired, live: LiveObject | undefined) => applier.apply(desired, live),
      writeStatus: (key, live, desired) => writeStatus(opts.kc, key, live, desired),
      pd,
    });
    // Every write, Events included, refuses once this process stops leading.
    const writes = guardWrites(io.writes, abort.signal);
    // No finalizer holds a deleted TikvCluster back: its informer delete is the moment to say what stays.
    clusters.on('delete', (obj) => {
      const { name = '', namespace = '', uid } = obj.metadata ?? {};
      void writes
        .emit({ apiVersion: API_VERSION, kind: KIND, name, namespace, uid }, 'Normal', 'PVCsRetained', pvcsRetainedMessage(namespace, name))
        .catch((err) => log.warn({ err: String(err) }, 'did not record the PVCsRetained Event'));
    });
    const reconciler = new TikvClusterReconciler({
      reads: io.reads,
      writes,
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
    controller.watchOwned(owned.StatefulSet, KIND, API_VERSION);
    controller.watchOwned(owned.Service, KIND, API_VERSION);
    controller.watchOwned(owned.ConfigMap, KIND, API_VERSION);
    // Pods are owned by StatefulSets; the instance label names their cluster.
    controller.watch(pods, (pod) => {
      const instance = pod.metadata?.labels?.[LABELS.instance];
      return instance ? [objectKey({ metadata: { namespace: pod.metadata?.namespace, name: instance } })] : [];
    });

    const informers: Informer<KubeResource>[] = [clusters, owned.StatefulSet, owned.Service, owned.ConfigMap, pods];
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
