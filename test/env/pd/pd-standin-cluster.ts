// The shared in-memory state of the PD stand-in (a TypeScript imitation of pd-server v8.5.5
// for machines where pd-server cannot be built): membership and leadership, the id
// allocator, bootstrap, stores with PD's state rules, the region table fed by region
// heartbeats, and a small replica checker that answers heartbeats with operator steps.
// The rules follow pd v8.5.5 (server/cluster/cluster.go, pkg/core/store.go,
// pkg/response/store.go, server/grpc_service.go); what is simplified is said where it is.
import type { Peer, Region, U64 } from './pdpb.js';

export type StoreStateName = 'Up' | 'Offline' | 'Tombstone';
export type NodeStateName = 'Preparing' | 'Serving' | 'Removing' | 'Removed';

/** metapb.Store as the stand-in keeps it (proto field names; enums by name; int64/uint64 as strings). */
export interface MetaStore {
  id: U64;
  address: string;
  state: StoreStateName;
  labels: { key: string; value: string }[];
  version: string;
  peer_address: string;
  status_address: string;
  git_hash: string;
  start_timestamp: string;
  deploy_path: string;
  /** Nanoseconds since the epoch. */
  last_heartbeat: string;
  physically_destroyed: boolean;
  node_state: NodeStateName;
}

/** The pdpb.StoreStats fields the stand-in reads (the rest is kept as received). */
export interface StoreStats {
  store_id?: U64;
  capacity?: string;
  available?: string;
  used_size?: string;
  slow_score?: string;
  is_busy?: boolean;
  sending_snap_count?: number;
  receiving_snap_count?: number;
  [k: string]: unknown;
}

export interface StoreRecord {
  meta: MetaStore;
  stats: StoreStats | undefined;
}

export interface RegionRecord {
  region: Region;
  leader: Peer;
  term: bigint;
  /** approximate_size in MiB, at least 1 for a non-empty region (as PD rounds it). */
  sizeMiB: number;
  approximateKeys: string;
  pendingPeers: Peer[];
  downPeers: { peer: Peer; down_seconds: string }[];
}

export interface RegionHeartbeatIn {
  region: Region | null;
  leader: Peer | null;
  term?: string;
  approximate_size?: string;
  approximate_keys?: string;
  pending_peers?: Peer[];
  down_peers?: { peer: Peer | null; down_seconds?: string }[];
}

export interface StandinMember {
  readonly index: number;
  readonly name: string;
  readonly id: U64;
  /** What the member advertises (etcd publishes it when the member starts). */
  clientURL: string;
  /** Nothing listens there: the members share this object instead of talking raft. */
  readonly peerURL: string;
  running: boolean;
  removed: boolean;
}

export interface ReplicationConfig {
  maxReplicas: number;
  locationLabels: string[];
  strictlyMatchLabel: boolean;
  enablePlacementRules: boolean;
  enablePlacementRulesCache: boolean;
  isolationLevel: string;
}

/** One operator step in a RegionHeartbeatResponse (the fields besides header/region_id). */
export type OperatorStep =
  | { change_peer: ChangePeerMsg }
  | { change_peer_v2: { changes: ChangePeerMsg[] } }
  | { transfer_leader: { peer: Peer; peers: Peer[] } };
interface ChangePeerMsg {
  change_type: 'AddNode' | 'RemoveNode' | 'AddLearnerNode';
  peer: Peer;
}

/** PD's error strings (pingcap/errors Normalize: `[RFC code]message`). */
export const pdErr = {
  notBootstrapped: () => '[PD:cluster:ErrNotBootstrapped]TiKV cluster not bootstrapped, please start TiKV first',
  storeNotFound: (id: U64) => `[PD:core:ErrStoreNotFound]store ${id} not found`,
  storeRemoved: (id: U64) => `[PD:core:ErrStoreRemoved]store ${id} has been removed`,
  storeDestroyed: (id: U64) => `[PD:core:ErrStoreDestroyed]store ${id} has been physically destroyed`,
  storesNotEnough: (id: U64, up: number, need: number) =>
    `[PD:core:ErrStoresNotEnough]can not remove store ${id} since the number of up stores would be ${up} while need ${need}`,
  noStoreForLeader: (id: U64) => `[PD:core:ErrNoStoreForRegionLeader]can not remove store ${id} since there are no extra up store to store the leader`,
  redirectNoLeader: () => '[PD:apiutil:ErrRedirectNoLeader]redirect finds no leader',
};

