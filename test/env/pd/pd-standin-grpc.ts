// The PD stand-in's gRPC side (pdpb.PD), served by @grpc/grpc-js from the kvproto .proto
// files in the Go module cache (never copied into the repo). Each member serves the same
// shared state; as in pd-server v8.5.5 (server/grpc_service.go) only the leader answers
// (followers: UNAVAILABLE "not leader"), GetMembers is answered by any member, the request
// header's cluster id is checked, and PD's in-band errors travel in the response header.
import * as grpc from '@grpc/grpc-js';
import type { MetaStore, RegionHeartbeatIn, StandinCluster, StandinMember, StoreStats } from './pd-standin-cluster.js';
import { type Peer, type ProtoDirs, pdService, type Region, type U64 } from './pdpb.js';

/** pdpb.PD's service definition: the same proto loading as the store stand-ins' client. */
export function pdServiceDefinition(dirs: ProtoDirs): grpc.ServiceDefinition {
  return (pdService(dirs) as unknown as { service: grpc.ServiceDefinition }).service;
}

type Req = { header?: { cluster_id?: U64 } | null } & Record<string, unknown>;
type Callback = (err: Partial<grpc.StatusObject> | null, res?: object) => void;
type RegionHeartbeatCall = grpc.ServerDuplexStream<Req, object>;

/** The RegionHeartbeat stream each store used last (PD's hbStreams): operators go to the leader store's stream. */
export class HeartbeatStreams {
  private readonly byStore = new Map<U64, RegionHeartbeatCall>();

  bind(storeId: U64, call: RegionHeartbeatCall): void {
    this.byStore.set(storeId, call);
  }

  unbind(call: RegionHeartbeatCall): void {
    for (const [id, c] of this.byStore) if (c === call) this.byStore.delete(id);
  }

  send(storeId: U64, msg: object): void {
    const call = this.byStore.get(storeId);
    if (!call || call.destroyed || call.writableEnded) return;
    try {
      call.write(msg);
    } catch {
      // the stream died under us (member stopped, client gone): PD drops such messages too
      this.unbind(call);
    }
  }
}

const status = (code: grpc.status, details: string): Partial<grpc.StatusObject> => ({ code, details });

/** pdpb.PD handlers for one member. */
export function pdpbHandlers(cluster: StandinCluster, member: StandinMember, streams: HeartbeatStreams): grpc.UntypedServiceImplementation {
  const cid = cluster.clusterId;
  const header = () => ({ cluster_id: cid });
  const errorHeader = (type: string, message: string) => ({ header: { cluster_id: cid, error: { type, message } } });
  const notBootstrapped = () => errorHeader('NOT_BOOTSTRAPPED', 'cluster is not bootstrapped');

  /** validateRequest: the leader only, and the caller's cluster id must match. */
  const validate = (req: Req): Partial<grpc.StatusObject> | undefined => {
    if (!cluster.isLeader(member)) return status(grpc.status.UNAVAILABLE, 'not leader');
    const got = req.header?.cluster_id ?? '0';
    if (got !== cid) return status(grpc.status.FAILED_PRECONDITION, `mismatch cluster id, need ${cid} but got ${got}`);
    return undefined;
  };
  const unary =
    (fn: (req: Req) => object) =>
    (call: { request: Req }, cb: Callback): void => {
      const bad = validate(call.request);
      if (bad) {
        cb(bad);
        return;
      }
      try {
        cb(null, fn(call.request));
      } catch (e) {
        cb(status(grpc.status.UNKNOWN, (e as Error).message));
      }
    };
  const tombstone = (storeId: U64) => cluster.stores.get(storeId)?.meta.node_state === 'Removed';

  return {
    GetMembers: (_call: unknown, cb: Callback) => {
      const list = cluster.memberList().map(pbMember);
      const lead = cluster.leader();
      const leaderMsg = lead ? pbMember(lead) : null;
      cb(null, { header: header(), members: list, leader: leaderMsg, etcd_leader: leaderMsg });
    },
    IsBootstrapped: unary(() => ({ header: header(), bootstrapped: cluster.bootstrapped })),
    AllocID: unary(() => ({ header: header(), id: cluster.allocId() })),
    Bootstrap: unary((req) => {
      if (cluster.bootstrapped) return errorHeader('ALREADY_BOOTSTRAPPED', 'cluster is already bootstrapped');
      const err = cluster.bootstrap(req.store ? toMetaStore(req.store as Record<string, unknown>) : null, (req.region as Region | null) ?? null);
      return err ? errorHeader('UNKNOWN', err) : { header: header() };
    }),
    GetClusterConfig: unary(() => ({ header: header(), cluster: { id: cid, max_peer_count: cluster.replication.maxReplicas } })),
    GetStore: unary((req) => {
      if (!cluster.bootstrapped) return notBootstrapped();
      const id = String(req.store_id ?? '0');
      const s = cluster.stores.get(id);
      if (!s) return errorHeader('UNKNOWN', `invalid store ID ${id}, not found`);
      return { header: header(), store: s.meta, stats: s.stats ?? null };
    }),
    PutStore: unary((req) => {
      if (!cluster.bootstrapped) return notBootstrapped();
      const store = toMetaStore((req.store ?? {}) as Record<string, unknown>);
      if (tombstone(store.id)) return errorHeader('STORE_TOMBSTONE', 'store is tombstone');
      const err = cluster.putStore(store);
      return err ? errorHeader('UNKNOWN', err) : { header: header() };
    }),
    GetAllStores: unary((req) => {
      if (!cluster.bootstrapped) return notBootstrapped();
      const all = [...cluster.stores.values()].map((s) => s.meta);
      return { header: header(), stores: req.exclude_tombstone_stores ? all.filter((s) => s.node_state !== 'Removed') : all };
    }),
    StoreHeartbeat: unary((req) => {
      const stats = req.stats as StoreStats | null | undefined;
      if (!stats) throw new Error(`invalid store heartbeat command, but ${JSON.stringify(req)}`);
      if (!cluster.bootstrapped) return notBootstrapped();
      const id = String(stats.store_id ?? '0');
      if (tombstone(id)) return errorHeader('STORE_TOMBSTONE', 'store is tombstone');
      const res = cluster.storeHeartbeat(stats);
      if (res.error) return errorHeader('UNKNOWN', res.error);
      return { header: header(), cluster_version: cluster.clusterVersion(), state: res.nodeState };
    }),
    AskBatchSplit: unary((req) => {
      if (!cluster.bootstrapped) return notBootstrapped();
      const res = cluster.askBatchSplit((req.region as Region | null) ?? null, Number(req.split_count ?? 0));
      return 'error' in res ? errorHeader('UNKNOWN', res.error) : { header: header(), ids: res.ids };
    }),
    // PD learns the new regions from their heartbeats; the report itself only gets an answer.
    ReportBatchSplit: unary(() => (cluster.bootstrapped ? { header: header() } : notBootstrapped())),
    RegionHeartbeat: (call: RegionHeartbeatCall) => serveRegionHeartbeats(cluster, member, call, streams, validate),
  };
}

