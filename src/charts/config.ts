// Rendering of the PD and TiKV config files from spec.*.config.
import { createHash } from 'node:crypto';
import { stringify as tomlStringify } from 'smol-toml';
import { parseQuantity, type PDSpec, type TiKVSpec, toMiB } from '../api/index.js';

type Tree = Record<string, unknown>;

const BLOCK_CACHE_SHARE = 0.3;
const FALLBACK_BLOCK_CACHE = '256MiB';

const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Merges `over` onto `under`, recursing into tables; values in `over` win, arrays are replaced whole. */
export function deepMerge(under: Tree, over: Tree): Tree {
  const out: Tree = { ...under };
  for (const [k, v] of Object.entries(over)) {
    const base = out[k];
    out[k] = isTree(base) && isTree(v) ? deepMerge(base, v) : v;
  }
  return out;
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

/** A quantity from a validated spec as a number; names the field if it still cannot be parsed. */
function quantity(value: string | number, path: string): number {
  try {
    return parseQuantity(value);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

/** `storage.block-cache.capacity`: a share of the memory limit, so several TiKVs per node do not OOM. */
export function blockCacheCapacity(tikv: TiKVSpec): string {
  const { limits, requests } = tikv.resources;
  if (limits?.memory !== undefined) {
    return toMiB(quantity(limits.memory, 'spec.tikv.resources.limits.memory') * BLOCK_CACHE_SHARE);
  }
  if (requests?.memory !== undefined) {
    return toMiB(quantity(requests.memory, 'spec.tikv.resources.requests.memory') * BLOCK_CACHE_SHARE);
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
    raftstore: { capacity: toMiB(quantity(tikv.storage.size, 'spec.tikv.storage.size')) },
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