export interface StandinClusterOptions {
  /** Up → Disconnected after this long without a store heartbeat (PD: 20 s, fixed). */
  disconnectAfterMs: number;
  /** Up → Down after this long (PD's schedule.max-store-down-time). */
  maxStoreDownTimeMs: number;
  maxReplicas?: number;
  now?: () => number;
  log?: (s: string) => void;
}

/** pd v8.5.5 schedule config DefaultSchedulers. */
const DEFAULT_SCHEDULERS = [
  'balance-region-scheduler',
  'balance-leader-scheduler',
  'balance-hot-region-scheduler',
  'evict-slow-store-scheduler',
  'evict-stopping-store-scheduler',
];
export const EVICT_LEADER = 'evict-leader-scheduler';

/** PD treats a cluster below this many regions as new: Preparing stores serve at once. */
const INIT_CLUSTER_REGION_THRESHOLD = 100;
/** PD's max-store-preparing-time default (48 h). */
const MAX_STORE_PREPARING_NS = 48n * 3600n * 1_000_000_000n;
const MIB = 1024 * 1024;

const byId = (a: { id: U64 }, b: { id: U64 }) => compareU64(a.id, b.id);
export const compareU64 = (a: U64, b: U64) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);
const isLearner = (p: Peer) => p.role === 'Learner';

/** A random 64-bit id above 2^63, the range etcd member ids and PD cluster ids usually fall in. */
export function randomU64(): U64 {
  const hi = BigInt(Math.floor(Math.random() * 2 ** 31)) | (1n << 31n);
  const lo = BigInt(Math.floor(Math.random() * 2 ** 32));
  return ((hi << 32n) | lo).toString();
}

/** PD's cluster id: the Unix time in the high 32 bits, random low bits. */
export function newClusterId(nowMs: number): U64 {
  return ((BigInt(Math.floor(nowMs / 1000)) << 32n) | BigInt(Math.floor(Math.random() * 2 ** 32))).toString();
}

export class StandinCluster {
  readonly clusterId: U64;
  readonly members: StandinMember[];
  readonly stores = new Map<U64, StoreRecord>();
  readonly regions = new Map<U64, RegionRecord>();
  readonly replication: ReplicationConfig;
  bootstrapped = false;
  /** Scheduler names as GET /schedulers lists them; only evict-leader-scheduler changes what the stand-in does. */
  readonly schedulers: string[] = [...DEFAULT_SCHEDULERS];
  /** The stores of the one evict-leader-scheduler (PD v8 keeps all evicted stores in it). */
  readonly evictLeaderStores = new Set<U64>();
  private leaderIndex: number | undefined;
  private lastId = 0n;
  /** Learner peers already proposed per region, so a resent step reuses the same peer id. */
  private readonly proposedLearners = new Map<U64, Peer>();
  private readonly now: () => number;
  private readonly log: (s: string) => void;

  constructor(
    members: Omit<StandinMember, 'running' | 'removed'>[],
    readonly opts: StandinClusterOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? (() => {});
    this.clusterId = newClusterId(this.now());
    this.members = members.map((m) => ({ ...m, running: false, removed: false }));
    this.replication = {
      maxReplicas: opts.maxReplicas ?? 3,
      locationLabels: [],
      strictlyMatchLabel: false,
      enablePlacementRules: true,
      enablePlacementRulesCache: false,
      isolationLevel: '',
    };
  }

  private nowNs(): bigint {
    return BigInt(this.now()) * 1_000_000n;
  }

  // ---- members and leadership (etcd's job in pd-server) ---------------------------------

  /** The etcd member list: members not removed, ordered by id like etcd's MemberList. */
  memberList(): StandinMember[] {
    return this.members.filter((m) => !m.removed).sort(byId);
  }

  leader(): StandinMember | undefined {
    return this.leaderIndex === undefined ? undefined : this.members[this.leaderIndex];
  }

  isLeader(m: StandinMember): boolean {
    return this.leaderIndex === m.index;
  }

  private hasQuorum(): boolean {
    const voting = this.memberList();
    return voting.filter((m) => m.running).length * 2 > voting.length;
  }

