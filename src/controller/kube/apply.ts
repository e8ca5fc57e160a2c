// Server-side apply under one field manager, skipping objects whose live state already
// contains everything we would send: a cluster at rest then causes zero API writes per
// resync (SSA itself would be a no-op in etcd, but it is still a PATCH request).
// "Contains" alone cannot see a field the chart stopped sending (a removed nodeSelector or
// env var), which SSA would prune; so every applied object carries a hash of what was
// applied, and a different hash means apply again.
import { createHash } from 'node:crypto';
import { compareQuantities, parseQuantity, resourceListCanonical } from '../../api/quantity.js';
import type { KubeObject } from '../../charts/types.js';
import type { KubeClient } from '../runtime/kube-http.js';
import type { LiveObject, LiveStatefulSet } from './objects.js';
import { kubeJSON } from './raw.js';
import { resourcePath } from './resources.js';

export const FIELD_MANAGER = 'tikv-operator';
export const APPLIED_HASH_ANNOTATION = 'tikv.org/applied-hash';
/** On StatefulSets: hash of the pod template last applied, so a roll can be told from a no-op. */
export const TEMPLATE_HASH_ANNOTATION = 'tikv.org/template-hash';

function canonicalJSON(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJSON).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJSON(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export const contentHash = (v: unknown) => createHash('sha256').update(canonicalJSON(v)).digest('hex').slice(0, 16);

/** `desired` with the hash annotations the Applier writes (they never feed their own hash). */
export function stampHashes(desired: KubeObject): KubeObject {
  const template = (desired.spec as { template?: unknown } | undefined)?.template;
  const annotations = {
    ...(desired.metadata.annotations ?? {}),
    ...(template !== undefined ? { [TEMPLATE_HASH_ANNOTATION]: contentHash(template) } : {}),
  };
  const hashed = { ...desired, metadata: { ...desired.metadata, annotations } };
  return { ...hashed, metadata: { ...hashed.metadata, annotations: { ...annotations, [APPLIED_HASH_ANNOTATION]: contentHash(hashed) } } };
}

/**
 * A quantity in a core/v1 ResourceList: container requests/limits and volumeClaimTemplate
 * storage. Only there does the apiserver rewrite the value (`1.5Gi` -> `1536Mi`, `1000E` ->
 * `1`); anywhere else a different string is a different value.
 */
const RESOURCE_LIST_FIELD = /(^|\.)resources\.(requests|limits)\.[^.[\]]+$/;

/** Whether the live value is what the apiserver stores for `desired`, compared by value. */
function sameQuantity(live: string | number, desired: string | number): boolean {
  try {
    return compareQuantities(parseQuantity(String(live).trim()), parseQuantity(resourceListCanonical(desired))) === 0;
  } catch {
    return false;
  }
}

function sameScalar(live: unknown, desired: unknown, path: string): boolean {
  if (live === desired) return true;
  const scalar = (v: unknown): v is string | number => typeof v === 'string' || typeof v === 'number';
  return scalar(live) && scalar(desired) && RESOURCE_LIST_FIELD.test(path) && sameQuantity(live, desired);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isZero = (v: unknown) =>
  v === 0 || v === false || v === '' || (Array.isArray(v) ? v.length === 0 : isObject(v) && Object.keys(v).length === 0);

/**
 * The first path where `live` does not hold `desired`'s value, or undefined when it holds
 * every field. Lists whose items carry a `name` (containers, ports, env, volumes) are
 * matched by name, others by position; extra live items and fields (defaults, other
 * managers) are ignored.
 */
export function difference(live: unknown, desired: unknown, path = ''): string | undefined {
  // Live objects come back defaulted, and the apiserver omits empty lists, maps and zero
  // scalars (omitempty), so an absent live field matches `[]`, `{}`, 0, false and ''.
  if (live === undefined && isZero(desired)) return undefined;
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length < desired.length) return `${path} (list of ${desired.length})`;
    const byName = desired.every((d) => isObject(d) && typeof d.name === 'string');
    for (const [i, d] of desired.entries()) {
      const name = byName ? (d as { name: string }).name : undefined;
      const match = name !== undefined ? live.find((l) => isObject(l) && l.name === name) : live[i];
      const diff = difference(match, d, `${path}[${name ?? i}]`);
      if (diff) return diff;
    }
    return undefined;
  }
  if (isObject(desired)) {
    if (!isObject(live)) return path || '(root)';
    for (const [k, v] of Object.entries(desired)) {
      if (v === undefined) continue;
      const diff = difference(live[k], v, path ? `${path}.${k}` : k);
      if (diff) return diff;
    }
    return undefined;
  }
  return sameScalar(live, desired, path) ? undefined : `${path}: ${JSON.stringify(live)} != ${JSON.stringify(desired)}`;
}

/** Whether `live` already holds every field of `desired` with an equal value (see difference). */
export const contains = (live: unknown, desired: unknown): boolean => difference(live, desired) === undefined;

export type ApplyResult = 'created' | 'configured' | 'unchanged';

type ClaimTemplates = { spec?: { volumeClaimTemplates?: Array<{ metadata?: { name?: string; annotations?: Record<string, string> } }> } };

/**
 * A StatefulSet's volumeClaimTemplates cannot change once it exists (the apiserver refuses
 * the whole update): an existing StatefulSet keeps the claim-template annotations it was
 * created with, so a chart that adds one (the retention note) changes new clusters only
 * and never blocks an older one.
 */
export function withCreatedClaimTemplates(desired: KubeObject, live: (LiveObject & Pick<LiveStatefulSet, 'spec'>) | undefined): KubeObject {
  const want = (desired as ClaimTemplates).spec?.volumeClaimTemplates;
  const have = live?.spec?.volumeClaimTemplates;
  if (desired.kind !== 'StatefulSet' || !want || !have) return desired;
  const templates = want.map((t) => {
    const created = have.find((h) => h.metadata?.name === t.metadata?.name);
    if (!created) return t;
    const { annotations: _drop, ...metadata } = t.metadata ?? {};
    return { ...t, metadata: created.metadata?.annotations ? { ...metadata, annotations: created.metadata.annotations } : metadata };
  });
  return { ...desired, spec: { ...(desired.spec as object), volumeClaimTemplates: templates } } as KubeObject;
}

export class Applier {
  constructor(
    private readonly kc: KubeClient,
    private readonly fieldManager = FIELD_MANAGER,
  ) {}

  /** Applies `desired` unless `live` (from a cache) was applied from the same and still holds it. */
  async apply(unstamped: KubeObject, live: LiveObject | undefined): Promise<ApplyResult> {
    const desired = stampHashes(withCreatedClaimTemplates(unstamped, live));
    // List items carry no apiVersion/kind (only watch events do); the path already names them.
    const { apiVersion: _v, kind: _k, ...fields } = desired;
    if (live && contains(live, fields)) return 'unchanged';
    const namespace = desired.metadata.namespace;
    if (!namespace) throw new Error(`${desired.kind}/${desired.metadata.name} has no namespace`);
    const path = resourcePath(desired.kind, namespace, desired.metadata.name);
    const query = `?fieldManager=${encodeURIComponent(this.fieldManager)}&force=true&fieldValidation=Strict`;
    await kubeJSON(this.kc, { method: 'PATCH', path: path + query, body: desired, contentType: 'application/apply-patch+yaml' });
    return live ? 'configured' : 'created';
  }
}
