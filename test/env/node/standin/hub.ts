// The stand-in hub: the one place the PD and TiKV stand-ins of the real node's pods share
// state, run by the test environment on the host end of the node's veth (ADDR.host) and
// reached from pods as the Service tikv-standin-hub.kube-system (protocol.ts).
//
// PD: every PD pod runs `pd-server` (pd-server.ts): it parses the flags the chart passes,
// decides from its data dir and flags what PD would (bootstrap with --initial-cluster,
// --join a running cluster, restart from data), and registers here. The hub keeps one
// StandinCluster per PD cluster (the members' shared "etcd": membership, ids, leadership,
// stores, regions) and serves each member's PD API (HTTP and pdpb gRPC, pd-standin-*.ts)
// on its own port; the pod forwards its client port 2379 there. A member runs while its
// pod's connection is open, so quorum and leadership follow the pods. The rules are etcd's
// and PD's (see pdStart): a bootstrap forms the cluster of the listed members and has a
// leader once a majority of them runs; a join adds a member; a listed member that lost its
// data cannot join again ("missing data or join a duplicated pd") nor bootstrap again
// ("has already been bootstrapped"); a restart with data keeps the member id.
//
// TiKV: every TiKV pod runs `tikv-server` (tikv-server.ts), a store stand-in (stores.ts)
// that talks pdpb to PD through --pd like TiKV. The raft side (which store holds a replica
// of which region, who leads it) is the hub's region book per PD cluster id: the leader
// store commits the changes PD's operators make, the hub elects a new leader among live
// voters when a store's pod goes, and pushes the book to every store of the cluster.
//
// What this simplifies: members never talk to each other (no raft, no WAL: a member's
// "data" is its identity file), so a member's data means only "which member I am"; a
// restarted hub (a new test environment) knows no cluster, and a pod restarting on an old
// volume then fails like a PD whose peers are gone. Region replicas live in the hub, not on
// the stores' volumes.
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { CoreV1Api, DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node';
import type * as grpc from '@grpc/grpc-js';
import { randomU64, StandinCluster, type StandinMember } from '../../pd/pd-standin-cluster.js';
import { HeartbeatStreams, pdServiceDefinition } from '../../pd/pd-standin-grpc.js';
import { MemberRuntime } from '../../pd/pd-standin.js';
import type { ProtoDirs, U64 } from '../../pd/pdpb.js';
import { elect, leaderPeer, type RegionEntry } from '../../pd/region-book.js';
import { decode, encode, HUB_SERVICE, type HubMessage, type PdStartRequest, type PodMessage, readLines, type TikvCommit, type TikvJoin } from './protocol.js';

export interface StandinHubOptions {
  /** Publishes the hub as the Service pods reach (none: tests that run the stand-ins as plain processes). */
  kc?: KubeConfig;
  /** Address to listen on (the host end of the node's veth). */
  host: string;
  /** Log files of the members. */
  dir: string;
  protoDirs: ProtoDirs;
  log: (s: string) => void;
  /** PD's node state check (Offline → Tombstone); PD runs it every 10 s, the stand-in every second. */
  nodeStateCheckIntervalMs?: number;
}

export interface StandinHub {
  readonly address: string;
  /** PD clusters by key (the peer Service's domain), for tests and diagnostics. */
  pdCluster(key: string): StandinCluster | undefined;
  describe(): string;
  stop(): Promise<void>;
}

/** PD's defaults for what a bootstrap reads from pd.toml. */
const PD_DEFAULT_MAX_REPLICAS = 3;
const PD_DEFAULT_MAX_STORE_DOWN_MS = 30 * 60_000;

class Conn {
  private closeHandlers: (() => void)[] = [];
  closed = false;

  constructor(readonly socket: net.Socket) {
    const close = () => {
      if (this.closed) return;
      this.closed = true;
      for (const h of this.closeHandlers) h();
    };
    socket.on('close', close);
    socket.on('error', close);
  }

  send(m: HubMessage): void {
    if (!this.closed) this.socket.write(encode(m));
  }

  onClose(h: () => void): void {
    if (this.closed) h();
    else this.closeHandlers.push(h);
  }

  end(): void {
    this.socket.destroy();
  }
}

interface PdCluster {
  key: string;
  cluster: StandinCluster;
  streams: HeartbeatStreams;
  runtimes: Map<string, MemberRuntime>;
  conns: Map<string, Conn>;
  /** Members that ever ran: their data exists somewhere, etcd knows them as started. */
  everStarted: Set<string>;
  checker: NodeJS.Timeout;
}

interface StoreSlot {
  conn?: Conn;
  downSince?: number;
}

interface RegionBook {
  clusterId: U64;
  regions: Map<U64, RegionEntry>;
  stores: Map<U64, StoreSlot>;
}

/** `a=u1,b=u2` → [[a,u1],[b,u2]] (etcd's initial-cluster). */
export function parseInitialCluster(s: string): [string, string][] {
  return s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const i = p.indexOf('=');
      return [p.slice(0, i), p.slice(i + 1)] as [string, string];
    });
}

