// The PD stand-in's HTTP API: the /pd/api/v1 endpoints the operator uses, answering with the
// bodies, statuses and error strings of pd-server v8.5.5 (server/api/*.go, pkg/response,
// pkg/utils/apiutil/serverapi's redirector). Every member answers from the shared state;
// where pd-server forwards a request to its leader, the stand-in answers 503 while there is
// no leader, like the redirector does after its wait.
import { setTimeout as sleep } from 'node:timers/promises';
import { type LosslessNumber, stringify } from 'lossless-json';
import {
  compareU64,
  EVICT_LEADER,
  pdErr,
  type RegionRecord,
  type ReplicationConfig,
  type StandinCluster,
  type StandinMember,
  type StoreRecord,
} from './pd-standin-cluster.js';
import { goDuration, goJSON, goTime, humanBytes, u64 } from './pd-standin-json.js';
import type { Peer } from './pdpb.js';

export const PD_STANDIN_VERSION = 'v8.5.5';
/** git_hash of the stand-in's members, so nobody mistakes them for a pd-server build. */
export const PD_STANDIN_GIT_HASH = 'pd-standin';

export interface HttpAnswer {
  status: number;
  body: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface HttpRequestIn {
  method: string;
  /** Path and query, e.g. `/pd/api/v1/stores?state=2`. */
  url: string;
  body: string;
}

export interface HttpContext {
  cluster: StandinCluster;
  member: StandinMember;
  deployPath: string;
  /** Runs PD's node state check soon (a DELETE of an empty store turns it Tombstone without waiting a tick). */
  checkSoon: () => void;
  /** A removed member's etcd stops, and its pd-server with it. */
  afterMemberRemoved: (name: string) => void;
}

const JSON_TYPE = 'application/json; charset=UTF-8';
const PREFIX = '/pd/api/v1';
/** The redirector's wait for a leader before answering 503 (backoffMaxDelay). */
const WAIT_FOR_LEADER_MS = 3_000;

const json = (status: number, value: unknown): HttpAnswer => ({ status, body: goJSON(value), contentType: JSON_TYPE });
/** Go's http.Error: text/plain with a newline. */
const plain = (status: number, text: string): HttpAnswer => ({
  status,
  body: `${text}\n`,
  contentType: 'text/plain; charset=utf-8',
  headers: { 'X-Content-Type-Options': 'nosniff' },
});
/** errcode's JSON for an invalid-input error (apiutil.ErrorResp). */
const invalidInput = (msg: string): HttpAnswer => ({
  ...json(400, { code: 'input', msg, data: {} }),
  headers: { 'TiDB-Error-Code': 'input' },
});
const notFound = (): HttpAnswer => plain(404, '404 page not found');
const methodNotAllowed = (): HttpAnswer => ({ status: 405, body: '' });

type Handler = (ctx: HttpContext, params: string[], query: URLSearchParams, body: string) => HttpAnswer;

interface Route {
  pattern: RegExp;
  methods: Partial<Record<string, Handler>>;
  /** Answered by any member (pd's localOnlyPaths); the rest needs a leader. */
  local?: boolean;
  /** Behind PD's cluster middleware: 500 "not bootstrapped" until the first store bootstraps. */
  needsCluster?: boolean;
}

const ROUTES: Route[] = [
  { pattern: /^\/health$/, methods: { GET: health }, local: true },
  { pattern: /^\/ping$/, methods: { GET: () => ({ status: 200, body: '' }) }, local: true },
  { pattern: /^\/version$/, methods: { GET: () => json(200, { version: PD_STANDIN_VERSION, build_time: '', hash: '', branch: '' }) }, local: true },
  { pattern: /^\/members$/, methods: { GET: members } },
  { pattern: /^\/members\/name\/([^/]+)$/, methods: { DELETE: deleteMember } },
  { pattern: /^\/leader$/, methods: { GET: leader } },
  { pattern: /^\/leader\/transfer\/([^/]+)$/, methods: { POST: transferLeader } },
  { pattern: /^\/cluster$/, methods: { GET: cluster } },
  { pattern: /^\/config\/replicate$/, methods: { GET: getReplicate, POST: setReplicate } },
  { pattern: /^\/stores$/, methods: { GET: stores }, needsCluster: true },
  { pattern: /^\/store\/([^/]+)$/, methods: { GET: getStore, DELETE: deleteStore }, needsCluster: true },
  { pattern: /^\/store\/([^/]+)\/state$/, methods: { POST: setStoreState }, needsCluster: true },
  { pattern: /^\/regions$/, methods: { GET: regions }, needsCluster: true },
  { pattern: /^\/schedulers$/, methods: { GET: listSchedulers, POST: createScheduler } },
  { pattern: /^\/schedulers\/([^/]+)$/, methods: { DELETE: deleteScheduler } },
  { pattern: /^\/scheduler-config\/evict-leader-scheduler\/list$/, methods: { GET: evictLeaderList } },
  { pattern: /^\/scheduler-config\/evict-leader-scheduler\/delete\/([^/]+)$/, methods: { DELETE: evictLeaderDelete } },
];

/** Answers one HTTP request as pd-server would (routing, redirector, cluster middleware, handler). */
export async function handlePDRequest(ctx: HttpContext, req: HttpRequestIn): Promise<HttpAnswer> {
  const url = new URL(req.url, 'http://pd-standin');
  if (url.pathname === '/health') return etcdHealth(ctx, req.method, url.searchParams);
  if (!url.pathname.startsWith(`${PREFIX}/`)) return notFound();
  const path = url.pathname.slice(PREFIX.length);
  for (const route of ROUTES) {
    const m = route.pattern.exec(path);
    if (!m) continue;
    const handler = route.methods[req.method];
    if (!route.local && !(await waitForLeader(ctx.cluster))) return plain(503, pdErr.redirectNoLeader());
    if (!handler) return methodNotAllowed();
    if (route.needsCluster && !ctx.cluster.bootstrapped) return json(500, pdErr.notBootstrapped());
    return handler(ctx, m.slice(1).map(decodeURIComponent), url.searchParams, req.body);
  }
  return notFound();
}

async function waitForLeader(cluster: StandinCluster): Promise<boolean> {
  for (let waited = 0; !cluster.leader(); waited += 100) {
    if (waited >= WAIT_FOR_LEADER_MS) return false;
    await sleep(100);
  }
  return true;
}

/**
 * The embedded etcd's `GET /health` on the client port (etcd v3.5 etcdhttp NewHealthHandler +
 * checkHealth, which PD v8.5.5 serves on 2379): 503 with http.Error's text body
 * `{"health":"false","reason":"RAFT NO LEADER"}` while this member sees no leader, 200
 * `{"health":"true","reason":""}` otherwise; `?serializable=true` skips the leader check.
 * What it simplifies: no alarms (NOSPACE, CORRUPT), and the linearizable read etcd does
 * after the leader check always succeeds. A removed member's etcd has stopped, so it has
 * no leader either.
 */
function etcdHealth({ cluster, member }: HttpContext, method: string, query: URLSearchParams): HttpAnswer {
  if (method !== 'GET') return { ...plain(405, 'Method Not Allowed'), headers: { Allow: 'GET', 'X-Content-Type-Options': 'nosniff' } };
  const serializable = query.get('serializable') === 'true';
  if (member.removed || (!serializable && !cluster.leader())) return plain(503, JSON.stringify({ health: 'false', reason: 'RAFT NO LEADER' }));
  return { status: 200, body: JSON.stringify({ health: 'true', reason: '' }), contentType: 'text/plain; charset=utf-8' };
}

// ---- members ---------------------------------------------------------------------------

function health({ cluster }: HttpContext): HttpAnswer {
  return json(
    200,
    cluster.memberList().map((m) => ({ name: m.name, member_id: u64(m.id), client_urls: [m.clientURL], health: m.running })),
  );
}

/** pdpb.Member as the etcd member list gives it (the leader key holds the same four fields). */
function etcdMember(m: StandinMember) {
  return { name: m.name, member_id: u64(m.id), peer_urls: [m.peerURL], client_urls: [m.clientURL] };
}

/** /members adds what each member recorded about itself (leader_priority 0 is omitted). */
function fullMember(m: StandinMember, deployPath: string) {
  return { ...etcdMember(m), deploy_path: deployPath, binary_version: PD_STANDIN_VERSION, git_hash: PD_STANDIN_GIT_HASH };
}

function members({ cluster, deployPath }: HttpContext): HttpAnswer {
  const lead = cluster.leader();
  return json(200, {
    header: { cluster_id: u64(cluster.clusterId) },
    members: cluster.memberList().map((m) => fullMember(m, deployPath)),
    leader: lead ? fullMember(lead, deployPath) : undefined,
    etcd_leader: lead ? fullMember(lead, deployPath) : undefined,
  });
}

function leader({ cluster }: HttpContext): HttpAnswer {
  const lead = cluster.leader();
  return json(200, lead ? etcdMember(lead) : null);
}

function deleteMember({ cluster, afterMemberRemoved }: HttpContext, [name = '']: string[]): HttpAnswer {
  const res = cluster.removeMember(name);
  if (res.status === 'not-found') return json(404, `not found, pd: ${name}`);
  if (res.status === 'error') return json(500, res.message);
  afterMemberRemoved(name);
  return json(200, `removed, pd: ${name}`);
}

function transferLeader({ cluster }: HttpContext, [name = '']: string[]): HttpAnswer {
  const err = cluster.transferLeader(name);
  return err ? json(500, err) : json(200, 'The transfer command is submitted.');
}

function cluster({ cluster: c }: HttpContext): HttpAnswer {
  return json(200, { id: u64(c.clusterId), max_peer_count: c.replication.maxReplicas });
}

// ---- replication config ----------------------------------------------------------------

function replicateJSON(r: ReplicationConfig) {
  return {
    'max-replicas': r.maxReplicas,
    'location-labels': r.locationLabels.join(','),
    'strictly-match-label': String(r.strictlyMatchLabel),
    'enable-placement-rules': String(r.enablePlacementRules),
    'enable-placement-rules-cache': String(r.enablePlacementRulesCache),
    'isolation-level': r.isolationLevel,
  };
}

function getReplicate({ cluster: c }: HttpContext): HttpAnswer {
  return json(200, replicateJSON(c.replication));
}

const LABEL_KEY = /^[$]?[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/;
const BOOL_STRING_FIELDS = {
  'strictly-match-label': 'strictlyMatchLabel',
  'enable-placement-rules': 'enablePlacementRules',
  'enable-placement-rules-cache': 'enablePlacementRulesCache',
} as const;

/** POST /config/replicate: decoded over the current config like Go's json.Unmarshal, then validated. */
function setReplicate({ cluster: c }: HttpContext, _p: string[], _q: URLSearchParams, body: string): HttpAnswer {
  let input: Record<string, unknown>;
  try {
    input = JSON.parse(body) as Record<string, unknown>;
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new Error('expected a JSON object');
  } catch (e) {
    return invalidInput((e as Error).message);
  }
  const next: ReplicationConfig = { ...c.replication, locationLabels: [...c.replication.locationLabels] };
  const problem = applyReplicateInput(next, input);
  if (problem) return invalidInput(problem);
  const labelProblem = next.locationLabels.find((l) => !LABEL_KEY.test(l));
  if (labelProblem !== undefined) return json(500, `${labelProblem} does not match format "${LABEL_KEY.source}"`);
  if (next.isolationLevel !== '' && !next.locationLabels.includes(next.isolationLevel)) {
    return json(500, 'isolation-level must be one of location-labels or empty');
  }
  // With placement rules on, PD rewrites the default rule, which needs the bootstrapped cluster.
  if (next.enablePlacementRules && !c.bootstrapped) return json(500, pdErr.notBootstrapped());
  Object.assign(c.replication, next);
  return json(200, 'The config is updated.');
}

function applyReplicateInput(next: ReplicationConfig, input: Record<string, unknown>): string | undefined {
  for (const [key, value] of Object.entries(input)) {
    if (key === 'max-replicas') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
        return `json: cannot unmarshal ${typeof value} into Go struct field ReplicationConfig.max-replicas of type uint64`;
      }
      next.maxReplicas = value;
    } else if (key === 'location-labels') {
      if (typeof value !== 'string') return `invalid syntax`;
      next.locationLabels = value === '' ? [] : value.split(',');
    } else if (key === 'isolation-level') {
      if (typeof value !== 'string') return `json: cannot unmarshal ${typeof value} into Go struct field ReplicationConfig.isolation-level of type string`;
      next.isolationLevel = value;
    } else if (key in BOOL_STRING_FIELDS) {
      if (value !== 'true' && value !== 'false') {
        return `json: invalid use of ,string struct tag, trying to unmarshal ${JSON.stringify(value)} into bool`;
      }
      next[BOOL_STRING_FIELDS[key as keyof typeof BOOL_STRING_FIELDS]] = value === 'true';
    }
  }
  return undefined;
}

