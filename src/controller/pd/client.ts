// A PD HTTP client returning normalized, typed results (reads, and the few writes scaling needs). How PD is reached (pod
// network, API-server service proxy, a test's loopback PD) is the PDTransport, the only seam.
import type { KubeClient } from '../runtime/kube-http.js';
import { z } from 'zod';
import { names } from '../../api/names.js';
import { decodePDBody, PDError, pdAnswer, pdCount, pdEnum, pdErrorFromResponse, pdFloat, pdId } from './json.js';
import { directTransport, serviceProxyPath, serviceProxyTransport } from './transport.js';

// --- transport ------------------------------------------------------------------------

export interface PDRequestInit {
  method: string;
  timeoutMs: number;
  /** JSON request body, for callers that add write operations. */
  body?: string;
}

/**
 * Sends one request to PD. `path` starts with `/pd/api/...` and may carry a query. Resolves
 * with any HTTP answer (including non-2xx); rejects with a PDError of kind `Timeout` or
 * `Network` when no answer arrives.
 */
export type PDTransport = (path: string, init: PDRequestInit) => Promise<{ status: number; body: string }>;

/** Metrics hook: `path` without its query; `status` 0 when no answer arrived. */
export type OnPDRequest = (path: string, status: number, seconds: number) => void;

// --- normalized results ---------------------------------------------------------------

export interface PDMemberHealth {
  id: string;
  /** Empty for a member that has not finished joining. */
  name: string;
  clientURLs: string[];
  health: boolean;
}

export interface PDMember {
  id: string;
  /** Empty for a member that has not finished joining (pingcap/tidb-operator#126). */
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  leaderPriority: number;
  binaryVersion?: string;
  gitHash?: string;
  deployPath?: string;
}

export interface PDMembers {
  /** header.cluster_id, exact. */
  clusterID?: string;
  members: PDMember[];
  leader?: PDMember;
  etcdLeader?: PDMember;
}

export interface PDClusterInfo {
  id: string;
  maxPeerCount: number;
}

/** The persisted metapb state; `Unknown` only for a numeric value this client does not know. */
export type PDStoreState = 'Up' | 'Offline' | 'Tombstone' | 'Unknown';
export type PDNodeState = 'Preparing' | 'Serving' | 'Removing' | 'Removed' | 'Unknown';

export interface PDStore {
  id: string;
  address: string;
  /**
   * PD's display state: `Up`, `Offline`, `Tombstone`, or for an Up store without recent
   * heartbeats `Disconnected` (20 s) / `Down` (max-store-down-time). Falls back to `state`.
   */
  stateName: string;
  state: PDStoreState;
  nodeState: PDNodeState;
  labels: Record<string, string>;
  version?: string;
  peerAddress?: string;
  statusAddress?: string;
  gitHash?: string;
  deployPath?: string;
  physicallyDestroyed: boolean;
  capacity?: string;
  available?: string;
  usedSize?: string;
  leaderCount: number;
  regionCount: number;
  leaderWeight?: number;
  regionWeight?: number;
  isBusy: boolean;
  /** ISO-8601. */
  startTS?: string;
  /** ISO-8601; absent if PD never received a heartbeat. */
  lastHeartbeatTS?: string;
  uptime?: string;
}

