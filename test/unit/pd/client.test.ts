import { describe, expect, it } from 'vitest';
import type { PDRequestInit, PDTransport } from '../../../src/controller/pd/client.js';
import { isPDError, PDError } from '../../../src/controller/pd/json.js';
import { type PDCalls, pdCalls } from '../../env/pd/pd-client.js';

type Route = { status?: number; body: string };

/** A transport answering canned bodies per path, recording every request. */
function fakeTransport(routes: Record<string, Route>) {
  const calls: { path: string; init: PDRequestInit }[] = [];
  const transport: PDTransport = async (path, init) => {
    calls.push({ path, init });
    const route = routes[path];
    // PD's router answers an unknown path with Go's http.NotFound.
    return route ? { status: route.status ?? 200, body: route.body } : { status: 404, body: '404 page not found\n' };
  };
  return { transport, calls };
}

const MEMBERS = `{
  "header": {"cluster_id": 7412345678901234567},
  "members": [
    {"name": "basic-pd-0", "member_id": 13711283423532012345, "peer_urls": ["http://basic-pd-0.basic-pd-peer.ns.svc:2380"],
     "client_urls": ["http://basic-pd-0.basic-pd-peer.ns.svc:2379"], "deploy_path": "/", "binary_version": "v8.5.5", "git_hash": "abc"},
    {"member_id": 18446744073709551615, "peer_urls": ["http://basic-pd-1.basic-pd-peer.ns.svc:2380"]}
  ],
  "leader": {"name": "basic-pd-0", "member_id": 13711283423532012345, "client_urls": ["http://basic-pd-0.basic-pd-peer.ns.svc:2379"]},
  "etcd_leader": {"name": "basic-pd-0", "member_id": 13711283423532012345}
}`;

describe('HttpPDClient.members', () => {
  it('keeps 20-digit member and cluster ids exact', async () => {
    const { transport } = fakeTransport({ '/pd/api/v1/members': { body: MEMBERS } });
    const m = await pdCalls(transport).members();
    expect(m.clusterID).toBe('7412345678901234567');
    expect(m.members.map((x) => x.id)).toEqual(['13711283423532012345', '18446744073709551615']);
    expect(m.leader?.id).toBe('13711283423532012345');
    expect(m.members[0]).toMatchObject({ name: 'basic-pd-0', binaryVersion: 'v8.5.5' });
  });

  it('represents a half-joined member without name or client URLs', async () => {
    const { transport } = fakeTransport({ '/pd/api/v1/members': { body: MEMBERS } });
    const half = (await pdCalls(transport).members()).members[1];
    expect(half).toEqual({
      id: '18446744073709551615',
      name: '',
      peerURLs: ['http://basic-pd-1.basic-pd-peer.ns.svc:2380'],
      clientURLs: [],
    });
  });
});

describe('HttpPDClient.health', () => {
  it('reads the bare array, including a member PD sends with null name and urls', async () => {
    const body =
      '[{"name":"basic-pd-0","member_id":13711283423532012345,"client_urls":["http://basic-pd-0:2379"],"health":true},' +
      '{"name":"","member_id":9,"client_urls":null,"health":false}]';
    const { transport, calls } = fakeTransport({ '/pd/api/v1/health': { body } });
    const h = await pdCalls(transport).health();
    expect(h).toEqual([
      { id: '13711283423532012345', name: 'basic-pd-0', clientURLs: ['http://basic-pd-0:2379'], health: true },
      { id: '9', name: '', clientURLs: [], health: false },
    ]);
    expect(calls[0]?.init).toEqual({ method: 'GET', timeoutMs: 3000 });
  });

  it('rejects an object where the array belongs', async () => {
    const { transport } = fakeTransport({ '/pd/api/v1/health': { body: '{"health": true}' } });
    const err = await pdCalls(transport).health().catch((e: unknown) => e);
    expect(isPDError(err) && err.kind).toBe('BadResponse');
  });
});

const storeInfo = (store: string, status = '{}') => `{"store": ${store}, "status": ${status}}`;