function serveRegionHeartbeats(
  cluster: StandinCluster,
  member: StandinMember,
  call: RegionHeartbeatCall,
  streams: HeartbeatStreams,
  validate: (req: Req) => Partial<grpc.StatusObject> | undefined,
): void {
  const cid = cluster.clusterId;
  const fail = (err: Partial<grpc.StatusObject>) => {
    streams.unbind(call);
    call.emit('error', err);
  };
  call.on('data', (req: Req) => {
    // pd-server checks its raft cluster first, and only the leader runs one: a follower
    // answers "not bootstrapped" too and ends the stream.
    if (!cluster.bootstrapped || !cluster.isLeader(member)) {
      call.write({ header: { cluster_id: cid, error: { type: 'NOT_BOOTSTRAPPED', message: 'cluster is not bootstrapped' } } });
      call.end();
      return;
    }
    const bad = validate(req);
    if (bad) return fail(bad);
    const leader = req.leader as Peer | null;
    const storeId = leader?.store_id ?? '0';
    if (!cluster.stores.has(storeId)) return fail(status(grpc.status.UNKNOWN, `invalid store ID ${storeId}, not found`));
    streams.bind(storeId, call);
    const res = cluster.regionHeartbeat(req as unknown as RegionHeartbeatIn);
    if (res.error) {
      streams.send(storeId, { header: { cluster_id: cid, error: { type: 'UNKNOWN', message: res.error } } });
    } else if (res.step && res.region) {
      const r = res.region;
      streams.send(r.leader.store_id, {
        header: { cluster_id: cid },
        region_id: r.region.id,
        region_epoch: r.region.region_epoch,
        target_peer: r.leader,
        ...res.step,
      });
    }
  });
  call.on('end', () => {
    streams.unbind(call);
    if (!call.writableEnded) call.end();
  });
  call.on('cancelled', () => streams.unbind(call));
  // A client that cancels its stream surfaces here; nothing to report.
  call.on('error', () => streams.unbind(call));
}

function pbMember(m: StandinMember) {
  return { name: m.name, member_id: m.id, peer_urls: [m.peerURL], client_urls: [m.clientURL] };
}

/** A decoded metapb.Store (defaults filled by proto-loader) as the stand-in keeps it. */
function toMetaStore(raw: Record<string, unknown>): MetaStore {
  const str = (k: string, d = '') => (raw[k] === undefined || raw[k] === null ? d : String(raw[k]));
  return {
    id: str('id', '0'),
    address: str('address'),
    state: (str('state', 'Up') as MetaStore['state']) || 'Up',
    labels: ((raw.labels as MetaStore['labels'] | undefined) ?? []).map((l) => ({ key: l.key, value: l.value })),
    version: str('version'),
    peer_address: str('peer_address'),
    status_address: str('status_address'),
    git_hash: str('git_hash'),
    start_timestamp: str('start_timestamp', '0'),
    deploy_path: str('deploy_path'),
    last_heartbeat: str('last_heartbeat', '0'),
    physically_destroyed: raw.physically_destroyed === true,
    node_state: (str('node_state', 'Preparing') as MetaStore['node_state']) || 'Preparing',
  };
}