export interface PDClient {
  /** GET /pd/api/v1/health: one entry per etcd member. */
  health(): Promise<PDMemberHealth[]>;
  /** GET /pd/api/v1/members. */
  members(): Promise<PDMembers>;
  /** GET /pd/api/v1/leader. */
  leader(): Promise<PDMember>;
  /** GET /pd/api/v1/cluster. */
  cluster(): Promise<PDClusterInfo>;
  /**
   * GET /pd/api/v1/stores, sorted by numeric id. Rejects with a PDError whose
   * `notBootstrapped` is true before the first TiKV store has bootstrapped the cluster.
   */
  stores(opts?: { includeTombstone?: boolean }): Promise<PDStore[]>;
  /** GET /pd/api/v1/config/replicate. */
  replicationConfig(): Promise<PDReplicationConfig>;
  /**
   * DELETE /pd/api/v1/store/{id}: asks PD to take the store offline (PD moves its regions
   * away, then makes it a Tombstone). `gone` only when PD itself says it does not know the
   * store (404 ErrStoreNotFound) or has removed it (410 ErrStoreRemoved); any other 404, say
   * the API server's proxy not finding the Service, is an error.
   */
  deleteStore(id: string): Promise<'offline' | 'gone'>;
  /**
   * POST /pd/api/v1/store/{id}/state?state=Up: cancels a removal while the store is still
   * Offline (node_state Removing). PD refuses once it is a Tombstone; that is an error.
   */
  cancelStoreRemoval(id: string): Promise<void>;
  /** DELETE /pd/api/v1/members/name/{name}; `gone` when PD says it is not a member (404 "not found, pd: <name>"). */
  deleteMember(name: string): Promise<'removed' | 'gone'>;
  /** POST /pd/api/v1/leader/transfer/{name}; asynchronous, poll the leader. */
  transferLeader(name: string): Promise<void>;
  /**
   * POST /pd/api/v1/schedulers {"name":"evict-leader-scheduler","store_id":<id>}: PD moves
   * the store's Raft leaders away. Adds the store to the one scheduler if it exists.
   */
  evictLeader(storeId: string): Promise<void>;
  /** DELETE /pd/api/v1/schedulers/evict-leader-scheduler-{id}; `gone` when PD says it was not evicted. */
  removeEvictLeader(storeId: string): Promise<'removed' | 'gone'>;
  /** The store ids the evict-leader scheduler holds (none when the scheduler does not exist). */
  evictLeaderStores(): Promise<string[]>;
}

export interface PDReplicationConfig {
  maxReplicas: number;
  locationLabels: string[];
}

// --- response schemas (field names as PD writes them) ---------------------------------

const strings = z
  .array(z.string())
  .nullish()
  .transform((v) => v ?? []);
const optString = z
  .string()
  .nullish()
  .transform((v) => (v ? v : undefined));

const HealthBody = z.array(
  z.object({
    name: optString,
    member_id: pdId,
    client_urls: strings,
    health: z.boolean().nullish(),
  }),
);

const MemberBody = z.object({
  name: optString,
  member_id: pdId,
  peer_urls: strings,
  client_urls: strings,
  leader_priority: pdCount.nullish(),
  binary_version: optString,
  git_hash: optString,
  deploy_path: optString,
});

const MembersBody = z.object({
  header: z.object({ cluster_id: pdId.nullish() }).nullish(),
  members: z.array(MemberBody).nullish(),
  leader: MemberBody.nullish(),
  etcd_leader: MemberBody.nullish(),
});

const ClusterBody = z.object({ id: pdId, max_peer_count: pdCount.nullish() });

// PD writes the replication config's bools as strings and location labels comma-joined.
const ReplicateBody = z.object({
  'max-replicas': pdCount,
  'location-labels': z.string().nullish(),
});

// PD serializes sizes as humanized strings ("10GiB"); accept a byte count as well.
const byteSize = z
  .union([z.string(), pdCount.transform((n) => `${n}B`)])
  .nullish()
  .transform((v) => v ?? undefined);

const StoreInfoBody = z.object({
  store: z.object({
    id: pdId,
    address: z.string(),
    state: pdEnum,
    state_name: optString,
    node_state: pdEnum,
    labels: z
      .array(z.object({ key: z.string(), value: z.string() }))
      .nullish()
      .transform((v) => v ?? []),
    version: optString,
    peer_address: optString,
    status_address: optString,
    git_hash: optString,
    deploy_path: optString,
    physically_destroyed: z.boolean().nullish(),
    // nanoseconds since the epoch (> 2^53): only used when last_heartbeat_ts is absent
    last_heartbeat: pdId.nullish(),
  }),
  status: z
    .object({
      capacity: byteSize,
      available: byteSize,
      used_size: byteSize,
      leader_count: pdCount.nullish(),
      region_count: pdCount.nullish(),
      leader_weight: pdFloat.nullish(),
      region_weight: pdFloat.nullish(),
      is_busy: z.boolean().nullish(),
      start_ts: optString,
      last_heartbeat_ts: optString,
      uptime: optString,
    })
    .nullish(),
});

