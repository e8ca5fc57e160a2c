// Pod reads and writes of the admission fence (charts/admission.ts): fresh GETs of a pod
// and of its StatefulSet before a scale-in relies on "the pod never ran", removing the
// gate of a pod the operator admits, and deleting one incarnation of a pod that was
// admitted but never registered, so that it cannot register while it is removed.
import type { KubeClient } from '../runtime/kube-http.js';
import { hasGate, type LivePod, type LiveStatefulSet } from './objects.js';
import { KubeApiError, kubeJSON, kubeRequest } from './raw.js';
import { resourcePath } from './resources.js';

/** One incarnation of a pod, as a fresh GET shows it. */
export interface PodIncarnation {
  uid: string;
  /** Still carries the admission gate: never scheduled, so it never ran. */
  gated: boolean;
  /** deletionTimestamp set: its processes may still run until it is gone. */
  deleting: boolean;
}

export interface PodAPI {
  /** GET by name; undefined when there is none. */
  getPod(namespace: string, name: string, gate: string): Promise<PodIncarnation | undefined>;
  /**
   * Removes the gate at `index` of exactly this incarnation (uid). 'changed' when the pod is
   * gone, re-created or no longer has the gate there (the next reconcile sees it as it is).
   */
  admitPod(namespace: string, name: string, uid: string, gate: string, index: number): Promise<'admitted' | 'changed'>;
  /** DELETE with a uid precondition; absent, or re-created under a new uid, counts as done (that incarnation is gone). */
  deletePod(namespace: string, name: string, uid: string): Promise<void>;
  /** A StatefulSet read from the API server, not the cache. */
  getStatefulSet(namespace: string, name: string): Promise<LiveStatefulSet | undefined>;
  /** A whole Pod read from the API server (the config-check pod, which no cache holds). */
  readPod(namespace: string, name: string): Promise<LivePod | undefined>;
}

interface PodObject {
  metadata?: { uid?: string; deletionTimestamp?: string };
  spec?: { schedulingGates?: Array<{ name?: string }> };
}

export class KubePods implements PodAPI {
  constructor(private readonly kc: KubeClient) {}

  async getPod(namespace: string, name: string, gate: string): Promise<PodIncarnation | undefined> {
    const pod = await this.getOrUndefined<PodObject>(resourcePath('Pod', namespace, name));
    if (!pod?.metadata?.uid) return undefined;
    return { uid: pod.metadata.uid, gated: hasGate(pod, gate), deleting: !!pod.metadata.deletionTimestamp };
  }

  async admitPod(namespace: string, name: string, uid: string, gate: string, index: number): Promise<'admitted' | 'changed'> {
    const path = resourcePath('Pod', namespace, name);
    // JSON patch tests: this incarnation, and our gate at that index (a gate can only be
    // removed, so a failed test means someone else's change came first).
    const body = [
      { op: 'test', path: '/metadata/uid', value: uid },
      { op: 'test', path: `/spec/schedulingGates/${index}/name`, value: gate },
      { op: 'remove', path: `/spec/schedulingGates/${index}` },
    ];
    const res = await kubeRequest(this.kc, { method: 'PATCH', path, body, contentType: 'application/json-patch+json' });
    if (res.status >= 200 && res.status < 300) return 'admitted';
    if (res.status === 404 || res.status === 422 || res.status === 409) return 'changed';
    throw new KubeApiError(res.status, 'PATCH', path, res.body);
  }

  async deletePod(namespace: string, name: string, uid: string): Promise<void> {
    const path = resourcePath('Pod', namespace, name);
    const body = { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid } };
    const res = await kubeRequest(this.kc, { method: 'DELETE', path, body });
    if (res.status === 404 || res.status === 409 || (res.status >= 200 && res.status < 300)) return;
    throw new KubeApiError(res.status, 'DELETE', path, res.body);
  }

  getStatefulSet(namespace: string, name: string): Promise<LiveStatefulSet | undefined> {
    return this.getOrUndefined<LiveStatefulSet>(resourcePath('StatefulSet', namespace, name));
  }

  readPod(namespace: string, name: string): Promise<LivePod | undefined> {
    return this.getOrUndefined<LivePod>(resourcePath('Pod', namespace, name));
  }

  private async getOrUndefined<T>(path: string): Promise<T | undefined> {
    try {
      return await kubeJSON<T>(this.kc, { method: 'GET', path });
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) return undefined;
      throw e;
    }
  }
}
