// What the informer caches keep of each object: only what the operator reads, as a
// controller-runtime cache transform does. metadata.managedFields (the server-side apply
// bookkeeping of every field manager, often larger than the object itself) is read by
// nobody here; of a Pod, the reconciler reads only its identity, labels, timestamps, Ready
// condition (rolling updates), scheduling gates (admission) and node, so the rest of the
// spec and the container statuses are dropped. A read of another Pod field needs that
// field kept here first (test/unit/cache.test.ts pins what is kept).
import type { LivePod } from './kube/objects.js';

/** The object without metadata.managedFields (a new object; the input is not changed). */
export function withoutManagedFields<T extends { metadata?: object }>(obj: T): T {
  const meta = obj.metadata;
  if (!meta || !('managedFields' in meta)) return obj;
  const { managedFields: _, ...metadata } = meta;
  return { ...obj, metadata };
}

const POD_METADATA = ['name', 'namespace', 'uid', 'resourceVersion', 'labels', 'ownerReferences', 'creationTimestamp', 'deletionTimestamp'] as const;

/** A Pod as the reconciler reads it: identity, labels, timestamps, gates, node, phase and conditions. */
export function podSummary(pod: LivePod): LivePod {
  const metadata: Record<string, unknown> = {};
  for (const key of POD_METADATA) {
    const value = pod.metadata?.[key];
    if (value !== undefined) metadata[key] = value;
  }
  const spec = pod.spec && {
    ...(pod.spec.schedulingGates ? { schedulingGates: pod.spec.schedulingGates.map(({ name }) => ({ name })) } : {}),
    ...(pod.spec.nodeName !== undefined ? { nodeName: pod.spec.nodeName } : {}),
  };
  const status = pod.status && {
    ...(pod.status.phase !== undefined ? { phase: pod.status.phase } : {}),
    ...(pod.status.conditions ? { conditions: pod.status.conditions.map(({ type, status }) => ({ type, status })) } : {}),
  };
  return {
    ...(pod.apiVersion !== undefined ? { apiVersion: pod.apiVersion } : {}),
    ...(pod.kind !== undefined ? { kind: pod.kind } : {}),
    metadata: { ...metadata, name: pod.metadata.name },
    ...(spec ? { spec } : {}),
    ...(status ? { status } : {}),
  };
}