  /** Keeps a live leader; otherwise a running member takes over if a majority runs. */
  reelect(): void {
    const current = this.leader();
    let next: StandinMember | undefined;
    if (this.hasQuorum()) {
      next = current?.running && !current.removed ? current : this.memberList().find((m) => m.running);
    }
    if (next?.index === this.leaderIndex) return;
    this.leaderIndex = next?.index;
    this.log(next ? `${next.name} is the PD leader now` : 'no PD leader: fewer than a majority of the members run');
  }

  /** etcd's MemberAdd: a new member (not running until it starts). */
  addMember(m: Omit<StandinMember, 'index' | 'running' | 'removed'>): StandinMember {
    const member: StandinMember = { ...m, index: this.members.length, running: false, removed: false };
    this.members.push(member);
    this.log(`member ${member.name} (${member.id}) added`);
    return member;
  }

  setRunning(m: StandinMember, running: boolean): void {
    m.running = running;
    this.reelect();
  }

  /** POST /leader/transfer/{name}: moves the etcd (and so PD) leadership. Returns an error text. */
  transferLeader(name: string): string | undefined {
    const target = this.memberList().find((m) => m.name === name);
    if (!target) return 'no valid pd to transfer etcd leader';
    if (!target.running) return '[PD:etcd:ErrEtcdMoveLeader]etcdserver: request timed out, leader transfer took too long';
    this.leaderIndex = target.index;
    this.log(`${target.name} is the PD leader now (transferred)`);
    return undefined;
  }

  /**
   * DELETE /members/name/{name}: etcd member removal with its strict reconfiguration check
   * (the remaining members must keep a running majority). The removed member stops serving.
   */
  removeMember(name: string): { status: 'removed' | 'not-found' } | { status: 'error'; message: string } {
    const m = this.memberList().find((x) => x.name === name);
    if (!m) return { status: 'not-found' };
    const remaining = this.memberList().filter((x) => x !== m);
    if (remaining.filter((x) => x.running).length * 2 <= remaining.length) {
      return { status: 'error', message: 'etcdserver: re-configuration failed due to not enough started members' };
    }
    m.removed = true;
    m.running = false;
    this.reelect();
    return { status: 'removed' };
  }

  // ---- ids and bootstrap ----------------------------------------------------------------

  allocId(): U64 {
    this.lastId += 1n;
    return this.lastId.toString();
  }

  /** Bootstrap's checks (server/util.go checkBootstrapRequest), then the store and first region. */
  bootstrap(store: MetaStore | null, region: Region | null): string | undefined {
    const cid = this.clusterId;
    if (!store) return `missing store meta for bootstrap ${cid}`;
    if (store.id === '0') return 'invalid zero store id';
    if (!region) return `missing region meta for bootstrap ${cid}`;
    if (region.start_key.length > 0 || region.end_key.length > 0) {
      return `invalid first region key range, must all be empty for bootstrap ${cid}`;
    }
    if (region.id === '0') return 'invalid zero region id';
    if (region.peers.length !== 1) return `invalid first region peer count ${region.peers.length}, must be 1 for bootstrap ${cid}`;
    const peer = region.peers[0]!;
    if (peer.store_id !== store.id) return `invalid peer store id ${peer.store_id} != ${store.id} for bootstrap ${cid}`;
    if (peer.id === '0') return `invalid zero peer id for bootstrap ${cid}`;
    this.stores.set(store.id, { meta: { ...store }, stats: undefined });
    this.regions.set(region.id, { region, leader: peer, term: 0n, sizeMiB: 0, approximateKeys: '0', pendingPeers: [], downPeers: [] });
    this.bootstrapped = true;
    this.log(`bootstrapped by store ${store.id} (${store.address}) with region ${region.id}`);
    return undefined;
  }

  // ---- stores ---------------------------------------------------------------------------

