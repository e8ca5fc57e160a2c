// Direct API reads and the one delete the operator makes: a leftover PVC before a
// scale-out reuses its ordinal. No informer: PVCs are only looked at while a scale-out is
// planned, which is rare, so a GET by name is cheaper than caching every PVC.
import type { KubeClient } from '../runtime/kube-http.js';
import { KubeApiError, kubeJSON, kubeRequest } from './raw.js';
import { resourcePath } from './resources.js';

export interface VolumeClaim {
  name: string;
  uid?: string;
  /** Deletion requested; the pvc-protection finalizer holds it while a pod still uses it. */
  deleting: boolean;
}

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
}

interface ObjectMeta {
  metadata?: { name?: string; uid?: string; deletionTimestamp?: string };
  spec?: { replicas?: number };
}

export class KubeClaims implements ClaimAPI {
  constructor(private readonly kc: KubeClient) {}

  async getClaim(namespace: string, name: string): Promise<VolumeClaim | undefined> {
    const pvc = await this.getOrUndefined(resourcePath('PersistentVolumeClaim', namespace, name));
    if (!pvc) return undefined;
    return { name, ...(pvc.metadata?.uid ? { uid: pvc.metadata.uid } : {}), deleting: !!pvc.metadata?.deletionTimestamp };
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
