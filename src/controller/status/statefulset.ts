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