const UP_OMITTED = storeInfo(
  '{"id": 1, "address": "basic-tikv-0.basic-tikv-peer.ns.svc:20160", "labels": [{"key": "zone", "value": "a"}], "version": "8.5.5",' +
    ' "peer_address": "basic-tikv-0.basic-tikv-peer.ns.svc:20160", "status_address": "basic-tikv-0.basic-tikv-peer.ns.svc:20180",' +
    ' "git_hash": "abc", "start_timestamp": 1755600000, "deploy_path": "/", "last_heartbeat": 1755600123456789000, "state_name": "Up"}',
  '{"capacity": "10GiB", "available": "9.7GiB", "used_size": "40MiB", "leader_count": 7, "leader_weight": 1, "leader_score": 7,' +
    ' "leader_size": 7, "region_count": 21, "region_weight": 1, "region_score": 21.5, "region_size": 21, "slow_score": 1,' +
    ' "start_ts": "2025-08-19T10:00:00Z", "last_heartbeat_ts": "2025-08-19T18:02:03.456789012+08:00", "uptime": "2m3s"}',
);
const DISCONNECTED = storeInfo(
  '{"id": 5, "address": "basic-tikv-2.basic-tikv-peer.ns.svc:20160", "node_state": 1, "state_name": "Disconnected"}',
  '{"capacity": "10GiB", "last_heartbeat_ts": "2025-08-19T10:01:00Z"}',
);
const NO_STATE_NAME = storeInfo('{"id": 12, "address": "basic-tikv-3.basic-tikv-peer.ns.svc:20160", "state": 1, "node_state": 2}');
const TOMBSTONE = storeInfo(
  '{"id": 4, "address": "basic-tikv-1.basic-tikv-peer.ns.svc:20160", "state": 2, "node_state": 3, "state_name": "Tombstone", "last_heartbeat": 1755600000000000000}',
);

describe('HttpPDClient.stores', () => {
  const list = (...stores: string[]) => `{"count": ${stores.length}, "stores": [${stores.join(',')}]}`;

  it('reads an omitted state as Up, and normalizes the store to the fields the operator reads', async () => {
    const { transport } = fakeTransport({ '/pd/api/v1/stores': { body: list(UP_OMITTED) } });
    const [s] = await pdCalls(transport).stores();
    expect(s).toEqual({
      id: '1',
      address: 'basic-tikv-0.basic-tikv-peer.ns.svc:20160',
      stateName: 'Up',
      state: 'Up',
      version: '8.5.5',
      capacity: '10GiB',
      available: '9.7GiB',
      leaderCount: 7,
      regionCount: 21,
      lastHeartbeatTS: '2025-08-19T10:02:03.456Z',
    });
  });

  it('passes state_name Disconnected through, defaults counts to 0 and sorts by numeric id', async () => {
    const { transport } = fakeTransport({ '/pd/api/v1/stores': { body: list(NO_STATE_NAME, DISCONNECTED, UP_OMITTED) } });
    const stores = await pdCalls(transport).stores();
    expect(stores.map((s) => s.id)).toEqual(['1', '5', '12']);
    expect(stores[1]).toMatchObject({ stateName: 'Disconnected', state: 'Up', leaderCount: 0, regionCount: 0 });
    expect(stores[1]?.lastHeartbeatTS).toBe('2025-08-19T10:01:00.000Z');
    // without state_name the numeric state names it
    expect(stores[2]).toMatchObject({ stateName: 'Offline', state: 'Offline' });
  });

  it('asks for every state in one request when tombstones are wanted', async () => {
    const { transport, calls } = fakeTransport({
      '/pd/api/v1/stores?state=0&state=1&state=2': { body: list(UP_OMITTED, TOMBSTONE) },
    });
    const stores = await pdCalls(transport).stores({ includeTombstone: true });
    expect(calls.map((c) => c.path)).toEqual(['/pd/api/v1/stores?state=0&state=1&state=2']);
    expect(stores[1]).toMatchObject({ id: '4', stateName: 'Tombstone', state: 'Tombstone' });
    // no status.last_heartbeat_ts: the nanosecond store.last_heartbeat is used
    expect(stores[1]?.lastHeartbeatTS).toBe(new Date(1755600000000).toISOString());
  });

  it('does not ask for tombstones by default', async () => {
    const { transport, calls } = fakeTransport({ '/pd/api/v1/stores': { body: list() } });
    expect(await pdCalls(transport).stores()).toEqual([]);
    expect(calls.map((c) => c.path)).toEqual(['/pd/api/v1/stores']);
  });

  it('rejects with notBootstrapped before the first store bootstraps', async () => {
    const body = '"[PD:cluster:ErrNotBootstrapped]TiKV cluster not bootstrapped, please start TiKV first"';
    const { transport } = fakeTransport({ '/pd/api/v1/stores': { status: 500, body } });
    const err = await pdCalls(transport).stores().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PDError);
    expect((err as PDError).notBootstrapped).toBe(true);
  });
});

