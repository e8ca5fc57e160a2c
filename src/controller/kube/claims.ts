// Direct API reads and the one delete the operator makes: a leftover PVC before a
// scale-out reuses its ordinal. No informer: PVCs are only looked at while a scale-out is
// planned, a pod is admitted or a store or member is removed, which is rare, so a GET by
// name is cheaper than caching every PVC. The annotations the operator writes on PVCs
// (what it knows about their data) are described in charts/admission.ts.
import type { KubeClient } from '../runtime/kube-http.js';
import { CLAIM_ADMISSION_ANNOTATION, CLAIM_ADMITTED, CLAIM_CLUSTER_ID_ANNOTATION, CLAIM_PENDING } from '../../charts/admission.js';
import { KubeApiError, kubeJSON, kubeRequest } from './raw.js';
import { resourcePath } from './resources.js';

export interface VolumeClaim {
  name: string;
  uid?: string;
  /** Deletion requested; the pvc-protection finalizer holds it while a pod still uses it. */
  deleting: boolean;
  /** Only when the PVC has any. */
  annotations?: Record<string, string>;
}

/** What recording an admission found: the `pending` marker flipped, no marker, or no PVC. */
export type AdmissionRecord = 'recorded' | 'not-pending' | 'missing';

export interface ClaimAPI {
  /** GET by name; undefined when there is none. */
  getClaim(namespace: string, name: string): Promise<VolumeClaim | undefined>;
  /** DELETE, only if it is still the claim that was inspected (uid precondition). Absent counts as done. */
  deleteClaim(namespace: string, claim: VolumeClaim): Promise<void>;
  /**
   * spec.replicas of a StatefulSet read from the API server, not the cache: before deleting
   * a claim, proof that no pod of that ordinal is wanted (a lagging cache could show the
   * old count while the StatefulSet already runs a new pod on the claim).
   */
  liveReplicas(namespace: string, statefulSet: string): Promise<number | undefined>;
  /**
   * Before a pod is admitted onto the PVC: flips `tikv.org/admission: pending` to
   * `admitted` (with the PD cluster ID when given) in one conditional write, so that only
   * the first admission onto an empty volume records a cluster ID. A PVC without the
   * marker is left as it is ('not-pending').
   */
  recordAdmission(namespace: string, name: string, clusterID?: string): Promise<AdmissionRecord>;
  /** Adds annotations, only if it is still the claim that was inspected (uid). */
  annotateClaim(namespace: string, claim: VolumeClaim, annotations: Record<string, string>): Promise<void>;
}

interface ObjectMeta {
  metadata?: { name?: string; uid?: string; deletionTimestamp?: string; annotations?: Record<string, string> };
  spec?: { replicas?: number };
}

export class KubeClaims implements ClaimAPI {
  constructor(private readonly kc: KubeClient) {}

  async getClaim(namespace: string, name: string): Promise<VolumeClaim | undefined> {
    const pvc = await this.getOrUndefined(resourcePath('PersistentVolumeClaim', namespace, name));
    if (!pvc) return undefined;
    const annotations = pvc.metadata?.annotations;
    return {
      name,
      ...(pvc.metadata?.uid ? { uid: pvc.metadata.uid } : {}),
      deleting: !!pvc.metadata?.deletionTimestamp,
      ...(annotations && Object.keys(annotations).length ? { annotations } : {}),
    };
  }

  async recordAdmission(namespace: string, name: string, clusterID?: string): Promise<AdmissionRecord> {
    const path = resourcePath('PersistentVolumeClaim', namespace, name);
    const key = (k: string) => `/metadata/annotations/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    // The test makes the flip atomic: a PVC someone flipped first, or one without the
    // marker, fails it (422) and is left alone.
    const body = [
      { op: 'test', path: key(CLAIM_ADMISSION_ANNOTATION), value: CLAIM_PENDING },
      { op: 'replace', path: key(CLAIM_ADMISSION_ANNOTATION), value: CLAIM_ADMITTED },
      ...(clusterID ? [{ op: 'add', path: key(CLAIM_CLUSTER_ID_ANNOTATION), value: clusterID }] : []),
    ];
    const res = await kubeRequest(this.kc, { method: 'PATCH', path, body, contentType: 'application/json-patch+json' });
    if (res.status >= 200 && res.status < 300) return 'recorded';
    if (res.status === 404) return 'missing';
    if (res.status === 422) return 'not-pending';
    throw new KubeApiError(res.status, 'PATCH', path, res.body);
  }

  async annotateClaim(namespace: string, claim: VolumeClaim, annotations: Record<string, string>): Promise<void> {
    // metadata.uid is immutable: a PVC re-created under the same name refuses the patch.
    const body = { metadata: { ...(claim.uid ? { uid: claim.uid } : {}), annotations } };
    await kubeJSON(this.kc, { method: 'PATCH', path: resourcePath('PersistentVolumeClaim', namespace, claim.name), body, contentType: 'application/merge-patch+json' });
  }

  async deleteClaim(namespace: string, claim: VolumeClaim): Promise<void> {
    const path = resourcePath('PersistentVolumeClaim', namespace, claim.name);
    const body = { apiVersion: 'v1', kind: 'DeleteOptions', ...(claim.uid ? { preconditions: { uid: claim.uid } } : {}) };
    const res = await kubeRequest(this.kc, { method: 'DELETE', path, body });
    if (res.status === 404 || (res.status >= 200 && res.status < 300)) return;
    throw new KubeApiError(res.status, 'DELETE', path, res.body);
  }

  async liveReplicas(namespace: string, statefulSet: string): Promise<number | undefined> {
    const sts = await this.getOrUndefined(resourcePath('StatefulSet', namespace, statefulSet));
    return sts ? (sts.spec?.replicas ?? 1) : undefined;
  }

  private async getOrUndefined(path: string): Promise<ObjectMeta | undefined> {
    try {
      return await kubeJSON<ObjectMeta>(this.kc, { method: 'GET', path });
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) return undefined;
      throw e;
    }
  }
}
