// The real node leaves the host as it found it: the sysctls the kubelet sets, the host's
// iptables rules, links, routes and mounts, the kubelet's cgroup root, the node's work dir,
// and no process left. Once after a normal stop, and once after the run that owned the
// node was SIGKILLed (its namespaces die with it; the next start reaps the rest).
import { spawn } from 'node:child_process';
import { existsSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { expect, it } from 'vitest';
import { REPO_ROOT } from '../../env/binaries.js';
import { startTestEnv } from '../../env/index.js';
import { ADDR, HOST_VETH } from '../../env/node/config.js';
import { acquireNodeLock, NODE_WORK_DIR, processesInNamespace, reapLeftovers } from '../../env/node/host.js';
import { pdImage, STANDIN_VERSIONS } from '../../env/node/images.js';
import { reapOrphans, waitFor } from '../../env/process.js';
import { hostState, iptablesRules, processesMentioning } from './host-state.js';

const log = (s: string) => process.stderr.write(`${s}\n`);

/**
 * The host's state read while holding the machine-wide node lock: another run's node (on a
 * shared machine, someone else's test) is then not half-started or half-reaped while we look.
 */
async function underNodeLock<T>(read: () => Promise<T>): Promise<T> {
  const lock = await acquireNodeLock(20 * 60_000, log);
  try {
    return await read();
  } finally {
    await lock.release();
  }
}

it('a started and stopped node (with a pod, a Service and a volume) leaves the host as it found it', async () => {
  // A run killed earlier (here or by someone else on the machine) leaves what the next
  // start reaps: reap it first, as that start would, so "before" is the host's own state.
  const before = await underNodeLock(async () => {
    await reapLeftovers();
    return hostState();
  });
  expect(before.cgroups, 'no cgroups of an earlier node').toEqual([]);
  const env = await startTestEnv({ node: true, log });
  let pidNamespace = '';
  try {
    const node = env.node!;
    pidNamespace = node.node.ns.pidNamespace;
    const core = env.kc.makeApiClient(CoreV1Api);
    await core.createNamespacedService({
      namespace: 'default',
      body: { metadata: { name: 'probe' }, spec: { selector: { app: 'probe' }, ports: [{ port: 80, targetPort: 8080 }] } },
    });
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'probe', labels: { app: 'probe' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'probe',
              image: pdImage(STANDIN_VERSIONS[0]),
              command: ['/bin/sh', '-c', 'echo started; exec sleep 3600'],
              volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
            },
          ],
          volumes: [{ name: 'scratch', emptyDir: {} }],
        },
      },
    });
    await waitFor(
      'pod probe Running',
      async () => (await core.readNamespacedPod({ namespace: 'default', name: 'probe' })).status?.phase === 'Running',
      { timeoutMs: 120_000, intervalMs: 500 },
    );

    // While it runs the node has changed things, inside its own namespaces only.
    const nodeRules = await iptablesRules(async (cmd) => (await node.node.run(cmd, [])).split('\n').filter((l) => l && !l.startsWith('#')));
    expect(nodeRules.some((r) => r.includes('KUBE-SERVICES')), 'kube-proxy rules in the node').toBe(true);
    expect(nodeRules.some((r) => r.includes('KUBE-FIREWALL')), "the kubelet's rules in the node").toBe(true);
    expect((await node.node.run('cat', ['/proc/sys/kernel/panic'])).trim(), "the kubelet's view of kernel.panic").toBe('10');
    const nodeMounts = await node.node.run('cat', ['/proc/self/mountinfo']);
    expect(nodeMounts, 'the pod rootfs (overlay) in the node').toContain(' - overlay ');
    expect(nodeMounts, 'the pod network namespace file in the node').toContain('/run/netns/cni-');
    const during = await hostState();
    expect(during.iptables, "the host's iptables while the node runs").toEqual(before.iptables);
    expect(during.sysctls, "the host's sysctls while the node runs").toEqual(before.sysctls);
    expect(during.links).toEqual([...before.links, HOST_VETH].sort());
    expect(during.cgroups.length, 'the kubelet cgroup root exists').toBeGreaterThan(0);
    expect(processesInNamespace(pidNamespace).length).toBeGreaterThan(5);
  } finally {
    await env.stop();
  }
  const report = env.node!.stopReport!;
  expect(report).toEqual({ restoredSysctls: [], leftCgroups: [], leftProcesses: [] });
  const after = await underNodeLock(hostState);
  expect(after).toEqual(before);
  expect(processesInNamespace(pidNamespace)).toEqual([]);
  expect(processesMentioning(NODE_WORK_DIR)).toEqual([]);
  expect(processesMentioning(env.dir)).toEqual([]);
});

it('a node whose run was SIGKILLed dies with it, and the next start reaps what is left', async () => {
  const before = await underNodeLock(async () => {
    await reapLeftovers();
    return hostState();
  });
  // `npm run testenv -- up --node` in a child process, killed once its node is Ready.
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/env/cli.ts'), 'up', '--node'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitFor('the playground to be up', async () => out.includes('Press Ctrl-C'), { timeoutMs: 600_000, intervalMs: 500 });
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${out}`);
  }
  const envDir = /\[testenv\] starting in (\S+)/.exec(out)?.[1];
  const initPid = Number(/namespaces ready \(init pid (\d+)\)/.exec(out)?.[1]);
  expect(envDir).toBeDefined();
  const pidNamespace = readlinkSync(`/proc/${initPid}/ns/pid`);
  expect(processesInNamespace(pidNamespace).length).toBeGreaterThan(3);

  child.kill('SIGKILL');
  await exited;
  // The killed run's lock went with it; hold it while looking, so no other run's start
  // reaps (or adds to) what the killed one left.
  await underNodeLock(async () => {
    // The node's init read EOF on its stdin: the kernel kills everything in its PID namespace.
    await waitFor('the node namespaces to die', async () => processesInNamespace(pidNamespace).length === 0, { timeoutMs: 30_000, intervalMs: 200 });
    await waitFor(`${HOST_VETH} to go with the node's network namespace`, async () => !(await hostState()).links.includes(HOST_VETH), { timeoutMs: 30_000 });
    const left = await hostState();
    expect(left.cgroups.length, 'empty cgroup dirs are left for the next start').toBeGreaterThan(0);
    expect(left.workDir).toBe(true);

    // What the next start does first (with the lock held, as here), and the kwok environment's own reaper.
    const did = await reapLeftovers();
    expect(did.some((d) => d.startsWith('removed') && d.includes('cgroup'))).toBe(true);
    expect(did).toContain(`removed ${NODE_WORK_DIR}`);
    // The kwok environment's watchdog (test/env/process.ts) may have reaped the killed run's
    // control plane and removed its dir already; otherwise the next start's reaper does.
    if (existsSync(envDir!)) reapOrphans(envDir!);
    await waitFor('the killed run’s control plane to be gone', async () => processesMentioning(envDir!).length === 0, { timeoutMs: 30_000 });
    rmSync(envDir!, { recursive: true, force: true });

    const after = await hostState();
    expect(after).toEqual(before);
    expect(existsSync(NODE_WORK_DIR)).toBe(false);
    expect(after.routes.some((r) => r.includes(ADDR.podCIDR))).toBe(false);
  });
});