describe('HttpPDClient request hook', () => {
  it('reports the path without query and the status of every request, 0 when no answer came', async () => {
    const seen: [string, number][] = [];
    const failing: PDTransport = async () => {
      throw new Error('socket hang up');
    };
    const ok = fakeTransport({ '/pd/api/v1/stores?state=0&state=1&state=2': { body: '{"count":0,"stores":null}' } });
    const onRequest = (path: string, status: number, seconds: number) => {
      expect(seconds).toBeGreaterThanOrEqual(0);
      seen.push([path, status]);
    };
    await pdCalls(ok.transport, { onRequest }).stores({ includeTombstone: true });
    await pdCalls(ok.transport, { onRequest }).members().catch(() => undefined);
    const err = await pdCalls(failing, { onRequest }).health().catch((e: unknown) => e);
    expect(seen).toEqual([
      ['/pd/api/v1/stores', 200],
      ['/pd/api/v1/members', 404],
      ['/pd/api/v1/health', 0],
    ]);
    // a transport that throws something other than a PDError still yields a PDError
    expect(isPDError(err) && err.kind).toBe('Network');
  });

  it('passes its timeout to the transport', async () => {
    const { transport, calls } = fakeTransport({ '/pd/api/v1/health': { body: '[]' } });
    await pdCalls(transport, { timeoutMs: 1234 }).health();
    expect(calls[0]?.init.timeoutMs).toBe(1234);
  });
});

