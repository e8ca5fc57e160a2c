// Which status transitions a person would want in `kubectl describe`: one Event each, from
// the status before a write and the status written. Pure: the status step emits them.
import type { TikvClusterStatus } from '../../api/v1alpha1.js';
import type { EventType } from '../kube/events.js';

export interface TransitionEvent {
  type: EventType;
  reason: string;
  message: string;
}

export function transitionEvents(prev: TikvClusterStatus | undefined, next: TikvClusterStatus): TransitionEvent[] {
  const out: TransitionEvent[] = [];
  const emit = (type: EventType, reason: string, message: string) => out.push({ type, reason, message });
  // While PD forms, an unreachable PD and unhealthy members are expected, not news.
  const formed = prev?.pd?.bootstrapped === true;
  const before = new Map((prev?.conditions ?? []).map((c) => [c.type, c]));
  for (const c of next.conditions ?? []) {
    const old = before.get(c.type);
    // InvalidSpec is a change of reason (Ready may have been False already) and gets
    // exactly one event, not a second generic "no longer ready" one.
    if (c.type === 'Ready' && c.reason === 'InvalidSpec') {
      if (old?.reason !== 'InvalidSpec') emit('Warning', 'InvalidSpec', c.message);
      continue;
    }
    // Likewise a blocked scale-in: one Event with the whole story (Progressing's words), since
    // nothing moves until someone acts.
    if (c.type === 'Ready' && c.reason === 'ScaleInBlocked') {
      if (old?.reason !== 'ScaleInBlocked') emit('Warning', 'ScaleInBlocked', next.conditions?.find((p) => p.type === 'Progressing')?.message ?? c.message);
      continue;
    }
    if (old?.status === c.status) continue;
    if (c.type === 'Ready' && c.status === 'True') emit('Normal', 'ClusterReady', c.message);
    if (c.type === 'Ready' && c.status === 'False' && old?.status === 'True') emit(routine(next, c.reason) ? 'Normal' : 'Warning', c.reason, c.message);
    if (c.type === 'PDAvailable' && c.status === 'Unknown' && formed) emit('Warning', c.reason, c.message);
    if (c.type === 'Degraded' && c.status === 'True' && formed) emit('Warning', c.reason, c.message);
  }
  if (next.pd?.bootstrapped && !prev?.pd?.bootstrapped) emit('Normal', 'PDBootstrapped', 'the initial PD members formed the cluster');
  const oldStores = new Map((prev?.tikv?.stores ?? []).map((s) => [s.id, s.state]));
  for (const s of next.tikv?.stores ?? []) {
    const was = oldStores.get(s.id);
    if (was === s.state) continue;
    // Offline is a removal under way (our own scale-in), reported like its end, Tombstone.
    const type = s.state === 'Up' || s.state === 'Offline' || s.state === 'Tombstone' ? 'Normal' : 'Warning';
    emit(type, 'StoreStateChanged', `store ${s.id} (${s.podName ?? s.address}) is ${s.state}${was ? ` (was ${was})` : ''}`);
  }
  return out;
}

/** Why Ready goes while a change the user asked for (a scale, a roll) is under way. */
const ROUTINE_REASONS = new Set(['StoresNotUp', 'RollingOut', 'PDMembersNotReady']);

/**
 * Whether losing Ready is routine: the cluster is progressing and nothing is degraded, so a
 * scale or a roll is under way. Normal, not Warning, so that a Warning still means trouble.
 */
function routine(next: TikvClusterStatus, reason: string): boolean {
  const status = (type: string) => next.conditions?.find((c) => c.type === type)?.status;
  return ROUTINE_REASONS.has(reason) && status('Progressing') === 'True' && status('Degraded') !== 'True';
}
