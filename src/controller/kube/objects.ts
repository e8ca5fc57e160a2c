// Live objects as the informer caches and the API server return them: the fields the
// operator reads, typed. Not the charts' KubeObject, which is what the operator wants to
// exist (no generation, uid, resourceVersion or status).
import type { TikvClusterStatus } from '../../api/v1alpha1.js';
import type { OwnerReference } from '../../charts/types.js';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
}

export interface LiveObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface SchedulingGate {
  name?: string;
}

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { schedulingGates?: SchedulingGate[]; containers?: Array<{ name?: string; image?: string }> };
}

export interface LiveStatefulSet extends LiveObject {
  spec?: {
    replicas?: number;
    template?: PodTemplate;
    updateStrategy?: { rollingUpdate?: { partition?: number } };
    volumeClaimTemplates?: Array<{ metadata?: { name?: string; annotations?: Record<string, string> } }>;
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
  };
}

/** A Pod as the cache keeps it (controller/cache.ts podSummary). */
export interface TerminatedState {
  exitCode?: number;
  reason?: string;
  message?: string;
}

/** A container's status as far as the pod cache keeps it: only of one that waits or terminated. */
export interface ContainerStatus {
  name: string;
  restartCount?: number;
  state?: { waiting?: { reason?: string; message?: string }; terminated?: TerminatedState; running?: unknown };
  lastState?: { terminated?: TerminatedState };
}

export interface LivePod extends LiveObject {
  spec?: { schedulingGates?: SchedulingGate[]; nodeName?: string };
  status?: {
    phase?: string;
    /** reason and message only of a False condition (the cache drops the rest). */
    conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }>;
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}

export interface LiveConfigMap extends LiveObject {
  data?: Record<string, string>;
}

/** A TikvCluster as the API returns it: not validated yet. */
export interface TikvClusterObject extends LiveObject {
  spec?: unknown;
  status?: TikvClusterStatus;
}

/** The owned kinds the reconciler reads from the caches, by kind. */
export interface OwnedKinds {
  StatefulSet: LiveStatefulSet;
  ConfigMap: LiveConfigMap;
  Service: LiveObject;
}

export type OwnedKind = keyof OwnedKinds;

/** spec.replicas, defaulted as the apiserver does; undefined when there is no StatefulSet. */
export const replicasOf = (sts: LiveStatefulSet | undefined) => (sts ? (sts.spec?.replicas ?? 1) : undefined);

/** The ordinal of a StatefulSet pod name (`<sts>-<n>`). */
export function ordinalOfName(name: string): number | undefined {
  const n = Number(name.slice(name.lastIndexOf('-') + 1));
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** Where `gate` sits in a pod's (or template's) spec.schedulingGates; -1 when it has none. */
export const gateIndex = (pod: { spec?: { schedulingGates?: SchedulingGate[] } } | undefined, gate: string) =>
  (pod?.spec?.schedulingGates ?? []).findIndex((g) => g.name === gate);

export const hasGate = (pod: { spec?: { schedulingGates?: SchedulingGate[] } } | undefined, gate: string) => gateIndex(pod, gate) >= 0;
