// Server-side apply under one field manager, skipping objects whose live state already
// contains everything we would send: a cluster at rest then causes zero API writes per
// resync (SSA itself would be a no-op in etcd, but it is still a PATCH request).
import type { KubeConfig } from '@kubernetes/client-node';
import { QUANTITY_PATTERN } from '../../api/v1alpha1.js';
import { parseQuantity } from '../../api/quantity.js';
import type { KubeObject } from '../../charts/types.js';
import { kubeJSON } from './raw.js';
import { resourcePath } from './resources.js';

export const FIELD_MANAGER = 'tikv-operator';

const QUANTITY = new RegExp(QUANTITY_PATTERN);

/** The apiserver canonicalizes quantities (`1000m` -> `1`), so compare them by value. */
function sameScalar(live: unknown, desired: unknown): boolean {
  if (live === desired) return true;
  if (typeof desired !== 'string' && typeof desired !== 'number') return false;
  if (typeof live !== 'string' && typeof live !== 'number') return false;
  const looksLikeQuantity = (v: string | number) => typeof v === 'number' || QUANTITY.test(v);
  if (!looksLikeQuantity(live) || !looksLikeQuantity(desired)) return false;
  try {
    return parseQuantity(live) === parseQuantity(desired);
  } catch {
    return false;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isEmpty = (v: unknown) => (Array.isArray(v) ? v.length === 0 : isObject(v) && Object.keys(v).length === 0);

/**
 * Whether `live` already holds every field of `desired` with an equal value. Lists whose
 * items carry a `name` (containers, ports, env, volumes) are matched by name, others by
 * position; extra live items and fields (defaults, other managers) are ignored.
 */
export function contains(live: unknown, desired: unknown): boolean {
  // The apiserver drops empty lists and maps (omitempty), so `[]`/`{}` match an absent field.
  if (live === undefined && isEmpty(desired)) return true;
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length < desired.length) return false;
    const byName = desired.every((d) => isObject(d) && typeof d.name === 'string');
    return desired.every((d, i) => {
      const match = byName ? live.find((l) => isObject(l) && l.name === (d as { name: string }).name) : live[i];
      return contains(match, d);
    });
  }
  if (isObject(desired)) {
    if (!isObject(live)) return false;
    return Object.entries(desired).every(([k, v]) => (v === undefined ? true : contains(live[k], v)));
  }
  return sameScalar(live, desired);
}

export type ApplyResult = 'created' | 'configured' | 'unchanged';

export class Applier {
  constructor(
    private readonly kc: KubeConfig,
    private readonly fieldManager = FIELD_MANAGER,
  ) {}

  /** Applies `desired` unless `live` (from a cache) already matches it. */
  async apply(desired: KubeObject, live: KubeObject | undefined): Promise<ApplyResult> {
    if (live && contains(live, desired)) return 'unchanged';
    const namespace = desired.metadata.namespace;
    if (!namespace) throw new Error(`${desired.kind}/${desired.metadata.name} has no namespace`);
    const path = resourcePath(desired.kind, namespace, desired.metadata.name);
    const query = `?fieldManager=${encodeURIComponent(this.fieldManager)}&force=true&fieldValidation=Strict`;
    await kubeJSON(this.kc, { method: 'PATCH', path: path + query, body: desired, contentType: 'application/apply-patch+yaml' });
    return live ? 'configured' : 'created';
  }
}
