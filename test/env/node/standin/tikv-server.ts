// /tikv-server in the real node's pingcap/tikv image: a TiKV store stand-in (stores.ts) in
// each pod. Like tikv-server v8.5.5 (cmd/tikv-server/src/main.rs, components/server): it
// takes the chart's flags (clap), reads tikv.toml (raftstore.capacity caps the capacity it
// reports), reaches PD through --pd (the client Service's DNS name) over pdpb, bootstraps
// the cluster or registers with PutStore, keeps its store id in --data-dir (a restarted pod
// is the same store, a fresh volume a new one), refuses to start as a store PD has made a
// Tombstone or as a store of another cluster, heartbeats, and listens on --addr (20160) and
// --status-addr (20180: /metrics, /status). Region replicas are kept by the stand-in hub
// (hub.ts), which plays raft between the stores.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import type { U64 } from '../../pd/pdpb.js';
import type { RegionEntry } from '../../pd/region-book.js';
import { type RegionSim, type SimStore, type StoreStandin, startStoreStandin } from '../../stores/stores.js';
import { inspectConfig, TIKV_SCHEMA, tikvTypeErrorMessage, valueAt } from './config-check.js';
import { type FlagError, listenAddresses, parseFlags, parseReadableSize, pingcapLogLine } from './cli.js';
import { HUB_ADDRESS, HubClient, type RegionsPush } from './protocol.js';

const FLAGS = [
  { name: 'version', short: 'V', bool: true },
  { name: 'config', short: 'C' },
  { name: 'config-check', bool: true },
  { name: 'pd-endpoints', aliases: ['pd', 'pd-endpoint'] },
  { name: 'addr', short: 'A' },
  { name: 'advertise-addr' },
  { name: 'status-addr' },
  { name: 'advertise-status-addr' },
  { name: 'data-dir', short: 's', aliases: ['store'] },
  { name: 'capacity' },
  { name: 'log-level', short: 'L' },
  { name: 'log-file', short: 'f' },
  { name: 'labels' },
];

const VERSION = (process.env.TIKV_STANDIN_VERSION || 'v8.5.5').replace(/^v/, '');
/** The kvproto .proto files (images.ts puts them there; TIKV_STANDIN_PROTO_DIR for runs outside a pod). */
const PROTO_DIR = process.env.TIKV_STANDIN_PROTO_DIR || '/usr/share/tikv-standin/kvproto';
const IDENTITY = 'standin-store.json';

const log = (level: 'INFO' | 'WARN' | 'ERROR' | 'FATAL', msg: string, fields: Record<string, string | number> = {}) =>
  process.stderr.write(`${pingcapLogLine(level, 'server.rs:1', msg, fields)}\n`);

function fatal(msg: string): never {
  log('FATAL', msg);
  process.exit(1);
}

/** The region book as the hub pushes it; this store commits what it changes as a region's leader. */
class HubRegionSim implements RegionSim {
  private cache = new Map<U64, RegionEntry>();
  private live = new Set<U64>();
  private down: Record<U64, number> = {};
  private joined: U64 | undefined;

  constructor(
    private readonly hub: HubClient,
    private readonly clusterId: U64,
  ) {
    hub.onPush = (m) => {
      if ((m as RegionsPush).type !== 'regions') return;
      const p = m as RegionsPush;
      this.cache = new Map(p.entries.map((e) => [e.region.id, e]));
      this.live = new Set(p.live);
      this.down = p.down;
    };
  }

  private ensureJoined(storeId: U64): void {
    if (this.joined === storeId) return;
    this.joined = storeId;
    this.hub.send({ type: 'tikv-join', clusterId: this.clusterId, storeId });
  }

  join(store: SimStore): void {
    this.ensureJoined(store.id);
  }

  /** The connection closes with the process (the hub counts the store live while the pod runs). */
  leave(): void {}

  entries(): Iterable<RegionEntry> {
    return this.cache.values();
  }

  get(regionId: U64): RegionEntry | undefined {
    return this.cache.get(regionId);
  }

  commit(store: SimStore, entries: RegionEntry[]): void {
    this.ensureJoined(store.id);
    for (const e of entries) this.cache.set(e.region.id, e);
    this.hub.send({ type: 'tikv-commit', clusterId: this.clusterId, storeId: store.id, entries });
  }

  /** The hub elects (it sees every store's pod come and go). */
  elect(): RegionEntry[] {
    return [];
  }

  isLive(storeId: U64): boolean {
    return this.live.has(storeId);
  }

  downSeconds(storeId: U64): number | undefined {
    return this.down[storeId];
  }

  /** The new leader sees the transfer in the hub's next push and reports then. */
  poke(): undefined {
    return undefined;
  }
}

interface TikvToml {
  capacityBytes?: number;
}

function readTikvToml(path: string | undefined, checkOnly: boolean): TikvToml {
  if (!path) return {};
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    fatal(`invalid configuration file ${JSON.stringify(path)}: ${(e as Error).message}`);
  }
  // config-check.ts: TikvConfig::from_file panics on a wrong type; unknown keys matter only to --config-check.
  const findings = inspectConfig(doc, TIKV_SCHEMA);
  if (findings.typeError) {
    process.stderr.write(`thread 'main' panicked at cmd/tikv-server/src/main.rs:\n${tikvTypeErrorMessage(path, findings.typeError, valueAt(doc, findings.typeError.key))}\n`);
    process.exit(101);
  }
  if (checkOnly && findings.unknown.length) fatal(`unknown configuration options: ${findings.unknown.join(', ')}`);
  const raftstore = (doc.raftstore ?? {}) as Record<string, unknown>;
  const cap = raftstore.capacity;
  return typeof cap === 'string' && cap !== '0' ? { capacityBytes: parseReadableSize(cap) } : {};
}

