import { describe, expect, it } from 'vitest';
import type { Condition, TikvClusterStatus } from '../../../src/api/v1alpha1.js';
import type { PDStore } from '../../../src/controller/pd/client.js';
import { PDError } from '../../../src/controller/pd/json.js';
import type { PDMemberHealth, PDMembers } from '../../../src/controller/pd/reads.js';
import { membersView, storesView, storesViewOfError } from '../../../src/controller/pd/view.js';
import type { ClusterRef } from '../../../src/controller/ref.js';
import {
  type ConditionInput,
  deriveConditions,
  derivePhase,
  formatAge,
  observeStatefulSet,
  type PDStatus,
  derivePDStatus as pdStatusOf,
  type StatefulSetObservation,
  statusEqual,
  type TiKVStatus,
  deriveTiKVStatus as tikvStatusOf,
} from '../../../src/controller/status/index.js';
import { pdCalls } from '../../env/pd/pd-client.js';

// PD's answers as the views every rule reads (pd/view.ts), then the status rules over them.
const deriveTiKVStatus = (prev: TiKVStatus | undefined, obs: { stores: PDStore[] }, c: ClusterRef, now: Date) => tikvStatusOf(prev, storesView(obs.stores, c), now);
function derivePDStatus(prev: PDStatus | undefined, obs: { health: PDMemberHealth[]; members: PDMembers }, now: Date) {
  const view = membersView(obs.health, obs.members);
  if (view.kind !== 'Observed') throw new Error('PD answered');
  return pdStatusOf(prev, view, now);
}
const storesObservationOfError = storesViewOfError;