// ---- stores ----------------------------------------------------------------------------

const STORE_STATE_NUM = { Up: 0, Offline: 1, Tombstone: 2 } as const;
const NODE_STATE_NUM = { Preparing: 0, Serving: 1, Removing: 2, Removed: 3 } as const;
const STATE_OF_NUM = ['Up', 'Offline', 'Tombstone'] as const;

/** GET /stores: Up and Offline by default; `state` (repeatable, numeric) picks others. */
function stores({ cluster: c }: HttpContext, _p: string[], query: URLSearchParams): HttpAnswer {
  const wanted = query.has('state') ? query.getAll('state') : ['0', '1'];
  const accept = new Set<string>();
  for (const raw of wanted) {
    if (!/^[+-]?\d+$/.test(raw)) return json(500, `strconv.Atoi: parsing ${JSON.stringify(raw)}: invalid syntax`);
    const state = STATE_OF_NUM[Number(raw)];
    if (!state) return json(500, `unknown StoreState: ${Number(raw)}`);
    accept.add(state);
  }
  const list = [...c.stores.values()].filter((s) => accept.has(s.meta.state)).sort((a, b) => compareU64(a.meta.id, b.meta.id));
  return json(200, { count: list.length, stores: list.map((s) => storeInfo(c, s)) });
}