describe('HttpPDClient writes (scale-in)', () => {
  it('reads max-replicas from config/replicate', async () => {
    const body = '{"max-replicas":3,"location-labels":"zone,host","strictly-match-label":"false","enable-placement-rules":"true","isolation-level":""}';
    const { transport } = fakeTransport({ '/pd/api/v1/config/replicate': { body } });
    expect(await pdCalls(transport).replicationConfig()).toEqual({ maxReplicas: 3 });
  });

  it("offlines a store with DELETE, treating PD's own 404 and 410 as already gone", async () => {
    // PD v8.5.5's bodies (server/api/store.go responseStoreErr: err.Error() as a JSON string).
    const { transport, calls } = fakeTransport({
      '/pd/api/v1/store/5': { body: '"The store is set as Offline."' },
      '/pd/api/v1/store/6': { status: 410, body: '"[PD:core:ErrStoreRemoved]store 6 has been removed"' },
      '/pd/api/v1/store/7': { status: 404, body: '"[PD:core:ErrStoreNotFound]store 7 not found"' },
    });
    const pd = pdCalls(transport);
    expect(await pd.deleteStore('5')).toBe('offline');
    expect(await pd.deleteStore('6')).toBe('gone');
    expect(await pd.deleteStore('7')).toBe('gone');
    expect(calls.map((c) => c.init.method)).toEqual(['DELETE', 'DELETE', 'DELETE']);
  });

  it('surfaces PD refusing to offline a store (400: stores not enough) as an error', async () => {
    const { transport } = fakeTransport({ '/pd/api/v1/store/5': { status: 400, body: '"[PD:core:ErrStoresNotEnough]can not remove store 5 since the number of up stores would be 2 while need 3"' } });
    const err = await pdCalls(transport).deleteStore('5').catch((e: unknown) => e);
    expect(isPDError(err) && err.status).toBe(400);
    expect((err as PDError).message).toContain('ErrStoresNotEnough');
  });

  it('cancels a store removal with POST state=Up, and surfaces PD refusing it for a Tombstone', async () => {
    const { transport, calls } = fakeTransport({
      '/pd/api/v1/store/5/state?state=Up': { body: '"The store\'s state is updated."' },
      '/pd/api/v1/store/6/state?state=Up': { status: 400, body: '"[PD:core:ErrStoreRemoved]store 6 has been removed"' },
    });
    const pd = pdCalls(transport);
    await pd.cancelStoreRemoval('5');
    const err = await pd.cancelStoreRemoval('6').catch((e: unknown) => e);
    expect(isPDError(err) && err.status).toBe(400);
    expect((err as PDError).message).toContain('has been removed');
    expect(calls.map((c) => `${c.init.method} ${c.path}`)).toEqual(['POST /pd/api/v1/store/5/state?state=Up', 'POST /pd/api/v1/store/6/state?state=Up']);
  });

  it('removes a member by name (PD\'s 404 "not found, pd: <name>" = not a member) and transfers leadership with POST', async () => {
    const { transport, calls } = fakeTransport({
      '/pd/api/v1/members/name/basic-pd-2': { body: '"removed, pd: basic-pd-2"' },
      '/pd/api/v1/members/name/basic-pd-9': { status: 404, body: '"not found, pd: basic-pd-9"' },
      '/pd/api/v1/leader/transfer/basic-pd-0': { body: '"The transfer command is submitted."' },
    });
    const pd = pdCalls(transport);
    expect(await pd.deleteMember('basic-pd-2')).toBe('removed');
    expect(await pd.deleteMember('basic-pd-9')).toBe('gone');
    await pd.transferLeader('basic-pd-0');
    expect(calls.map((c) => `${c.init.method} ${c.path}`)).toEqual([
      'DELETE /pd/api/v1/members/name/basic-pd-2',
      'DELETE /pd/api/v1/members/name/basic-pd-9',
      'POST /pd/api/v1/leader/transfer/basic-pd-0',
    ]);
  });
});

describe('HttpPDClient evict-leader scheduler (rolling upgrades)', () => {
  it('adds a store with store_id as a JSON number, exact beyond 2^53', async () => {
    const { transport, calls } = fakeTransport({ '/pd/api/v1/schedulers': { body: '"The scheduler is created."' } });
    const pd = pdCalls(transport);
    await pd.evictLeader('5');
    await pd.evictLeader('18446744073709551615');
    expect(calls.map((c) => c.init.method)).toEqual(['POST', 'POST']);
    expect(JSON.parse(calls[0]?.init.body ?? '')).toEqual({ name: 'evict-leader-scheduler', store_id: 5 });
    expect(calls[1]?.init.body).toBe('{"name":"evict-leader-scheduler","store_id":18446744073709551615}');
  });

  it('refuses an id that is not decimal rather than send a malformed body', async () => {
    const { transport, calls } = fakeTransport({});
    await expect(pdCalls(transport).evictLeader('5,"x":1')).rejects.toThrow(/not a PD store id/);
    expect(calls).toHaveLength(0);
  });

  it('surfaces PD refusing an eviction (unknown store) as an error', async () => {
    const { transport } = fakeTransport({ '/pd/api/v1/schedulers': { status: 500, body: '"[PD:core:ErrStoreNotFound]store id 9 not found"' } });
    const err = await pdCalls(transport).evictLeader('9').catch((e: unknown) => e);
    expect(isPDError(err) && err.status).toBe(500);
  });

  it('removes a store from the scheduler with DELETE, PD\'s forwarded 404 meaning it was not evicted', async () => {
    const { transport, calls } = fakeTransport({
      '/pd/api/v1/schedulers/evict-leader-scheduler-5': { body: 'null' },
      '/pd/api/v1/schedulers/evict-leader-scheduler-6': { status: 404, body: 'null' },
    });
    const pd = pdCalls(transport);
    expect(await pd.removeEvictLeader('5')).toBe('removed');
    expect(await pd.removeEvictLeader('6')).toBe('gone');
    expect(calls.map((c) => `${c.init.method} ${c.path}`)).toEqual([
      'DELETE /pd/api/v1/schedulers/evict-leader-scheduler-5',
      'DELETE /pd/api/v1/schedulers/evict-leader-scheduler-6',
    ]);
  });

  it('lists the evicted stores from the scheduler config, none when the scheduler is absent', async () => {
    const path = '/pd/api/v1/scheduler-config/evict-leader-scheduler/list';
    const body = '{"store-id-ranges":{"12":[{"start-key":"","end-key":""}],"4":[{"start-key":"","end-key":""}]},"batch":3}';
    expect(await pdCalls(fakeTransport({ [path]: { body } }).transport).evictLeaderStores()).toEqual(['4', '12']);
    expect(await pdCalls(fakeTransport({}).transport).evictLeaderStores()).toEqual([]);
    const err = await pdCalls(fakeTransport({ [path]: { status: 500, body: '"boom"' } }).transport).evictLeaderStores().catch((e: unknown) => e);
    expect(isPDError(err) && err.status).toBe(500);
  });
});

