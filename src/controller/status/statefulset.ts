// What a StatefulSet's own status says about its rollout, as the conditions read it.
import type { LiveStatefulSet } from '../kube/objects.js';

export interface StatefulSetObservation {
  /** spec.replicas */
  specReplicas: number;
  /** status.replicas: pods that exist. */
  replicas: number;
  readyReplicas: number;
  updatedReplicas: number;
  currentRevision?: string;
  updateRevision?: string;
  generation?: number;
  observedGeneration?: number;
}

/**
 * The image every pod of the StatefulSet runs: its template's, once the controller has seen
 * the latest spec and every pod is of the latest revision; undefined while a roll is under way.
 */
export function runningImage(sts: LiveStatefulSet | undefined): string | undefined {
  const o = observeStatefulSet(sts);
  if (!o || o.replicas === 0) return undefined;
  if (o.generation !== undefined && (o.observedGeneration === undefined || o.observedGeneration < o.generation)) return undefined;
  if (o.currentRevision !== o.updateRevision || o.updatedReplicas < o.replicas) return undefined;
  return sts?.spec?.template?.spec?.containers?.[0]?.image;
}

/** The tag of an image reference (`pingcap/tikv:v8.5.5` -> `v8.5.5`); the whole reference when it has none (a digest). */
export function imageVersion(image: string): string {
  if (image.includes('@')) return image;
  const last = image.slice(image.lastIndexOf('/') + 1);
  const i = last.lastIndexOf(':');
  return i >= 0 ? last.slice(i + 1) : image;
}

/** status.version: what both StatefulSets run, or `prev` while either is rolling. */
export function runningVersion(pd: LiveStatefulSet | undefined, tikv: LiveStatefulSet | undefined, prev: string | undefined): string | undefined {
  const p = runningImage(pd);
  const t = runningImage(tikv);
  if (!p) return prev;
  // Before TiKV is created, PD is all that runs.
  if (!tikv) return imageVersion(p);
  if (!t) return prev;
  const [pv, tv] = [imageVersion(p), imageVersion(t)];
  return pv === tv ? pv : `${pv} (PD), ${tv} (TiKV)`;
}

export function observeStatefulSet(sts: LiveStatefulSet | undefined): StatefulSetObservation | undefined {
  if (!sts) return undefined;
  const st = sts.status;
  return {
    specReplicas: sts.spec?.replicas ?? 1,
    replicas: st?.replicas ?? 0,
    readyReplicas: st?.readyReplicas ?? 0,
    updatedReplicas: st?.updatedReplicas ?? 0,
    ...(st?.currentRevision ? { currentRevision: st.currentRevision } : {}),
    ...(st?.updateRevision ? { updateRevision: st.updateRevision } : {}),
    ...(sts.metadata?.generation !== undefined ? { generation: sts.metadata.generation } : {}),
    ...(st?.observedGeneration !== undefined ? { observedGeneration: st.observedGeneration } : {}),
  };
}
