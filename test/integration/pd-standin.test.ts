// The PD stand-in (test/env/pd/pd-standin.ts, used where pd-server cannot be built) with the
// TiKV store stand-ins talking pdpb to it: the scenarios of stores-on-selected-pd.test.ts (which runs
// them against pd-server where it exists), plus the HTTP shapes, errors and pdpb answers the operator and
// the store stand-ins rely on. Starts its own stand-in cluster in a temp dir; needs only the
// kvproto .proto files (paths.env of testenv/build.sh or KVPROTO_DIR), no binaries.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { isSafeNumber, parse } from 'lossless-json';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { directTransport } from '../../src/controller/pd/client.js';
import { findBinaries } from '../env/binaries.js';
import type { PDClusterHandle } from '../env/pd/pd.js';
import { pdCalls } from '../env/pd/pd-client.js';
import { startPDStandinCluster } from '../env/pd/pd-standin.js';
import { pdServiceDefinition } from '../env/pd/pd-standin-grpc.js';
import { PDClient, PdHeaderError } from '../env/pd/pdpb.js';
import { canBind, waitFor } from '../env/process.js';
import { loadProtoDirs, type ProtoDirs, type StoreStandin, startStoreStandin } from '../env/stores/stores.js';

interface StoreInfo {
  store: { id: number; address: string; state_name: string; version: string; state?: number; node_state?: number };
  status: { region_count?: number; leader_count?: number; last_heartbeat_ts?: string; capacity?: string };
}

const address = (i: number) => `basic-tikv-${i}.basic-tikv-peer.default.svc:20160`;
const ADDRESSES = [0, 1, 2].map(address);
const POLL = { timeoutMs: 60_000, intervalMs: 200 };
// Short so Disconnected and Down show up quickly; the rules are PD's, the durations test-sized.
const DISCONNECT_MS = 3_000;
const DOWN_MS = 6_000;
const TWO_POW_53 = 2n ** 53n;

/** PD's JSON with uint64 ids kept as strings when a JS number would round them. */
function parsePD<T>(text: string): T {
  return parse(text, undefined, (n) => (isSafeNumber(n) ? Number(n) : n)) as T;
}

type RawPD = grpc.Client & Record<string, (req: object, cb: (err: grpc.ServiceError | null, res: never) => void) => void>;

