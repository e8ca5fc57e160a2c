// The real node's footprint on the host, and keeping it there: the checks that it can run
// at all (root, packages, cgroups), the machine-wide lock (one real node per machine), the
// node's namespaces, what teardown undoes, and what a killed run leaves for the next one.
//
// Everything the node runs (containerd, the shims and containers, the kubelet, kube-proxy,
// CoreDNS) lives in one set of new network, mount, PID and UTS namespaces whose init is
// `pause -until-stdin-closes`, its stdin a pipe from this process. So:
//   - the kubelet's and kube-proxy's iptables chains, the pods' bridge, veths and netns,
//     and the node's ip_forward are the node's own; the host keeps only the veth pair's
//     host end (and its route to the pod CIDR), which the kernel deletes with the netns;
//   - every mount (overlay rootfs, volume binds, tokens' tmpfs, netns files) is in the
//     node's private mount namespace and vanishes with it;
//   - the sysctls the kubelet sets are not namespaced, so the node's /proc shows the
//     values it wants (host.ts binds files over those /proc/sys entries) and it writes none;
//   - when this process dies for any reason, the pipe closes, the init exits, and the
//     kernel kills every process in the node's PID namespace (shims and containers too).
// What remains on the host is the kubelet's cgroup root (empty directories once the
// processes are gone) and the work dir; stop() removes both, and so does the next start
// after a killed run (reapLeftovers).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { isExecutable } from '../binaries.js';
import { type ManagedProcess, spawnLogged, waitFor } from '../process.js';
import { ADDR, CGROUP_ROOT, HOST_VETH, KUBELET_SYSCTLS, NODE_NAME, NODE_NET } from './config.js';

const execFileP = promisify(execFile);

/** The node's work dir: fixed, since there is one node per machine (the lock) and the next start must find a killed run's leftovers. */
export const NODE_WORK_DIR = join(tmpdir(), 'tikv-operator-node');
const LOCK_FILE = existsSync('/run/lock') ? '/run/lock/tikv-operator-node.lock' : join(tmpdir(), 'tikv-operator-node.lock');
const LOCK_INFO = `${LOCK_FILE}.owner`;
const SNAPSHOT_FILE = 'host-before.json';

/** Host commands the node needs (Debian: testenv/node-packages.sh installs the packages). */
export const HOST_COMMANDS = [
  '/usr/bin/containerd',
  '/usr/bin/containerd-shim-runc-v2',
  '/usr/bin/ctr',
  '/usr/sbin/runc',
  '/usr/lib/cni/bridge',
  '/usr/lib/cni/host-local',
  '/usr/lib/cni/loopback',
  '/usr/lib/cni/portmap',
  '/usr/sbin/iptables',
  '/usr/bin/unshare',
  '/usr/bin/nsenter',
  '/usr/bin/flock',
  '/usr/sbin/ip',
  '/usr/bin/tar',
];

export class NodeUnavailableError extends Error {
  override name = 'NodeUnavailableError';
  constructor(why: string) {
    super(
      `The real node of the test environment cannot run on this machine: ${why}\n` +
        'It needs root (it creates network, mount and PID namespaces, a veth pair and cgroups), the Debian packages of ' +
        '`bash testenv/node-packages.sh`, and the binaries of `bash testenv/build.sh` (node, coredns). ' +
        'CI runs it as root through `.ci/run`. It is never skipped: a run that needs it fails here.',
    );
  }
}

/** CapEff bits the node needs: CAP_NET_ADMIN (12), CAP_SYS_ADMIN (21), CAP_SYS_PTRACE (19, nsenter into the init). */
const NEEDED_CAPS: Record<string, number> = { CAP_NET_ADMIN: 12, CAP_SYS_PTRACE: 19, CAP_SYS_ADMIN: 21 };

export interface HostFacts {
  platform: string;
  uid: number | undefined;
  /** /proc/self/status CapEff, hex. */
  capEff: string | undefined;
  missingCommands: string[];
  cgroupMounts: number;
}

