// Everything the reconcile reads, and everything it changes, as two objects. The writes
// object is only ever handed to the reconciler guarded (guardWrites): every function in
// it, at any depth, first checks that this process still leads, so a write added to
// Writes is guarded without anyone listing it, and an unguarded Writes does not type-check
// where the reconciler takes one.

import type { TikvClusterStatus } from '../../api/v1alpha1.js';
import type { KubeObject } from '../../charts/types.js';
import type { ApplyResult } from '../kube/apply.js';
import type { AdmissionRecord, ClaimAPI, VolumeClaim } from '../kube/claims.js';
import type { EventRecorder, EventTarget, EventType } from '../kube/events.js';
import type { LiveObject, LivePod, LiveStatefulSet, OwnedKind, OwnedKinds, TikvClusterObject } from '../kube/objects.js';
import type { PodAPI, PodIncarnation } from '../kube/pods.js';
import type { PDReads } from '../pd/reads.js';
import { type ClusterPDWrites, clusterPDWrites, type PDResolver } from '../pd/resolve.js';
import type { ClusterRef } from '../ref.js';

/** The informer caches. */
export interface ObjectCache {
  cluster(namespace: string, name: string): TikvClusterObject | undefined;
  owned<K extends OwnedKind>(kind: K, namespace: string, name: string): OwnedKinds[K] | undefined;
  /** The pods of one component of a cluster (by the instance and component labels). */
  pods(namespace: string, cluster: string, component: 'pd' | 'tikv'): readonly LivePod[];
}

export interface Reads {
  cache: ObjectCache;
  /** Fresh reads from the API server: the proofs a removal needs, and the PVCs' records. */
  api: {
    claim(namespace: string, name: string): Promise<VolumeClaim | undefined>;
    pod(namespace: string, name: string, gate: string): Promise<PodIncarnation | undefined>;
    statefulSet(namespace: string, name: string): Promise<LiveStatefulSet | undefined>;
    /** A whole Pod no cache holds (a config-check pod, reconcile/config-check.ts). */
    wholePod(namespace: string, name: string): Promise<LivePod | undefined>;
    /** spec.replicas of the StatefulSet as the API server has it now (the cache may lag). */
    replicas(namespace: string, statefulSet: string): Promise<number | undefined>;
  };
  pd(cluster: ClusterRef): PDReads;
}

export interface Writes {
  /** Server-side apply of `desired` unless `live` already holds it. */
  apply(desired: KubeObject, live: LiveObject | undefined): Promise<ApplyResult>;
  writeStatus(cluster: ClusterRef, live: TikvClusterStatus | undefined, desired: TikvClusterStatus): Promise<boolean>;
  emit(target: EventTarget, type: EventType, reason: string, message: string): Promise<void>;
  claims: {
    delete(namespace: string, claim: VolumeClaim): Promise<void>;
    recordAdmission(namespace: string, name: string, clusterID?: string): Promise<AdmissionRecord>;
    annotate(namespace: string, claim: VolumeClaim, annotations: Record<string, string>): Promise<void>;
  };
  pods: {
    admit(namespace: string, name: string, uid: string, gate: string, index: number): Promise<'admitted' | 'changed'>;
    delete(namespace: string, name: string, uid: string): Promise<void>;
  };
  pd: ClusterPDWrites;
}

/** The parts reads and writes are made of: the operator's Kubernetes clients, or a test's fakes. */
export interface IOParts {
  cache: ObjectCache;
  claims: ClaimAPI;
  pods: PodAPI;
  events: EventRecorder;
  apply: Writes['apply'];
  writeStatus: Writes['writeStatus'];
  pd: PDResolver;
}

/** Reads and (unguarded) writes over `parts`; each call goes to the part as it is then. */
export function composeIO(parts: IOParts): { reads: Reads; writes: Writes } {
  const { cache, claims, pods, events } = parts;
  return {
    reads: {
      cache,
      api: {
        claim: (ns, name) => claims.getClaim(ns, name),
        pod: (ns, name, gate) => pods.getPod(ns, name, gate),
        statefulSet: (ns, name) => pods.getStatefulSet(ns, name),
        wholePod: (ns, name) => pods.readPod(ns, name),
        replicas: (ns, sts) => claims.liveReplicas(ns, sts),
      },
      pd: (cluster) => parts.pd(cluster).reads,
    },
    writes: {
      apply: (desired, live) => parts.apply(desired, live),
      writeStatus: (cluster, live, desired) => parts.writeStatus(cluster, live, desired),
      emit: (target, type, reason, message) => events.emit(target, type, reason, message),
      claims: {
        delete: (ns, claim) => claims.deleteClaim(ns, claim),
        recordAdmission: (ns, name, clusterID) => claims.recordAdmission(ns, name, clusterID),
        annotate: (ns, claim, annotations) => claims.annotateClaim(ns, claim, annotations),
      },
      pods: {
        admit: (ns, name, uid, gate, index) => pods.admitPod(ns, name, uid, gate, index),
        delete: (ns, name, uid) => pods.deletePod(ns, name, uid),
      },
      pd: clusterPDWrites(parts.pd),
    },
  };
}

// --- the leadership guard -------------------------------------------------------------

declare const guarded: unique symbol;
/** Writes that refuse to run once the signal they were guarded with has aborted. */
export type Guarded<T> = T & { readonly [guarded]: true };

export const NOT_LEADING = 'no longer the leader: dropping the write';

/**
 * Once this process stops leading, a reconcile still in flight must not write: another
 * replica may already lead. Wraps every function of `writes`, in nested plain objects too,
 * so that it throws (rejects) once `signal` has aborted. Anything else in `writes` (a class
 * instance whose methods sit on its prototype, a value) is refused here, since it would
 * slip past the guard.
 */
export function guardWrites<T extends object>(writes: T, signal: AbortSignal): Guarded<T> {
  return wrap(writes, signal, 'writes') as Guarded<T>;
}

function wrap(node: object, signal: AbortSignal, path: string): object {
  if (Object.getPrototypeOf(node) !== Object.prototype) throw new Error(`${path} must be a plain object of functions, so that the guard sees each one`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (typeof value === 'function') {
      const fn = value as (...args: unknown[]) => unknown;
      out[key] = async (...args: unknown[]) => {
        if (signal.aborted) throw new Error(NOT_LEADING);
        return fn.apply(node, args);
      };
    } else if (typeof value === 'object' && value !== null) {
      out[key] = wrap(value, signal, `${path}.${key}`);
    } else {
      throw new Error(`${path}.${key} is not a write`);
    }
  }
  return out;
}
