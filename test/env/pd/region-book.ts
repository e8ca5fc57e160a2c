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

/** What PD's AskBatchSplit hands out: one new region id and one peer id per existing peer. */
export interface SplitIds {
  new_region_id: U64;
  new_peer_ids: U64[];
}

/** The split keys strictly inside the region's range, sorted and without duplicates. */
export function usableSplitKeys(region: Region, keys: readonly Buffer[]): Buffer[] {
  const inside = keys.filter(
    (k) => k.length > 0 && Buffer.compare(k, region.start_key) > 0 && (region.end_key.length === 0 || Buffer.compare(k, region.end_key) < 0),
  );
  const sorted = [...inside].sort(Buffer.compare);
  return sorted.filter((k, i) => i === 0 || !k.equals(sorted[i - 1]!));
}

/**
 * Batch split as TiKV does it with right-derive (its default): the new regions take the left
 * ranges [start,k1), [k1,k2), …, the original region keeps [kn,end); every part's epoch
 * version grows by the number of keys. New peers mirror the old ones (same stores, roles),
 * and each new region is led from the store that led the original.
 */
export function splitRegion(e: RegionEntry, keys: readonly Buffer[], ids: readonly SplitIds[]): RegionEntry[] {
  if (keys.length === 0 || ids.length !== keys.length) return [];
  const version = inc(e.region.region_epoch.version, keys.length);
  const leaderStore = leaderPeer(e)?.store_id;
  const created: RegionEntry[] = keys.map((key, i) => {
    const split = ids[i]!;
    const peers = e.region.peers.map((p, j) => ({ ...p, id: split.new_peer_ids[j] ?? p.id }));
    return {
      region: {
        id: split.new_region_id,
        start_key: i === 0 ? e.region.start_key : keys[i - 1]!,
        end_key: key,
        region_epoch: { conf_ver: e.region.region_epoch.conf_ver, version },
        peers,
      },
      leaderPeerId: peers.find((p) => p.store_id === leaderStore)?.id,
      term: e.term,
    };
  });
  e.region.start_key = keys[keys.length - 1]!;
  e.region.region_epoch.version = version;
  return created;
}