function parseStoreId(raw: string): string | HttpAnswer {
  if (!/^\d+$/.test(raw) || BigInt(raw) >= 1n << 64n) {
    return invalidInput(`strconv.ParseUint: parsing ${JSON.stringify(raw)}: invalid syntax`);
  }
  return BigInt(raw).toString();
}

function getStore({ cluster: c }: HttpContext, [raw = '']: string[]): HttpAnswer {
  const id = parseStoreId(raw);
  if (typeof id !== 'string') return id;
  const s = c.stores.get(id);
  return s ? json(200, storeInfo(c, s)) : json(404, pdErr.storeNotFound(id));
}

function deleteStore(ctx: HttpContext, [raw = '']: string[], query: URLSearchParams): HttpAnswer {
  const id = parseStoreId(raw);
  if (typeof id !== 'string') return id;
  const err = ctx.cluster.removeStore(id, query.has('force'));
  if (err) return json(err.status, err.message);
  ctx.checkSoon();
  return json(200, 'The store is set as Offline.');
}

function setStoreState(ctx: HttpContext, [raw = '']: string[], query: URLSearchParams): HttpAnswer {
  const id = parseStoreId(raw);
  if (typeof id !== 'string') return id;
  const state = query.get('state') ?? '';
  let err: { status: number; message: string } | undefined;
  if (state.toLowerCase() === 'up') err = ctx.cluster.upStore(id);
  else if (state.toLowerCase() === 'offline') err = ctx.cluster.removeStore(id, false);
  else err = { status: 400, message: `invalid state ${state}` };
  if (err) return json(err.status, err.message);
  ctx.checkSoon();
  return json(200, "The store's state is updated.");
}

