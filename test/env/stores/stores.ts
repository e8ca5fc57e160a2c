// TiKV store stand-ins: processes-less "stores" that register with a real PD over pdpb the
// way TiKV does (bootstrap or PutStore, store heartbeats, a RegionHeartbeat stream), so the
// store states a test sees (Up, Disconnected, Down, Offline, Tombstone) come from PD itself.
//
// Regions are simulated per Node process by default: stand-ins that share a PD cluster share
// one region table, PD's operators are applied to it, and when a leader's store stops
// heartbeating another live voter takes over (if a majority is live), as raft would. A
// RegionSim can put that table elsewhere: the real node's TiKV pods share theirs through
// the stand-in hub (test/env/node/standin), one store per pod.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { isTransient, PDClient, PdHeaderError, type Peer, type ProtoDirs, type RegionHeartbeatResponse, type Store, type U64 } from '../pd/pdpb.js';
import {
  applyChangePeer,
  applyChangePeerV2,
  downPeers,
  elect,
  leaderPeer,
  newRegionEntry,
  type RegionEntry,
  type SplitIds,
  splitRegion,
  transferLeader,
  usableSplitKeys,
} from '../pd/region-book.js';

export { loadProtoDirs, type ProtoDirs } from '../pd/pdpb.js';

export interface StoreStandin {
  readonly id: string;
  readonly address: string;
  pauseHeartbeats(): void;
  resumeHeartbeats(): void;
  stop(): Promise<void>;
  /** Regions with a peer on this store / led by this store, in this process's region table. */
  regionCount(): number;
  leaderCount(): number;
}

export interface StoreStandinOptions {
  pdEndpoints: string[];
  /** What TiKV advertises, e.g. `basic-tikv-0.basic-tikv-peer.default.svc:20160`. */
  address: string;
  protoDirs: ProtoDirs;
  capacityBytes?: number;
  heartbeatIntervalMs?: number;
  /** Defaults to the address's host with port 20180, like TiKV's status server. */
  statusAddress?: string;
  version?: string;
  labels?: Record<string, string>;
  log?: (s: string) => void;
  /** How long registration keeps retrying while PD has no leader (default 30 s). */
  registerTimeoutMs?: number;
  /**
   * The store's identity as TiKV keeps it in its data dir. Given, a store with an id restarts
   * as that store (and fails like TiKV when PD has made it a Tombstone or the cluster id
   * differs), and one without an id is a new store, whatever its address; `save` records an
   * id once PD assigned it. Without it, a store finds its id in PD by address.
   */
  identity?: StoreIdentity;
  /**
   * Asked right before the store is registered (Bootstrap or PutStore): a TiKV registers
   * only while its process runs, so a harness whose "process" is a pod answers whether that
   * pod still runs; false aborts the registration.
   */
  stillRunning?: () => Promise<boolean>;
  /** Where the region table lives (default: shared by the stand-ins of this process). */
  regionSim?: (clusterId: U64) => RegionSim | Promise<RegionSim>;
  /** Called once when the stand-in stops heartbeating by itself (PD made its store a Tombstone). */
  onSelfStop?: (why: string) => void;
}

export interface StoreIdentity {
  storeId?: U64;
  clusterId?: U64;
  save(id: { storeId: U64; clusterId: U64 }): void | Promise<void>;
}

/** What a RegionSim needs of a store. */
export interface SimStore {
  readonly id: U64;
  /** Heartbeating (not paused, not stopped). */
  readonly running: boolean;
  /** When it stopped heartbeating. */
  readonly downSince: number | undefined;
  reportRegion(e: RegionEntry): Promise<void>;
}

