import { describe, expect, it } from 'vitest';
import type { Peer } from '../../env/pd/pdpb.js';
import {
  applyChangePeer,
  applyChangePeerV2,
  downPeers,
  elect,
  leaderPeer,
  newRegionEntry,
  splitRegion,
  transferLeader,
  usableSplitKeys,
} from '../../env/pd/region-book.js';

const voter = (id: string, store: string): Peer => ({ id, store_id: store, role: 'Voter' });
const learner = (id: string, store: string): Peer => ({ id, store_id: store, role: 'Learner' });

/** Region 2 with voters 3@1 (leader), 5@4, 7@6. */
function threeVoters() {
  const e = newRegionEntry('2', voter('3', '1'));
  applyChangePeer(e, { change_type: 'AddNode', peer: voter('5', '4') });
  applyChangePeer(e, { change_type: 'AddNode', peer: voter('7', '6') });
  return e;
}

describe('region book: PD operators applied as raft would', () => {
  it('bootstraps one voter, leader, epoch 1/1, empty key range', () => {
    const e = newRegionEntry('2', voter('3', '1'));
    expect(e.region.region_epoch).toEqual({ conf_ver: '1', version: '1' });
    expect(e.region.start_key.length + e.region.end_key.length).toBe(0);
    expect(leaderPeer(e)?.store_id).toBe('1');
  });

  it('adds a learner, promotes it, and bumps conf_ver once per change', () => {
    const e = newRegionEntry('2', voter('3', '1'));
    expect(applyChangePeer(e, { change_type: 'AddLearnerNode', peer: learner('5', '4') })).toBe(true);
    expect(applyChangePeer(e, { change_type: 'AddNode', peer: learner('5', '4') })).toBe(true);
    expect(e.region.peers).toEqual([voter('3', '1'), voter('5', '4')]);
    expect(e.region.region_epoch.conf_ver).toBe('3');
    // Repeating an applied step (PD resends until it sees it) changes nothing.
    expect(applyChangePeer(e, { change_type: 'AddNode', peer: voter('5', '4') })).toBe(false);
    expect(e.region.region_epoch.conf_ver).toBe('3');
  });

  it('removes a follower but never the leader', () => {
    const e = threeVoters();
    expect(applyChangePeer(e, { change_type: 'RemoveNode', peer: voter('3', '1') })).toBe(false);
    expect(applyChangePeer(e, { change_type: 'RemoveNode', peer: voter('7', '6') })).toBe(true);
    expect(e.region.peers.map((p) => p.store_id)).toEqual(['1', '4']);
  });

  it('applies a joint ChangePeerV2 in its final roles; an empty one (leave joint) is a no-op', () => {
    const e = threeVoters();
    applyChangePeer(e, { change_type: 'AddLearnerNode', peer: learner('9', '8') });
    const changed = applyChangePeerV2(e, [
      { change_type: 'AddNode', peer: learner('9', '8') },
      { change_type: 'AddLearnerNode', peer: voter('7', '6') },
    ]);
    expect(changed).toBe(true);
    expect(e.region.peers.find((p) => p.id === '9')?.role).toBe('Voter');
    expect(e.region.peers.find((p) => p.id === '7')?.role).toBe('Learner');
    const confVer = e.region.region_epoch.conf_ver;
    expect(applyChangePeerV2(e, [])).toBe(false);
    expect(e.region.region_epoch.conf_ver).toBe(confVer);
  });

  it('transfers leadership only to a live voter, with a new term', () => {
    const e = threeVoters();
    expect(transferLeader(e, '4', (s) => s !== '4')).toBe(false);
    expect(transferLeader(e, '4', () => true)).toBe(true);
    expect(leaderPeer(e)?.store_id).toBe('4');
    expect(e.term).toBe(2);
  });

  it('elects a live voter when the leader is down and a majority is live, else none', () => {
    const e = threeVoters();
    const down = new Set(['1']);
    const live = (s: string) => !down.has(s);
    expect(elect(e, live)).toBe(true);
    expect(leaderPeer(e)?.store_id).toBe('4');
    down.add('4');
    expect(elect(e, live)).toBe(true);
    expect(e.leaderPeerId).toBeUndefined();
    down.delete('1');
    expect(elect(e, live)).toBe(true);
    expect(leaderPeer(e)?.store_id).toBe('1');
    expect(elect(e, live)).toBe(false);
  });

  it('reports peers on down stores with their down time', () => {
    const e = threeVoters();
    const reported = downPeers(e, (s) => (s === '6' ? 42 : undefined));
    expect(reported).toEqual([{ peer: voter('7', '6'), down_seconds: '42' }]);
  });

  it('splits with right-derive: new regions take the left ranges, all versions grow by the key count', () => {
    const e = threeVoters();
    const [a, b] = [Buffer.from('r'), Buffer.from('x')];
    const keys = usableSplitKeys(e.region, [b, a, a, Buffer.alloc(0)]);
    expect(keys).toEqual([a, b]);
    const created = splitRegion(e, keys, [
      { new_region_id: '20', new_peer_ids: ['21', '22', '23'] },
      { new_region_id: '30', new_peer_ids: ['31', '32', '33'] },
    ]);
    expect(created.map((r) => [r.region.id, r.region.start_key.toString(), r.region.end_key.toString()])).toEqual([
      ['20', '', 'r'],
      ['30', 'r', 'x'],
    ]);
    expect([e.region.start_key.toString(), e.region.end_key.toString()]).toEqual(['x', '']);
    for (const r of [...created, e]) expect(r.region.region_epoch.version).toBe('3');
    // Same stores as the parent, fresh peer ids, led from the parent leader's store.
    expect(created[1]?.region.peers.map((p) => [p.id, p.store_id])).toEqual([
      ['31', '1'],
      ['32', '4'],
      ['33', '6'],
    ]);
    expect(created.map((r) => leaderPeer(r)?.store_id)).toEqual(['1', '1']);
    // Keys outside the (now narrower) range of the parent are ignored.
    expect(usableSplitKeys(e.region, [a, b])).toEqual([]);
  });
});