// ---- regions --------------------------------------------------------------------------

/** GET /regions: easyjson's compact RegionsInfo (response/region.go), served with rd.Data's binary content type. */
function regions({ cluster: c }: HttpContext): HttpAnswer {
  const list = [...c.regions.values()].sort((a, b) => compareU64(a.region.id, b.region.id));
  const body = stringify({ count: list.length, regions: list.map(regionInfo) }) ?? '';
  return { status: 200, body, contentType: 'application/octet-stream' };
}

const PEER_ROLE_NUM = { Voter: 0, Learner: 1, IncomingVoter: 2, DemotingVoter: 3 } as const;

/** response.MetaPeer: metapb.Peer (omitempty) plus role_name and is_learner. */
function metaPeer(p: Peer) {
  return {
    id: nonZeroU64(p.id),
    store_id: nonZeroU64(p.store_id),
    role: omitZero(PEER_ROLE_NUM[p.role] ?? 0, 0),
    role_name: p.role,
    is_learner: p.role === 'Learner' ? true : undefined,
  };
}

const hexKey = (k: Buffer | Uint8Array) => Buffer.from(k).toString('hex').toUpperCase();

function regionInfo(r: RegionRecord) {
  const epoch = r.region.region_epoch;
  return {
    id: u64(r.region.id),
    start_key: hexKey(r.region.start_key),
    end_key: hexKey(r.region.end_key),
    epoch: { conf_ver: nonZeroU64(epoch.conf_ver), version: nonZeroU64(epoch.version) },
    peers: r.region.peers.map(metaPeer),
    leader: metaPeer(r.leader),
    down_peers: r.downPeers.length ? r.downPeers.map((d) => ({ peer: metaPeer(d.peer), down_seconds: nonZeroU64(d.down_seconds) })) : undefined,
    pending_peers: r.pendingPeers.length ? r.pendingPeers.map(metaPeer) : undefined,
    cpu_usage: 0,
    written_bytes: 0,
    read_bytes: 0,
    written_keys: 0,
    read_keys: 0,
    approximate_size: r.sizeMiB,
    approximate_keys: u64(r.approximateKeys || '0'),
    approximate_kv_size: 0,
  };
}

