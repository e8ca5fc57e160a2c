// The one-word phase of a TikvCluster, read from its conditions.
import type { Condition, TikvClusterStatus } from '../../api/v1alpha1.js';
import type { ConditionType } from './conditions.js';

export type Phase = NonNullable<TikvClusterStatus['phase']>;

const isTrue = (conditions: readonly Condition[], type: ConditionType) => conditions.find((c) => c.type === type)?.status === 'True';

/**
 * One-word summary. `prevPhase` keeps a cluster that has never been Running in
 * Pending/Bootstrapping instead of Updating while its first pods come up.
 */
export function derivePhase(conditions: readonly Condition[], paused: boolean, invalid: boolean, prevPhase?: Phase): Phase {
  if (invalid) return 'Invalid';
  if (paused) return 'Paused';
  if (isTrue(conditions, 'Ready')) return 'Running';
  // Not Updating: nothing moves until the user acts (Ready's message says how).
  if (conditions.find((c) => c.type === 'Ready')?.reason === 'ScaleInBlocked') return 'Blocked';
  const progressingReason = conditions.find((c) => c.type === 'Progressing' && c.status === 'True')?.reason;
  const neverRan = prevPhase === undefined || prevPhase === 'Pending' || prevPhase === 'Bootstrapping';
  // while a cluster forms, members are unhealthy and stores missing as a matter of course
  if (progressingReason && neverRan) {
    return progressingReason === 'Creating' && prevPhase !== 'Bootstrapping' ? 'Pending' : 'Bootstrapping';
  }
  if (isTrue(conditions, 'Degraded')) return 'Degraded';
  return progressingReason ? 'Updating' : 'Degraded';
}