/** The raft side of one PD cluster's stores: their region table, who is live, leader elections. */
export interface RegionSim {
  join(store: SimStore): void;
  leave(store: SimStore): void;
  entries(): Iterable<RegionEntry>;
  get(regionId: U64): RegionEntry | undefined;
  /** Records entries the leader created or changed (a bootstrap region, a split, an applied operator). */
  commit(store: SimStore, entries: RegionEntry[]): void;
  /** Elects leaders where the current one is gone; returns the regions whose leader changed. */
  elect(): RegionEntry[];
  isLive(storeId: U64): boolean;
  /** Seconds since the store stopped heartbeating, undefined while it heartbeats. */
  downSeconds(storeId: U64): number | undefined;
  /** Asks the store now leading `e` to report it at once (after a leader transfer). */
  poke(storeId: U64, e: RegionEntry): Promise<void> | undefined;
}

const DEFAULT_CAPACITY = 10 * 1024 ** 3;
const REGION_SIZE_BYTES = 1024 ** 2;
const STORE_VERSION = '8.5.5';

/** The default RegionSim: the stand-ins and region table of one PD cluster (by cluster id) in this process. */
class LocalRegionSim implements RegionSim {
  readonly standins = new Map<U64, SimStore>();
  readonly regions = new Map<U64, RegionEntry>();

  join(store: SimStore): void {
    this.standins.set(store.id, store);
  }

  leave(): void {
    // A stopped stand-in stays known: its peers count as down, as a dead TiKV's would.
  }

  entries(): Iterable<RegionEntry> {
    return this.regions.values();
  }

  get(regionId: U64): RegionEntry | undefined {
    return this.regions.get(regionId);
  }

  commit(_store: SimStore, entries: RegionEntry[]): void {
    for (const e of entries) this.regions.set(e.region.id, e);
  }

  elect(): RegionEntry[] {
    return [...this.regions.values()].filter((e) => elect(e, (id) => this.isLive(id)));
  }

  isLive(storeId: U64): boolean {
    return this.standins.get(storeId)?.running ?? false;
  }

  downSeconds(storeId: U64): number | undefined {
    const since = this.standins.get(storeId)?.downSince;
    return since === undefined ? undefined : Math.floor((Date.now() - since) / 1000);
  }

  poke(storeId: U64, e: RegionEntry): Promise<void> | undefined {
    return this.standins.get(storeId)?.reportRegion(e);
  }
}
const localSims = new Map<U64, LocalRegionSim>();

function localRegionSim(clusterId: U64): LocalRegionSim {
  let c = localSims.get(clusterId);
  if (!c) {
    c = new LocalRegionSim();
    localSims.set(clusterId, c);
  }
  return c;
}

const nowSec = () => Math.floor(Date.now() / 1000);

/** Registers a store with PD (bootstrapping the cluster if nobody has) and starts heartbeating. */
export async function startStoreStandin(opts: StoreStandinOptions): Promise<StoreStandin> {
  const pd = new PDClient(opts.pdEndpoints, opts.protoDirs);
  const s = new StandinImpl(pd, opts);
  const deadline = Date.now() + (opts.registerTimeoutMs ?? 30_000);
  for (;;) {
    try {
      await s.register();
      return s;
    } catch (e) {
      // A PD that is electing a leader (or restarting a member) is worth waiting for.
      if (Date.now() < deadline && isTransient(e)) {
        pd.resetLeader();
        await sleep(500);
        continue;
      }
      pd.close();
      throw new Error(`store stand-in ${opts.address}: ${(e as Error).message}`);
    }
  }
}

class StandinImpl implements StoreStandin, SimStore {
  readonly address: string;
  private storeId: U64 | undefined;
  private sim: RegionSim | undefined;
  private readonly startedAt = nowSec();
  private lastHeartbeatSec = nowSec();
  private paused = false;
  private stopped = false;
  downSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private stream: ClientDuplexStream<object, RegionHeartbeatResponse> | undefined;
  private lastError = '';
  /** Regions with a split in flight (PD repeats its split request on every heartbeat). */
  private readonly splitting = new Set<U64>();

  constructor(
    private readonly pd: PDClient,
    private readonly opts: StoreStandinOptions,
  ) {
    this.address = opts.address;
  }