async function main(): Promise<void> {
  let f: Record<string, string | boolean>;
  try {
    f = parseFlags(process.argv.slice(2), FLAGS, (arg) => `Found argument '${arg}' which wasn't expected, or isn't valid in this context`);
  } catch (e) {
    process.stderr.write(`error: ${(e as FlagError).message}\n\nUSAGE:\n    tikv-server [FLAGS] [OPTIONS]\n\nFor more information try --help\n`);
    process.exit(1);
  }
  if (f.version) {
    process.stdout.write(`TiKV \nRelease Version:   ${VERSION}\nEdition:           Community\nGit Commit Hash:   tikv-standin\n`);
    process.exit(0);
  }
  const toml = readTikvToml(f.config as string | undefined, f['config-check'] === true);
  if (f['config-check']) {
    process.stdout.write('config check successful\n');
    process.exit(0);
  }
  const pd = (f['pd-endpoints'] as string) || '';
  if (!pd) fatal('the PD endpoints are empty (--pd)');
  const addr = (f.addr as string) || '127.0.0.1:20160';
  const statusAddr = (f['status-addr'] as string) || '127.0.0.1:20180';
  const advertise = (f['advertise-addr'] as string) || addr;
  const advertiseStatus = (f['advertise-status-addr'] as string) || statusAddr;
  const dataDir = (f['data-dir'] as string) || './';
  mkdirSync(dataDir, { recursive: true });
  const identityPath = join(dataDir, IDENTITY);
  const known = existsSync(identityPath) ? (JSON.parse(readFileSync(identityPath, 'utf8')) as { storeId: U64; clusterId: U64 }) : undefined;
  log('INFO', 'Welcome to TiKV', { 'release-version': VERSION, 'data-dir': dataDir, pd, 'advertise-addr': advertise });

  const hub = await HubClient.connect(HUB_ADDRESS, 30_000).catch((e: Error) => fatal(`cannot reach the stand-in hub: ${e.message}`));
  let standin: StoreStandin | undefined;
  let exiting = false;
  hub.onClose = (err) => {
    if (!exiting) fatal(`lost the stand-in hub: ${err.message}`);
  };
  try {
    standin = await startStoreStandin({
      pdEndpoints: pd.split(',').map((u) => u.trim()),
      address: advertise,
      statusAddress: advertiseStatus,
      protoDirs: { kvprotoDir: PROTO_DIR, includeDirs: [join(PROTO_DIR, 'proto'), join(PROTO_DIR, 'include')] },
      capacityBytes: toml.capacityBytes,
      version: VERSION,
      // TiKV retries PD for minutes while the cluster comes up (check_cluster_bootstrapped: 60 × 3 s).
      registerTimeoutMs: 180_000,
      identity: {
        storeId: known?.storeId,
        clusterId: known?.clusterId,
        save: (id) => writeFileSync(identityPath, JSON.stringify(id)),
      },
      regionSim: (clusterId) => new HubRegionSim(hub, clusterId),
      // A running TiKV whose store PD buries keeps running (its heartbeats fail); the pod goes when the operator scales it in.
      onSelfStop: (why) => log('ERROR', `${why}: PD has removed this store; heartbeats stop`),
      log: (s) => log('INFO', s),
    });
  } catch (e) {
    const msg = (e as Error).message;
    // What TiKV prints when PD refuses a store it has buried (components/server: "failed to start node").
    // TiKV's put_store gets PD's STORE_TOMBSTONE: pd_client's "store is tombstone {msg:?}", fatal at start.
    if (/STORE_TOMBSTONE/.test(msg)) fatal(`failed to start raft_server: store is tombstone "store is tombstone"`);
    fatal(`failed to start raft_server: ${msg}`);
  }
  const s = standin;
  log('INFO', 'TiKV store stand-in registered', { 'store-id': s.id });

  // 20160 opens only now, after registration (TiKV binds its server after init_servers).
  const servers: net.Server[] = [];
  const listen = (a: { host: string; port: number }, srv: net.Server) =>
    new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(a.port, a.host, () => resolve());
      servers.push(srv);
    });
  const status = http.createServer((req, res) => {
    if (req.url === '/metrics') {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      res.end(
        [
          `tikv_raftstore_region_count{type="region"} ${s.regionCount()}`,
          `tikv_raftstore_region_count{type="leader"} ${s.leaderCount()}`,
          `tikv_store_size_bytes{type="capacity"} ${toml.capacityBytes ?? 0}`,
          '',
        ].join('\n'),
      );
    } else if (req.url === '/status') {
      res.writeHead(200);
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  try {
    for (const a of listenAddresses(addr)) await listen(a, net.createServer((c) => c.on('error', () => c.destroy())));
    for (const a of listenAddresses(statusAddr)) await listen(a, status);
  } catch (e) {
    fatal(`failed to start raft_server: ${(e as Error).message}`);
  }
  log('INFO', 'TiKV is ready to serve', { addr, 'status-addr': statusAddr });

  const shutdown = async (sig: NodeJS.Signals) => {
    exiting = true;
    log('INFO', 'receive signal, stopping', { signal: sig });
    for (const srv of servers) srv.close();
    await s.stop();
    hub.close();
    process.exit(0);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => void shutdown(sig));
}

main().catch((e: Error) => fatal(`failed to start raft_server: ${e.message}`));
