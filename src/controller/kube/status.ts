// Status writes: a JSON merge patch on the status subresource, sent only when the status
// changed, with explicit nulls so fields that disappeared (a leader, a clusterID) go too.
import type { KubeClient } from '../runtime/kube-http.js';
import type { TikvClusterStatus } from '../../api/v1alpha1.js';
import { KIND } from '../../api/v1alpha1.js';
import { kubeJSON } from './raw.js';
import { resourcePath } from './resources.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7386 merge patch turning `from` into `to`; undefined when they are equal. */
export function mergePatch(from: unknown, to: unknown): unknown {
  if (!isObject(from) || !isObject(to)) return JSON.stringify(from) === JSON.stringify(to) ? undefined : (to ?? null);
  const patch: Record<string, unknown> = {};
  for (const k of new Set([...Object.keys(from), ...Object.keys(to)])) {
    if (!(k in to) || to[k] === undefined) {
      if (from[k] !== undefined) patch[k] = null;
      continue;
    }
    const p = mergePatch(from[k], to[k]);
    if (p !== undefined) patch[k] = p;
  }
  return Object.keys(patch).length ? patch : undefined;
}

/** Patches `status` of a TikvCluster if it differs from `live`; returns whether it wrote. */
export async function writeStatus(
  kc: KubeClient,
  key: { namespace: string; name: string },
  live: TikvClusterStatus | undefined,
  desired: TikvClusterStatus,
): Promise<boolean> {
  const patch = mergePatch(live ?? {}, desired);
  if (patch === undefined) return false;
  await kubeJSON(kc, {
    method: 'PATCH',
    path: resourcePath(KIND, key.namespace, key.name, 'status'),
    body: { status: patch },
    contentType: 'application/merge-patch+json',
  });
  return true;
}