  get id(): string {
    if (!this.storeId) throw new Error(`store stand-in ${this.address} has no id yet`);
    return this.storeId;
  }

  // ---- registration --------------------------------------------------------------------

  async register(): Promise<void> {
    const identity = this.opts.identity;
    const { bootstrapped } = await this.pd.call<{ header: null; bootstrapped: boolean }>('IsBootstrapped', {});
    if (identity?.clusterId && identity.clusterId !== this.pd.clusterId) {
      // TiKV's check_store: the data dir belongs to another cluster.
      throw new Error(
        `cluster ID mismatch, local ${identity.clusterId} != remote ${this.pd.clusterId}, you are trying to connect to another cluster, please reconnect to the correct PD`,
      );
    }
    this.sim = await (this.opts.regionSim ?? localRegionSim)(this.pd.clusterId);
    if (!bootstrapped && !identity?.storeId && (await this.tryBootstrap())) {
      this.log(`bootstrapped the cluster as store ${this.storeId}`);
    } else {
      this.storeId ??= identity ? (identity.storeId ?? (await this.allocId())) : ((await this.existingStoreId()) ?? (await this.allocId()));
      // TiKV writes the id it was given to its data dir before it registers: a retry keeps it.
      if (identity && identity.storeId !== this.storeId) await identity.save({ storeId: this.id, clusterId: this.pd.clusterId });
      await this.checkRunning();
      await this.pd.call('PutStore', { store: this.storeMessage() });
      this.log(`registered as store ${this.storeId}`);
    }
    if (identity && identity.storeId !== this.storeId) await identity.save({ storeId: this.id, clusterId: this.pd.clusterId });
    this.sim.join(this);
    await this.storeHeartbeat();
    this.timer = setInterval(() => void this.tick(), this.opts.heartbeatIntervalMs ?? 1_000);
    this.timer.unref();
  }

  /** Bootstrap with the first region; false when another store won the race. */
  private async tryBootstrap(): Promise<boolean> {
    this.storeId = await this.allocId();
    const regionId = await this.allocId();
    const peer: Peer = { id: await this.allocId(), store_id: this.storeId, role: 'Voter' };
    const entry = newRegionEntry(regionId, peer);
    try {
      await this.checkRunning();
      await this.pd.call('Bootstrap', { store: this.storeMessage(), region: entry.region });
    } catch (e) {
      // The loser of a race sees ALREADY_BOOTSTRAPPED, or UNKNOWN when its etcd txn conflicted.
      if (!(e instanceof PdHeaderError)) throw e;
      const again = await this.pd.call<{ header: null; bootstrapped: boolean }>('IsBootstrapped', {});
      if (!again.bootstrapped) throw e;
      return false;
    }
    this.sim?.commit(this, [entry]);
    return true;
  }

  private async checkRunning(): Promise<void> {
    if (this.opts.stillRunning && !(await this.opts.stillRunning())) throw new Error('its process is gone; not registering');
  }

  /** A restarted TiKV keeps its store id (it lives in the data dir); same address ⇒ same store. */
  private async existingStoreId(): Promise<U64 | undefined> {
    const res = await this.pd.call<{ header: null; stores: Store[] }>('GetAllStores', { exclude_tombstone_stores: true });
    return res.stores.find((s) => s.address === this.address && s.state !== 'Tombstone')?.id;
  }

  private async allocId(): Promise<U64> {
    return (await this.pd.call<{ header: null; id: U64 }>('AllocID', {})).id;
  }

  private storeMessage(): Partial<Store> & { last_heartbeat: string } {
    const host = this.address.replace(/:\d+$/, '');
    return {
      id: this.id,
      address: this.address,
      peer_address: this.address,
      status_address: this.opts.statusAddress ?? `${host}:20180`,
      version: this.opts.version ?? STORE_VERSION,
      git_hash: 'store-standin',
      state: 'Up',
      start_timestamp: String(this.startedAt),
      last_heartbeat: String(BigInt(Date.now()) * 1_000_000n),
      deploy_path: '/standin',
      labels: Object.entries(this.opts.labels ?? {}).map(([key, value]) => ({ key, value })),
    };
  }

