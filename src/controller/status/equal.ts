// Change detection: whether a status says anything new, so a cluster at rest is not
// re-patched on every poll.
import type { TikvClusterStatus } from '../../api/v1alpha1.js';
import { compareIds } from '../pd/reads.js';

export interface StatusEqualOptions {
  /**
   * Ignore per-store values that move with every heartbeat while nothing is wrong
   * (lastHeartbeatTime, leaderCount, regionCount, available), so a cluster at rest is
   * not re-patched on every poll.
   */
  ignoreVolatile?: boolean;
}

const VOLATILE_STORE_FIELDS = ['lastHeartbeatTime', 'leaderCount', 'regionCount', 'available'] as const;

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k, canonical(v)] as const);
    return Object.fromEntries(entries);
  }
  return value;
}

const byKey =
  <T>(key: (t: T) => string, cmp: (a: string, b: string) => number = (a, b) => (a < b ? -1 : a > b ? 1 : 0)) =>
  (a: T, b: T) =>
    cmp(key(a), key(b));

/**
 * A canonical form of a status: keys sorted, undefined dropped, list-maps (conditions by
 * type, members by name, stores by id) sorted by their key. Equal statuses serialize equally.
 */
export function normalizeStatus(status: TikvClusterStatus | undefined, options: StatusEqualOptions = {}): unknown {
  if (!status) return {};
  const { conditions, pd, tikv, ...rest } = status;
  return canonical({
    ...rest,
    conditions: conditions && [...conditions].sort(byKey((c) => c.type)),
    pd: pd && { ...pd, members: pd.members && [...pd.members].sort(byKey((m) => m.name)) },
    tikv: tikv && {
      ...tikv,
      stores:
        tikv.stores &&
        [...tikv.stores]
          .sort(byKey((x) => x.id, compareIds))
          .map((x) => (options.ignoreVolatile ? omit(x, VOLATILE_STORE_FIELDS) : x)),
    },
  });
}

function omit<T extends object>(o: T, keys: readonly string[]): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k))) as Partial<T>;
}

/** Whether two statuses say the same thing, regardless of key and list order. */
export function statusEqual(a: TikvClusterStatus | undefined, b: TikvClusterStatus | undefined, options: StatusEqualOptions = {}): boolean {
  return JSON.stringify(normalizeStatus(a, options)) === JSON.stringify(normalizeStatus(b, options));
}