// {"store-id-ranges": {"1": [{"start-key": "", "end-key": ""}]}, "batch": 3}
const EvictLeaderListBody = z.object({ 'store-id-ranges': z.record(z.string(), z.unknown()).nullish() });

const StoresBody = z.object({ count: pdCount.nullish(), stores: z.array(StoreInfoBody).nullish() });

type MemberBody = z.output<typeof MemberBody>;
type StoreInfoBody = z.output<typeof StoreInfoBody>;

// --- normalization --------------------------------------------------------------------

const STORE_STATES: readonly PDStoreState[] = ['Up', 'Offline', 'Tombstone'];
const NODE_STATES: readonly PDNodeState[] = ['Preparing', 'Serving', 'Removing', 'Removed'];

function toMember(m: MemberBody): PDMember {
  return {
    id: m.member_id,
    name: m.name ?? '',
    peerURLs: m.peer_urls,
    clientURLs: m.client_urls,
    leaderPriority: m.leader_priority ?? 0,
    ...defined({ binaryVersion: m.binary_version, gitHash: m.git_hash, deployPath: m.deploy_path }),
  };
}

/** Go time (RFC 3339, nanoseconds, any offset) → ISO-8601 UTC; the Unix epoch means "never". */
function isoTime(goTime: string | undefined): string | undefined {
  if (!goTime) return undefined;
  const ms = Date.parse(goTime);
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : undefined;
}

function isoFromNanos(nanos: string | null | undefined): string | undefined {
  if (!nanos) return undefined;
  const ms = Number(BigInt(nanos) / 1_000_000n);
  return ms > 0 ? new Date(ms).toISOString() : undefined;
}

function toStore({ store, status }: StoreInfoBody): PDStore {
  const state = STORE_STATES[store.state] ?? 'Unknown';
  return {
    id: store.id,
    address: store.address,
    stateName: store.state_name ?? state,
    state,
    nodeState: NODE_STATES[store.node_state] ?? 'Unknown',
    labels: Object.fromEntries(store.labels.map((l) => [l.key, l.value])),
    physicallyDestroyed: store.physically_destroyed ?? false,
    leaderCount: status?.leader_count ?? 0,
    regionCount: status?.region_count ?? 0,
    isBusy: status?.is_busy ?? false,
    ...defined({
      version: store.version,
      peerAddress: store.peer_address,
      statusAddress: store.status_address,
      gitHash: store.git_hash,
      deployPath: store.deploy_path,
      capacity: status?.capacity,
      available: status?.available,
      usedSize: status?.used_size,
      leaderWeight: status?.leader_weight ?? undefined,
      regionWeight: status?.region_weight ?? undefined,
      startTS: isoTime(status?.start_ts),
      lastHeartbeatTS: isoTime(status?.last_heartbeat_ts) ?? isoFromNanos(store.last_heartbeat),
      uptime: status?.uptime,
    }),
  };
}

/** Drops undefined values so results compare and serialize cleanly. */
function defined<T extends Record<string, unknown>>(o: T): Partial<{ [K in keyof T]: Exclude<T[K], undefined> }> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<{
    [K in keyof T]: Exclude<T[K], undefined>;
  }>;
}

/** Numeric order of decimal id strings without converting to number (ids may exceed 2^53). */
export const compareIds = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

// --- client ---------------------------------------------------------------------------

export const EVICT_LEADER_SCHEDULER = 'evict-leader-scheduler';
const EVICT_LEADER_ADD_PATH = '/pd/api/v1/schedulers';

