// /pd-server in the real node's pingcap/pd image when no real pd-server is at hand: one PD
// member per pod, sharing the cluster's state through the stand-in hub (hub.ts explains the
// design and what it simplifies). This program does what a pd-server v8.5.5 process does
// before and around its etcd: parse the flags (cobra/pflag; cmd/pd-server/main.go), read
// pd.toml, decide from the data dir and the flags how to start (server/join/join.go
// PrepareJoinCluster, etcd's bootstrap), fail the way PD fails, serve the client port, keep
// its data dir, and exit on SIGTERM with 0.
import { lookup } from 'node:dns/promises';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { inspectConfig, PD_SCHEMA, pdTypeErrorMessage, pdUndefinedMessage } from './config-check.js';
import { clusterKeyOf, type FlagError, listenAddresses, parseFlags, parseGoDuration, pingcapLogLine } from './cli.js';
import { HUB_ADDRESS, HubClient, type PdStarted, type PdStartMode, type PdStartRequest } from './protocol.js';

const FLAGS = [
  { name: 'version', short: 'V', bool: true },
  { name: 'config' },
  { name: 'config-check', bool: true },
  { name: 'name' },
  { name: 'data-dir' },
  { name: 'client-urls' },
  { name: 'advertise-client-urls' },
  { name: 'peer-urls' },
  { name: 'advertise-peer-urls' },
  { name: 'initial-cluster' },
  { name: 'join' },
  { name: 'metrics-addr' },
  { name: 'log-level', short: 'L' },
  { name: 'log-file' },
  { name: 'cacert' },
  { name: 'cert' },
  { name: 'key' },
  { name: 'force-new-cluster', bool: true },
];

const VERSION = process.env.TIKV_STANDIN_VERSION || 'v8.5.5';
const IDENTITY = 'standin-member.json';

interface Identity {
  cluster: string;
  clusterId: string;
  memberId: string;
  name: string;
}

const log = (level: 'INFO' | 'WARN' | 'ERROR' | 'FATAL', msg: string, fields: Record<string, string | number> = {}) =>
  process.stderr.write(`${pingcapLogLine(level, 'pd-standin.go:1', msg, fields)}\n`);

function fatal(msg: string, error: string): never {
  log('FATAL', msg, { error });
  process.exit(1);
}

/** PD's isDataExist: the directory exists and is not empty. */
function isDataExist(dir: string): boolean {
  try {
    return readdirSync(dir).length > 0;
  } catch {
    return false;
  }
}

interface PdToml {
  maxReplicas?: number;
  maxStoreDownTimeMs?: number;
}

function readPdToml(path: string | undefined, checkOnly: boolean): PdToml {
  if (!path) return {};
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    fatal('parse cmd flags error', (e as Error).message);
  }
  // config-check.ts: what pd-server makes of a wrong type and of unknown keys.
  const findings = inspectConfig(doc, PD_SCHEMA);
  if (findings.typeError) {
    log('FATAL', 'parse cmd flags error', { error: pdTypeErrorMessage(findings.typeError) });
    process.exit(0);
  }
  if (findings.unknown.length) {
    if (checkOnly) {
      process.stdout.write(`${pdUndefinedMessage(findings.unknown)}\n`);
      process.exit(0);
    }
    log('WARN', pdUndefinedMessage(findings.unknown));
  }
  const replication = (doc.replication ?? {}) as Record<string, unknown>;
  const schedule = (doc.schedule ?? {}) as Record<string, unknown>;
  const out: PdToml = {};
  if (replication['max-replicas'] !== undefined) out.maxReplicas = Number(replication['max-replicas']);
  if (typeof schedule['max-store-down-time'] === 'string') out.maxStoreDownTimeMs = parseGoDuration(schedule['max-store-down-time']);
  return out;
}

