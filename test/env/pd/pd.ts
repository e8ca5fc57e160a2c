// A real PD cluster (pd-server v8.5.5, built by testenv/build.sh) on loopback: N members
// with their own client/peer ports and data dirs, one shared TOML config, readiness from
// PD's own /health and /leader endpoints, and teardown by PID through process.ts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml, stringify as stringifyToml, type TomlTable } from 'smol-toml';
import { formatLogTails, freePorts, LOOPBACK, type ManagedProcess, spawnLogged, waitFor } from '../process.js';

export interface PDClusterHandle {
  /** `http://127.0.0.1:<port>` of every member, index = member number. */
  clientURLs: string[];
  /** `pd-0`, `pd-1`, ... */
  names: string[];
  stop(): Promise<void>;
  stopMember(i: number): Promise<void>;
  startMember(i: number): Promise<void>;
  /** The log file of member i (stdout+stderr of pd-server). */
  logPath(i: number): string;
}

export interface StartPDClusterOptions {
  binDir: string;
  dir: string;
  members?: number;
  log?: (s: string) => void;
  /** Extra TOML, deep-merged over the defaults below. */
  config?: string;
  readyTimeoutMs?: number;
}

/** One entry of `GET /pd/api/v1/health` (a bare JSON array). */
export interface PDHealthEntry {
  name: string;
  member_id: number | string;
  client_urls: string[];
  health: boolean;
}

// Defaults chosen for tests: a store goes Down after 30 s instead of PD's 30 min, so the
// Disconnected (20 s, fixed in PD) → Down transition is observable within a test.
const DEFAULT_CONFIG: TomlTable = {
  lease: 3,
  schedule: { 'max-store-down-time': '30s' },
  replication: { 'max-replicas': 3 },
  'pd-server': { 'dashboard-address': 'none' },
  log: { level: 'info' },
};

const STOP_GRACE_MS = 10_000;

function deepMerge(base: TomlTable, extra: TomlTable): TomlTable {
  const out: TomlTable = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    const prev = out[k];
    const bothTables = isTable(prev) && isTable(v);
    out[k] = bothTables ? deepMerge(prev, v) : v;
  }
  return out;
}

function isTable(v: unknown): v is TomlTable {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** The TOML text given to every member (defaults + caller's extra config). */
export function pdConfigToml(extra?: string): string {
  const merged = extra ? deepMerge(DEFAULT_CONFIG, parseToml(extra)) : DEFAULT_CONFIG;
  return stringifyToml(merged);
}

async function getJSON<T>(url: string, timeoutMs = 2_000): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${url} → ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text) as T;
}

/** `/health` as seen by the member at `clientURL`. */
export function pdHealth(clientURL: string): Promise<PDHealthEntry[]> {
  return getJSON<PDHealthEntry[]>(`${clientURL}/pd/api/v1/health`);
}

/** The current PD leader's name, or undefined while there is none. */
export async function pdLeaderName(clientURL: string): Promise<string | undefined> {
  const leader = await getJSON<{ name?: string }>(`${clientURL}/pd/api/v1/leader`);
  return leader.name || undefined;
}

interface Member {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  proc?: ManagedProcess;
}

const url = (port: number) => `http://${LOOPBACK}:${port}`;

function memberArgs(m: Member, initialCluster: string, configPath: string): string[] {
  return [
    `--name=${m.name}`,
    `--data-dir=${m.dataDir}`,
    `--client-urls=${url(m.clientPort)}`,
    `--advertise-client-urls=${url(m.clientPort)}`,
    `--peer-urls=${url(m.peerPort)}`,
    `--advertise-peer-urls=${url(m.peerPort)}`,
    `--initial-cluster=${initialCluster}`,
    `--config=${configPath}`,
  ];
}

