// The stand-ins' pdpb plumbing against a scripted gRPC peer (not PD's logic — store states
// are asserted against the selected PD in stores-on-selected-pd.test.ts): leader following from a
// follower endpoint, uint64 ids kept exact, the bootstrap race, and operator application.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinaries } from '../env/binaries.js';
import { waitFor } from '../env/process.js';
import { loadProtoDirs, type ProtoDirs, type StoreStandin, startStoreStandin } from '../env/stores/stores.js';

// Above 2^53: a lossy JS number would change it.
const CLUSTER_ID = '13711283423532012345';

interface Req {
  header?: { cluster_id: string };
  [k: string]: unknown;
}
type Cb = (err: grpc.ServiceError | null, res?: object) => void;
type Unary = (call: { request: Req }, cb: Cb) => void;

/** A scripted PD leader: records what the stand-ins send, answers like PD would. */
class ScriptedLeader {
  nextId = 100;
  bootstrapped = false;
  bootstraps: Req[] = [];
  putStores: Req[] = [];
  storeHeartbeats: Req[] = [];
  regionHeartbeats: Req[] = [];
  badHeaders: string[] = [];
  /** Responses to push on the next region heartbeat (one each). */
  pending: object[] = [];

  private checked(fn: (r: Req) => object): Unary {
    return (call, cb) => {
      if (call.request.header?.cluster_id !== CLUSTER_ID) this.badHeaders.push(String(call.request.header?.cluster_id));
      cb(null, { header: { cluster_id: CLUSTER_ID }, ...fn(call.request) });
    };
  }

  handlers(members: () => object): grpc.UntypedServiceImplementation {
    return {
      GetMembers: (_call: unknown, cb: Cb) => cb(null, { header: { cluster_id: CLUSTER_ID }, ...members() }),
      IsBootstrapped: this.checked(() => ({ bootstrapped: this.bootstrapped })),
      AllocID: this.checked(() => ({ id: String(this.nextId++) })),
      Bootstrap: this.checked((r) => {
        this.bootstraps.push(r);
        if (this.bootstrapped) return { header: { cluster_id: CLUSTER_ID, error: { type: 'ALREADY_BOOTSTRAPPED', message: 'cluster is already bootstrapped' } } };
        this.bootstrapped = true;
        return {};
      }),
      PutStore: this.checked((r) => {
        this.putStores.push(r);
        return {};
      }),
      GetAllStores: this.checked(() => ({ stores: [] })),
      StoreHeartbeat: this.checked((r) => {
        this.storeHeartbeats.push(r);
        return {};
      }),
      RegionHeartbeat: (stream: grpc.ServerDuplexStream<Req, object>) => {
        stream.on('data', (r: Req) => {
          this.regionHeartbeats.push(r);
          const next = this.pending.shift();
          if (next) stream.write({ header: { cluster_id: CLUSTER_ID }, ...next });
        });
        stream.on('end', () => stream.end());
      },
    };
  }
}

function notLeaderHandlers(service: grpc.ServiceDefinition, members: () => object): grpc.UntypedServiceImplementation {
  const impl: grpc.UntypedServiceImplementation = {};
  for (const name of Object.keys(service)) {
    impl[name] = (_call: unknown, cb?: Cb) =>
      cb?.({ code: grpc.status.UNAVAILABLE, details: 'not leader', message: 'not leader' } as grpc.ServiceError);
  }
  impl.GetMembers = (_call: unknown, cb: Cb) => cb(null, { header: { cluster_id: CLUSTER_ID }, ...members() });
  return impl;
}

async function serve(service: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation) {
  const server = new grpc.Server();
  server.addService(service, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, url: `http://127.0.0.1:${port}` };
}