async function listMembersVia(joinURLs: string): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  let last = '';
  for (;;) {
    for (const base of joinURLs.split(',')) {
      try {
        const res = await fetch(`${base.replace(/\/+$/, '')}/pd/api/v1/members`, { signal: AbortSignal.timeout(3000) });
        if (res.status === 200) return ((await res.json()) as { members: { name: string }[] }).members.map((m) => m.name);
        last = `${base}: ${res.status} ${(await res.text()).trim()}`;
      } catch (e) {
        last = `${base}: ${(e as Error).message}`;
      }
    }
    if (Date.now() > deadline) throw new Error(`context deadline exceeded (${last})`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * What pd-server v8.5.5 does when a bootstrap starts before its own advertise name resolves,
 * as measured with the real binary (real-pd-behaviour.md, defect 3): missing for 3 s it
 * came up normally; missing for 10 s or more, the first start died about 20 s after it
 * began with `run server failed` / `ErrEtcdMemberList ... DeadlineExceeded`, exit 1,
 * leaving its member dir behind (the restart then takes the restart-from-data path). The
 * stand-in waits up to 5 s for the name (the exact threshold of etcd's retries was not
 * measured), then fails the same way at 20 s.
 */
async function ownNameResolves(peerURL: string, memberDir: string): Promise<void> {
  const host = new URL(peerURL).hostname;
  const started = Date.now();
  while (Date.now() - started < 5_000) {
    try {
      await lookup(host);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  log('WARN', 'cannot resolve own advertise peer URL', { host });
  await new Promise((r) => setTimeout(r, Math.max(0, 20_000 - (Date.now() - started))));
  mkdirSync(join(memberDir, 'wal'), { recursive: true, mode: 0o700 });
  fatal('run server failed', '[PD:etcd:ErrEtcdMemberList]rpc error: code = DeadlineExceeded desc = context deadline exceeded');
}

async function main(): Promise<void> {
  let f: Record<string, string | boolean>;
  try {
    f = parseFlags(process.argv.slice(2), FLAGS, (arg) => (arg.startsWith('-') ? `unknown flag: ${arg}` : `unknown command "${arg}" for "pd-server"`));
  } catch (e) {
    // cobra prints the error and pd-server's main exits 1.
    process.stdout.write(`Error: ${(e as FlagError).message}\n`);
    process.exit(1);
  }
  if (f.version) {
    process.stdout.write(`Release Version: ${VERSION}\nEdition: Community\nGit Commit Hash: pd-standin\nGit Branch: \nUTC Build Time: \n`);
    process.exit(0);
  }
  const toml = readPdToml(f.config as string | undefined, f['config-check'] === true);
  if (f['config-check']) {
    process.stdout.write('config check successful\n');
    process.exit(0);
  }

  const name = (f.name as string) || 'pd';
  const dataDir = (f['data-dir'] as string) || `default.${name}`;
  const clientURLs = (f['client-urls'] as string) || 'http://127.0.0.1:2379';
  const peerURLs = (f['peer-urls'] as string) || 'http://127.0.0.1:2380';
  const advertiseClient = (f['advertise-client-urls'] as string) || clientURLs;
  const advertisePeer = (f['advertise-peer-urls'] as string) || peerURLs;
  const joinURLs = (f.join as string) || '';
  const initialCluster = (f['initial-cluster'] as string) || `${name}=${advertisePeer}`;
  log('INFO', 'Welcome to Placement Driver (PD)', {});
  log('INFO', 'PD config', { name, 'data-dir': dataDir, join: joinURLs, 'initial-cluster': f['initial-cluster'] ? initialCluster : '', version: VERSION });

  const memberDir = join(dataDir, 'member');
  const joinFile = join(dataDir, 'join');
  const identityPath = join(memberDir, IDENTITY);
  let mode: PdStartMode;
  if (joinURLs && joinURLs === advertiseClient) fatal('join meet error', 'join self is forbidden');
  if (existsSync(joinFile) || isDataExist(memberDir)) {
    mode = 'restart';
  } else if (joinURLs) {
    // PrepareJoinCluster without data: ask the cluster for its members through --join.
    let names: string[];
    try {
      names = await listMembersVia(joinURLs);
    } catch (e) {
      fatal('join meet error', (e as Error).message);
    }
    if (names.some((n) => n === '')) fatal('join meet error', 'there is a member that has not joined successfully');
    if (names.includes(name)) fatal('join meet error', 'missing data or join a duplicated pd');
    mode = 'join';
  } else {
    mode = 'bootstrap';
  }

  // TIKV_STANDIN_NO_DNS: run as a plain process on a host without the pods' DNS names.
  if (mode === 'bootstrap' && !process.env.TIKV_STANDIN_NO_DNS) await ownNameResolves(advertisePeer.split(',')[0]!, memberDir);

  let identity: Identity | undefined;
  if (existsSync(identityPath)) identity = JSON.parse(readFileSync(identityPath, 'utf8')) as Identity;
  const hub = await HubClient.connect(HUB_ADDRESS, 30_000).catch((e: Error) => fatal('run server failed', e.message));
  const req: PdStartRequest = {
    type: 'pd-start',
    cluster: identity?.cluster ?? clusterKeyOf(advertisePeer.split(',')[0]!),
    name,
    clientURL: advertiseClient.split(',')[0]!,
    peerURL: advertisePeer.split(',')[0]!,
    mode,
    initialCluster: mode === 'bootstrap' ? initialCluster : undefined,
    memberId: identity?.memberId,
    clusterId: identity?.clusterId,
    maxReplicas: toml.maxReplicas,
    maxStoreDownTimeMs: toml.maxStoreDownTimeMs,
    version: VERSION,
  };
  const res = await hub.request<PdStarted | { ok: false; message: string }>(req);
  if (!res.ok) fatal(mode === 'join' ? 'join meet error' : 'run server failed', mode === 'join' ? res.message : `[PD:etcd:ErrStartEtcd]${res.message}`);

  mkdirSync(join(memberDir, 'wal'), { recursive: true, mode: 0o700 });
  mkdirSync(join(memberDir, 'snap'), { recursive: true, mode: 0o700 });
  writeFileSync(join(memberDir, 'wal', '0000000000000000-0000000000000000.wal'), '');
  writeFileSync(identityPath, JSON.stringify({ cluster: req.cluster, clusterId: res.clusterId, memberId: res.memberId, name } satisfies Identity));
  if (mode === 'join') writeFileSync(joinFile, res.members, { mode: 0o600 });
  if (res.removed) log('ERROR', 'the member has been permanently removed from the cluster', { 'member-id': res.memberId });
  log('INFO', `${mode === 'bootstrap' ? 'bootstrapping with the initial members' : mode === 'join' ? 'joined the cluster' : 'restarted from its data'}`, {
    'cluster-id': res.clusterId,
    'member-id': res.memberId,
  });

  // The client port: every connection goes to this member's PD API at the hub.
  const sockets = new Set<net.Socket>();
  const servers: net.Server[] = [];
  const listen = (addr: { host: string; port: number }, onConn: (s: net.Socket) => void) =>
    new Promise<void>((resolve, reject) => {
      const srv = net.createServer(onConn);
      srv.once('error', reject);
      srv.listen(addr.port, addr.host, () => resolve());
      servers.push(srv);
    });
  const forward = (client: net.Socket) => {
    sockets.add(client);
    const upstream = net.connect({ host: res.host, port: res.port });
    sockets.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('error', close);
      s.on('close', close);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  };
  try {
    for (const a of listenAddresses(clientURLs)) await listen(a, forward);
    // Peers never talk to each other here (the hub is their etcd); the port is open as PD's is.
    for (const a of listenAddresses(peerURLs)) await listen(a, (s) => s.destroy());
  } catch (e) {
    fatal('run server failed', (e as Error).message);
  }
  log('INFO', 'PD stand-in serving', { 'client-urls': clientURLs, 'peer-urls': peerURLs });

  hub.onPush = (m) => {
    if ((m as { type?: string }).type === 'pd-removed') log('WARN', 'the member has been permanently removed from the cluster', { name });
  };
  hub.onClose = (err) => fatal('run server failed', `lost the stand-in hub: ${err.message}`);

  const shutdown = (sig: NodeJS.Signals) => {
    log('INFO', 'got signal to exit', { signal: sig });
    hub.onClose = () => {};
    hub.close();
    for (const s of sockets) s.destroy();
    for (const srv of servers) srv.close();
    process.exit(sig === 'SIGTERM' ? 0 : 1);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'] as const) process.on(sig, () => shutdown(sig));
}

main().catch((e: Error) => fatal('run server failed', e.message));
