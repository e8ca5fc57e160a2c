// A PD member that lost its data: PD still lists it, but its pod started on an empty volume
// (the PVC was deleted with the pod, a kind node was recreated). Its start script takes the
// join path, and pd-server exits with `missing data or join a duplicated pd` (PD v8.5.5,
// server/join/join.go) at every restart, forever; only removing the stale member from PD
// lets the next start join afresh under the same name.
//
// The operator removes it, and only when all of these hold, each confirmed rather than
// assumed: the pod itself said it (its container's last termination message, kept by
// terminationMessagePolicy FallbackToLogsOnError, has pd-server's words); the cluster is
// bootstrapped (before that no member joins); PD answers, lists the member and reports it
// unhealthy; it is not the leader; and the healthy members that stay are a quorum of the
// members that stay. The decision is made twice: on the reconcile's observation, then on
// a fresh read of PD right before the one DELETE, so no change between read and write
// (the member came back, another member fell) can make it remove a member it should not.
//
// TiKV on an empty volume is not handled here: with no store ident in its data dir, TiKV
// asks PD for a new store id and registers the same address; PD's PutMetaStore refuses it
// (`duplicated store address: …, already registered by …`) unless the old store is a
// Tombstone or physically destroyed, so the pod crash-loops with that message and
// PodsHealthy shows it. The old store's data may still be the only copy of some regions,
// and a store with data is never removed without PD draining it first (the scale-in
// path), so that case is left to the user (README, "Lost data").
import type { LivePod } from '../kube/objects.js';
import type { MembersView } from '../pd/view.js';

/** pd-server's words when a member PD lists starts without data (server/join/join.go). */
export const LOST_DATA_WORDS = 'missing data or join a duplicated pd';

export type LostDataDecision =
  | { kind: 'none' }
  | { kind: 'wait'; reason: string; message: string }
  | { kind: 'remove'; member: string; id: string; message: string };

const quorum = (n: number) => Math.floor(n / 2) + 1;

/** The PD pods whose last run ended with pd-server's lost-data words, by name. */
export function podsThatLostData(pods: readonly LivePod[]): string[] {
  return pods
    .filter((p) => !p.metadata.deletionTimestamp)
    .filter((p) => (p.status?.containerStatuses ?? []).some((c) => (c.lastState?.terminated?.message ?? c.state?.terminated?.message ?? '').includes(LOST_DATA_WORDS)))
    .map((p) => p.metadata.name)
    .sort();
}

/** Whether, and which, stale member to remove now (at most one per reconcile). */
export function decideLostPDMember(input: { bootstrapped: boolean; pd: MembersView; lostData: readonly string[] }): LostDataDecision {
  const pod = input.lostData[0];
  if (!pod || !input.bootstrapped) return { kind: 'none' };
  if (input.pd.kind === 'Unreachable') {
    return { kind: 'wait', reason: 'PDMemberRecoveryWaiting', message: `pod ${pod} lost its data; removing its stale PD member waits: PD is unreachable (${input.pd.error})` };
  }
  const members = input.pd.members;
  const member = members.find((m) => m.name === pod);
  // Already gone from PD: the pod's next start joins.
  if (!member) return { kind: 'none' };
  if (member.health) {
    return { kind: 'wait', reason: 'PDMemberRecoveryWaiting', message: `pod ${pod} reported lost data, but PD reports member ${pod} healthy; nothing is removed` };
  }
  if (input.pd.leader === pod) {
    return { kind: 'wait', reason: 'PDMemberRecoveryWaiting', message: `pod ${pod} lost its data, but PD names it the leader; nothing is removed` };
  }
  const healthyStaying = members.filter((m) => m !== member && m.health).length;
  const need = quorum(members.length - 1);
  if (healthyStaying < need) {
    return {
      kind: 'wait',
      reason: 'PDMemberRecoveryWaiting',
      message: `pod ${pod} lost its data; removing its stale PD member would leave ${healthyStaying} healthy of ${members.length - 1} members, below a quorum of ${need}: nothing is removed`,
    };
  }
  return {
    kind: 'remove',
    member: pod,
    id: member.id,
    message: `removed PD member ${pod} (id ${member.id}): its pod started on an empty volume (pd-server: "${LOST_DATA_WORDS}") while PD listed it unhealthy, and ${healthyStaying} of the ${members.length - 1} members that stay are healthy; the pod joins afresh at its next start`,
  };
}

export interface LostDataDeps {
  /** A fresh look at PD, right before the DELETE. */
  observeAgain: () => Promise<MembersView>;
  deleteMember: (name: string) => Promise<'removed' | 'gone'>;
  emit: (reason: string, message: string) => Promise<void>;
  log: (message: string, fields: Record<string, unknown>) => void;
}

/** The step: decide, confirm on a fresh read, remove; returns what Progressing should say, if anything. */
export async function recoverLostPDMember(
  deps: LostDataDeps,
  input: { bootstrapped: boolean; pd: MembersView; pods: readonly LivePod[] },
): Promise<{ reason: string; message: string } | undefined> {
  const lostData = podsThatLostData(input.pods);
  const first = decideLostPDMember({ bootstrapped: input.bootstrapped, pd: input.pd, lostData });
  if (first.kind === 'none') return undefined;
  if (first.kind === 'wait') return first;
  const again = decideLostPDMember({ bootstrapped: input.bootstrapped, pd: await deps.observeAgain(), lostData });
  if (again.kind !== 'remove' || again.id !== first.id) return again.kind === 'wait' ? again : undefined;
  const result = await deps.deleteMember(again.member);
  deps.log(again.message, { member: again.member, id: again.id, result });
  if (result === 'removed') await deps.emit('PDStaleMemberRemoved', again.message);
  return { reason: 'PDMemberRecovered', message: again.message };
}