  /** PutMetaStore: a new store as sent; a known one keeps its state, other fields follow TiKV. */
  putStore(store: MetaStore): string | undefined {
    if (store.id === '0') return `invalid put store ${describeStore(store)}`;
    for (const s of this.stores.values()) {
      if (s.meta.node_state === 'Removed' || s.meta.physically_destroyed) continue;
      if (s.meta.id !== store.id && s.meta.address === store.address) {
        return `duplicated store address: ${describeStore(store)}, already registered by ${describeStore(s.meta)}`;
      }
    }
    const known = this.stores.get(store.id);
    if (!known) {
      this.stores.set(store.id, { meta: { ...store }, stats: undefined });
      this.log(`store ${store.id} (${store.address}) added`);
      return undefined;
    }
    const labels = mergeLabels(known.meta.labels, store.labels);
    Object.assign(known.meta, {
      address: store.address,
      status_address: store.status_address,
      peer_address: store.peer_address,
      git_hash: store.git_hash,
      version: store.version,
      labels,
      start_timestamp: store.start_timestamp,
      deploy_path: store.deploy_path,
    });
    return undefined;
  }

  /** HandleStoreHeartbeat: new stats and last heartbeat = now. */
  storeHeartbeat(stats: StoreStats): { error?: string; nodeState?: NodeStateName } {
    const s = this.stores.get(String(stats.store_id ?? '0'));
    if (!s) return { error: `store ${stats.store_id} not found` };
    const nodeState = s.meta.node_state;
    s.stats = stats;
    s.meta.last_heartbeat = this.nowNs().toString();
    return { nodeState };
  }

  /** The lowest store version (PD's cluster version), for StoreHeartbeatResponse.cluster_version. */
  clusterVersion(): string {
    const versions = [...this.stores.values()].filter((s) => s.meta.node_state !== 'Removed').map((s) => s.meta.version);
    return versions.sort(compareVersions)[0] ?? '0.0.0';
  }

  private downNs(s: StoreRecord): bigint {
    return this.nowNs() - BigInt(s.meta.last_heartbeat || '0');
  }

  isDown(s: StoreRecord): boolean {
    return this.downNs(s) > BigInt(this.opts.maxStoreDownTimeMs) * 1_000_000n;
  }

  isDisconnected(s: StoreRecord): boolean {
    return this.downNs(s) > BigInt(this.opts.disconnectAfterMs) * 1_000_000n;
  }

  /** state_name as BuildStoreInfo computes it: Up becomes Down, then Disconnected, by heartbeat age. */
  stateName(s: StoreRecord): string {
    if (s.meta.state !== 'Up') return s.meta.state;
    if (this.isDown(s)) return 'Down';
    if (this.isDisconnected(s)) return 'Disconnected';
    return 'Up';
  }

  private isUp(s: StoreRecord): boolean {
    return s.meta.node_state === 'Preparing' || s.meta.node_state === 'Serving';
  }

  /** DELETE /store/{id} (RemoveStore): Offline, unless too few Up stores would be left. */
  removeStore(id: U64, physicallyDestroyed: boolean): { status: 404 | 410 | 400; message: string } | undefined {
    const s = this.stores.get(id);
    if (!s) return { status: 404, message: pdErr.storeNotFound(id) };
    if (s.meta.node_state === 'Removing' && s.meta.physically_destroyed === physicallyDestroyed) return undefined;
    if (s.meta.node_state === 'Removed') return { status: 410, message: pdErr.storeRemoved(id) };
    if (s.meta.physically_destroyed) return { status: 400, message: pdErr.storeDestroyed(id) };
    if (this.isUp(s) && !physicallyDestroyed) {
      const remainingUp = [...this.stores.values()].filter((x) => this.isUp(x) && x !== s).map((x) => x.meta.id);
      if (remainingUp.length < this.replication.maxReplicas) {
        return { status: 400, message: pdErr.storesNotEnough(id, remainingUp.length, this.replication.maxReplicas) };
      }
      // checkReplicaBeforeOfflineStore: the leaders need a store that is not evicting them.
      if (remainingUp.every((x) => this.evictLeaderStores.has(x))) {
        return { status: 400, message: pdErr.noStoreForLeader(id) };
      }
    }
    Object.assign(s.meta, { state: 'Offline', node_state: 'Removing', physically_destroyed: physicallyDestroyed });
    this.log(`store ${id} (${s.meta.address}) is Offline`);
    return undefined;
  }

  /** POST /store/{id}/state?state=Up (UpStore): cancels an Offline. */
  upStore(id: U64): { status: 404 | 410 | 400; message: string } | undefined {
    const s = this.stores.get(id);
    if (!s) return { status: 404, message: pdErr.storeNotFound(id) };
    if (s.meta.node_state === 'Removed') return { status: 410, message: pdErr.storeRemoved(id) };
    if (s.meta.physically_destroyed) return { status: 400, message: pdErr.storeDestroyed(id) };
    if (this.isUp(s)) return undefined;
    Object.assign(s.meta, { state: 'Up', node_state: 'Serving' });
    this.log(`store ${id} (${s.meta.address}) is Up again`);
    return undefined;
  }