describe('HttpPDClient: only PD\'s word counts as "gone"', () => {
  // What kube-apiserver answers through its service proxy when the Service is missing.
  const apiserver404 = JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'services "basic-pd" not found',
    reason: 'NotFound',
    details: { name: 'basic-pd', kind: 'services' },
    code: 404,
  });
  const everyPath = (status: number, body: string): PDTransport => async () => ({ status, body });

  it.each([
    ['deleteMember', (pd: PDCalls) => pd.deleteMember('basic-pd-3')],
    ['deleteStore', (pd: PDCalls) => pd.deleteStore('5')],
    ['removeEvictLeader', (pd: PDCalls) => pd.removeEvictLeader('5')],
    ['evictLeaderStores', (pd: PDCalls) => pd.evictLeaderStores()],
  ])("%s: the API server's 404 (a Status object) is an error saying who answered", async (_, call) => {
    const err = await call(pdCalls(everyPath(404, apiserver404))).catch((e: unknown) => e);
    expect(isPDError(err) && err.status).toBe(404);
    expect((err as PDError).message).toContain('the API server answered, not PD: services "basic-pd" not found');
  });

  it.each([
    ['deleteMember', (pd: PDCalls) => pd.deleteMember('basic-pd-3'), 404, '"[PD:core:ErrStoreNotFound]store 5 not found"'],
    ['deleteStore', (pd: PDCalls) => pd.deleteStore('5'), 404, '"not found, pd: basic-pd-3"'],
    ['deleteStore', (pd: PDCalls) => pd.deleteStore('5'), 404, '404 page not found\n'],
    ['deleteStore', (pd: PDCalls) => pd.deleteStore('5'), 410, '<html>Gone</html>'],
    ['removeEvictLeader', (pd: PDCalls) => pd.removeEvictLeader('5'), 404, '<html>not found</html>'],
    ['evictLeaderStores', (pd: PDCalls) => pd.evictLeaderStores(), 404, '"something else"'],
  ])('%s: a 404/410 whose body is not what PD says for this call is an error', async (_, call, status, body) => {
    const err = await call(pdCalls(everyPath(status, body))).catch((e: unknown) => e);
    expect(isPDError(err) && err.status).toBe(status);
  });
});

describe('routeOf (metric labels)', () => {
  it('drops the query and replaces ids and names, so the label set stays small', async () => {
    const { routeOf } = await import('../../../src/controller/pd/client.js');
    expect(routeOf('/pd/api/v1/stores?state=0&state=1')).toBe('/pd/api/v1/stores');
    expect(routeOf('/pd/api/v1/store/17/state?state=Up')).toBe('/pd/api/v1/store/{id}/state');
    expect(routeOf('/pd/api/v1/members/name/basic-pd-2')).toBe('/pd/api/v1/members/name/{name}');
    expect(routeOf('/pd/api/v1/leader/transfer/basic-pd-0')).toBe('/pd/api/v1/leader/transfer/{name}');
    expect(routeOf('/pd/api/v1/schedulers/evict-leader-scheduler-12')).toBe('/pd/api/v1/schedulers/evict-leader-scheduler-{id}');
  });
});
