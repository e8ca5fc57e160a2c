// status.pd and status.tikv from PD's views: what PD said, with transition times carried
// over from the previous status (a time moves only when a member's health or a store's
// state changes), and the controller-owned fields (replicas, readiness) left as they were.
import type { TikvClusterStatus } from '../../api/v1alpha1.js';
import type { MembersView, StoresView } from '../pd/view.js';
import { rfc3339 } from './time.js';

export type PDStatus = NonNullable<TikvClusterStatus['pd']>;
export type TiKVStatus = NonNullable<TikvClusterStatus['tikv']>;

type Observed<V> = Extract<V, { kind: 'Observed' }>;

/** status.pd over `prev`: members and leader from PD; replicas, readyReplicas and bootstrapped carried over. */
export function derivePDStatus(prev: PDStatus | undefined, view: Observed<MembersView>, now: Date): PDStatus {
  const before = new Map((prev?.members ?? []).map((m) => [m.name, m]));
  const members = view.members.map((m) => {
    const was = before.get(m.name);
    const unchanged = was && was.id === m.id && was.health === m.health && was.lastTransitionTime;
    return { ...m, lastTransitionTime: unchanged ? was.lastTransitionTime : rfc3339(now) };
  });
  const { leader: _oldLeader, members: _oldMembers, ...carried } = prev ?? {};
  return { ...carried, ...(view.leader ? { leader: view.leader } : {}), members };
}

/** status.tikv over `prev`: this cluster's stores from PD; replicas, readyReplicas and selector carried over. */
export function deriveTiKVStatus(prev: TiKVStatus | undefined, view: Observed<StoresView>, now: Date): TiKVStatus {
  const before = new Map((prev?.stores ?? []).map((s) => [s.id, s]));
  const stores = view.stores.map((s) => {
    const was = before.get(s.id);
    const unchanged = was && was.state === s.state && was.lastTransitionTime;
    return { ...s, lastTransitionTime: unchanged ? was.lastTransitionTime : rfc3339(now) };
  });
  const { stores: _old, ...carried } = prev ?? {};
  return { ...carried, stores };
}
