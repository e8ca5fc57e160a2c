// PD's gRPC protocol (pdpb) for the TiKV store stand-ins: the .proto files are read at run
// time from the github.com/pingcap/kvproto module in the Go module cache (located by
// testenv/build.sh's paths.env), and a client that follows the PD leader the way TiKV's
// pd_client does: GetMembers on any member, then talk to the leader's client URL.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { parseEnvFile } from '../binaries.js';

export interface ProtoDirs {
  /** The kvproto module dir (holds proto/pdpb.proto). */
  kvprotoDir: string;
  /** Import roots for protobuf: kvproto/proto and kvproto/include (gogoproto, rustproto, eraftpb, google/*). */
  includeDirs: string[];
}

/**
 * Reads KVPROTO_DIR (and PROTO_INCLUDE_DIRS when present) from a paths.env file, or from
 * the paths.env inside a bin dir. Environment variables of the same names win.
 */
export function loadProtoDirs(pathsEnvOrBinDir: string): ProtoDirs {
  const file = isDir(pathsEnvOrBinDir) ? join(pathsEnvOrBinDir, 'paths.env') : pathsEnvOrBinDir;
  const vars = existsSync(file) ? parseEnvFile(readFileSync(file, 'utf8')) : {};
  const kvprotoDir = process.env.KVPROTO_DIR || vars.KVPROTO_DIR;
  if (!kvprotoDir) {
    throw new Error(`KVPROTO_DIR is not set in ${file} nor in the environment; run \`bash testenv/build.sh\` to write it`);
  }
  const pdpb = join(kvprotoDir, 'proto', 'pdpb.proto');
  if (!existsSync(pdpb)) throw new Error(`${pdpb} does not exist (KVPROTO_DIR=${kvprotoDir} from ${file})`);
  const listed = (process.env.PROTO_INCLUDE_DIRS || vars.PROTO_INCLUDE_DIRS)?.split(':').filter(Boolean);
  // kvproto/include is self-contained; GOGOPROTO_DIR is deliberately not added because its
  // gogo.proto and google/protobuf/descriptor.proto are other revisions of the same files.
  const includeDirs = listed?.length ? listed : [join(kvprotoDir, 'proto'), join(kvprotoDir, 'include')];
  return { kvprotoDir, includeDirs };
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

// ---- message shapes (keepCase, longs and enums as strings) -----------------------------

export type U64 = string;
export interface PdError {
  type: string;
  message: string;
}
export interface ResponseHeader {
  cluster_id: U64;
  error: PdError | null;
}
export interface Peer {
  id: U64;
  store_id: U64;
  role: 'Voter' | 'Learner' | 'IncomingVoter' | 'DemotingVoter';
}
export interface Region {
  id: U64;
  start_key: Buffer;
  end_key: Buffer;
  region_epoch: { conf_ver: U64; version: U64 };
  peers: Peer[];
}
export interface Store {
  id: U64;
  address: string;
  state: string;
  version: string;
  peer_address: string;
  status_address: string;
  git_hash: string;
  start_timestamp: U64;
  deploy_path: string;
  labels: { key: string; value: string }[];
}
export interface Member {
  name: string;
  member_id: U64;
  client_urls: string[];
}
export interface ChangePeer {
  peer: Peer | null;
  change_type: 'AddNode' | 'RemoveNode' | 'AddLearnerNode';
}
export interface RegionHeartbeatResponse {
  header: ResponseHeader | null;
  region_id: U64;
  change_peer: ChangePeer | null;
  change_peer_v2: { changes: ChangePeer[] } | null;
  transfer_leader: { peer: Peer | null; peers: Peer[] } | null;
  split_region: { policy: string; keys: Buffer[] } | null;
}

type Unary = (
  req: object,
  meta: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: unknown) => void,
) => grpc.ClientUnaryCall;

interface PDServiceClient extends grpc.Client {
  RegionHeartbeat(): grpc.ClientDuplexStream<object, RegionHeartbeatResponse>;
  [method: string]: unknown;
}
type PDServiceCtor = new (address: string, creds: grpc.ChannelCredentials) => PDServiceClient;

const serviceCache = new Map<string, PDServiceCtor>();

