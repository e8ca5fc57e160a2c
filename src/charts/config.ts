// Rendering of the PD and TiKV config files from spec.*.config.
import { createHash } from 'node:crypto';
import { stringify as tomlStringify } from 'smol-toml';
import { ceilInteger, type PDSpec, type TiKVSpec } from '../api/index.js';
import { type QuantityValue, quantityOf } from '../api/rules.js';

type Tree = Record<string, unknown>;

/** The block cache gets 3/10 of the memory limit, computed exactly in whole bytes. */
const BLOCK_CACHE_SHARE = { num: 3n, den: 10n };
const MiB = 1n << 20n;
const FALLBACK_BLOCK_CACHE = '256MiB';

const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Merges `over` onto `under`, recursing into tables; values in `over` win, arrays are replaced
 * whole. Keys are defined, not assigned, so a user's `__proto__` key stays a key.
 */
export function deepMerge(under: Tree, over: Tree): Tree {
  const out = new Map(Object.entries(under));
  for (const [k, v] of Object.entries(over)) {
    const base = out.get(k);
    out.set(k, isTree(base) && isTree(v) ? deepMerge(base, v) : v);
  }
  return Object.fromEntries(out);
}

// Keys are sorted so the same config renders (and hashes) the same whether it came
// from a YAML file in the user's order or from the apiserver, which returns object keys
// sorted.
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (!isTree(v)) return v;
  return Object.fromEntries(
    Object.keys(v)
      .sort()
      .map((k) => [k, sortKeys(v[k])]),
  );
}

function renderToml(tree: Tree, source: string): string {
  const body = tomlStringify(sortKeys(tree) as Tree).trim();
  return `# Rendered by tikv-operator from ${source}.\n${body ? `${body}\n` : ''}`;
}

/** Bytes of a quantity from a validated spec, rounded up to a whole byte; names the field if it is not a quantity. */
function bytes(value: QuantityValue, path: string): bigint {
  const q = quantityOf(value);
  if (!q) throw new Error(`${path}: ${JSON.stringify(value)} is not a Kubernetes quantity`);
  return ceilInteger(q);
}

/** Whole MiB as TiKV and PD write sizes (e.g. `614MiB`), at least 1. */
const toMiB = (n: bigint) => `${n >= MiB ? n / MiB : 1n}MiB`;

/** `storage.block-cache.capacity`: a share of the memory limit, so several TiKVs per node do not OOM. */
export function blockCacheCapacity(tikv: TiKVSpec): string {
  const { limits, requests } = tikv.resources;
  if (limits?.memory !== undefined) {
    return toMiB((bytes(limits.memory, 'spec.tikv.resources.limits.memory') * BLOCK_CACHE_SHARE.num) / BLOCK_CACHE_SHARE.den);
  }
  if (requests?.memory !== undefined) {
    return toMiB((bytes(requests.memory, 'spec.tikv.resources.requests.memory') * BLOCK_CACHE_SHARE.num) / BLOCK_CACHE_SHARE.den);
  }
  return FALLBACK_BLOCK_CACHE;
}

/**
 * Settings that let TiKV run in a small kind node; spec.tikv.config overrides any of them.
 * `raftstore.capacity` makes PD see the volume's size instead of the host disk's.
 */
export function tikvDefaults(tikv: TiKVSpec): Tree {
  return {
    rocksdb: { 'max-open-files': 256 },
    raftdb: { 'max-open-files': 256 },
    storage: { 'reserve-space': '0MB', 'block-cache': { capacity: blockCacheCapacity(tikv) } },
    raftstore: { capacity: toMiB(bytes(tikv.storage.size, 'spec.tikv.storage.size')) },
  };
}

export const renderPdToml = (pd: PDSpec): string => renderToml(pd.config ?? {}, 'spec.pd.config');

export const renderTikvToml = (tikv: TiKVSpec): string =>
  renderToml(deepMerge(tikvDefaults(tikv), tikv.config ?? {}), 'spec.tikv.config and kind-friendly defaults');

/** A short, stable digest of config file contents, for the pod-template annotation. */
export function configHash(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 16);
}
