// The PD stand-in's cluster rules on a fake clock: PD's store state names by heartbeat age,
// Offline refusal and Tombstone, leadership with quorum, and the replica checker's steps.
import { describe, expect, it } from 'vitest';
import { type MetaStore, type OperatorStep, StandinCluster } from '../../env/pd/pd-standin-cluster.js';
import type { Peer, Region } from '../../env/pd/pdpb.js';

const S = 1000;

function cluster(now: { t: number }) {
  const c = new StandinCluster(
    [0, 1, 2].map((i) => ({ index: i, name: `pd-${i}`, id: String(10n ** 19n + BigInt(i)), clientURL: `http://c${i}`, peerURL: `http://p${i}` })),
    { disconnectAfterMs: 20 * S, maxStoreDownTimeMs: 30 * S, now: () => now.t },
  );
  for (const m of c.members) c.setRunning(m, true);
  return c;
}

const store = (id: string, nowMs: number): MetaStore => ({
  id,
  address: `tikv-${id}:20160`,
  state: 'Up',
  labels: [],
  version: '8.5.5',
  peer_address: '',
  status_address: '',
  git_hash: '',
  start_timestamp: String(Math.floor(nowMs / 1000)),
  deploy_path: '',
  last_heartbeat: String(BigInt(nowMs) * 1_000_000n),
  physically_destroyed: false,
  node_state: 'Preparing',
});

const region = (peers: Peer[], confVer = 1): Region => ({
  id: '100',
  start_key: Buffer.alloc(0),
  end_key: Buffer.alloc(0),
  region_epoch: { conf_ver: String(confVer), version: '1' },
  peers,
});
const voter = (id: string, storeId: string): Peer => ({ id, store_id: storeId, role: 'Voter' });

/** A cluster bootstrapped by store 1 with region 100 (peer 101), plus stores 2..n, all serving. */
function withStores(n: number, now: { t: number }) {
  const c = cluster(now);
  expect(c.bootstrap(store('1', now.t), region([voter('101', '1')]))).toBeUndefined();
  for (let i = 2; i <= n; i++) expect(c.putStore(store(String(i), now.t))).toBeUndefined();
  c.checkStores();
  return c;
}

const heartbeatAll = (c: StandinCluster) => {
  for (const id of c.stores.keys()) c.storeHeartbeat({ store_id: id });
};