  // ---- heartbeats ----------------------------------------------------------------------

  get running(): boolean {
    return !this.paused && !this.stopped;
  }

  private async tick(): Promise<void> {
    if (!this.running || this.ticking) return;
    this.ticking = true;
    try {
      await this.storeHeartbeat();
      await this.regionHeartbeats();
    } catch (e) {
      if (e instanceof PdHeaderError && e.type === 'STORE_TOMBSTONE') {
        // TiKV exits once PD has buried its store; so does the stand-in.
        this.log('PD reports this store as Tombstone; stopping');
        await this.stop();
        this.opts.onSelfStop?.('store is tombstone');
        return;
      }
      this.noteError(e);
    } finally {
      this.ticking = false;
    }
  }

  private async storeHeartbeat(): Promise<void> {
    const now = nowSec();
    const capacity = this.opts.capacityBytes ?? DEFAULT_CAPACITY;
    const used = this.regionCount() * REGION_SIZE_BYTES;
    await this.pd.call('StoreHeartbeat', {
      stats: {
        store_id: this.id,
        capacity: String(capacity),
        available: String(Math.max(0, capacity - used)),
        used_size: String(used),
        region_count: this.regionCount(),
        start_time: this.startedAt,
        is_busy: false,
        slow_score: '1',
        interval: { start_timestamp: String(this.lastHeartbeatSec), end_timestamp: String(now) },
      },
    });
    this.lastHeartbeatSec = now;
  }

  private async regionHeartbeats(): Promise<void> {
    const sim = this.sim;
    if (!sim) return;
    sim.elect();
    for (const e of this.ledRegions()) await this.reportRegion(e);
  }

  private ledRegions(): RegionEntry[] {
    return [...(this.sim?.entries() ?? [])].filter((e) => leaderPeer(e)?.store_id === this.storeId);
  }

  async reportRegion(e: RegionEntry): Promise<void> {
    if (!this.running) return;
    const stream = this.stream ?? (await this.openStream());
    const now = nowSec();
    stream.write({
      header: { cluster_id: this.pd.clusterId },
      region: e.region,
      leader: leaderPeer(e),
      down_peers: downPeers(e, this.downSeconds),
      pending_peers: [],
      approximate_size: String(REGION_SIZE_BYTES),
      approximate_keys: '1000',
      term: String(e.term),
      interval: { start_timestamp: String(now - 1), end_timestamp: String(now) },
    });
  }

  private async openStream(): Promise<ClientDuplexStream<object, RegionHeartbeatResponse>> {
    const stream = await this.pd.openRegionHeartbeat();
    const drop = (why: string) => {
      if (this.stream === stream) this.stream = undefined;
      if (why) this.noteError(new Error(`region heartbeat stream: ${why}`));
    };
    stream.on('data', (res: RegionHeartbeatResponse) => this.onRegionResponse(res));
    stream.on('error', (err: Error) => {
      drop(err.message);
      this.pd.resetLeader();
    });
    stream.on('end', () => drop(''));
    this.stream = stream;
    return stream;
  }

