// What the host looks like where the real node could leave traces: the sysctls the kubelet
// sets, the host's iptables rules, network links and routes, mounts, the kubelet's cgroup
// root, the node's work dir. Tests compare snapshots taken before, during and after a node.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { promisify } from 'node:util';
import { NODE_WORK_DIR, nodeCgroupDirs, readSysctls } from '../../env/node/host.js';

const run = promisify(execFile);

export interface HostState {
  sysctls: Record<string, string>;
  /** iptables-save and ip6tables-save without comments and packet counters. */
  iptables: string[];
  links: string[];
  routes: string[];
  mounts: string[];
  cgroups: string[];
  workDir: boolean;
}

async function lines(cmd: string, args: string[]): Promise<string[]> {
  return (await run(cmd, args)).stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** iptables-save output with the volatile parts (counters) removed. */
export async function iptablesRules(exec: (cmd: string, args: string[]) => Promise<string[]> = lines): Promise<string[]> {
  const out: string[] = [];
  for (const cmd of ['iptables-save', 'ip6tables-save']) {
    for (const l of await exec(cmd, [])) out.push(`${cmd}: ${l.replace(/\[\d+:\d+\]/g, '')}`);
  }
  return out;
}

export async function hostState(): Promise<HostState> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const f = l.split(' ');
      return `${f[4]} ${l.split(' - ')[1]?.split(' ')[0] ?? ''}`;
    })
    .sort();
  return {
    sysctls: readSysctls(),
    iptables: await iptablesRules(),
    links: (await lines('ip', ['-o', 'link', 'show'])).map((l) => (l.split(':')[1]?.trim() ?? l).split('@')[0]!).sort(),
    routes: (await lines('ip', ['route', 'show', 'table', 'all'])).sort(),
    mounts,
    cgroups: nodeCgroupDirs(),
    workDir: existsSync(NODE_WORK_DIR),
  };
}

/** Host PIDs whose command line or working directory mentions `needle`. */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').replaceAll('\0', ' ');
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${e}/cwd`);
      } catch {
        // not readable
      }
      if (cmd.includes(needle) || cwd.startsWith(needle)) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}