const hex = (id: U64) => BigInt(id).toString(16);

export async function startStandinHub(o: StandinHubOptions): Promise<StandinHub> {
  const log = (s: string) => o.log(`[stand-in hub] ${s}`);
  const service: grpc.ServiceDefinition = pdServiceDefinition(o.protoDirs);
  const logDir = join(o.dir, 'standin-hub');
  mkdirSync(logDir, { recursive: true });
  const pd = new Map<string, PdCluster>();
  const books = new Map<U64, RegionBook>();
  const conns = new Set<Conn>();

  // ---- PD ------------------------------------------------------------------------------

  const newPdCluster = (key: string, members: [string, string][], clientURLOf: (name: string) => string, req: PdStartRequest): PdCluster => {
    const cluster = new StandinCluster(
      members.map(([name, peerURL], index) => ({ index, name, id: randomU64(), peerURL, clientURL: clientURLOf(name) })),
      {
        disconnectAfterMs: 20_000,
        maxStoreDownTimeMs: req.maxStoreDownTimeMs ?? PD_DEFAULT_MAX_STORE_DOWN_MS,
        maxReplicas: req.maxReplicas ?? PD_DEFAULT_MAX_REPLICAS,
        log: (s) => {
          log(`${key}: ${s}`);
          const lead = cluster.leader();
          if (lead) c.runtimes.get(lead.name)?.write(s);
        },
      },
    );
    const c: PdCluster = {
      key,
      cluster,
      streams: new HeartbeatStreams(),
      runtimes: new Map(),
      conns: new Map(),
      everStarted: new Set(),
      checker: setInterval(() => cluster.checkStores(), o.nodeStateCheckIntervalMs ?? 1_000),
    };
    c.checker.unref();
    pd.set(key, c);
    log(`${key}: new PD cluster ${cluster.clusterId} with ${members.map(([n]) => n).join(', ')}`);
    return c;
  };

  /** The pod's advertise client URL is the member's; members created from --initial-cluster get theirs derived from the peer URL. */
  const clientURLFromPeer = (peerURL: string, req: PdStartRequest) => {
    const ownPeer = new URL(req.peerURL);
    const ownClient = new URL(req.clientURL);
    const u = new URL(peerURL);
    return `${ownClient.protocol}//${u.hostname}:${ownClient.port || ownPeer.port}`;
  };

  const startMember = async (c: PdCluster, m: StandinMember, conn: Conn, req: PdStartRequest, removed: boolean): Promise<HubMessage> => {
    // etcd publishes a member's client URLs when it starts.
    m.clientURL = req.clientURL;
    const old = c.conns.get(m.name);
    if (old && old !== conn) old.end();
    let rt = c.runtimes.get(m.name);
    // A name that rejoined after its member was removed (lost data, then `pd-ctl member
    // delete`, then --join) is a new member: its runtime serves the new one, not the old.
    if (rt && rt.member !== m) {
      await rt.stop({ closeLog: true });
      rt = undefined;
    }
    if (!rt) {
      rt = new MemberRuntime(m, 0, {
        cluster: c.cluster,
        service,
        streams: c.streams,
        host: o.host,
        logPath: join(logDir, `${c.key.replaceAll('.', '_')}-${m.name}.log`),
        http: {
          cluster: c.cluster,
          member: m,
          deployPath: '/',
          checkSoon: () => setImmediate(() => c.cluster.checkStores()),
          // A removed pd-server keeps serving until its pod goes (seen with the real one).
          afterMemberRemoved: (name) => c.conns.get(name)?.send({ type: 'pd-removed' }),
        },
      });
      c.runtimes.set(m.name, rt);
    }
    await rt.stop();
    await rt.start();
    c.conns.set(m.name, conn);
    c.everStarted.add(m.name);
    const runtime = rt;
    conn.onClose(() => {
      if (c.conns.get(m.name) !== conn) return;
      c.conns.delete(m.name);
      void runtime.stop().then(() => log(`${c.key}: ${m.name} stopped (its pod's connection closed); leader ${c.cluster.leader()?.name ?? '(none)'}`));
    });
    log(`${c.key}: ${m.name} running${removed ? ' (removed from the cluster: serving, not a member)' : ''}; leader ${c.cluster.leader()?.name ?? '(none: no quorum yet)'}`);
    const members = c.cluster
      .memberList()
      .map((x) => `${x.name}=${x.peerURL}`)
      .join(',');
    return { re: 0, ok: true, memberId: m.id, clusterId: c.cluster.clusterId, host: o.host, port: runtime.boundPort, members, removed };
  };

  const fail = (message: string): HubMessage => ({ re: 0, ok: false, message });

  const pdStart = async (conn: Conn, req: PdStartRequest): Promise<HubMessage> => {
    const existing = pd.get(req.cluster);
    if (req.mode === 'bootstrap') {
      const listed = parseInitialCluster(req.initialCluster ?? '');
      const own = listed.find(([n]) => n === req.name);
      if (!own) return fail(`couldn't find local name "${req.name}" in the initial cluster configuration`);
      if (own[1] !== req.peerURL) {
        return fail(`--initial-cluster has ${req.name}=${own[1]} but missing from --initial-advertise-peer-urls=${req.peerURL}`);
      }
      const c = existing ?? newPdCluster(req.cluster, listed, (n) => clientURLFromPeer(listed.find(([x]) => x === n)![1], req), req);
      const m = c.cluster.members.find((x) => x.name === req.name && !x.removed);
      if (!m) {
        return fail(
          `error validating peerURLs {ClusterID:${hex(c.cluster.clusterId)} Members:[${c.cluster
            .memberList()
            .map((x) => x.name)
            .join(' ')}]}: member count is unequal`,
        );
      }
      // etcd's isMemberBootstrapped: the cluster already knows this member as started.
      if (c.everStarted.has(m.name)) return fail(`member ${hex(m.id)} has already been bootstrapped`);
      return startMember(c, m, conn, req, false);
    }
    if (!existing) {
      return fail(`the cluster of ${req.name} (${req.cluster}) is unknown to the stand-in hub: its members' data is from another test environment`);
    }
    const c = existing;
    if (req.mode === 'join') {
      if (c.cluster.memberList().some((x) => x.name === req.name)) return fail('missing data or join a duplicated pd');
      const m = c.cluster.addMember({ name: req.name, id: randomU64(), peerURL: req.peerURL, clientURL: req.clientURL });
      return startMember(c, m, conn, req, false);
    }
    // restart: by the member id from the data dir, or by name after an interrupted join (join file, no member dir)
    if (req.clusterId && req.clusterId !== c.cluster.clusterId) {
      return fail(`the data dir belongs to cluster ${req.clusterId}, not to ${c.cluster.clusterId}`);
    }
    const m = req.memberId ? c.cluster.members.find((x) => x.id === req.memberId) : c.cluster.members.find((x) => x.name === req.name && !x.removed);
    if (!m) return fail(`member ${req.memberId ?? req.name} is not in the cluster's member list`);
    return startMember(c, m, conn, req, m.removed);
  };

  // ---- TiKV ---------------------------------------------------------------------------

  const book = (clusterId: U64): RegionBook => {
    let b = books.get(clusterId);
    if (!b) {
      b = { clusterId, regions: new Map(), stores: new Map() };
      books.set(clusterId, b);
    }
    return b;
  };
  const isLive = (b: RegionBook) => (storeId: U64) => b.stores.get(storeId)?.conn !== undefined;
  const push = (b: RegionBook) => {
    const now = Date.now();
    const live: U64[] = [];
    const down: Record<U64, number> = {};
    for (const [id, s] of b.stores) {
      if (s.conn) live.push(id);
      else if (s.downSince !== undefined) down[id] = Math.floor((now - s.downSince) / 1000);
    }
    const msg: HubMessage = { type: 'regions', entries: [...b.regions.values()], live, down };
    for (const s of b.stores.values()) s.conn?.send(msg);
  };
  const electAndPush = (b: RegionBook) => {
    for (const e of b.regions.values()) {
      if (elect(e, isLive(b))) log(`regions of ${b.clusterId}: region ${e.region.id} leader → ${leaderPeer(e)?.store_id ?? 'none (no quorum)'}`);
    }
    push(b);
  };
  const slot = (b: RegionBook, storeId: U64, conn: Conn) => {
    const s = b.stores.get(storeId) ?? {};
    if (s.conn !== conn) {
      s.conn?.end();
      s.conn = conn;
      s.downSince = undefined;
      conn.onClose(() => {
        if (s.conn !== conn) return;
        s.conn = undefined;
        s.downSince = Date.now();
        log(`regions of ${b.clusterId}: store ${storeId} is down (its pod's connection closed)`);
        electAndPush(b);
      });
    }
    b.stores.set(storeId, s);
  };
  const tikvJoin = (conn: Conn, m: TikvJoin) => {
    const b = book(m.clusterId);
    slot(b, m.storeId, conn);
    log(`regions of ${m.clusterId}: store ${m.storeId} is live`);
    electAndPush(b);
  };
  const tikvCommit = (conn: Conn, m: TikvCommit) => {
    const b = book(m.clusterId);
    slot(b, m.storeId, conn);
    for (const e of m.entries) {
      const cur = b.regions.get(e.region.id);
      // Only the region's leader changes it (raft), or a newer term (an election elsewhere).
      if (!cur || leaderPeer(cur)?.store_id === m.storeId || e.term > cur.term) b.regions.set(e.region.id, e);
    }
    electAndPush(b);
  };
  const refresher = setInterval(() => {
    for (const b of books.values()) push(b);
  }, 3_000);
  refresher.unref();

  // ---- server ---------------------------------------------------------------------------

  const server = net.createServer((socket) => {
    const conn = new Conn(socket);
    conns.add(conn);
    conn.onClose(() => conns.delete(conn));
    readLines(socket, (line) => {
      let m: PodMessage;
      try {
        m = decode<PodMessage>(line);
      } catch {
        conn.end();
        return;
      }
      const answer = (res: HubMessage) => conn.send({ ...res, re: m.id ?? 0 } as HubMessage);
      if (m.type === 'pd-start') void pdStart(conn, m).then(answer, (e: Error) => answer(fail(e.message)));
      else if (m.type === 'tikv-join') {
        tikvJoin(conn, m);
        answer({ re: 0, ok: true });
      } else if (m.type === 'tikv-commit') tikvCommit(conn, m);
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, o.host, () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });
  if (o.kc) await publishService(o.kc, o.host, port);
  log(`listening on ${o.host}:${port} (Service ${HUB_SERVICE.namespace}/${HUB_SERVICE.name}:${HUB_SERVICE.port})`);

  return {
    address: `${o.host}:${port}`,
    pdCluster: (key) => pd.get(key)?.cluster,
    describe: () =>
      [...pd.values()]
        .map(
          (c) =>
            `${c.key}: cluster ${c.cluster.clusterId}, leader ${c.cluster.leader()?.name ?? '(none)'}, members ${c.cluster
              .memberList()
              .map((m) => `${m.name}${m.running ? '' : ' (down)'}`)
              .join(', ')}`,
        )
        .join('\n'),
    async stop() {
      clearInterval(refresher);
      for (const c of pd.values()) clearInterval(c.checker);
      for (const c of conns) c.end();
      await Promise.all([...pd.values()].flatMap((c) => [...c.runtimes.values()].map((r) => r.stop({ closeLog: true }))));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function publishService(kc: KubeConfig, host: string, port: number): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  await core.createNamespacedService({
    namespace: HUB_SERVICE.namespace,
    body: {
      metadata: { name: HUB_SERVICE.name, labels: { 'app.kubernetes.io/name': HUB_SERVICE.name, 'app.kubernetes.io/part-of': 'tikv-operator-testenv' } },
      spec: { ports: [{ name: 'hub', port: HUB_SERVICE.port, protocol: 'TCP', targetPort: port }] },
    },
  });
  await discovery.createNamespacedEndpointSlice({
    namespace: HUB_SERVICE.namespace,
    body: {
      metadata: {
        name: `${HUB_SERVICE.name}-host`,
        labels: { 'kubernetes.io/service-name': HUB_SERVICE.name, 'endpointslice.kubernetes.io/managed-by': 'tikv-operator-testenv' },
      },
      addressType: 'IPv4',
      endpoints: [{ addresses: [host], conditions: { ready: true } }],
      ports: [{ name: 'hub', port, protocol: 'TCP' }],
    },
  });
}

