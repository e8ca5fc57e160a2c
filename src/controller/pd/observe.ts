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
  let health: PDMemberHealth[];
  let members: PDMembers;
  try {
    [health, members] = await Promise.all([pd.health(), pd.members()]);
  } catch (e) {
    return { reachable: false, error: errorText(e) };
  }
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