const cluster = { name: 'basic', namespace: 'ns' };
const T0 = new Date('2025-08-19T10:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

/** Runs PD JSON through the real client so fixtures use PD's own field names. */
async function pd(routes: Record<string, string>) {
  return pdCalls(async (path) => (routes[path] ? { status: 200, body: routes[path] } : { status: 404, body: '"not found"' }));
}

const store = (id: number, address: string, stateName: string, heartbeat: string, extra = '') =>
  `{"store": {"id": ${id}, "address": "${address}", "version": "8.5.5", "node_state": 1, "state_name": "${stateName}"${extra}},` +
  ` "status": {"capacity": "10GiB", "available": "9GiB", "leader_count": ${id}, "region_count": ${id * 3}, "last_heartbeat_ts": "${heartbeat}"}}`;
const addr = (n: number, c = 'basic', ns = 'ns') => `${c}-tikv-${n}.${c}-tikv-peer.${ns}.svc:20160`;

async function storesOf(...stores: string[]): Promise<PDStore[]> {
  const client = await pd({ '/pd/api/v1/stores?state=0&state=1&state=2': `{"count": ${stores.length}, "stores": [${stores.join(',')}]}` });
  return client.stores({ includeTombstone: true });
}

const HB = '2025-08-19T10:00:00Z';
const healthyStores = () => storesOf(store(1, addr(0), 'Up', HB), store(4, addr(1), 'Up', HB), store(5, addr(2), 'Up', HB));

const MEMBERS = `{"header": {"cluster_id": 7412345678901234567}, "members": [
  {"name": "basic-pd-0", "member_id": 13711283423532012345, "peer_urls": ["http://basic-pd-0.basic-pd-peer.ns.svc:2380"], "client_urls": ["http://basic-pd-0.basic-pd-peer.ns.svc:2379"]},
  {"name": "basic-pd-1", "member_id": 222, "peer_urls": ["http://basic-pd-1.basic-pd-peer.ns.svc:2380"], "client_urls": ["http://basic-pd-1.basic-pd-peer.ns.svc:2379"]},
  {"member_id": 18446744073709551615, "peer_urls": ["http://basic-pd-2.basic-pd-peer.ns.svc:2380"]}],
  "leader": {"name": "basic-pd-0", "member_id": 13711283423532012345}}`;
const health = (h0: boolean, h1: boolean, h2: boolean) =>
  `[{"name": "basic-pd-0", "member_id": 13711283423532012345, "client_urls": ["http://basic-pd-0.basic-pd-peer.ns.svc:2379"], "health": ${h0}},
    {"name": "basic-pd-1", "member_id": 222, "client_urls": ["http://basic-pd-1.basic-pd-peer.ns.svc:2379"], "health": ${h1}},
    {"name": "", "member_id": 18446744073709551615, "client_urls": null, "health": ${h2}}]`;

async function pdObservation(h: string) {
  const client = await pd({ '/pd/api/v1/members': MEMBERS, '/pd/api/v1/health': h });
  return { members: await client.members(), health: await client.health() };
}

describe('deriveTiKVStatus', () => {
  it("maps stores to pods by advertise address and keeps only this cluster's stores, tombstones included", async () => {
    const stores = await storesOf(
      store(12, addr(3), 'Tombstone', HB, ', "state": 2'),
      store(5, addr(2), 'Up', HB),
      store(7, addr(0, 'other'), 'Up', HB),
      store(8, addr(0, 'basic', 'elsewhere'), 'Up', HB),
      store(9, '127.0.0.1:20160', 'Up', HB),
      store(1, addr(0), 'Up', HB),
    );
    const status = deriveTiKVStatus(undefined, { stores }, cluster, T0);
    expect(status.stores?.map((s) => [s.id, s.podName, s.state])).toEqual([
      ['1', 'basic-tikv-0', 'Up'],
      ['5', 'basic-tikv-2', 'Up'],
      ['12', 'basic-tikv-3', 'Tombstone'],
    ]);
    expect(status.stores?.[1]).toEqual({
      id: '5',
      podName: 'basic-tikv-2',
      address: addr(2),
      state: 'Up',
      leaderCount: 5,
      regionCount: 15,
      capacity: '10GiB',
      available: '9GiB',
      lastHeartbeatTime: '2025-08-19T10:00:00.000Z',
      lastTransitionTime: '2025-08-19T10:00:00Z',
    });
  });

  it('moves lastTransitionTime only when the state changes, and keeps the controller-owned fields', async () => {
    const first = deriveTiKVStatus({ replicas: 3, selector: 'app=x' }, { stores: await healthyStores() }, cluster, T0);
    const same = deriveTiKVStatus(first, { stores: await healthyStores() }, cluster, at(30));
    expect(same.stores?.map((s) => s.lastTransitionTime)).toEqual(first.stores?.map((s) => s.lastTransitionTime));
    expect(same).toMatchObject({ replicas: 3, selector: 'app=x' });

    const changed = deriveTiKVStatus(
      same,
      { stores: await storesOf(store(1, addr(0), 'Up', HB), store(4, addr(1), 'Up', HB), store(5, addr(2), 'Disconnected', HB)) },
      cluster,
      at(60),
    );
    expect(changed.stores?.map((s) => s.lastTransitionTime)).toEqual([
      '2025-08-19T10:00:00Z',
      '2025-08-19T10:00:00Z',
      '2025-08-19T10:01:00Z',
    ]);
  });
});

describe('derivePDStatus', () => {
  it('joins members with their health by id, names half-joined members from the peer URL and keeps ids exact', async () => {
    const obs = await pdObservation(health(true, true, false));
    const status = derivePDStatus({ replicas: 3, bootstrapped: true }, obs, T0);
    expect(status).toEqual({
      replicas: 3,
      bootstrapped: true,
      leader: 'basic-pd-0',
      members: [
        { name: 'basic-pd-0', id: '13711283423532012345', clientURL: 'http://basic-pd-0.basic-pd-peer.ns.svc:2379', health: true, lastTransitionTime: '2025-08-19T10:00:00Z' },
        { name: 'basic-pd-1', id: '222', clientURL: 'http://basic-pd-1.basic-pd-peer.ns.svc:2379', health: true, lastTransitionTime: '2025-08-19T10:00:00Z' },
        { name: 'basic-pd-2', id: '18446744073709551615', health: false, lastTransitionTime: '2025-08-19T10:00:00Z' },
      ],
    });
    expect(obs.members.clusterID).toBe('7412345678901234567');
  });

  it('moves a member lastTransitionTime only when its health flips', async () => {
    const first = derivePDStatus(undefined, await pdObservation(health(true, true, false)), T0);
    const later = derivePDStatus(first, await pdObservation(health(true, false, false)), at(20));
    expect(later.members?.map((m) => [m.name, m.lastTransitionTime])).toEqual([
      ['basic-pd-0', '2025-08-19T10:00:00Z'],
      ['basic-pd-1', '2025-08-19T10:00:20Z'],
      ['basic-pd-2', '2025-08-19T10:00:00Z'],
    ]);
  });
});

// --- conditions -----------------------------------------------------------------------

const rolledOut = (n: number, rev = 'r1'): StatefulSetObservation => ({
  specReplicas: n,
  replicas: n,
  readyReplicas: n,
  updatedReplicas: n,
  currentRevision: rev,
  updateRevision: rev,
  generation: 2,
  observedGeneration: 2,
});

async function healthyInput(): Promise<ConditionInput> {
  const pdStatus = derivePDStatus(undefined, await pdObservation(health(true, true, true)), T0);
  const tikv = deriveTiKVStatus(undefined, { stores: await healthyStores() }, cluster, T0);
  return {
    cluster,
    desired: { pd: 3, tikv: 3 },
    pdStatefulSet: rolledOut(3),
    tikvStatefulSet: rolledOut(3),
    pd: { kind: 'Observed', members: pdStatus.members ?? [], leader: pdStatus.leader },
    stores: { kind: 'Observed', stores: tikv.stores ?? [] },
    pdBootstrapped: true,
    paused: false,
  };
}

const byType = (conditions: Condition[]) => Object.fromEntries(conditions.map((c) => [c.type, c]));
const summary = (conditions: Condition[]) => Object.fromEntries(conditions.map((c) => [c.type, `${c.status}/${c.reason}`]));

describe('deriveConditions', () => {
  it('reports a healthy cluster as Ready, available, not progressing, not degraded', async () => {
    const conditions = deriveConditions(undefined, await healthyInput(), 7, T0);
    expect(summary(conditions)).toEqual({
      Ready: 'True/ClusterReady',
      PDAvailable: 'True/AllMembersHealthy',
      TiKVAvailable: 'True/AllStoresUp',
      Progressing: 'False/UpToDate',
      Degraded: 'False/AllHealthy',
    });
    expect(conditions.map((c) => c.type)).toEqual(['Ready', 'PDAvailable', 'TiKVAvailable', 'Progressing', 'Degraded']);
    for (const c of conditions) {
      expect(c.observedGeneration).toBe(7);
      expect(c.lastTransitionTime).toBe('2025-08-19T10:00:00Z');
    }
    expect(byType(conditions).PDAvailable?.message).toContain('leader basic-pd-0');
    expect(derivePhase(conditions, false, false, 'Bootstrapping')).toBe('Running');
  });

  it('names the Disconnected store, its pod and the time of its last heartbeat', async () => {
    const input = await healthyInput();
    const stores = await storesOf(store(1, addr(0), 'Up', HB), store(4, addr(1), 'Up', HB), store(5, addr(2), 'Disconnected', '2025-08-19T10:00:20Z'));
    input.stores = { kind: 'Observed', stores: deriveTiKVStatus(undefined, { stores }, cluster, at(60)).stores ?? [] };
    const conditions = deriveConditions(undefined, input, 7, at(60));
    const c = byType(conditions);
    const expected = "store 5 (basic-tikv-2) is Disconnected: PD's last heartbeat from it was at 2025-08-19T10:00:20Z; check the pod basic-tikv-2";
    expect(c.Degraded).toMatchObject({ status: 'True', reason: 'StoreNotUp', message: expected });
    // Which store and what to check is Degraded's alone; the others count and point there.
    expect(c.TiKVAvailable).toMatchObject({ status: 'True', reason: 'SomeStoresNotUp', message: '2 of 3 TiKV stores Up (1 Disconnected: see Degraded)' });
    expect(c.Ready).toMatchObject({ status: 'False', reason: 'StoresNotUp', message: '2 of 3 TiKV stores Up (1 Disconnected: see Degraded)' });
    expect(derivePhase(conditions, false, false, 'Running')).toBe('Degraded');
  });

  it('says Unknown, not False, for everything PD would have told when PD is unreachable', async () => {
    const input = await healthyInput();
    input.pd = { kind: 'Unreachable', error: 'GET /pd/api/v1/health failed: no answer from PD at http://basic-pd.ns.svc:2379 within 3000 ms' };
    input.stores = { kind: 'Unknown', error: 'not asked' };
    const c = byType(deriveConditions(undefined, input, 7, T0));
    for (const type of ['Ready', 'PDAvailable', 'TiKVAvailable', 'Degraded']) {
      expect(c[type]).toMatchObject({ status: 'Unknown', reason: 'PDUnreachable' });
    }
    // Said once, in PDAvailable; the others say what they cannot tell and point there.
    expect(c.PDAvailable?.message).toBe(
      'PD is unreachable: GET /pd/api/v1/health failed: no answer from PD at http://basic-pd.ns.svc:2379 within 3000 ms; ' +
        'the operator will not change PD members or stores until it can reach PD',
    );
    expect(c.Ready?.message).toBe('PD is unreachable (see PDAvailable)');
    expect(c.TiKVAvailable?.message).toBe('the TiKV store states are unknown while PD is unreachable (see PDAvailable)');
    expect(c.Degraded?.message).toBe('whether members or stores are unhealthy is unknown while PD is unreachable (see PDAvailable)');
    expect(c.Progressing?.status).toBe('False');
  });

  it('flags an unhealthy PD member as Degraded while the quorum keeps PD available', async () => {
    const input = await healthyInput();
    input.pd = { kind: 'Observed', members: derivePDStatus(undefined, await pdObservation(health(true, false, true)), T0).members ?? [] };
    const c = byType(deriveConditions(undefined, input, 7, T0));
    expect(c.Degraded).toMatchObject({ status: 'True', reason: 'PDMemberUnhealthy' });
    expect(c.Degraded?.message).toContain('PD member basic-pd-1 is unhealthy');
    expect(c.PDAvailable).toMatchObject({ status: 'True', reason: 'QuorumHealthy' });
    expect(c.Ready).toMatchObject({ status: 'False', reason: 'PDMembersNotReady' });
  });

  it('makes PD unavailable when a quorum of members is unhealthy', async () => {
    const input = await healthyInput();
    input.pd = { kind: 'Observed', members: derivePDStatus(undefined, await pdObservation(health(true, false, false)), T0).members ?? [] };
    const c = byType(deriveConditions(undefined, input, 7, T0));
    expect(c.PDAvailable).toMatchObject({ status: 'False', reason: 'QuorumNotHealthy' });
    expect(c.PDAvailable?.message).toContain('only 1 of 3 PD members are healthy and PD needs 2');
    expect(c.Ready).toMatchObject({ status: 'False', reason: 'PDUnavailable' });
  });

  it('reports a rolling update as Progressing and not Ready', async () => {
    const input = await healthyInput();
    input.tikvStatefulSet = { ...rolledOut(3, 'r1'), updateRevision: 'r2', updatedReplicas: 1 };
    const conditions = deriveConditions(undefined, input, 7, T0);
    const c = byType(conditions);
    expect(c.Progressing).toMatchObject({ status: 'True', reason: 'RollingUpdate', message: 'TiKV: 1 of 3 pods updated to r2' });
    expect(c.Ready).toMatchObject({ status: 'False', reason: 'RollingOut' });
    expect(c.Degraded?.status).toBe('False');
    expect(derivePhase(conditions, false, false, 'Running')).toBe('Updating');
  });

  it('treats "not bootstrapped" as an answer: TiKV unavailable and the cluster bootstrapping', async () => {
    const input = await healthyInput();
    input.stores = storesObservationOfError(
      new PDError({ kind: 'HTTP', status: 500, method: 'GET', path: '/pd/api/v1/stores', detail: 'TiKV cluster not bootstrapped, please start TiKV first' }),
    );
    input.tikvStatefulSet = { ...rolledOut(3), readyReplicas: 0 };
    const conditions = deriveConditions(undefined, input, 1, T0);
    const c = byType(conditions);
    expect(c.TiKVAvailable).toMatchObject({ status: 'False', reason: 'NotBootstrapped' });
    expect(c.Progressing).toMatchObject({ status: 'True', reason: 'Bootstrapping' });
    expect(derivePhase(conditions, false, false, 'Pending')).toBe('Bootstrapping');
  });

  it('keeps lastTransitionTime while status stays and moves it when status flips', async () => {
    const healthy = await healthyInput();
    const first = deriveConditions(undefined, healthy, 1, T0);
    const again = deriveConditions(first, healthy, 2, at(30));
    expect(again.map((c) => c.lastTransitionTime)).toEqual(first.map((c) => c.lastTransitionTime));
    expect(again.every((c) => c.observedGeneration === 2)).toBe(true);

    const broken = { ...healthy, pd: { kind: 'Unreachable' as const, error: 'boom' }, stores: { kind: 'Unknown' as const, error: 'boom' } };
    const c = byType(deriveConditions(again, broken, 2, at(60)));
    expect(c.PDAvailable?.lastTransitionTime).toBe('2025-08-19T10:01:00Z');
    // Progressing stays False (reason may differ): its time does not move
    expect(c.Progressing?.lastTransitionTime).toBe('2025-08-19T10:00:00Z');
  });

  it('leaves condition types it does not own in place', async () => {
    const foreign: Condition = { type: 'Backup', status: 'True', lastTransitionTime: '2025-01-01T00:00:00Z', reason: 'Done', message: 'ok' };
    const conditions = deriveConditions([foreign], await healthyInput(), 1, T0);
    expect(conditions.at(-1)).toEqual(foreign);
    expect(conditions).toHaveLength(6);
  });

  it('says Invalid and Paused in Ready/Progressing and the phase', async () => {
    const invalid = { ...(await healthyInput()), invalid: 'spec.pd.replicas: must be at least 1' };
    const c = byType(deriveConditions(undefined, invalid, 1, T0));
    expect(c.Ready).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(c.Ready?.message).toContain('spec.pd.replicas: must be at least 1');
    expect(derivePhase(Object.values(c), false, true)).toBe('Invalid');

    const paused = deriveConditions(undefined, { ...(await healthyInput()), paused: true }, 1, T0);
    expect(byType(paused).Progressing).toMatchObject({ status: 'False', reason: 'Paused' });
    expect(derivePhase(paused, true, false)).toBe('Paused');
  });

  it('is Pending before the PD StatefulSet exists', async () => {
    const input = { ...(await healthyInput()), pdStatefulSet: undefined, tikvStatefulSet: undefined, pdBootstrapped: false };
    input.pd = { kind: 'Unreachable', error: 'no endpoints' };
    const conditions = deriveConditions(undefined, input, 1, T0);
    expect(byType(conditions).Progressing).toMatchObject({ status: 'True', reason: 'Creating' });
    expect(derivePhase(conditions, false, false)).toBe('Pending');
  });
});

describe('observeStatefulSet', () => {
  it('reads the rollout fields with absent counts as 0', () => {
    expect(
      observeStatefulSet({
        metadata: { name: 'basic-pd', generation: 3 },
        spec: { replicas: 3, template: {} },
        status: { replicas: 3, readyReplicas: 2, currentRevision: 'a', updateRevision: 'b', observedGeneration: 3 },
      }),
    ).toEqual({ specReplicas: 3, replicas: 3, readyReplicas: 2, updatedReplicas: 0, currentRevision: 'a', updateRevision: 'b', generation: 3, observedGeneration: 3 });
    expect(observeStatefulSet(undefined)).toBeUndefined();
  });
});

describe('statusEqual', () => {
  const status: TikvClusterStatus = {
    phase: 'Running',
    clusterID: '7412345678901234567',
    conditions: [
      { type: 'Ready', status: 'True', lastTransitionTime: 't', reason: 'ClusterReady', message: 'm' },
      { type: 'Degraded', status: 'False', lastTransitionTime: 't', reason: 'AllHealthy', message: 'm' },
    ],
    tikv: {
      stores: [
        { id: '10', address: 'b', state: 'Up', leaderCount: 1, lastHeartbeatTime: 'h1' },
        { id: '9', address: 'a', state: 'Up', leaderCount: 2, lastHeartbeatTime: 'h1' },
      ],
    },
  };

  it('ignores key order, list order and undefined values', () => {
    const reordered = JSON.parse(
      '{"tikv":{"stores":[{"state":"Up","id":"9","address":"a","lastHeartbeatTime":"h1","leaderCount":2},' +
        '{"lastHeartbeatTime":"h1","leaderCount":1,"address":"b","state":"Up","id":"10"}]},"clusterID":"7412345678901234567",' +
        '"conditions":[{"message":"m","reason":"AllHealthy","lastTransitionTime":"t","status":"False","type":"Degraded"},' +
        '{"type":"Ready","status":"True","lastTransitionTime":"t","reason":"ClusterReady","message":"m"}],"phase":"Running"}',
    ) as TikvClusterStatus;
    expect(statusEqual(status, { ...reordered, pd: undefined })).toBe(true);
  });

  it('sees a real change', () => {
    const changed = structuredClone(status);
    changed.tikv!.stores![0]!.state = 'Disconnected';
    expect(statusEqual(status, changed)).toBe(false);
    expect(statusEqual(status, undefined)).toBe(false);
  });

  it('can ignore values that move with every heartbeat', () => {
    const beat = structuredClone(status);
    beat.tikv!.stores![0]!.lastHeartbeatTime = 'h2';
    beat.tikv!.stores![0]!.leaderCount = 3;
    expect(statusEqual(status, beat)).toBe(false);
    expect(statusEqual(status, beat, { ignoreVolatile: true })).toBe(true);
  });
});

describe('formatAge', () => {
  it('coarsens with age', () => {
    expect([formatAge(40.7), formatAge(119), formatAge(1860), formatAge(3 * 3600), formatAge(3 * 86400)]).toEqual(['40s', '119s', '31m', '3h', '3d']);
  });
});