describe('PD stand-in cluster state', () => {
  it('names an Up store Disconnected after 20 s and Down after max-store-down-time without heartbeats, Up after one', () => {
    const now = { t: 1_800_000_000_000 };
    const c = withStores(3, now);
    const s2 = c.stores.get('2')!;
    expect(c.stateName(s2)).toBe('Up');
    now.t += 21 * S;
    expect(c.stateName(s2)).toBe('Disconnected');
    now.t += 10 * S;
    expect(c.stateName(s2)).toBe('Down');
    c.storeHeartbeat({ store_id: '2' });
    expect(c.stateName(s2)).toBe('Up');
  });

  it('refuses to take a store Offline when fewer Up stores than max-replicas would remain', () => {
    const now = { t: 1_800_000_000_000 };
    const c = withStores(3, now);
    expect(c.removeStore('2', false)).toEqual({
      status: 400,
      message: '[PD:core:ErrStoresNotEnough]can not remove store 2 since the number of up stores would be 2 while need 3',
    });
    expect(c.removeStore('9', false)?.status).toBe(404);
  });

  it('turns an Offline store without regions into a Tombstone at the next check, and refuses it afterwards with 410', () => {
    const now = { t: 1_800_000_000_000 };
    const c = withStores(4, now);
    expect(c.removeStore('4', false)).toBeUndefined();
    expect(c.stores.get('4')?.meta).toMatchObject({ state: 'Offline', node_state: 'Removing' });
    c.checkStores();
    expect(c.stores.get('4')?.meta).toMatchObject({ state: 'Tombstone', node_state: 'Removed' });
    expect(c.removeStore('4', false)?.status).toBe(410);
    expect(c.putStore({ ...store('5', now.t), address: 'tikv-4:20160' })).toBeUndefined();
    expect(c.putStore({ ...store('6', now.t), address: 'tikv-2:20160' })).toMatch(/^duplicated store address/);
  });

  it('has a leader only while a majority of members runs, and keeps a live leader', () => {
    const now = { t: 1_800_000_000_000 };
    const c = cluster(now);
    const first = c.leader()!;
    const other = c.members.find((m) => m !== first)!;
    c.setRunning(other, false);
    expect(c.leader()).toBe(first);
    c.setRunning(first, false);
    expect(c.leader()).toBeUndefined();
    c.setRunning(other, true);
    expect(c.leader()?.running).toBe(true);
  });

  it('replicates a region: add a learner on the emptiest store (same peer id when resent), promote it, until max-replicas voters', () => {
    const now = { t: 1_800_000_000_000 };
    const c = withStores(3, now);
    const hb = (peers: Peer[], confVer: number, leader = peers[0]!) =>
      c.regionHeartbeat({ region: region(peers, confVer), leader, term: '1', approximate_size: String(1 << 20) }).step;
    const first = hb([voter('101', '1')], 1) as Extract<OperatorStep, { change_peer_v2: unknown }>;
    const add = first.change_peer_v2.changes[0]!;
    expect(add).toMatchObject({ change_type: 'AddLearnerNode', peer: { store_id: '2', role: 'Learner' } });
    expect(hb([voter('101', '1')], 1)).toEqual(first);
    const learner = { ...add.peer, role: 'Learner' as const };
    expect(hb([voter('101', '1'), learner], 2)).toEqual({ change_peer_v2: { changes: [{ change_type: 'AddNode', peer: { ...learner, role: 'Voter' } }] } });
    const second = hb([voter('101', '1'), { ...learner, role: 'Voter' }], 3) as Extract<OperatorStep, { change_peer_v2: unknown }>;
    expect(second.change_peer_v2.changes[0]).toMatchObject({ change_type: 'AddLearnerNode', peer: { store_id: '3' } });
    expect(hb([voter('101', '1'), voter(learner.id, '2'), voter('103', '3')], 5)).toBeUndefined();
    expect(c.counts('3')).toMatchObject({ regionCount: 1, leaderCount: 0 });
    expect(c.counts('1')).toMatchObject({ regionCount: 1, leaderCount: 1, regionSize: 1 });
  });

  it('moves a peer off an Offline store: replace it first, then move the leadership away, then remove it', () => {
    const now = { t: 1_800_000_000_000 };
    const c = withStores(4, now);
    const peers = [voter('101', '1'), voter('102', '2'), voter('103', '3')];
    const hb = (ps: Peer[], confVer: number, leader: Peer) =>
      c.regionHeartbeat({ region: region(ps, confVer), leader, term: '1' }).step;
    expect(hb(peers, 3, peers[0]!)).toBeUndefined();
    heartbeatAll(c);
    expect(c.removeStore('1', false)).toBeUndefined();
    const add = hb(peers, 3, peers[0]!) as Extract<OperatorStep, { change_peer_v2: unknown }>;
    expect(add.change_peer_v2.changes[0]).toMatchObject({ change_type: 'AddLearnerNode', peer: { store_id: '4' } });
    const replaced = [...peers, voter(add.change_peer_v2.changes[0]!.peer.id, '4')];
    expect(hb(replaced, 5, peers[0]!)).toMatchObject({ transfer_leader: { peer: { store_id: '2' } } });
    expect(hb(replaced, 5, peers[1]!)).toEqual({ change_peer_v2: { changes: [{ change_type: 'RemoveNode', peer: peers[0] }] } });
    expect(hb(replaced.slice(1), 6, peers[1]!)).toBeUndefined();
    c.checkStores();
    expect(c.stores.get('1')?.meta.state).toBe('Tombstone');
  });

  it('refuses a stale region heartbeat (older conf_ver) with PD\'s error', () => {
    const now = { t: 1_800_000_000_000 };
    const c = withStores(3, now);
    c.regionHeartbeat({ region: region([voter('101', '1')], 4), leader: voter('101', '1'), term: '2' });
    expect(c.regionHeartbeat({ region: region([voter('101', '1')], 3), leader: voter('101', '1'), term: '2' }).error).toMatch(
      /^\[PD:core:ErrRegionIsStale\]region is stale/,
    );
  });
});