describe('store stand-in pdpb plumbing (scripted peer)', () => {
  let protoDirs: ProtoDirs;
  const leader = new ScriptedLeader();
  const servers: grpc.Server[] = [];
  let followerURL = '';
  const standins: StoreStandin[] = [];
  /** GetMembers answers without a leader while this is > 0 (PD during an election). */
  let leaderlessAnswers = 0;
  let getMembersCalls = 0;

  beforeAll(async () => {
    protoDirs = loadProtoDirs(findBinaries([]).binDir);
    const def = protoLoader.loadSync('pdpb.proto', { includeDirs: protoDirs.includeDirs, keepCase: true, longs: String, enums: String, defaults: true });
    const service = (grpc.loadPackageDefinition(def) as unknown as { pdpb: { PD: { service: grpc.ServiceDefinition } } }).pdpb.PD.service;
    let leaderURL = '';
    const members = () => {
      getMembersCalls++;
      const electing = leaderlessAnswers > 0;
      if (electing) leaderlessAnswers--;
      return {
        members: [{ name: 'pd-0', client_urls: [followerURL] }, { name: 'pd-1', client_urls: [leaderURL] }],
        leader: electing ? null : { name: 'pd-1', member_id: '18446744073709551615', client_urls: [leaderURL] },
      };
    };
    const l = await serve(service, leader.handlers(members));
    const f = await serve(service, notLeaderHandlers(service, members));
    leaderURL = l.url;
    followerURL = f.url;
    servers.push(l.server, f.server);
  });

  afterAll(async () => {
    await Promise.all(standins.map((s) => s.stop()));
    for (const s of servers) s.forceShutdown();
  });

  it('two stand-ins started at once through a follower: one bootstraps, the other falls back to PutStore', async () => {
    const addresses = ['basic-tikv-0.basic-tikv-peer.default.svc:20160', 'basic-tikv-1.basic-tikv-peer.default.svc:20160'];
    standins.push(
      ...(await Promise.all(
        addresses.map((address) => startStoreStandin({ pdEndpoints: [followerURL], address, protoDirs, heartbeatIntervalMs: 100 })),
      )),
    );
    expect(leader.bootstraps.length).toBeGreaterThanOrEqual(1);
    const bootstrapped = leader.bootstraps[0] as { store: { id: string; address: string }; region: { peers: { store_id: string }[] } };
    expect(bootstrapped.region.peers.map((p) => p.store_id)).toEqual([bootstrapped.store.id]);
    const put = leader.putStores.map((r) => (r.store as { address: string; version: string; state: string }));
    expect(put).toHaveLength(1);
    expect(put[0]).toMatchObject({ version: '8.5.5', state: 'Up' });
    expect([bootstrapped.store.address, put[0]?.address].sort()).toEqual(addresses);
    expect(leader.badHeaders).toEqual([]);
  });

  it('heartbeats carry the exact 64-bit cluster id and the bootstrap store reports region 1 as leader', async () => {
    await waitFor('region heartbeats', async () => leader.regionHeartbeats.length >= 2, { timeoutMs: 10_000 });
    expect(leader.badHeaders).toEqual([]);
    const storeIds = new Set(leader.storeHeartbeats.map((r) => (r.stats as { store_id: string }).store_id));
    expect(storeIds).toEqual(new Set(standins.map((s) => s.id)));
    const leaderStores = new Set(leader.regionHeartbeats.map((r) => (r.leader as { store_id: string }).store_id));
    expect(leaderStores.size).toBe(1);
    expect(standins.map((s) => s.leaderCount()).sort()).toEqual([0, 1]);
  });

  it('applies an AddLearner then a promote from PD, and reports the new peer with a higher conf_ver', async () => {
    const owner = standins.find((s) => s.leaderCount() === 1)!;
    const other = standins.find((s) => s !== owner)!;
    const region = (leader.regionHeartbeats.at(-1)?.region ?? {}) as { id: string };
    const newPeer = { id: '900', store_id: other.id, role: 'Learner' };
    leader.pending.push(
      { region_id: region.id, change_peer: { peer: newPeer, change_type: 'AddLearnerNode' } },
      { region_id: region.id, change_peer: { peer: newPeer, change_type: 'AddNode' } },
    );
    type Seen = { region: { peers: { id: string; role: string }[]; region_epoch: { conf_ver: string } } };
    const last = await waitFor(
      'peer 900 a voter',
      async () => {
        const r = leader.regionHeartbeats.at(-1) as Seen | undefined;
        return r?.region.peers.some((p) => p.id === '900' && p.role === 'Voter') && r;
      },
      { timeoutMs: 10_000 },
    );
    expect(last.region.region_epoch.conf_ver).toBe('3');
    expect(other.regionCount()).toBe(1);
  });

  it('pausing the leader store stops its heartbeats; no quorum is left, so nobody leads the region', async () => {
    const owner = standins.find((s) => s.leaderCount() === 1)!;
    owner.pauseHeartbeats();
    // Two voters, one live: no majority, the region must go leaderless rather than move.
    expect(standins.map((s) => s.leaderCount())).toEqual([0, 0]);
    // A heartbeat already in flight when pausing may still land; count from the next one on.
    const first = leader.storeHeartbeats.length;
    await waitFor('one more heartbeat', async () => leader.storeHeartbeats.length > first + 1, { timeoutMs: 10_000 });
    const mark = leader.storeHeartbeats.length;
    await waitFor('the other store to keep heartbeating', async () => leader.storeHeartbeats.length >= mark + 3, { timeoutMs: 10_000 });
    const fromOwner = leader.storeHeartbeats.slice(mark).filter((r) => (r.stats as { store_id: string }).store_id === owner.id);
    expect(fromOwner).toHaveLength(0);
    owner.resumeHeartbeats();
    await waitFor('owner back', async () => owner.leaderCount() === 1, { timeoutMs: 10_000 });
  });

  it('registration waits while PD has no leader, then registers', async () => {
    leaderlessAnswers = 4;
    const before = getMembersCalls;
    const late = await startStoreStandin({
      pdEndpoints: [followerURL],
      address: 'basic-tikv-2.basic-tikv-peer.default.svc:20160',
      protoDirs,
      heartbeatIntervalMs: 100,
    });
    standins.push(late);
    expect(leaderlessAnswers).toBe(0);
    expect(getMembersCalls - before).toBeGreaterThan(4);
    expect(leader.putStores.map((r) => (r.store as { id: string }).id)).toContain(late.id);
  });
});
