// The words of the conditions: how problems are listed, how a store's or a member's trouble
// is described (with what to check), so that every condition says it the same way.
import type { PDMemberStatus, TiKVStoreStatus } from '../../api/v1alpha1.js';
import { rfc3339 } from './time.js';

export const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
const MAX_LISTED = 8;

/** One item reads as a clause; several become sentences, since items use ";" themselves. */
export function listProblems(items: string[]): string {
  const shown = items.slice(0, MAX_LISTED);
  if (items.length > MAX_LISTED) shown.push(`and ${items.length - MAX_LISTED} more`);
  if (shown.length === 1) return shown[0] ?? '';
  return shown.map((i) => `${i.charAt(0).toUpperCase()}${i.slice(1)}.`).join(' ');
}

/** "summary: item" for one item, "Summary. Item one. Item two." for several. */
export function withDetails(summary: string, items: string[]): string {
  if (items.length === 0) return summary;
  if (items.length === 1) return `${summary}: ${items[0]}`;
  return listProblems([summary, ...items]);
}

const storeLabel = (s: TiKVStoreStatus) => `store ${s.id} (${s.podName ?? s.address})`;
const podHint = (s: TiKVStoreStatus) => `check the pod ${s.podName ?? `at ${s.address}`}`;

/**
 * When PD last heard from the store, as a time, never an age: an age ticks on every poll and
 * would rewrite status while nothing changes; the time of a store that stopped stays put.
 */
function lastHeard(s: TiKVStoreStatus): string {
  if (!s.lastHeartbeatTime) return 'PD never received a heartbeat from it';
  const t = Date.parse(s.lastHeartbeatTime);
  return `PD's last heartbeat from it was at ${Number.isNaN(t) ? s.lastHeartbeatTime : rfc3339(new Date(t))}`;
}

/** `up`: how many stores are Up, so a Down store's message does not promise replicas PD has nowhere to put. */
export function describeStoreProblem(s: TiKVStoreStatus, up: number): string {
  switch (s.state) {
    case 'Disconnected':
      return `${storeLabel(s)} is Disconnected: ${lastHeard(s)}; ${podHint(s)}`;
    case 'Down': {
      const replicas = up > 0 ? 'PD re-creates its Region replicas on the Up stores where it can' : 'no store is Up, so PD cannot re-create its Region replicas elsewhere';
      return `${storeLabel(s)} is Down: ${lastHeard(s)}; ${replicas}; ${podHint(s)}`;
    }
    case 'Offline':
      return describeOffline(s);
    default:
      return `${storeLabel(s)} is ${s.state}; ${podHint(s)}`;
  }
}

export const describeOffline = (s: TiKVStoreStatus) => `${storeLabel(s)} is Offline: PD is moving its Regions away before removing it`;
export const describeUnhealthyMember = (m: PDMemberStatus) => `PD member ${m.name} is unhealthy; check its pod and logs`;

export const ACTIVE = (s: TiKVStoreStatus) => s.state !== 'Tombstone';
export const IS_UP = (s: TiKVStoreStatus) => s.state === 'Up';
/** Offline is a store being removed on purpose (scale-in): progress, not degradation. */
export const IS_FAULTY = (s: TiKVStoreStatus) => s.state !== 'Up' && s.state !== 'Tombstone' && s.state !== 'Offline';