/** The first thing that rules the node out on a host with these facts, or undefined. */
export function hostProblem(f: HostFacts): string | undefined {
  if (f.platform !== 'linux') return `this is ${f.platform}, not Linux`;
  if (f.uid !== 0) return `this process runs as uid ${f.uid}, not root`;
  const caps = f.capEff ? BigInt(`0x${f.capEff}`) : 0n;
  const missingCaps = Object.entries(NEEDED_CAPS).filter(([, bit]) => (caps & (1n << BigInt(bit))) === 0n);
  if (missingCaps.length > 0) return `root without ${missingCaps.map(([n]) => n).join(', ')} (an unprivileged container?)`;
  if (f.missingCommands.length > 0) return `missing ${f.missingCommands.join(', ')} (install them with \`sudo bash testenv/node-packages.sh\`)`;
  if (f.cgroupMounts === 0) return 'no cgroup filesystem is mounted';
  return undefined;
}

/** Throws NodeUnavailableError naming the first thing that rules the node out here. */
export function checkHostPrerequisites(): void {
  const linux = process.platform === 'linux';
  const problem = hostProblem({
    platform: process.platform,
    uid: process.getuid?.(),
    capEff: linux ? readFileSync('/proc/self/status', 'utf8').match(/^CapEff:\s*([0-9a-f]+)$/m)?.[1] : undefined,
    missingCommands: HOST_COMMANDS.filter((c) => !isExecutable(c)),
    cgroupMounts: linux ? cgroupMounts().length : 0,
  });
  if (problem) throw new NodeUnavailableError(problem);
}

// ---- cgroups -----------------------------------------------------------------------------

/** Mount points of the cgroup hierarchies (v1: one per controller set; v2: one). */
export function cgroupMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' - '))
    .filter(([, rest]) => rest && /^cgroup2? /.test(rest))
    .map(([head]) => head!.split(' ')[4]!)
    .filter((p) => p !== undefined);
}

/** Our cgroup directories, deepest first, in every hierarchy. */
export function nodeCgroupDirs(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch {
      return;
    }
    for (const e of entries) walk(join(dir, e));
    out.push(dir);
  };
  for (const m of cgroupMounts()) walk(join(m, CGROUP_ROOT));
  return out;
}

/** PIDs (host view) in our cgroup root. */
export function pidsInNodeCgroups(): number[] {
  const pids = new Set<number>();
  for (const dir of nodeCgroupDirs()) {
    try {
      for (const l of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (l.trim()) pids.add(Number(l));
    } catch {
      // gone meanwhile
    }
  }
  return [...pids];
}

/**
 * The kubelet's --cgroup-root must exist in every hierarchy. In cgroup v1 a new cpuset
 * has no CPUs or memory nodes until given its parent's.
 */
export function createNodeCgroupRoot(): void {
  for (const m of cgroupMounts()) {
    const dir = join(m, CGROUP_ROOT);
    mkdirSync(dir, { recursive: true });
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      const parent = join(m, f);
      if (existsSync(parent) && readFileSync(join(dir, f), 'utf8').trim() === '') writeFileSync(join(dir, f), readFileSync(parent, 'utf8'));
    }
  }
}

/** Removes our cgroup directories (once empty), killing what is still in them. Returns what could not be removed. */
export async function removeNodeCgroups(timeoutMs = 15_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const pid of pidsInNodeCgroups()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const left: string[] = [];
    for (const dir of nodeCgroupDirs()) {
      try {
        rmdirSync(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') left.push(dir);
      }
    }
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(200);
  }
}

// ---- host state ----------------------------------------------------------------------------

export interface HostSnapshot {
  /** The kubelet's sysctls and the forwarding switches, as the host has them. */
  sysctls: Record<string, string>;
}

const WATCHED_SYSCTLS = [...Object.keys(KUBELET_SYSCTLS), 'net/ipv4/ip_forward', 'net/ipv4/conf/all/forwarding', 'net/ipv4/conf/all/route_localnet'];

export function readSysctls(keys: readonly string[] = WATCHED_SYSCTLS): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) {
    try {
      out[k] = readFileSync(`/proc/sys/${k}`, 'utf8').trim();
    } catch {
      // not present on this kernel
    }
  }
  return out;
}

/** Writes back any watched sysctl that differs from the snapshot; returns the ones it fixed. */
export function restoreSysctls(before: Record<string, string>): string[] {
  const fixed: string[] = [];
  const now = readSysctls(Object.keys(before));
  for (const [k, v] of Object.entries(before)) {
    if (now[k] === v) continue;
    writeFileSync(`/proc/sys/${k}`, `${v}\n`);
    fixed.push(`${k.replaceAll('/', '.')}: ${now[k]} -> ${v}`);
  }
  return fixed;
}