/** Starts `members` pd-servers forming one cluster and waits until all are healthy with a leader. */
export async function startPDCluster(opts: StartPDClusterOptions): Promise<PDClusterHandle> {
  const n = opts.members ?? 3;
  const log = opts.log ?? (() => {});
  const readyTimeoutMs = opts.readyTimeoutMs ?? 90_000;
  const bin = join(opts.binDir, 'pd-server');
  mkdirSync(opts.dir, { recursive: true });
  const configPath = join(opts.dir, 'pd.toml');
  writeFileSync(configPath, pdConfigToml(opts.config));

  const ports = await freePorts(2 * n);
  const members: Member[] = Array.from({ length: n }, (_, i) => ({
    name: `pd-${i}`,
    clientPort: ports[2 * i]!,
    peerPort: ports[2 * i + 1]!,
    dataDir: join(opts.dir, `pd-${i}`),
  }));
  const initialCluster = members.map((m) => `${m.name}=${url(m.peerPort)}`).join(',');
  const clientURLs = members.map((m) => url(m.clientPort));

  const launch = (m: Member) => {
    mkdirSync(m.dataDir, { recursive: true });
    m.proc = spawnLogged(m.name, bin, memberArgs(m, initialCluster, configPath), {
      logDir: opts.dir,
      ports: [m.clientPort, m.peerPort],
    });
    log(`pd: started ${m.name} (pid ${m.proc.pid}) client ${url(m.clientPort)} peer ${url(m.peerPort)}`);
  };
  const running = () => members.flatMap((m) => (m.proc && m.proc.exitStatus() === undefined ? [m.proc] : []));
  const stopAll = async () => {
    await Promise.all(members.map((m) => m.proc?.stop(STOP_GRACE_MS)));
  };
  const failWithLogs = async (e: unknown): Promise<never> => {
    const procs = members.flatMap((m) => (m.proc ? [m.proc] : []));
    const tails = formatLogTails(procs, 30);
    await stopAll();
    throw new Error(`${(e as Error).message}\n${tails}`);
  };

  // The members need each other for quorum, so all start before any readiness check.
  const t0 = Date.now();
  try {
    for (const m of members) launch(m);
    await waitFor(
      `${n} healthy PD members and a leader`,
      async () => {
        for (const p of members) {
          if (p.proc?.exitStatus() !== undefined) throw new Error(`${p.name} exited (${p.proc.exitStatus()})`);
        }
        return (await clusterReady(clientURLs, members.map((m) => m.name))) || undefined;
      },
      { timeoutMs: readyTimeoutMs, intervalMs: 250 },
    );
  } catch (e) {
    return failWithLogs(e);
  }
  log(`pd: ${n} members healthy with a leader after ${Date.now() - t0} ms`);

  const memberAt = (i: number): Member => {
    const m = members[i];
    if (!m) throw new Error(`no PD member ${i} (cluster has ${n})`);
    return m;
  };

  return {
    clientURLs,
    names: members.map((m) => m.name),
    logPath: (i) => memberAt(i).proc?.logPath ?? join(opts.dir, `${memberAt(i).name}.log`),
    stop: async () => {
      await stopAll();
      log(`pd: stopped (${running().length} still running)`);
    },
    stopMember: async (i) => {
      const m = memberAt(i);
      await m.proc?.stop(STOP_GRACE_MS);
      log(`pd: stopped ${m.name}`);
    },
    startMember: async (i) => {
      const m = memberAt(i);
      if (m.proc && m.proc.exitStatus() === undefined) return;
      // Restarting with its data dir: etcd ignores --initial-cluster and rejoins the cluster.
      launch(m);
      const others = clientURLs.filter((_, j) => j !== i);
      await waitFor(
        `${m.name} healthy again`,
        async () => {
          for (const u of others) {
            try {
              const h = await pdHealth(u);
              return h.some((e) => e.name === m.name && e.health);
            } catch {
              // that member may be down as well; ask the next one
            }
          }
          return false;
        },
        { timeoutMs: readyTimeoutMs, intervalMs: 250, proc: m.proc },
      );
      log(`pd: ${m.name} healthy again`);
    },
  };
}

async function clusterReady(clientURLs: string[], names: string[]): Promise<boolean> {
  for (const u of clientURLs) {
    try {
      const health = await pdHealth(u);
      const healthy = new Set(health.filter((e) => e.health).map((e) => e.name));
      if (!names.every((n) => healthy.has(n))) return false;
      return (await pdLeaderName(u)) !== undefined;
    } catch {
      // this member is not serving yet; another may be
    }
  }
  return false;
}
