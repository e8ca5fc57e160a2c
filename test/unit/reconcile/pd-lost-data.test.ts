// A PD member that lost its data (reconcile/pd-lost-data.ts): removed only on the pod's own
// words, PD's confirmation (listed, unhealthy, not the leader) and a quorum that stays,
// re-checked on a fresh read right before the one DELETE.
import { describe, expect, it } from 'vitest';
import { decideLostPDMember, LOST_DATA_WORDS, podsThatLostData } from '../../../src/controller/reconcile/pd-lost-data.js';
import type { LivePod } from '../../../src/controller/kube/objects.js';
import type { MembersView } from '../../../src/controller/pd/view.js';
import { World } from './fakes.js';

const FATAL = `[2026/12/02 01:00:00.000 +00:00] [FATAL] [main.go:259] ["join meet error"] [error="${LOST_DATA_WORDS}"]`;
const lost = (name: string): LivePod => ({
  metadata: { name },
  status: { phase: 'Running', containerStatuses: [{ name: 'pd', restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, message: `pd start: ${name} joins the cluster\n${FATAL}\n` } } }] },
});
const view = (health: boolean[], leader = 'basic-pd-0'): MembersView => ({
  kind: 'Observed',
  members: health.map((h, i) => ({ name: `basic-pd-${i}`, id: `90${i}`, health: h })),
  leader,
});

describe('decideLostPDMember', () => {
  it('removes a listed, unhealthy, non-leader member whose pod said it lost its data, when a quorum stays', () => {
    expect(podsThatLostData([lost('basic-pd-2'), { metadata: { name: 'basic-pd-1' } }])).toEqual(['basic-pd-2']);
    const d = decideLostPDMember({ bootstrapped: true, pd: view([true, true, false]), lostData: ['basic-pd-2'] });
    expect(d).toMatchObject({ kind: 'remove', member: 'basic-pd-2', id: '902' });
  });

  it('removes nothing without every proof', () => {
    const none = (input: Parameters<typeof decideLostPDMember>[0]) => decideLostPDMember(input).kind !== 'remove';
    expect(none({ bootstrapped: false, pd: view([true, true, false]), lostData: ['basic-pd-2'] })).toBe(true);
    expect(none({ bootstrapped: true, pd: view([true, true, false]), lostData: [] })).toBe(true);
    expect(none({ bootstrapped: true, pd: { kind: 'Unreachable', error: 'timeout' }, lostData: ['basic-pd-2'] })).toBe(true);
    // PD says it is healthy, or it is the leader, or it is already gone.
    expect(none({ bootstrapped: true, pd: view([true, true, true]), lostData: ['basic-pd-2'] })).toBe(true);
    expect(none({ bootstrapped: true, pd: view([true, true, false], 'basic-pd-2'), lostData: ['basic-pd-2'] })).toBe(true);
    expect(decideLostPDMember({ bootstrapped: true, pd: view([true, true]), lostData: ['basic-pd-2'] })).toEqual({ kind: 'none' });
    // 5 members, 2 unhealthy besides it: 2 healthy of 4 is no quorum.
    const d = decideLostPDMember({ bootstrapped: true, pd: view([true, true, false, false, false]), lostData: ['basic-pd-4'] });
    expect(d).toMatchObject({ kind: 'wait', reason: 'PDMemberRecoveryWaiting' });
    expect(d.kind === 'wait' && d.message).toContain('below a quorum of 3');
    // 3 healthy of the 4 that stay is.
    expect(decideLostPDMember({ bootstrapped: true, pd: view([true, true, true, false, false]), lostData: ['basic-pd-4'] }).kind).toBe('remove');
  });
});

describe('reconciler: lost-data recovery', () => {
  it('removes the stale member exactly once, with an Event and a Progressing reason', async () => {
    const w = await World.atRest(3, 3);
    w.pd.memberList[2]!.health = false;
    w.store.podObjects.get('basic-pd-2')!.status = lost('basic-pd-2').status;
    const before = w.events.events.length;
    await w.reconcile();
    expect(w.pd.writes.filter((x) => x.startsWith('deleteMember'))).toEqual(['deleteMember basic-pd-2']);
    expect(w.events.events.slice(before).map((e) => e.reason)).toContain('PDStaleMemberRemoved');
    expect(w.condition('Progressing')).toMatchObject({ reason: 'PDMemberRecovered' });
    // The pod still shows its old crash until it restarts: PD no longer lists it, nothing more is removed.
    await w.reconcile();
    await w.reconcile();
    expect(w.pd.writes.filter((x) => x.startsWith('deleteMember'))).toEqual(['deleteMember basic-pd-2']);
  });

  it('removes nothing when the fresh read before the DELETE shows the member healthy again', async () => {
    const w = await World.atRest(3, 3);
    w.pd.memberList[2]!.health = false;
    w.store.podObjects.get('basic-pd-2')!.status = lost('basic-pd-2').status;
    // The competing event lands between the reconcile's observation and the re-check.
    let reads = 0;
    w.pd.afterMembersRead = () => {
      reads += 1;
      if (reads === 1) w.pd.memberList[2]!.health = true;
    };
    await w.reconcile();
    expect(reads).toBeGreaterThanOrEqual(2);
    expect(w.pd.writes.filter((x) => x.startsWith('deleteMember'))).toEqual([]);
  });
});