  /**
   * PD's node state check job (checkStores): Preparing → Serving while the cluster is new,
   * Offline (Removing) → Tombstone once no region has a peer on the store. Runs on the leader.
   */
  checkStores(): void {
    if (!this.bootstrapped || !this.leader()) return;
    for (const s of this.stores.values()) {
      if (s.meta.node_state === 'Preparing' && this.preparedEnough(s)) {
        Object.assign(s.meta, { state: 'Up', node_state: 'Serving' });
        this.log(`store ${s.meta.id} is serving`);
      } else if (s.meta.node_state === 'Removing' && this.counts(s.meta.id).regionCount === 0) {
        Object.assign(s.meta, { state: 'Tombstone', node_state: 'Removed' });
        this.log(`store ${s.meta.id} (${s.meta.address}) is Tombstone`);
      }
    }
  }

  /** PD also serves a store that holds its share of regions; with < 100 regions every store qualifies. */
  private preparedEnough(s: StoreRecord): boolean {
    const uptime = BigInt(s.meta.last_heartbeat || '0') - BigInt(s.meta.start_timestamp || '0') * 1_000_000_000n;
    return this.regions.size < INIT_CLUSTER_REGION_THRESHOLD || uptime >= MAX_STORE_PREPARING_NS;
  }

  /** Per-store figures PD derives from its region tree (region heartbeats), not from TiKV's own counts. */
  counts(storeId: U64) {
    let regionCount = 0;
    let leaderCount = 0;
    let learnerCount = 0;
    let regionSize = 0;
    let leaderSize = 0;
    let pendingPeerCount = 0;
    for (const r of this.regions.values()) {
      const peer = r.region.peers.find((p) => p.store_id === storeId);
      if (!peer) continue;
      regionCount++;
      regionSize += r.sizeMiB;
      if (isLearner(peer)) learnerCount++;
      if (r.pendingPeers.some((p) => p.id === peer.id)) pendingPeerCount++;
      if (r.leader.store_id === storeId) {
        leaderCount++;
        leaderSize += r.sizeMiB;
      }
    }
    return { regionCount, leaderCount, learnerCount, regionSize, leaderSize, pendingPeerCount };
  }

  // ---- regions --------------------------------------------------------------------------

  /**
   * A region heartbeat from its leader: stale reports are refused like PD's region check
   * (older epoch or term); otherwise the region is recorded and the next operator step, if
   * any, is returned for the leader's stream.
   */
  regionHeartbeat(req: RegionHeartbeatIn): { error?: string; step?: OperatorStep; region?: RegionRecord } {
    const { region, leader } = req;
    if (!leader || leader.id === '0') return { error: `invalid request leader, region ${region?.id ?? 0}` };
    if (!region || region.id === '0') return { error: 'invalid request region' };
    if (region.peers.length === 0) return { error: `invalid region, zero region peer count: region ${region.id}` };
    const origin = this.regions.get(region.id);
    const term = BigInt(req.term ?? '0');
    if (origin && isStale(region, term, origin)) {
      return { error: `[PD:core:ErrRegionIsStale]region is stale: region ${describeRegion(region)} origin ${describeRegion(origin.region)}` };
    }
    const bytes = Number(req.approximate_size ?? '0');
    const record: RegionRecord = {
      region,
      leader,
      term,
      sizeMiB: bytes > 0 ? Math.max(1, Math.floor(bytes / MIB)) : 0,
      approximateKeys: req.approximate_keys ?? '0',
      pendingPeers: req.pending_peers ?? [],
      downPeers: (req.down_peers ?? []).flatMap((d) => (d.peer ? [{ peer: d.peer, down_seconds: d.down_seconds ?? '0' }] : [])),
    };
    this.regions.set(region.id, record);
    return { region: record, step: this.nextStep(record) };
  }

  // ---- schedulers ---------------------------------------------------------------------