// ---- schedulers ------------------------------------------------------------------------

/** Names PD's POST /schedulers accepts (types.StringToSchedulerType); only evict-leader acts here. */
const KNOWN_SCHEDULERS = new Set([
  'balance-leader-scheduler',
  'balance-region-scheduler',
  'balance-hot-region-scheduler',
  'balance-witness-scheduler',
  'balance-range-scheduler',
  'evict-leader-scheduler',
  'evict-slow-store-scheduler',
  'evict-slow-trend-scheduler',
  'evict-stopping-store-scheduler',
  'grant-leader-scheduler',
  'grant-hot-region-scheduler',
  'label-scheduler',
  'random-merge-scheduler',
  'scatter-range-scheduler',
  'shuffle-hot-region-scheduler',
  'shuffle-leader-scheduler',
  'shuffle-region-scheduler',
  'split-bucket-scheduler',
  'transfer-witness-leader-scheduler',
]);

function listSchedulers({ cluster: c }: HttpContext): HttpAnswer {
  if (!c.bootstrapped) return json(500, pdErr.notBootstrapped());
  return json(200, c.schedulers);
}

function createScheduler({ cluster: c }: HttpContext, _p: string[], _q: URLSearchParams, body: string): HttpAnswer {
  let input: Record<string, unknown>;
  try {
    input = JSON.parse(body) as Record<string, unknown>;
  } catch (e) {
    return invalidInput((e as Error).message);
  }
  const name = input?.name;
  if (typeof name !== 'string') return json(400, 'missing scheduler name');
  if (!KNOWN_SCHEDULERS.has(name)) return json(400, 'unknown scheduler');
  if (!c.bootstrapped) return json(500, pdErr.notBootstrapped());
  if (name === EVICT_LEADER || name === 'grant-leader-scheduler') {
    // Go decodes JSON numbers into float64; a string store id is "missing".
    if (typeof input.store_id !== 'number') return json(400, 'missing store id');
    const storeId = String(Math.trunc(input.store_id));
    if (name === EVICT_LEADER) {
      const res = c.addEvictLeader(storeId);
      return 'error' in res ? json(500, res.error) : json(200, res.ok);
    }
  }
  const err = c.addScheduler(name);
  return err ? json(500, err) : json(200, 'The scheduler is created.');
}