/** A store id as PD's paths and bodies need it; anything else would be a malformed request. */
function decimalId(id: string): string {
  if (!/^\d+$/.test(id)) throw new Error(`not a PD store id: ${JSON.stringify(id)}`);
  return id;
}

export const DEFAULT_PD_TIMEOUT_MS = 3000;

/**
 * The route of a PD path, for metric labels: no query, and ids and names replaced by
 * placeholders, so the label set stays small (`/pd/api/v1/store/{id}`).
 */
export function routeOf(path: string): string {
  return (path.split('?')[0] ?? path)
    .replace(/\/store\/[^/]+/, '/store/{id}')
    .replace(/\/members\/(name|id)\/[^/]+/, '/members/$1/{name}')
    .replace(/\/leader\/transfer\/[^/]+/, '/leader/transfer/{name}')
    .replace(/evict-leader-scheduler-\d+/, 'evict-leader-scheduler-{id}');
}

/** Tombstones are hidden from plain /stores; this one request returns every state from one snapshot. */
export const STORES_PATH = '/pd/api/v1/stores';
export const ALL_STORES_PATH = '/pd/api/v1/stores?state=0&state=1&state=2';

export interface HttpPDClientOptions {
  timeoutMs?: number;
  onRequest?: OnPDRequest;
}

export class HttpPDClient implements PDClient {
  private readonly timeoutMs: number;
  private readonly onRequest: OnPDRequest | undefined;

  constructor(
    private readonly transport: PDTransport,
    options: HttpPDClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_PD_TIMEOUT_MS;
    this.onRequest = options.onRequest;
  }

  async health(): Promise<PDMemberHealth[]> {
    const body = await this.get(HealthBody, '/pd/api/v1/health');
    return body.map((h) => ({ id: h.member_id, name: h.name ?? '', clientURLs: h.client_urls, health: h.health ?? false }));
  }

  async members(): Promise<PDMembers> {
    const body = await this.get(MembersBody, '/pd/api/v1/members');
    return {
      members: (body.members ?? []).map(toMember),
      ...defined({
        clusterID: body.header?.cluster_id ?? undefined,
        leader: body.leader ? toMember(body.leader) : undefined,
        etcdLeader: body.etcd_leader ? toMember(body.etcd_leader) : undefined,
      }),
    };
  }

  async leader(): Promise<PDMember> {
    return toMember(await this.get(MemberBody, '/pd/api/v1/leader'));
  }

  async cluster(): Promise<PDClusterInfo> {
    const body = await this.get(ClusterBody, '/pd/api/v1/cluster');
    return { id: body.id, maxPeerCount: body.max_peer_count ?? 0 };
  }

  async stores(opts: { includeTombstone?: boolean } = {}): Promise<PDStore[]> {
    const body = await this.get(StoresBody, opts.includeTombstone ? ALL_STORES_PATH : STORES_PATH);
    return (body.stores ?? []).map(toStore).sort((a, b) => compareIds(a.id, b.id));
  }

  async replicationConfig(): Promise<PDReplicationConfig> {
    const body = await this.get(ReplicateBody, '/pd/api/v1/config/replicate');
    const labels = body['location-labels'] ?? '';
    return { maxReplicas: body['max-replicas'], locationLabels: labels ? labels.split(',') : [] };
  }

  async deleteStore(id: string): Promise<'offline' | 'gone'> {
    const gone = await this.writeUnlessGone('DELETE', `/pd/api/v1/store/${encodeURIComponent(id)}`, [
      { status: 404, pd: (b) => pdAnswer.says(b, /ErrStoreNotFound|^store \d+ not found/) },
      { status: 410, pd: (b) => pdAnswer.says(b, /ErrStoreRemoved|ErrStoreTombstone|has been removed/) },
    ]);
    return gone ? 'gone' : 'offline';
  }

  async cancelStoreRemoval(id: string): Promise<void> {
    await this.write('POST', `/pd/api/v1/store/${encodeURIComponent(id)}/state?state=Up`);
  }