interface IpAddr {
  ifname: string;
  addr_info?: { local: string; prefixlen: number }[];
}
interface IpRoute {
  dst: string;
  dev?: string;
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
}

/** Whether two IPv4 CIDRs (or an address, /32) overlap. */
export function cidrsOverlap(a: string, b: string): boolean {
  const parse = (c: string): [number, number] => {
    const [ip, len = '32'] = c.split('/');
    if (!ip?.includes('.')) return [0, -1];
    const bits = Number(len);
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return [ipToInt(ip) & mask, bits];
  };
  const [na, la] = parse(a);
  const [nb, lb] = parse(b);
  if (la < 0 || lb < 0) return false;
  const len = Math.min(la, lb);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((na & mask) >>> 0) === ((nb & mask) >>> 0);
}

/** Host addresses or routes inside NODE_NET that are not the node's own veth: another user of the range. */
export async function foreignUsersOfNodeNet(): Promise<string[]> {
  const addrs = JSON.parse((await execFileP('ip', ['-j', '-4', 'addr'])).stdout) as IpAddr[];
  const routes = JSON.parse((await execFileP('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])).stdout) as IpRoute[];
  const out: string[] = [];
  for (const a of addrs) {
    if (a.ifname === HOST_VETH) continue;
    for (const i of a.addr_info ?? []) if (cidrsOverlap(`${i.local}/${i.prefixlen}`, NODE_NET)) out.push(`address ${i.local}/${i.prefixlen} on ${a.ifname}`);
  }
  for (const r of routes) {
    if (r.dev === HOST_VETH || r.dst === 'default') continue;
    if (cidrsOverlap(r.dst, NODE_NET)) out.push(`route ${r.dst}${r.dev ? ` dev ${r.dev}` : ''}`);
  }
  return out;
}

async function linkExists(name: string): Promise<boolean> {
  try {
    await execFileP('ip', ['link', 'show', 'dev', name]);
    return true;
  } catch {
    return false;
  }
}

// ---- the lock --------------------------------------------------------------------------------

interface LockOwner {
  pid: number;
  cwd: string;
  since: string;
}

export interface NodeLock {
  release(): Promise<void>;
}

/**
 * Takes the machine-wide node lock: a `flock` child holding it while its stdin (a pipe from
 * this process) stays open, so the kernel releases it when this process dies, however.
 * Waits up to `waitMs` for another run's node, saying whose it is.
 */
export async function acquireNodeLock(waitMs: number, log: (s: string) => void): Promise<NodeLock> {
  const child = spawn('flock', ['--exclusive', '--wait', String(Math.ceil(waitMs / 1000)), LOCK_FILE, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const said = setTimeout(() => {
    let owner = 'another process';
    try {
      const o = JSON.parse(readFileSync(LOCK_INFO, 'utf8')) as LockOwner;
      owner = `pid ${o.pid} (working in ${o.cwd}, since ${o.since})`;
    } catch {
      // no info
    }
    log(`[node] waiting up to ${Math.round(waitMs / 1000)} s for the machine-wide real-node lock ${LOCK_FILE}, held by ${owner}`);
  }, 1500);
  try {
    await Promise.race([
      waitFor('the node lock', async () => out.includes('locked'), { timeoutMs: waitMs + 5000, intervalMs: 100 }),
      exited.then((code) => {
        throw new NodeUnavailableError(`another real node holds ${LOCK_FILE} (flock gave up after ${Math.round(waitMs / 1000)} s, exit ${code}): ${out.trim()}`);
      }),
    ]);
  } finally {
    clearTimeout(said);
  }
  writeFileSync(LOCK_INFO, JSON.stringify({ pid: process.pid, cwd: process.cwd(), since: new Date().toISOString() } satisfies LockOwner));
  return {
    async release() {
      rmSync(LOCK_INFO, { force: true });
      child.stdin.end();
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

// ---- leftovers --------------------------------------------------------------------------------

/**
 * Cleans up after a run that was killed (its lock is free, so its owner is gone): waits for
 * its namespaces to die, removes the veth if the kernel has not yet, restores any watched
 * sysctl that differs from that run's snapshot, removes its cgroups and its work dir.
 * Returns what it did, for the log.
 */
export async function reapLeftovers(): Promise<string[]> {
  const did: string[] = [];
  const snapshotPath = join(NODE_WORK_DIR, SNAPSHOT_FILE);
  if (existsSync(snapshotPath)) {
    try {
      const before = JSON.parse(readFileSync(snapshotPath, 'utf8')) as HostSnapshot;
      for (const f of restoreSysctls(before.sysctls)) did.push(`restored sysctl ${f}`);
    } catch (e) {
      did.push(`could not read ${snapshotPath}: ${(e as Error).message}`);
    }
  }
  const cgroups = nodeCgroupDirs().length;
  const left = await removeNodeCgroups();
  if (left.length > 0) throw new Error(`could not remove the leftover cgroups ${left.join(', ')} of an earlier real node`);
  if (cgroups > 0) did.push(`removed ${cgroups} cgroup directories under ${CGROUP_ROOT}`);
  for (let i = 0; i < 50 && (await linkExists(HOST_VETH)); i++) {
    if (i === 10) {
      await execFileP('ip', ['link', 'delete', HOST_VETH]).catch(() => undefined);
      did.push(`deleted the leftover link ${HOST_VETH}`);
    }
    await sleep(100);
  }
  if (existsSync(NODE_WORK_DIR)) {
    rmSync(NODE_WORK_DIR, { recursive: true, force: true });
    did.push(`removed ${NODE_WORK_DIR}`);
  }
  return did;
}

// ---- the namespaces ---------------------------------------------------------------------------

export interface NodeNamespaces {
  /** Host PID of the namespaces' init (pause). */
  readonly initPid: number;
  /** `/proc/<pid>/ns/pid` of the node: processes showing it belong to the node. */
  readonly pidNamespace: string;
  readonly workDir: string;
  readonly logDir: string;
  /** Host path of a path inside the node's /var/lib. */
  varLib(path: string): string;
  /** Starts a long-running component inside the node. */
  spawn(name: string, bin: string, args: string[], env?: NodeJS.ProcessEnv): ManagedProcess;
  /** Runs a command inside the node and returns its stdout. */
  run(bin: string, args: string[], opts?: { timeoutMs?: number }): Promise<string>;
  /** Ends the namespaces (and so every process in them) and waits for the init to exit. */
  stop(): Promise<void>;
}

/** Builds the mounts of the node's mount namespace, then becomes its init. */
function setupScript(workDir: string, pauseBin: string): string {
  const sysctlBinds = Object.entries(KUBELET_SYSCTLS)
    .filter(([k]) => existsSync(`/proc/sys/${k}`))
    .map(([k, v]) => `printf '%s\\n' '${v}' > "$w/sysctl/${k.replaceAll('/', '.')}" && mount --bind "$w/sysctl/${k.replaceAll('/', '.')}" /proc/sys/${k}`);
  return [
    'set -eu',
    `w='${workDir}'`,
    'mkdir -p "$w/var-lib" "$w/var-log" "$w/sysctl"',
    // /run: shim sockets, runc state, netns files, the xtables lock: all private.
    'mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run',
    'mount --bind "$w/var-lib" /var/lib',
    'mount --bind "$w/var-log" /var/log',
    ...sysctlBinds,
    // The kubelet wants its root dir's propagation shared; in a private namespace that stays inside.
    'mount --make-rshared /',
    `hostname ${NODE_NAME}`,
    'ip link set lo up',
    'touch "$w/namespaces-ready"',
    `exec '${pauseBin}' -until-stdin-closes`,
  ].join('\n');
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Creates the node's namespaces, the veth pair and the host route to the pod CIDR, and the
 * kubelet's cgroup root. Component logs go to `logDir` (the test environment's dir, which
 * is kept when a start fails; the work dir is not).
 */
export async function startNamespaces(pauseBin: string, logDir: string, log: (s: string) => void): Promise<NodeNamespaces> {
  const workDir = NODE_WORK_DIR;
  mkdirSync(workDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  writeFileSync(join(workDir, SNAPSHOT_FILE), JSON.stringify({ sysctls: readSysctls() } satisfies HostSnapshot));
  const foreign = await foreignUsersOfNodeNet();
  if (foreign.length > 0) {
    throw new NodeUnavailableError(`the node's address range ${NODE_NET} is already in use on this host: ${foreign.join('; ')}`);
  }

  const holderLog = join(logDir, 'namespaces.log');
  writeFileSync(holderLog, '');
  const holder: ChildProcess = spawn(
    'unshare',
    ['--net', '--mount', '--pid', '--uts', '--fork', '--mount-proc', '--propagation', 'private', '--kill-child', '--', 'sh', '-c', setupScript(workDir, pauseBin)],
    { stdio: ['pipe', 'ignore', 'pipe'], detached: true, cwd: workDir },
  );
  let holderErr = '';
  holder.stderr?.setEncoding('utf8').on('data', (d: string) => {
    holderErr += d;
    writeFileSync(holderLog, holderErr);
  });
  const holderExited = new Promise<void>((resolve) => holder.once('exit', () => resolve()));
  const unsharePid = holder.pid;
  if (unsharePid === undefined) throw new Error('could not start unshare');

  let initPid = 0;
  try {
    await waitFor(
      'the node namespaces',
      async () => {
        if (holder.exitCode !== null || holder.signalCode !== null) throw new Error(`unshare exited: ${holderErr.trim()}`);
        return existsSync(join(workDir, 'namespaces-ready')) && childrenOf(unsharePid).length > 0;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    initPid = childrenOf(unsharePid)[0]!;
  } catch (e) {
    holder.kill('SIGKILL');
    throw new Error(`creating the node's namespaces failed: ${(e as Error).message}\n${holderErr}`);
  }
  const pidNamespace = readlinkSync(`/proc/${initPid}/ns/pid`);
  const enter = ['--target', String(initPid), '--net', '--mount', '--pid', '--uts', `--wd=${logDir}`, '--'];

  const ns: NodeNamespaces = {
    initPid,
    pidNamespace,
    workDir,
    logDir,
    varLib: (p) => join(workDir, 'var-lib', p.replace(/^\/var\/lib\/?/, '')),
    spawn: (name, bin, args, env) => spawnLogged(name, 'nsenter', [...enter, bin, ...args], { logDir, env }),
    run: async (bin, args, opts) => {
      try {
        return (await execFileP('nsenter', [...enter, bin, ...args], { timeout: opts?.timeoutMs ?? 60_000, maxBuffer: 16 << 20 })).stdout;
      } catch (e) {
        const err = e as { stderr?: string; message: string };
        throw new Error(`in the node: ${bin} ${args.join(' ')}: ${err.stderr?.trim() || err.message}`);
      }
    },
    stop: async () => {
      holder.stdin?.end();
      const done = await Promise.race([holderExited.then(() => true), sleep(10_000).then(() => false)]);
      if (!done) {
        try {
          process.kill(initPid, 'SIGKILL');
        } catch {
          // gone
        }
        holder.kill('SIGKILL');
        await holderExited;
      }
    },
  };

  try {
    // The veth pair: host end tikvnode0, node end eth0.
    await execFileP('ip', ['link', 'add', HOST_VETH, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(initPid)]);
    await execFileP('ip', ['addr', 'add', `${ADDR.host}/${ADDR.linkPrefix}`, 'dev', HOST_VETH]);
    await execFileP('ip', ['link', 'set', HOST_VETH, 'up']);
    await ns.run('ip', ['addr', 'add', `${ADDR.node}/${ADDR.linkPrefix}`, 'dev', 'eth0']);
    await ns.run('ip', ['link', 'set', 'eth0', 'up']);
    // The apiserver's service proxy, `kubectl logs` and the tests reach pods through the node.
    await execFileP('ip', ['route', 'add', ADDR.podCIDR, 'via', ADDR.node, 'dev', HOST_VETH]);
    // Services (and the kubelet's own traffic to them) from inside the node go through kube-proxy's DNAT.
    await ns.run('sh', ['-c', `echo 1 > /proc/sys/net/ipv4/ip_forward`]);
    createNodeCgroupRoot();
  } catch (e) {
    await ns.stop();
    throw e;
  }
  log(`[node] namespaces ready (init pid ${initPid}); ${HOST_VETH} ${ADDR.host} <-> eth0 ${ADDR.node}; pods ${ADDR.podCIDR} via the node`);
  return ns;
}

/** Processes (host PIDs) that are in the given PID namespace. */
export function processesInNamespace(pidNamespace: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/pid`) === pidNamespace) out.push(Number(e));
    } catch {
      // exited or not ours to read
    }
  }
  return out;
}