  /** POST /schedulers {name: evict-leader-scheduler, store_id}: creates the scheduler or adds the store to it. */
  addEvictLeader(storeId: U64): { ok: string } | { error: string } {
    if (!this.stores.has(storeId)) return { error: pdErr.storeNotFound(storeId) };
    const existed = this.schedulers.includes(EVICT_LEADER);
    this.evictLeaderStores.add(storeId);
    if (!existed) this.schedulers.push(EVICT_LEADER);
    this.log(`${EVICT_LEADER}: evicting leaders from store ${storeId}`);
    return { ok: existed ? 'The scheduler has been applied to the store.' : 'The scheduler is created.' };
  }

  /** scheduler-config/evict-leader-scheduler/delete/{id}: the last store removes the scheduler. */
  removeEvictLeader(storeId: U64): { ok: string | null } | { error: string } {
    if (!this.evictLeaderStores.delete(storeId)) {
      return { error: '[PD:scheduler:ErrScheduleConfigNotExist]the config does not exist' };
    }
    this.log(`${EVICT_LEADER}: store ${storeId} no longer evicted`);
    if (this.evictLeaderStores.size > 0) return { ok: null };
    this.removeScheduler(EVICT_LEADER);
    return { ok: 'The last store has been deleted' };
  }

  /** Adds a scheduler by name (only a name here, except evict-leader-scheduler). */
  addScheduler(name: string): string | undefined {
    if (this.schedulers.includes(name)) return '[PD:scheduler:ErrSchedulerExisted]scheduler existed';
    this.schedulers.push(name);
    return undefined;
  }

  removeScheduler(name: string): string | undefined {
    const i = this.schedulers.indexOf(name);
    if (i < 0) return '[PD:scheduler:ErrSchedulerNotFound]scheduler not found';
    this.schedulers.splice(i, 1);
    if (name === EVICT_LEADER) this.evictLeaderStores.clear();
    return undefined;
  }

  /** AskBatchSplit: a known, not stale region gets one new region id and one peer id per peer, per split key. */
  askBatchSplit(region: Region | null, count: number): { error: string } | { ids: { new_region_id: U64; new_peer_ids: U64[] }[] } {
    if (!region) return { error: 'missing region for split' };
    const origin = this.regions.get(region.id);
    if (!origin) return { error: `[PD:region:ErrRegionNotFound]region ${region.id} not found` };
    if (isStale(region, 0n, origin)) return { error: `[PD:core:ErrRegionIsStale]region is stale: region ${describeRegion(region)}` };
    const ids = Array.from({ length: count }, () => ({
      new_region_id: this.allocId(),
      new_peer_ids: region.peers.map(() => this.allocId()),
    }));
    return { ids };
  }

  /**
   * A replica checker reduced to what the operator's flows need: make up missing voters on
   * the emptiest usable store (add learner, then promote), then drop a voter on a store that
   * is Offline, Tombstone or Down (moving the leader away first), then trim extra voters.
   * Steps are stateless: each heartbeat gets the step the region needs now, as PD resends an
   * unfinished step on every heartbeat.
   */
  private nextStep(r: RegionRecord): OperatorStep | undefined {
    const peers = r.region.peers;
    const proposed = this.proposedLearners.get(r.region.id);
    if (proposed && peers.some((p) => p.id === proposed.id)) this.proposedLearners.delete(r.region.id);

    const learner = peers.find(isLearner);
    if (learner) return this.isHealthyHome(learner.store_id) ? this.change('AddNode', { ...learner, role: 'Voter' }) : this.removeStep(r, learner);

    const voters = peers.filter((p) => !isLearner(p));
    const healthy = voters.filter((p) => this.isHealthyHome(p.store_id));
    const want = this.replication.maxReplicas;
    if (healthy.length < want) {
      const target = this.pickTarget(r);
      if (target) return this.addLearner(r, target);
    }
    const bad = voters.find((p) => !this.isHealthyHome(p.store_id));
    if (bad && healthy.length >= want) return this.removeStep(r, bad);
    if (voters.length > want) {
      const extra = this.mostLoaded(voters.filter((p) => p.id !== r.leader.id)) ?? this.mostLoaded(voters);
      if (extra) return this.removeStep(r, extra);
    }
    if (this.evictLeaderStores.has(r.leader.store_id)) return this.transferLeaderAway(r, r.leader);
    return undefined;
  }

