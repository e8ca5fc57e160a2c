// One look at PD: member health, members and leader, and every store (tombstones too). The
// reconcile's observe step and `tikv-operator status` ask the same three questions.
import type { ClusterRef } from '../ref.js';
import type { PDMemberHealth, PDMembers, PDReads, PDStore } from './reads.js';
import { errorText, type MembersView, membersView, type StoresUnread, type StoresView, storesView, storesViewOfError } from './view.js';

/** What PD said, or why it could not be asked; stores that could not be read say why instead. */
export type PDLook =
  | { reachable: true; health: PDMemberHealth[]; members: PDMembers; stores: PDStore[] | StoresUnread }
  | { reachable: false; error: string };

export async function lookAtPD(pd: PDReads): Promise<PDLook> {
  // Both settle before either error is taken, health's first: whichever failed first must
  // not decide the words of the status, or the same outage rewrites it on every poll.
  const [h, m] = await Promise.allSettled([pd.health(), pd.members()]);
  if (h.status === 'rejected') return { reachable: false, error: errorText(h.reason) };
  if (m.status === 'rejected') return { reachable: false, error: errorText(m.reason) };
  const health = h.value;
  const members = m.value;
  try {
    return { reachable: true, health, members, stores: await pd.stores({ includeTombstone: true }) };
  } catch (e) {
    return { reachable: true, health, members, stores: storesViewOfError(e) };
  }
}

/** The look as the two views the reconcile reads (an unreachable PD knows no stores either). */
export function viewsOf(look: PDLook, cluster: ClusterRef): { members: MembersView; stores: StoresView } {
  if (!look.reachable) return { members: { kind: 'Unreachable', error: look.error }, stores: { kind: 'Unknown', error: look.error } };
  return { members: membersView(look.health, look.members), stores: Array.isArray(look.stores) ? storesView(look.stores, cluster) : look.stores };
}