/** pdpb.PD's generated client constructor, loaded once per include path (its `service` is the server definition). */
export function pdService(dirs: ProtoDirs): PDServiceCtor {
  const key = dirs.includeDirs.join(':');
  let ctor = serviceCache.get(key);
  if (!ctor) {
    const def = protoLoader.loadSync('pdpb.proto', {
      includeDirs: dirs.includeDirs,
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { pdpb: { PD: PDServiceCtor } };
    ctor = pkg.pdpb.PD;
    serviceCache.set(key, ctor);
  }
  return ctor;
}

/** A PD answer that carries an error in its header (PD's in-band errors, e.g. ALREADY_BOOTSTRAPPED). */
export class PdHeaderError extends Error {
  constructor(
    readonly method: string,
    readonly type: string,
    message: string,
  ) {
    super(`PD ${method}: ${type}: ${message}`);
    this.name = 'PdHeaderError';
  }
}

const hostPort = (clientURL: string) => clientURL.replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '');

const RPC_TIMEOUT_MS = 5_000;

/**
 * A gRPC client of the PD leader. Calls carry the cluster id in their header; a "not leader"
 * or unavailable answer makes the next call rediscover the leader through GetMembers.
 */
export class PDClient {
  private readonly Service: PDServiceCtor;
  private readonly known: string[];
  private leader: { addr: string; client: PDServiceClient } | undefined;
  private clusterIdValue: U64 | undefined;
  private closed = false;

  constructor(endpoints: string[], dirs: ProtoDirs) {
    if (endpoints.length === 0) throw new Error('PDClient needs at least one PD endpoint');
    this.Service = pdService(dirs);
    this.known = endpoints.map(hostPort);
  }

  get clusterId(): U64 {
    if (!this.clusterIdValue) throw new Error('PDClient: cluster id unknown before the first call');
    return this.clusterIdValue;
  }

  /** The leader client, discovering it when unknown. */
  async leaderClient(): Promise<PDServiceClient> {
    if (this.closed) throw new Error('PDClient is closed');
    if (this.leader) return this.leader.client;
    const errors: string[] = [];
    for (const addr of [...this.known]) {
      const probe = new this.Service(addr, grpc.credentials.createInsecure());
      try {
        const res = (await callUnary(probe, 'GetMembers', { header: {} })) as {
          header: ResponseHeader;
          leader: Member | null;
          members: Member[];
        };
        this.remember(res.members);
        const leaderURL = res.leader?.client_urls[0];
        if (!leaderURL) {
          errors.push(`${addr}: no leader yet`);
          continue;
        }
        this.clusterIdValue = res.header.cluster_id;
        const leaderAddr = hostPort(leaderURL);
        const client = leaderAddr === addr ? probe : new this.Service(leaderAddr, grpc.credentials.createInsecure());
        if (client !== probe) probe.close();
        this.leader = { addr: leaderAddr, client };
        return client;
      } catch (e) {
        probe.close();
        errors.push(`${addr}: ${(e as Error).message}`);
      }
    }
    throw new Error(`no PD leader found (${errors.join('; ')})`);
  }

  private remember(members: Member[]): void {
    for (const m of members) {
      for (const u of m.client_urls) {
        const addr = hostPort(u);
        if (!this.known.includes(addr)) this.known.push(addr);
      }
    }
  }

  /** Forgets the leader so the next call asks GetMembers again. */
  resetLeader(): void {
    this.leader?.client.close();
    this.leader = undefined;
  }

  /** Calls a unary pdpb method on the leader; one retry after rediscovery on a leader change. */
  async call<T extends { header: ResponseHeader | null }>(method: string, body: object): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const client = await this.leaderClient();
      try {
        const res = (await callUnary(client, method, { ...body, header: { cluster_id: this.clusterId } })) as T;
        const err = res.header?.error;
        if (err && err.type !== 'OK') throw new PdHeaderError(method, err.type, err.message);
        return res;
      } catch (e) {
        if (attempt >= 1 || !isLeaderChange(e)) throw e;
        this.resetLeader();
      }
    }
  }

  /** Opens the RegionHeartbeat stream on the leader (the cluster id header goes into each request). */
  async openRegionHeartbeat(): Promise<grpc.ClientDuplexStream<object, RegionHeartbeatResponse>> {
    const client = await this.leaderClient();
    return client.RegionHeartbeat();
  }

  close(): void {
    this.closed = true;
    this.resetLeader();
  }
}

/** PD followers answer `Unavailable: not leader`; a stopped member is unreachable. */
export function isLeaderChange(e: unknown): boolean {
  const err = e as Partial<grpc.ServiceError>;
  return err.code === grpc.status.UNAVAILABLE || /not leader|leader is nil/i.test(err.details ?? err.message ?? '');
}

/** Errors that go away once PD has (re-)elected a leader. */
export function isTransient(e: unknown): boolean {
  const err = e as Partial<grpc.ServiceError>;
  if (isLeaderChange(e) || err.code === grpc.status.DEADLINE_EXCEEDED) return true;
  return /no PD leader found/.test(err.message ?? '');
}

function callUnary(client: PDServiceClient, method: string, req: object): Promise<unknown> {
  const fn = client[method] as Unary | undefined;
  if (typeof fn !== 'function') return Promise.reject(new Error(`pdpb.PD has no method ${method}`));
  return new Promise((resolve, reject) => {
    fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + RPC_TIMEOUT_MS }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}
