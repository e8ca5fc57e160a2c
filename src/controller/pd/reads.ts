// What the operator asks PD, decoded into typed results with the fields the operator and
// `tikv-operator status` read (PD answers with many more).
import { z } from 'zod';
import { isSuccess, type PDClientOptions, PDHttp } from './http.js';
import { decodePDBody, pdAnswer, pdCount, pdEnum, pdErrorFromResponse, pdId } from './json.js';
import type { PDTransport } from './transport.js';

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
  binaryVersion?: string;
}

export interface PDMembers {
  /** header.cluster_id, exact. */
  clusterID?: string;
  members: PDMember[];
  leader?: PDMember;
}

/** The persisted metapb state; `Unknown` only for a numeric value this client does not know. */
export type PDStoreState = 'Up' | 'Offline' | 'Tombstone' | 'Unknown';

export interface PDStore {
  id: string;
  address: string;
  /**
   * PD's display state: `Up`, `Offline`, `Tombstone`, or for an Up store without recent
   * heartbeats `Disconnected` (20 s) / `Down` (max-store-down-time). Falls back to `state`.
   */
  stateName: string;
  state: PDStoreState;
  version?: string;
  capacity?: string;
  available?: string;
  leaderCount: number;
  regionCount: number;
  /** ISO-8601; absent if PD never received a heartbeat. */
  lastHeartbeatTS?: string;
}

export interface PDReplicationConfig {
  maxReplicas: number;
}

export interface PDReads {
  /** GET /pd/api/v1/health: one entry per etcd member. */
  health(): Promise<PDMemberHealth[]>;
  /** GET /pd/api/v1/members. */
  members(): Promise<PDMembers>;
  /**
   * GET /pd/api/v1/stores, sorted by numeric id. Rejects with a PDError whose
   * `notBootstrapped` is true before the first TiKV store has bootstrapped the cluster.
   */
  stores(opts?: { includeTombstone?: boolean }): Promise<PDStore[]>;
  /** GET /pd/api/v1/config/replicate. */
  replicationConfig(): Promise<PDReplicationConfig>;
  /** The store ids the evict-leader scheduler holds (none when the scheduler does not exist). */
  evictLeaderStores(): Promise<string[]>;
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
  binary_version: optString,
});

const MembersBody = z.object({
  header: z.object({ cluster_id: pdId.nullish() }).nullish(),
  members: z.array(MemberBody).nullish(),
  leader: MemberBody.nullish(),
});

const ReplicateBody = z.object({ 'max-replicas': pdCount });

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
    version: optString,
    // nanoseconds since the epoch (> 2^53): only used when last_heartbeat_ts is absent
    last_heartbeat: pdId.nullish(),
  }),
  status: z
    .object({
      capacity: byteSize,
      available: byteSize,
      leader_count: pdCount.nullish(),
      region_count: pdCount.nullish(),
      last_heartbeat_ts: optString,
    })
    .nullish(),
});

// {"store-id-ranges": {"1": [{"start-key": "", "end-key": ""}]}, "batch": 3}
const EvictLeaderListBody = z.object({ 'store-id-ranges': z.record(z.string(), z.unknown()).nullish() });

const StoresBody = z.object({ count: pdCount.nullish(), stores: z.array(StoreInfoBody).nullish() });

type MemberBody = z.output<typeof MemberBody>;
type StoreInfoBody = z.output<typeof StoreInfoBody>;

export const EVICT_LEADER_SCHEDULER = 'evict-leader-scheduler';

// --- normalization --------------------------------------------------------------------

const STORE_STATES: readonly PDStoreState[] = ['Up', 'Offline', 'Tombstone'];

function toMember(m: MemberBody): PDMember {
  return {
    id: m.member_id,
    name: m.name ?? '',
    peerURLs: m.peer_urls,
    clientURLs: m.client_urls,
    ...defined({ binaryVersion: m.binary_version }),
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
    leaderCount: status?.leader_count ?? 0,
    regionCount: status?.region_count ?? 0,
    ...defined({
      version: store.version,
      capacity: status?.capacity,
      available: status?.available,
      lastHeartbeatTS: isoTime(status?.last_heartbeat_ts) ?? isoFromNanos(store.last_heartbeat),
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

// --- the reads ------------------------------------------------------------------------


/** Tombstones are hidden from plain /stores; this one request returns every state from one snapshot. */
export const STORES_PATH = '/pd/api/v1/stores';
export const ALL_STORES_PATH = '/pd/api/v1/stores?state=0&state=1&state=2';

export class PDReadClient implements PDReads {
  constructor(private readonly http: PDHttp) {}

  async health(): Promise<PDMemberHealth[]> {
    const body = await this.http.get(HealthBody, '/pd/api/v1/health');
    return body.map((h) => ({ id: h.member_id, name: h.name ?? '', clientURLs: h.client_urls, health: h.health ?? false }));
  }

  async members(): Promise<PDMembers> {
    const body = await this.http.get(MembersBody, '/pd/api/v1/members');
    return {
      members: (body.members ?? []).map(toMember),
      ...defined({
        clusterID: body.header?.cluster_id ?? undefined,
        leader: body.leader ? toMember(body.leader) : undefined,
      }),
    };
  }

  async stores(opts: { includeTombstone?: boolean } = {}): Promise<PDStore[]> {
    const body = await this.http.get(StoresBody, opts.includeTombstone ? ALL_STORES_PATH : STORES_PATH);
    return (body.stores ?? []).map(toStore).sort((a, b) => compareIds(a.id, b.id));
  }

  async replicationConfig(): Promise<PDReplicationConfig> {
    const body = await this.http.get(ReplicateBody, '/pd/api/v1/config/replicate');
    return { maxReplicas: body['max-replicas'] };
  }

  async evictLeaderStores(): Promise<string[]> {
    const path = `/pd/api/v1/scheduler-config/${EVICT_LEADER_SCHEDULER}/list`;
    const { status, body } = await this.http.send('GET', path);
    // No scheduler, no config: PD's scheduler-config handler answers Go's "404 page not found".
    if (status === 404 && (pdAnswer.isNotFoundPage(body) || pdAnswer.says(body, /ErrSchedulerNotFound/))) return [];
    if (!isSuccess(status)) throw pdErrorFromResponse('GET', path, status, body);
    const decoded = decodePDBody(EvictLeaderListBody, 'GET', path, status, body);
    return Object.keys(decoded['store-id-ranges'] ?? {}).sort(compareIds);
  }
}

/** The reads of the PD behind `transport`. */
export const pdReads = (transport: PDTransport, options: PDClientOptions = {}): PDReads => new PDReadClient(new PDHttp(transport, options));