  /** A store whose peers count toward the replicas: Up (not Offline/Tombstone) and not Down. */
  private isHealthyHome(storeId: U64): boolean {
    const s = this.stores.get(storeId);
    return s !== undefined && this.isUp(s) && s.meta.state === 'Up' && !this.isDown(s);
  }

  /** Where a new replica may go: healthy, heartbeating recently, not physically destroyed, no peer of this region. */
  private pickTarget(r: RegionRecord): U64 | undefined {
    const taken = new Set(r.region.peers.map((p) => p.store_id));
    const candidates = [...this.stores.values()].filter(
      (s) => !taken.has(s.meta.id) && this.isHealthyHome(s.meta.id) && !this.isDisconnected(s) && !s.meta.physically_destroyed,
    );
    candidates.sort((a, b) => this.counts(a.meta.id).regionCount - this.counts(b.meta.id).regionCount || compareU64(a.meta.id, b.meta.id));
    return candidates[0]?.meta.id;
  }

  private mostLoaded(peers: Peer[]): Peer | undefined {
    return [...peers].sort((a, b) => this.counts(b.store_id).regionCount - this.counts(a.store_id).regionCount)[0];
  }

  private addLearner(r: RegionRecord, storeId: U64): OperatorStep {
    let peer = this.proposedLearners.get(r.region.id);
    if (!peer || peer.store_id !== storeId) {
      peer = { id: this.allocId(), store_id: storeId, role: 'Learner' };
      this.proposedLearners.set(r.region.id, peer);
      this.log(`region ${r.region.id}: add learner ${peer.id} on store ${storeId}`);
    }
    return this.change('AddLearnerNode', peer);
  }

  /** Raft cannot remove its leader: transfer leadership to a live healthy voter first. */
  private removeStep(r: RegionRecord, victim: Peer): OperatorStep | undefined {
    if (victim.id !== r.leader.id) return this.change('RemoveNode', victim);
    return this.transferLeaderAway(r, victim);
  }

  /** To a voter on a healthy, heartbeating store that may take leaders (not evicted). */
  private transferLeaderAway(r: RegionRecord, from: Peer): OperatorStep | undefined {
    const to = r.region.peers.find((p) => {
      const s = this.stores.get(p.store_id);
      const usable = s !== undefined && this.isHealthyHome(p.store_id) && !this.isDisconnected(s);
      return p.id !== from.id && !isLearner(p) && usable && !this.evictLeaderStores.has(p.store_id);
    });
    return to ? { transfer_leader: { peer: to, peers: [to] } } : undefined;
  }

  /** ConfChangeV2 (one change) once every store is ≥ 5.0, as PD's useConfChangeV2; a plain ChangePeer before. */
  private change(changeType: ChangePeerMsg['change_type'], peer: Peer): OperatorStep {
    const msg = { change_type: changeType, peer };
    const major = Number(this.clusterVersion().split('.')[0]);
    return major >= 5 ? { change_peer_v2: { changes: [msg] } } : { change_peer: msg };
  }
}

function isStale(region: Region, term: bigint, origin: RegionRecord): boolean {
  const r = region.region_epoch;
  const o = origin.region.region_epoch;
  const termBehind = term > 0n && term < origin.term;
  return termBehind || BigInt(r.version) < BigInt(o.version) || BigInt(r.conf_ver) < BigInt(o.conf_ver);
}

function mergeLabels(old: MetaStore['labels'], next: MetaStore['labels']): MetaStore['labels'] {
  const out = old.map((l) => ({ ...l }));
  for (const l of next) {
    const same = out.find((o) => o.key.toLowerCase() === l.key.toLowerCase());
    if (same) same.value = l.value;
    else out.push({ ...l });
  }
  return out;
}

/** Roughly Go's compact protobuf text for the error messages that embed a store. */
function describeStore(s: MetaStore): string {
  return `id:${s.id} address:"${s.address}" version:"${s.version}"`;
}

function describeRegion(r: Region): string {
  return `id:${r.id} region_epoch:<conf_ver:${r.region_epoch.conf_ver} version:${r.region_epoch.version} > peers:${r.peers.length}`;
}

function compareVersions(a: string, b: string): number {
  const pa = a.replace(/^v/, '').split(/[.-]/).map(Number);
  const pb = b.replace(/^v/, '').split(/[.-]/).map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] || 0) - (pb[i] || 0);
    if (d !== 0) return d;
  }
  return 0;
}
