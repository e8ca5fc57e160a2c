// One look at PD: member health, members and leader, and every store (tombstones too). Used
// by `tikv-operator status`; the reconciler's observe step asks the same three questions
// (and can use this directly).
import type { PDClient, PDMemberHealth, PDMembers, PDStore } from './client.js';
import { errorText, type StoresObservation, storesObservationOfError } from './status.js';

/** What PD said, or why it could not be asked; stores that could not be read say why instead. */
export type PDLook =
  | { reachable: true; health: PDMemberHealth[]; members: PDMembers; stores: PDStore[] | StoresObservation }
  | { reachable: false; error: string };

export async function lookAtPD(pd: PDClient): Promise<PDLook> {
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
    return { reachable: true, health, members, stores: storesObservationOfError(e) };
  }
}