  /** PD's answer to a region heartbeat: an operator step to apply, as TiKV's raftstore would. */
  private onRegionResponse(res: RegionHeartbeatResponse): void {
    if (res.header?.error && res.header.error.type !== 'OK') {
      this.noteError(new Error(`region heartbeat: ${res.header.error.type}: ${res.header.error.message}`));
      return;
    }
    const sim = this.sim;
    const e = sim?.get(res.region_id);
    if (!sim || !e || leaderPeer(e)?.store_id !== this.storeId || !this.running) return;
    let changed = false;
    if (res.change_peer) changed = applyChangePeer(e, res.change_peer) || changed;
    if (res.change_peer_v2) changed = applyChangePeerV2(e, res.change_peer_v2.changes) || changed;
    const target = res.transfer_leader?.peer?.store_id ?? res.transfer_leader?.peers[0]?.store_id;
    if (target && transferLeader(e, target, this.isLive)) {
      this.log(`region ${e.region.id}: leader → store ${target}`);
      sim.commit(this, [e]);
      void sim.poke(target, e)?.catch((err) => this.noteError(err));
      return;
    }
    if (changed) sim.commit(this, [e]);
    if (res.split_region?.keys.length) {
      void this.split(e, res.split_region.keys).catch((err) => this.noteError(err));
      return;
    }
    if (changed) void this.reportRegion(e).catch((err) => this.noteError(err));
  }

  /** PD asked for a split at given keys (e.g. keyspace boundaries from its region labeler). */
  private async split(e: RegionEntry, requested: Buffer[]): Promise<void> {
    const keys = usableSplitKeys(e.region, requested);
    if (keys.length === 0 || this.splitting.has(e.region.id)) return;
    this.splitting.add(e.region.id);
    try {
      const { ids } = await this.pd.call<{ header: null; ids: SplitIds[] }>('AskBatchSplit', {
        region: e.region,
        split_count: keys.length,
      });
      const created = splitRegion(e, keys, ids);
      this.sim?.commit(this, [...created, e]);
      await this.pd.call('ReportBatchSplit', { regions: [...created.map((r) => r.region), e.region] });
      this.log(`region ${e.region.id}: split off ${created.map((r) => r.region.id).join(', ')}`);
      for (const r of [...created, e]) await this.reportRegion(r);
    } finally {
      this.splitting.delete(e.region.id);
    }
  }

  private readonly isLive = (storeId: U64): boolean => this.sim?.isLive(storeId) ?? false;

  private readonly downSeconds = (storeId: U64): number | undefined => this.sim?.downSeconds(storeId);

  private noteError(e: unknown): void {
    if (this.stopped) return; // calls cut short by stop() are expected
    const msg = (e as Error).message;
    if (msg !== this.lastError) this.log(`error: ${msg}`);
    this.lastError = msg;
  }

  private log(s: string): void {
    this.opts.log?.(`store ${this.address}: ${s}`);
  }

  // ---- control -------------------------------------------------------------------------

  regionCount(): number {
    return [...(this.sim?.entries() ?? [])].filter((e) => e.region.peers.some((p) => p.store_id === this.storeId)).length;
  }

  leaderCount(): number {
    return this.ledRegions().length;
  }

  /** Like a TiKV that is cut off: no heartbeats, its regions elect leaders elsewhere. */
  pauseHeartbeats(): void {
    if (this.paused || this.stopped) return;
    this.paused = true;
    this.downSince = Date.now();
    this.closeStream();
    this.handOverLeadership();
  }

  resumeHeartbeats(): void {
    if (!this.paused || this.stopped) return;
    this.paused = false;
    this.downSince = undefined;
    void this.tick();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.downSince ??= Date.now();
    if (this.timer) clearInterval(this.timer);
    this.closeStream();
    this.handOverLeadership();
    this.sim?.leave(this);
    this.pd.close();
  }

  private closeStream(): void {
    const s = this.stream;
    this.stream = undefined;
    if (!s) return;
    s.removeAllListeners();
    s.on('error', () => {}); // cancelling emits a CANCELLED error nobody needs
    s.cancel();
  }

  private handOverLeadership(): void {
    const sim = this.sim;
    if (!sim) return;
    for (const e of sim.elect()) {
      const leader = leaderPeer(e);
      this.log(`region ${e.region.id}: leader → ${leader ? `store ${leader.store_id}` : 'none (no quorum)'}`);
      if (leader) void sim.poke(leader.store_id, e)?.catch((err) => this.noteError(err));
    }
  }
}