/** DELETE /schedulers/evict-leader-scheduler-{id} is forwarded to the scheduler's delete; PD answers `null` with its status. */
function deleteScheduler(ctx: HttpContext, [name = '']: string[]): HttpAnswer {
  const prefix = `${EVICT_LEADER}-`;
  if (name.startsWith(prefix)) {
    const inner = evictLeaderDelete(ctx, [name.slice(name.lastIndexOf('-') + 1)]);
    return json(inner.status, null);
  }
  const err = ctx.cluster.removeScheduler(name);
  if (err) return json(err.includes('ErrSchedulerNotFound') ? 404 : 500, err);
  return json(200, 'The scheduler is removed.');
}

function evictLeaderList({ cluster: c }: HttpContext): HttpAnswer {
  if (!c.schedulers.includes(EVICT_LEADER)) return notFound();
  const ranges = Object.fromEntries([...c.evictLeaderStores].map((id) => [id, [{ 'start-key': '', 'end-key': '' }]]));
  return json(200, { 'store-id-ranges': ranges, batch: 3 });
}

function evictLeaderDelete({ cluster: c }: HttpContext, [raw = '']: string[]): HttpAnswer {
  if (!c.schedulers.includes(EVICT_LEADER)) return notFound();
  if (!/^\d+$/.test(raw)) return json(400, `strconv.ParseUint: parsing ${JSON.stringify(raw)}: invalid syntax`);
  const res = c.removeEvictLeader(BigInt(raw).toString());
  if ('error' in res) return json(404, res.error);
  return json(200, res.ok);
}

const omitZero = <T>(v: T, zero: T): T | undefined => (v === zero ? undefined : v);

/** response.StoreInfo: metapb.Store with omitempty fields plus state_name, and the status PD computes. */
export function storeInfo(c: StandinCluster, s: StoreRecord) {
  const m = s.meta;
  const counts = c.counts(m.id);
  const stats = s.stats ?? {};
  const capacity = Number(stats.capacity ?? 0);
  const available = Number(stats.available ?? 0);
  const usedSize = Number(stats.used_size ?? 0);
  const lastHeartbeat = BigInt(m.last_heartbeat || '0');
  const start = BigInt(m.start_timestamp || '0') * 1_000_000_000n;
  const uptime = lastHeartbeat - start;
  return {
    store: {
      id: u64(m.id),
      address: omitZero(m.address, ''),
      state: omitZero(STORE_STATE_NUM[m.state], 0),
      labels: m.labels.length > 0 ? m.labels.map((l) => ({ key: omitZero(l.key, ''), value: omitZero(l.value, '') })) : undefined,
      version: omitZero(m.version, ''),
      peer_address: omitZero(m.peer_address, ''),
      status_address: omitZero(m.status_address, ''),
      git_hash: omitZero(m.git_hash, ''),
      start_timestamp: nonZeroU64(m.start_timestamp),
      deploy_path: omitZero(m.deploy_path, ''),
      last_heartbeat: nonZeroU64(m.last_heartbeat),
      physically_destroyed: omitZero(m.physically_destroyed, false),
      node_state: omitZero(NODE_STATE_NUM[m.node_state], 0),
      state_name: c.stateName(s),
    },
    status: {
      capacity: humanBytes(capacity),
      available: humanBytes(available),
      used_size: humanBytes(usedSize),
      leader_count: counts.leaderCount,
      leader_weight: 1,
      // leader-schedule-policy "count" and region score v1 with ample space (the low-space branches are not modelled)
      leader_score: counts.leaderCount,
      leader_size: counts.leaderSize,
      region_count: counts.regionCount,
      region_weight: 1,
      region_score: counts.regionSize,
      region_size: counts.regionSize,
      learner_count: omitZero(counts.learnerCount, 0),
      pending_peer_count: omitZero(counts.pendingPeerCount, 0),
      slow_score: nonZeroU64(stats.slow_score),
      sending_snap_count: omitZero(stats.sending_snap_count ?? 0, 0),
      receiving_snap_count: omitZero(stats.receiving_snap_count ?? 0, 0),
      is_busy: omitZero(stats.is_busy ?? false, false),
      start_ts: goTime(start),
      last_heartbeat_ts: goTime(lastHeartbeat),
      uptime: uptime > 0n ? goDuration(uptime) : undefined,
    },
  };
}

function nonZeroU64(v: string | undefined): LosslessNumber | undefined {
  return v && v !== '0' ? u64(v) : undefined;
}