describe('PD stand-in with store stand-ins over pdpb', () => {
  let dir: string;
  let pd: PDClusterHandle;
  let protoDirs: ProtoDirs;
  let PDService: new (addr: string, creds: grpc.ChannelCredentials) => RawPD;
  const standins: StoreStandin[] = [];
  const lines: string[] = [];
  const log = (s: string) => lines.push(s);
  const api = (path: string, member = 0) => `${pd.clientURLs[member]}/pd/api/v1${path}`;
  const send = async (method: string, path: string, body?: string) => {
    const res = await fetch(api(path), { method, body, signal: AbortSignal.timeout(10_000) });
    return { status: res.status, text: await res.text(), type: res.headers.get('content-type') ?? '' };
  };
  const get = async <T>(path: string, member = 0): Promise<T> => {
    const res = await fetch(api(path, member), { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (!res.ok) throw new Error(`GET ${path} → ${res.status}: ${text}`);
    return parsePD<T>(text);
  };
  const stores = async (query = '') => (await get<{ count: number; stores: StoreInfo[] }>(`/stores${query}`)).stores;
  const storeInfo = (id: string) => get<StoreInfo>(`/store/${id}`);
  const stateOf = async (id: string) => (await storeInfo(id)).store.state_name;
  const start = async (addr: string) => {
    const s = await startStoreStandin({ pdEndpoints: pd.clientURLs, address: addr, protoDirs, heartbeatIntervalMs: 500, log });
    standins.push(s);
    return s;
  };
  const raw = (member: number) => new PDService(pd.clientURLs[member]!.replace('http://', ''), grpc.credentials.createInsecure());
  const rawCall = <T>(member: number, method: string, req: object) =>
    new Promise<T>((resolve, reject) => {
      const client = raw(member);
      client[method]!(req, (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res as T);
      });
    });
  const leaderIndex = async () => {
    const name = (await get<{ name: string }>('/leader')).name;
    return pd.names.indexOf(name);
  };
  const pdClient = () => pdCalls(directTransport(pd.clientURLs[0]!));

  beforeAll(async () => {
    protoDirs = loadProtoDirs(findBinaries([]).binDir);
    PDService = grpc.makeClientConstructor(pdServiceDefinition(protoDirs), 'PD') as unknown as typeof PDService;
    dir = mkdtempSync(join(tmpdir(), 'pd-standin-'));
    pd = await startPDStandinCluster({ dir, log, protoDirs, disconnectAfterMs: DISCONNECT_MS, maxStoreDownTimeMs: DOWN_MS });
  });

  beforeEach((ctx) => {
    ctx.onTestFailed(() => {
      process.stderr.write(`[pd-standin] last log lines:\n  ${lines.slice(-40).join('\n  ')}\n`);
    });
  });

  afterAll(async () => {
    await Promise.all(standins.map((s) => s.stop()));
    await pd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('before any store: /stores answers 500 "not bootstrapped"; /health is a bare array with exact 64-bit member ids', async () => {
    const res = await send('GET', '/stores');
    expect(res.status).toBe(500);
    expect(JSON.parse(res.text)).toMatch(/TiKV cluster not bootstrapped, please start TiKV first$/);
    await expect(pdClient().stores()).rejects.toMatchObject({ notBootstrapped: true });

    const health = await send('GET', '/health');
    expect(health.type).toMatch(/^application\/json/);
    const rawIds = [...health.text.matchAll(/"member_id": (\d+)/g)].map((m) => m[1]!);
    expect(rawIds).toHaveLength(3);
    for (const id of rawIds) expect(BigInt(id) > TWO_POW_53).toBe(true);
    // The same ids over pdpb (protobuf uint64, no JSON involved) and through the operator's client.
    const members = await rawCall<{ members: { member_id: string }[] }>(1, 'GetMembers', { header: {} });
    expect(members.members.map((m) => m.member_id).sort()).toEqual([...rawIds].sort());
    expect((await pdClient().health()).map((h) => h.id).sort()).toEqual([...rawIds].sort());
  });

  it('three stand-ins register concurrently (one bootstraps) and PD shows exactly them Up, with their addresses', async () => {
    await Promise.all(ADDRESSES.map(start));
    const up = await waitFor(
      'three Up stores',
      async () => {
        const list = await stores();
        return list.length === 3 && list.every((s) => s.store.state_name === 'Up') && list;
      },
      POLL,
    );
    expect(up.map((s) => s.store.address).sort()).toEqual([...ADDRESSES].sort());
    expect(up.map((s) => String(s.store.id)).sort()).toEqual(standins.map((s) => s.id).sort());
    expect(new Set(up.map((s) => s.store.version))).toEqual(new Set(['8.5.5']));
    // Up is state 0, omitted like protobuf omitempty; node_state Serving (1) once PD's check ran.
    await waitFor('Serving', async () => (await stores()).every((s) => s.store.node_state === 1), POLL);
    expect((await stores()).map((s) => s.store.state)).toEqual([undefined, undefined, undefined]);
  });

  it('reports one cluster id everywhere: /cluster, /members header and the pdpb header', async () => {
    const clusterText = (await send('GET', '/cluster')).text;
    const id = /"id": (\d+)/.exec(clusterText)?.[1];
    expect(BigInt(id ?? '0') > TWO_POW_53).toBe(true);
    expect(/"cluster_id": (\d+)/.exec((await send('GET', '/members')).text)?.[1]).toBe(id);
    const viaGrpc = await rawCall<{ header: { cluster_id: string } }>(2, 'GetMembers', { header: {} });
    expect(viaGrpc.header.cluster_id).toBe(id);
    expect((await pdClient().members()).clusterID).toBe(id);
  });

  it('PD replicates the bootstrap region onto all three stores, with one leader', async () => {
    const counts = await waitFor(
      'region on three stores',
      async () => {
        const list = await stores();
        const regions = list.map((s) => s.status.region_count ?? 0);
        const leaders = list.reduce((n, s) => n + (s.status.leader_count ?? 0), 0);
        return regions.every((r) => r === 1) && leaders === 1 && { regions, leaders };
      },
      POLL,
    );
    expect(counts).toEqual({ regions: [1, 1, 1], leaders: 1 });
    expect(standins.reduce((n, s) => n + s.leaderCount(), 0)).toBe(1);
  });

  it('GET /regions lists the region with its peers on the three stores, keys in hex, in compact JSON', async () => {
    const res = await send('GET', '/regions');
    expect(res.status).toBe(200);
    expect(res.text.startsWith('{"count":1,"regions":[{"id":')).toBe(true);
    const body = parsePD<{
      count: number;
      regions: { start_key: string; end_key: string; peers: { store_id: number; role_name: string }[]; leader: { store_id: number } }[];
    }>(res.text);
    const [region] = body.regions;
    expect(region?.peers.map((p) => String(p.store_id)).sort()).toEqual(standins.map((s) => s.id).sort());
    expect(region?.peers.map((p) => p.role_name)).toEqual(['Voter', 'Voter', 'Voter']);
    expect([region?.start_key, region?.end_key]).toEqual(['', '']);
    expect(standins.find((s) => s.leaderCount() === 1)?.id).toBe(String(region?.leader.store_id));
  });

  it('evict-leader-scheduler moves the leader off a store; deleting it ends the eviction and the scheduler', async () => {
    const leaderCount = async (id: string) => (await storeInfo(id)).status.leader_count ?? 0;
    const busiest = standins.find((s) => s.leaderCount() === 1)!;
    const add = await send('POST', '/schedulers', `{"name":"evict-leader-scheduler","store_id":${busiest.id}}`);
    expect([add.status, JSON.parse(add.text)]).toEqual([200, 'The scheduler is created.']);
    expect(await get<string[]>('/schedulers')).toContain('evict-leader-scheduler');
    expect(await get('/scheduler-config/evict-leader-scheduler/list')).toEqual({
      'store-id-ranges': { [busiest.id]: [{ 'start-key': '', 'end-key': '' }] },
      batch: 3,
    });
    await waitFor('no leader left on the evicted store', async () => (await leaderCount(busiest.id)) === 0, POLL);
    expect(busiest.leaderCount()).toBe(0);
    expect(standins.reduce((n, s) => n + s.leaderCount(), 0)).toBe(1);

    const del = await send('DELETE', `/schedulers/evict-leader-scheduler-${busiest.id}`);
    expect([del.status, del.text]).toEqual([200, 'null\n']);
    expect(await get<string[]>('/schedulers')).not.toContain('evict-leader-scheduler');
    expect((await send('DELETE', `/schedulers/evict-leader-scheduler-${busiest.id}`)).status).toBe(404);
  });

  it('pdpb: a second Bootstrap is ALREADY_BOOTSTRAPPED, followers say "not leader", a wrong cluster id is refused, ids grow', async () => {
    const client = new PDClient(pd.clientURLs, protoDirs);
    try {
      const bootstrap = client.call('Bootstrap', {
        store: { id: '999', address: 'x:1' },
        region: { id: '998', peers: [{ id: '997', store_id: '999' }] },
      });
      await expect(bootstrap).rejects.toMatchObject({ type: 'ALREADY_BOOTSTRAPPED' });
      await expect(bootstrap).rejects.toBeInstanceOf(PdHeaderError);

      const ids: bigint[] = [];
      for (let i = 0; i < 5; i++) ids.push(BigInt((await client.call<{ header: null; id: string }>('AllocID', {})).id));
      expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);

      const taken = client.call('PutStore', { store: { id: String(ids[4]! + 1n), address: ADDRESSES[0], version: '8.5.5' } });
      await expect(taken).rejects.toThrow(/duplicated store address/);

      const lead = await leaderIndex();
      const follower = [0, 1, 2].find((i) => i !== lead)!;
      const header = { cluster_id: client.clusterId };
      await expect(rawCall(follower, 'IsBootstrapped', { header })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE, details: 'not leader' });
      await expect(rawCall(lead, 'IsBootstrapped', { header: { cluster_id: '1' } })).rejects.toMatchObject({
        code: grpc.status.FAILED_PRECONDITION,
      });
      const store = await rawCall<{ store: { address: string } }>(lead, 'GetStore', { header, store_id: standins[0]!.id });
      expect(store.store.address).toBe(standins[0]!.address);
    } finally {
      client.close();
    }
  });

  it('a stand-in without heartbeats goes Disconnected, then Down; resumed, it is Up again', async () => {
    const victim = standins[2]!;
    victim.pauseHeartbeats();
    await waitFor('Disconnected', async () => (await stateOf(victim.id)) === 'Disconnected', POLL);
    await waitFor('Down', async () => (await stateOf(victim.id)) === 'Down', POLL);
    victim.resumeHeartbeats();
    await waitFor('Up again', async () => (await stateOf(victim.id)) === 'Up', POLL);
    const others = (await stores()).filter((s) => String(s.store.id) !== victim.id);
    expect(others.map((s) => s.store.state_name)).toEqual(['Up', 'Up']);
  });

  it('DELETE /store refuses when fewer Up stores than max-replicas would remain; unknown ids are 404', async () => {
    const refused = await send('DELETE', `/store/${standins[0]!.id}`);
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.text)).toBe(
      `[PD:core:ErrStoresNotEnough]can not remove store ${standins[0]!.id} since the number of up stores would be 2 while need 3`,
    );
    expect(await stateOf(standins[0]!.id)).toBe('Up');
    const unknown = await send('DELETE', '/store/424242');
    expect([unknown.status, JSON.parse(unknown.text)]).toEqual([404, '[PD:core:ErrStoreNotFound]store 424242 not found']);
    expect((await send('GET', '/store/424242')).status).toBe(404);
  });

  it('DELETE takes an empty store to Tombstone, hidden unless state=2; deleting it again is 410 Gone', async () => {
    const empty = await start(address(3));
    await waitFor('fourth store Up', async () => (await stateOf(empty.id)) === 'Up', POLL);
    const res = await send('DELETE', `/store/${empty.id}`);
    expect([res.status, JSON.parse(res.text)]).toEqual([200, 'The store is set as Offline.']);
    await waitFor('Tombstone', async () => (await stateOf(empty.id)) === 'Tombstone', POLL);
    expect((await stores()).map((s) => String(s.store.id))).not.toContain(empty.id);
    expect((await stores('?state=2')).map((s) => String(s.store.id))).toEqual([empty.id]);
    const all = await stores('?state=0&state=1&state=2');
    expect(all.map((s) => s.store.state_name).sort()).toEqual(['Tombstone', 'Up', 'Up', 'Up']);
    expect(all.find((s) => String(s.store.id) === empty.id)?.store).toMatchObject({ state: 2, node_state: 3 });
    const again = await send('DELETE', `/store/${empty.id}`);
    expect([again.status, JSON.parse(again.text)]).toEqual([410, `[PD:core:ErrStoreRemoved]store ${empty.id} has been removed`]);
  });

  it('DELETE of the store leading the region: PD moves its peer and the leadership away, then it is a Tombstone', async () => {
    const spare = await start(address(4));
    await waitFor('spare Up', async () => (await stateOf(spare.id)) === 'Up', POLL);
    const leaderStore = standins.find((s) => s.leaderCount() === 1)!;
    const res = await send('DELETE', `/store/${leaderStore.id}`);
    expect(res.status, res.text).toBe(200);
    const seen = new Set<string>();
    await waitFor(
      'Tombstone',
      async () => {
        const state = await stateOf(leaderStore.id);
        seen.add(state);
        return state === 'Tombstone';
      },
      POLL,
    );
    expect([...seen].filter((st) => st !== 'Offline' && st !== 'Tombstone')).toEqual([]);
    expect(leaderStore.regionCount()).toBe(0);
    expect(spare.regionCount()).toBe(1);
    const live = (await stores()).map((s) => ({ id: String(s.store.id), regions: s.status.region_count, leaders: s.status.leader_count }));
    expect(live.map((s) => s.regions)).toEqual([1, 1, 1]);
    expect(live.reduce((n, s) => n + (s.leaders ?? 0), 0)).toBe(1);
  });

  it('an Offline store whose peer has nowhere to go stays Offline until POST state=Up cancels it', async () => {
    // The only store without a peer of the region stops heartbeating, so it is no target.
    const idle = await start(address(5));
    await waitFor('idle Up', async () => (await stateOf(idle.id)) === 'Up', POLL);
    idle.pauseHeartbeats();
    await waitFor('idle Disconnected', async () => (await stateOf(idle.id)) === 'Disconnected', POLL);
    const holder = standins.find((s) => s.regionCount() === 1 && s !== idle)!;
    expect((await send('DELETE', `/store/${holder.id}`)).status).toBe(200);
    const offline = await storeInfo(holder.id);
    expect(offline.store).toMatchObject({ state_name: 'Offline', state: 1, node_state: 2 });
    expect(offline.status.region_count).toBe(1);
    const cancel = await send('POST', `/store/${holder.id}/state?state=Up`);
    expect([cancel.status, JSON.parse(cancel.text)]).toEqual([200, "The store's state is updated."]);
    expect((await storeInfo(holder.id)).store).toMatchObject({ state_name: 'Up', node_state: 1 });
    expect(holder.regionCount()).toBe(1);
    idle.resumeHeartbeats();
    await waitFor('idle Up again', async () => (await stateOf(idle.id)) === 'Up', POLL);
  });

  it("the operator's HttpPDClient reads every endpoint of the stand-in", async () => {
    const client = pdClient();
    const health = await client.health();
    expect(health.map((h) => h.name).sort()).toEqual(pd.names);
    expect(health.every((h) => h.health)).toBe(true);
    const members = await client.members();
    expect(members.members.map((m) => m.name).sort()).toEqual(pd.names);
    expect(members.clusterID).toBe(String((await get<{ id: unknown }>('/cluster')).id));
    expect(members.leader?.name).toBe((await get<{ name: string }>('/leader')).name);
    expect(String((await get<{ etcd_leader?: { member_id: unknown } }>('/members')).etcd_leader?.member_id)).toBe(members.leader?.id);
    expect(members.members.every((m) => m.peerURLs.length === 1 && m.clientURLs[0] === pd.clientURLs[pd.names.indexOf(m.name)])).toBe(
      true,
    );
    const all = await client.stores({ includeTombstone: true });
    const plain = await client.stores();
    expect(all.filter((s) => s.state === 'Tombstone').map((s) => s.id).sort()).toHaveLength(2);
    expect(plain.map((s) => s.id)).toEqual(all.filter((s) => s.state !== 'Tombstone').map((s) => s.id));
    const live = plain.filter((s) => s.stateName === 'Up');
    expect(live.every((s) => s.capacity === '10GiB' && s.lastHeartbeatTS)).toBe(true);
    // What the operator's client does not read, PD's own answer shows.
    const served = (await get<{ stores: Array<StoreInfo & { status: { start_ts?: string } }> }>('/stores')).stores.filter((s) => s.store.state_name === 'Up');
    expect(served.map((s) => s.store.id).sort()).toEqual(live.map((s) => Number(s.id)).sort());
    expect(served.every((s) => s.store.node_state === 1 && s.status.start_ts)).toBe(true);
    expect(live.reduce((n, s) => n + s.leaderCount, 0)).toBe(1);
    expect(await client.replicationConfig()).toEqual({ maxReplicas: 3 });
    expect((await get<Record<string, unknown>>('/config/replicate'))['location-labels']).toBe('');
    expect(await client.deleteStore('424242')).toBe('gone');
    expect(await client.deleteMember('no-such-pd')).toBe('gone');

    const labels = await send('POST', '/config/replicate', JSON.stringify({ 'location-labels': 'zone,host' }));
    expect([labels.status, JSON.parse(labels.text)]).toEqual([200, 'The config is updated.']);
    expect(await client.replicationConfig()).toEqual({ maxReplicas: 3 });
    const replicate = await get<Record<string, unknown>>('/config/replicate');
    expect(replicate).toMatchObject({ 'location-labels': 'zone,host', 'enable-placement-rules': 'true', 'strictly-match-label': 'false' });
    expect((await send('POST', '/config/replicate', JSON.stringify({ 'strictly-match-label': true }))).status).toBe(400);
    await send('POST', '/config/replicate', JSON.stringify({ 'location-labels': '' }));

    const target = pd.names.find((n) => n !== members.leader?.name)!;
    await client.transferLeader(target);
    expect((await get<{ name: string }>('/leader')).name).toBe(target);
    const unknown = await send('POST', '/leader/transfer/no-such-pd');
    expect([unknown.status, JSON.parse(unknown.text)]).toEqual([500, 'no valid pd to transfer etcd leader']);
  });

  it('stopMember: others report it unhealthy, leadership leaves it, stores keep heartbeating; startMember heals it', async () => {
    const healthy = (h: { health: boolean }[]) => h.filter((e) => e.health).length;
    const lead = await leaderIndex();
    const observer = (lead + 1) % 3;
    await pd.stopMember(lead);
    const after = await get<{ name: string; health: boolean }[]>('/health', observer);
    expect(after.filter((e) => !e.health).map((e) => e.name)).toEqual([pd.names[lead]]);
    await expect(fetch(api('/ping', lead))).rejects.toThrow();
    expect(await get<{ name: string }>('/leader', observer)).toMatchObject({ name: expect.not.stringMatching(pd.names[lead]!) });

    // Every live store reconnects to the new leader: its heartbeat time moves past the stop.
    const stoppedAt = Date.now();
    await waitFor(
      'heartbeats to the new leader',
      async () => {
        const list = await get<{ stores: StoreInfo[] }>('/stores', observer);
        return list.stores.every((s) => Date.parse(s.status.last_heartbeat_ts ?? '') > stoppedAt);
      },
      POLL,
    );

    await pd.startMember(lead);
    expect(healthy(await get<{ health: boolean }[]>('/health', lead))).toBe(3);
  });

  it('without a majority no member leads: requests needing the leader answer 503, /health still answers', async () => {
    await pd.stopMember(0);
    await pd.stopMember(1);
    const members = await fetch(api('/members', 2));
    expect(members.status).toBe(503);
    expect(await members.text()).toBe('[PD:apiutil:ErrRedirectNoLeader]redirect finds no leader\n');
    const health = await get<{ name: string; health: boolean }[]>('/health', 2);
    expect(health.filter((h) => h.health).map((h) => h.name)).toEqual(['pd-2']);
    await expect(rawCall(2, 'IsBootstrapped', { header: {} })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    await pd.startMember(0);
    await pd.startMember(1);
    expect((await get<{ name: string }>('/leader', 2)).name).toMatch(/^pd-[012]$/);
    // The stores lost PD for a while (longer than the short Disconnected threshold here).
    await waitFor('stores Up again', async () => (await stores()).every((s) => s.store.state_name === 'Up'), POLL);
  });

  it('DELETE /members/name removes a member for good: gone from /health and /members, its port closed', async () => {
    const missing = await send('DELETE', '/members/name/no-such-pd');
    expect([missing.status, JSON.parse(missing.text)]).toEqual([404, 'not found, pd: no-such-pd']);
    const removed = await send('DELETE', '/members/name/pd-2');
    expect([removed.status, JSON.parse(removed.text)]).toEqual([200, 'removed, pd: pd-2']);
    expect((await get<{ name: string }[]>('/health')).map((h) => h.name).sort()).toEqual(['pd-0', 'pd-1']);
    expect((await get<{ members: { name: string }[] }>('/members')).members.map((m) => m.name).sort()).toEqual(['pd-0', 'pd-1']);
    await waitFor('pd-2 closed', async () => fetch(api('/ping', 2)).then(() => false, () => true), POLL);
    await expect(pd.startMember(2)).rejects.toThrow(/removed/);
    await waitFor('stores Up with two members', async () => (await stores()).every((s) => s.store.state_name === 'Up'), POLL);
  });
});

describe('PD stand-in lifecycle', () => {
  it('starts and stops three times in a row; every stop frees the client ports', async () => {
    const protoDirs = loadProtoDirs(findBinaries([]).binDir);
    const dir = mkdtempSync(join(tmpdir(), 'pd-standin-cycle-'));
    try {
      for (let round = 0; round < 3; round++) {
        const pd = await startPDStandinCluster({ dir: join(dir, String(round)), protoDirs });
        const pings = await Promise.all(pd.clientURLs.map((u) => fetch(`${u}/pd/api/v1/ping`).then((r) => r.status)));
        expect(pings).toEqual([200, 200, 200]);
        await pd.stop();
        const ports = pd.clientURLs.map((u) => Number(new URL(u).port));
        expect(await Promise.all(ports.map(canBind))).toEqual([true, true, true]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