  async deleteMember(name: string): Promise<'removed' | 'gone'> {
    const gone = await this.writeUnlessGone('DELETE', `/pd/api/v1/members/name/${encodeURIComponent(name)}`, [
      { status: 404, pd: (b) => pdAnswer.says(b, /^not found, pd: /) },
    ]);
    return gone ? 'gone' : 'removed';
  }

  async transferLeader(name: string): Promise<void> {
    await this.write('POST', `/pd/api/v1/leader/transfer/${encodeURIComponent(name)}`);
  }

  async evictLeader(storeId: string): Promise<void> {
    // PD decodes store_id as a JSON number (a string is "missing store id"); written as
    // text so an id above 2^53 stays exact.
    const id = decimalId(storeId);
    await this.write('POST', EVICT_LEADER_ADD_PATH, `{"name":"${EVICT_LEADER_SCHEDULER}","store_id":${id}}`);
  }

  async removeEvictLeader(storeId: string): Promise<'removed' | 'gone'> {
    // PD forwards this to .../scheduler-config/evict-leader-scheduler/delete/{id} and passes
    // that status on with a `null` body; a PD that answers itself gives its error string.
    const gone = await this.writeUnlessGone('DELETE', `/pd/api/v1/schedulers/${EVICT_LEADER_SCHEDULER}-${decimalId(storeId)}`, [
      { status: 404, pd: (b) => pdAnswer.isNull(b) || pdAnswer.isNotFoundPage(b) || pdAnswer.says(b, /\[PD:/) },
    ]);
    return gone ? 'gone' : 'removed';
  }

  async evictLeaderStores(): Promise<string[]> {
    const path = `/pd/api/v1/scheduler-config/${EVICT_LEADER_SCHEDULER}/list`;
    const { status, body } = await this.send('GET', path);
    // No scheduler, no config: PD's scheduler-config handler answers Go's "404 page not found".
    if (status === 404 && (pdAnswer.isNotFoundPage(body) || pdAnswer.says(body, /ErrSchedulerNotFound/))) return [];
    if (status < 200 || status > 299) throw pdErrorFromResponse('GET', path, status, body);
    const decoded = decodePDBody(EvictLeaderListBody, 'GET', path, status, body);
    return Object.keys(decoded['store-id-ranges'] ?? {}).sort(compareIds);
  }

  /** A write; a non-2xx answer is an error. */
  private async write(method: string, path: string, requestBody?: string): Promise<void> {
    const { status, body } = await this.send(method, path, requestBody);
    if (status < 200 || status > 299) throw pdErrorFromResponse(method, path, status, body);
  }

  /**
   * A write whose target may already be gone: true when PD itself says so (a status and a
   * body that is PD's, see pdAnswer), false on success; anything else is an error. Through
   * the service proxy a 404 may be the API server's, which says nothing about PD's state.
   */
  private async writeUnlessGone(method: string, path: string, gone: Array<{ status: number; pd: (body: string) => boolean }>): Promise<boolean> {
    const { status, body } = await this.send(method, path);
    if (status >= 200 && status <= 299) return false;
    if (gone.some((g) => g.status === status && g.pd(body))) return true;
    throw pdErrorFromResponse(method, path, status, body);
  }

  private async get<S extends z.ZodType>(schema: S, path: string): Promise<z.output<S>> {
    const { status, body } = await this.send('GET', path);
    if (status < 200 || status > 299) throw pdErrorFromResponse('GET', path, status, body);
    return decodePDBody(schema, 'GET', path, status, body);
  }

  private async send(method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
    const started = process.hrtime.bigint();
    let status = 0;
    try {
      const res = await this.transport(path, { method, timeoutMs: this.timeoutMs, ...(body === undefined ? {} : { body }) });
      status = res.status;
      return res;
    } catch (e) {
      if (e instanceof PDError) throw e;
      throw new PDError({ kind: 'Network', status: 0, method, path, detail: String((e as Error)?.message ?? e) }, { cause: e });
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.onRequest?.(routeOf(path), status, seconds);
    }
  }
}

// --- resolving a cluster's PD -------------------------------------------------------

export { directTransport, serviceProxyPath, serviceProxyTransport };

export interface ClusterRef {
  name: string;
  namespace: string;
}

/** Gives the PD client of one TikvCluster. Tests replace it to point at their own PD. */
export type PDResolver = (cluster: ClusterRef) => PDClient;

/** `dns`: the client Service's in-cluster name; `proxy`: the API server's service proxy. */
export type PDAccess = 'dns' | 'proxy';

export const PD_URL_TEMPLATE_ENV = 'TIKV_OPERATOR_PD_URL_TEMPLATE';
export const PD_ACCESS_ENV = 'TIKV_OPERATOR_PD_ACCESS';
export const PD_CLIENT_PORT = 2379;

export interface PDResolverOptions extends HttpPDClientOptions {
  /** Needed for `proxy` access. */
  kubeConfig?: KubeClient;
  /** Defaults to process.env; read once, when the resolver is created. */
  env?: Record<string, string | undefined>;
  /** Overrides TIKV_OPERATOR_PD_ACCESS and the in-cluster detection. */
  access?: PDAccess;
  /** Overrides TIKV_OPERATOR_PD_URL_TEMPLATE. */
  urlTemplate?: string;
}

/** `{name}` and `{namespace}` in the template are replaced, e.g. `http://{name}-pd.{namespace}:2379`. */
export function pdURLFromTemplate(template: string, cluster: ClusterRef): string {
  return template.replaceAll('{name}', cluster.name).replaceAll('{namespace}', cluster.namespace);
}

/** The client Service's cluster DNS name. */
export function inClusterPDURL(cluster: ClusterRef): string {
  return `http://${names(cluster.name).pdClientService}.${cluster.namespace}.svc:${PD_CLIENT_PORT}`;
}

/**
 * How this process reaches PD: an explicit choice, else TIKV_OPERATOR_PD_ACCESS, else the
 * pod network when running in a pod (KUBERNETES_SERVICE_HOST set), else the service proxy.
 */
export function choosePDAccess(env: Record<string, string | undefined>, explicit?: PDAccess): PDAccess {
  if (explicit) return explicit;
  const fromEnv = env[PD_ACCESS_ENV]?.trim();
  if (fromEnv === 'dns' || fromEnv === 'proxy') return fromEnv;
  if (fromEnv) throw new Error(`${PD_ACCESS_ENV} must be "dns" or "proxy", not "${fromEnv}"`);
  return env.KUBERNETES_SERVICE_HOST ? 'dns' : 'proxy';
}

/**
 * The operator's PD resolver. A URL template (option or TIKV_OPERATOR_PD_URL_TEMPLATE) wins
 * over everything: that is how integration tests point the operator at their loopback PD.
 */
export function createPDResolver(options: PDResolverOptions = {}): PDResolver {
  const env = options.env ?? process.env;
  const clientOptions: HttpPDClientOptions = { timeoutMs: options.timeoutMs, onRequest: options.onRequest };
  const template = options.urlTemplate ?? env[PD_URL_TEMPLATE_ENV]?.trim();
  if (template) {
    return (cluster) => new HttpPDClient(directTransport(pdURLFromTemplate(template, cluster)), clientOptions);
  }
  if (choosePDAccess(env, options.access) === 'dns') {
    return (cluster) => new HttpPDClient(directTransport(inClusterPDURL(cluster)), clientOptions);
  }
  const kc = options.kubeConfig;
  if (!kc) throw new Error('reaching PD through the API server service proxy needs a kubeConfig');
  return (cluster) =>
    new HttpPDClient(
      serviceProxyTransport(kc, cluster.namespace, names(cluster.name).pdClientService, PD_CLIENT_PORT),
      clientOptions,
    );
}
