// The raft side of the store stand-ins, reduced to what PD can observe: each region's peers,
// epoch, leader and term. PD's operators (add/remove/promote peer, transfer leader) arrive in
// RegionHeartbeat responses and are applied here at once, as if raft had committed them, so
// PD's region and leader counts per store follow PD's own scheduling.
import type { ChangePeer, Peer, Region, U64 } from './pdpb.js';

export interface RegionEntry {
  region: Region;
  /** Undefined while no leader can be elected (a majority of voters is down). */
  leaderPeerId: U64 | undefined;
  term: number;
}

const inc = (v: U64, by = 1): U64 => (BigInt(v) + BigInt(by)).toString();

export function newRegionEntry(regionId: U64, peer: Peer): RegionEntry {
  return {
    region: {
      id: regionId,
      start_key: Buffer.alloc(0),
      end_key: Buffer.alloc(0),
      region_epoch: { conf_ver: '1', version: '1' },
      peers: [peer],
    },
    leaderPeerId: peer.id,
    term: 1,
  };
}

export function leaderPeer(e: RegionEntry): Peer | undefined {
  return e.region.peers.find((p) => p.id === e.leaderPeerId);
}

const isVoter = (p: Peer) => p.role === 'Voter' || p.role === 'IncomingVoter';

/**
 * Applies one conf change. Joint consensus is collapsed: a ChangePeerV2 lands in its final
 * roles at once, which PD accepts as both "entered" and "left" the joint state.
 * Returns whether the region changed.
 */
export function applyChangePeer(e: RegionEntry, change: ChangePeer): boolean {
  const peer = change.peer;
  if (!peer) return false;
  const peers = e.region.peers;
  const existing = peers.find((p) => p.id === peer.id);
  switch (change.change_type) {
    case 'AddNode':
    case 'AddLearnerNode': {
      const role = change.change_type === 'AddNode' ? 'Voter' : 'Learner';
      if (existing) {
        if (existing.role === role) return false;
        existing.role = role;
      } else {
        peers.push({ id: peer.id, store_id: peer.store_id, role });
      }
      break;
    }
    case 'RemoveNode': {
      // Raft never removes the leader itself; PD transfers leadership first.
      if (!existing || existing.id === e.leaderPeerId) return false;
      e.region.peers = peers.filter((p) => p.id !== peer.id);
      break;
    }
    default:
      return false;
  }
  e.region.region_epoch.conf_ver = inc(e.region.region_epoch.conf_ver);
  return true;
}

/** ChangePeerV2 with no changes means "leave the joint state", already done by applyChangePeer. */
export function applyChangePeerV2(e: RegionEntry, changes: readonly ChangePeer[]): boolean {
  let changed = false;
  for (const c of changes) changed = applyChangePeer(e, c) || changed;
  return changed;
}

/** Moves leadership to the voter on `toStore` if its store is live. */
export function transferLeader(e: RegionEntry, toStore: U64, isLive: (storeId: U64) => boolean): boolean {
  const target = e.region.peers.find((p) => p.store_id === toStore && isVoter(p));
  if (!target || target.id === e.leaderPeerId || !isLive(toStore)) return false;
  e.leaderPeerId = target.id;
  e.term += 1;
  return true;
}

/**
 * Raft election: the current leader keeps leading while live; otherwise a live voter takes
 * over if a majority of voters is live, else the region has no leader.
 * Returns whether the leader changed.
 */
export function elect(e: RegionEntry, isLive: (storeId: U64) => boolean): boolean {
  const current = leaderPeer(e);
  if (current && isLive(current.store_id)) return false;
  const voters = e.region.peers.filter(isVoter);
  const live = voters.filter((p) => isLive(p.store_id));
  const next = live.length * 2 > voters.length ? live[0] : undefined;
  if (next?.id === e.leaderPeerId) return false;
  if (next === undefined && e.leaderPeerId === undefined) return false;
  e.leaderPeerId = next?.id;
  e.term += 1;
  return true;
}

/** Peers whose store is down, with how long, as the leader reports them to PD. */
export function downPeers(
  e: RegionEntry,
  downSeconds: (storeId: U64) => number | undefined,
): { peer: Peer; down_seconds: string }[] {
  return e.region.peers.flatMap((peer) => {
    const s = downSeconds(peer.store_id);
    return s === undefined ? [] : [{ peer, down_seconds: String(s) }];
  });
}
