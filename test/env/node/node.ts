// A real Kubernetes node for the test environment: containerd + runc + the CNI plugins from
// Debian, and kubelet, kube-proxy and CoreDNS built by testenv/build.sh, in the node's own
// namespaces (host.ts), joined to the test environment's control plane. Bring-up follows
// the reference notes real-node.md; what differs is said in config.ts and host.ts.
import { writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CoreV1Api, DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Binaries } from '../binaries.js';
import { kubeconfigYaml } from '../controlplane/kubeconfig.js';
import { formatLogTails, type ManagedProcess, waitFor } from '../process.js';
import {
  ADDR,
  CGROUP_ROOT,
  cniConfig,
  containerdConfig,
  corefile,
  IN_NODE,
  kubeletConfig,
  kubeProxyConfig,
  NODE_NAME,
  nodeResolvConf,
} from './config.js';
import { type NodeNamespaces, processesInNamespace, readSysctls, removeNodeCgroups, restoreSysctls } from './host.js';
import type { NodeImage } from './images.js';

export interface RealNodeOptions {
  /** The node's namespaces, created before the control plane (whose apiserver binds ADDR.host, the veth's host end). */
  ns: NodeNamespaces;
  bins: Binaries;
  /** The control plane: admin token, apiserver URL (on ADDR.host) and its CA. */
  server: string;
  adminToken: string;
  caFile: string;
  kc: KubeConfig;
  images: NodeImage[];
  /** kubelet syncFrequency (ConfigMap volume refresh); default 5s. */
  syncFrequency?: string;
  log: (s: string) => void;
}

export interface StopReport {
  /** Sysctls that differed from the snapshot and were written back (expected: none). */
  restoredSysctls: string[];
  /** Cgroup directories that could not be removed (expected: none). */
  leftCgroups: string[];
  /** Processes still in the node's PID namespace after stop (expected: none). */
  leftProcesses: number[];
}

export interface RealNode {
  readonly name: string;
  readonly ns: NodeNamespaces;
  readonly processes: readonly ManagedProcess[];
  /** Runs a command inside the node's namespaces and returns its stdout. */
  run(bin: string, args: string[]): Promise<string>;
  /** Log tails of the node's components, for failure reports. */
  diagnostics(lines?: number): string;
  /** Stops kubelet, kube-proxy, CoreDNS and containerd; the namespaces (and the veth the apiserver binds) stay. */
  stopComponents(): Promise<void>;
  /** stopComponents, then ends the namespaces and removes the cgroups. */
  stop(): Promise<StopReport>;
}

const KUBE_DNS = { namespace: 'kube-system', name: 'kube-dns' };

/** Starts the node and returns once it is Ready and CoreDNS answers. */
export async function startRealNode(o: RealNodeOptions): Promise<RealNode> {
  const t0 = Date.now();
  const step = (s: string) => o.log(`[node] ${s} (+${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  const sysctlsBefore = readSysctls();
  const ns = o.ns;
  const procs: ManagedProcess[] = [];
  let stopped: Promise<StopReport> | undefined;
  let componentsStopped: Promise<void> | undefined;

  // Clients of containerd first; the namespaces' end kills what is left (containers, shims).
  const stopComponents = (): Promise<void> => {
    componentsStopped ??= (async () => {
      for (const p of [...procs].reverse()) await p.stop(5_000);
    })();
    return componentsStopped;
  };

  const stop = (): Promise<StopReport> => {
    stopped ??= (async () => {
      const t = Date.now();
      await stopComponents();
      const tProcs = Date.now();
      await ns.stop();
      const leftProcesses = processesInNamespace(ns.pidNamespace);
      const leftCgroups = await removeNodeCgroups();
      const restoredSysctls = restoreSysctls(sysctlsBefore);
      if (restoredSysctls.length > 0) o.log(`[node] WARNING: restored sysctls the node changed: ${restoredSysctls.join(', ')}`);
      o.log(`[node] stopped in ${((Date.now() - t) / 1000).toFixed(1)} s (components ${((tProcs - t) / 1000).toFixed(1)} s, namespaces ${((Date.now() - tProcs) / 1000).toFixed(1)} s)`);
      return { restoredSysctls, leftCgroups, leftProcesses };
    })();
    return stopped;
  };

  try {
    const files: [string, string][] = [
      [IN_NODE.containerdConfig, containerdConfig()],
      [join(IN_NODE.cniConfDir, '10-tikv-node.conflist'), cniConfig()],
      [IN_NODE.kubeletConfig, kubeletConfig({ syncFrequency: o.syncFrequency ?? '5s' })],
      [IN_NODE.kubeletKubeconfig, kubeconfigYaml({ server: o.server, caFile: o.caFile }, 'admin', o.adminToken)],
      [IN_NODE.kubeProxyConfig, kubeProxyConfig()],
      [IN_NODE.corefile, corefile(IN_NODE.kubeletKubeconfig)],
      [IN_NODE.resolvConf, nodeResolvConf()],
    ];
    for (const [path, content] of files) {
      const hostPath = ns.varLib(path);
      await mkdir(dirname(hostPath), { recursive: true });
      writeFileSync(hostPath, content, { mode: 0o600 });
    }
    await mkdir(ns.varLib(IN_NODE.hostVolumes), { recursive: true });

    const containerd = ns.spawn('containerd', '/usr/bin/containerd', ['--config', IN_NODE.containerdConfig]);
    procs.push(containerd);
    const ctr = (args: string[]) => ns.run('/usr/bin/ctr', ['--address', IN_NODE.containerdSocket, '--namespace', 'k8s.io', ...args], { timeoutMs: 300_000 });
    await waitFor('containerd', async () => (await ctr(['version'])).includes('Server'), { timeoutMs: 30_000, intervalMs: 200, proc: containerd });
    step('containerd running');
    for (const img of o.images) await ctr(['images', 'import', img.archive]);
    step(`imported ${o.images.reduce((n, i) => n + i.names.length, 0)} image names`);

    const kubelet = ns.spawn('kubelet', o.bins.bin('kubelet'), [
      `--config=${IN_NODE.kubeletConfig}`,
      `--kubeconfig=${IN_NODE.kubeletKubeconfig}`,
      `--root-dir=${IN_NODE.kubeletRoot}`,
      `--cert-dir=${IN_NODE.kubeletPki}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${ADDR.node}`,
      '--v=1',
    ]);
    procs.push(kubelet);
    const proxy = ns.spawn('kube-proxy', o.bins.bin('kube-proxy'), [`--config=${IN_NODE.kubeProxyConfig}`, '--v=1']);
    procs.push(proxy);
    await createKubeDNS(o.kc);
    const coredns = ns.spawn('coredns', o.bins.bin('coredns'), ['-conf', IN_NODE.corefile]);
    procs.push(coredns);

    const core = o.kc.makeApiClient(CoreV1Api);
    await waitFor(
      `node ${NODE_NAME} Ready`,
      async () => {
        const n = await core.readNode({ name: NODE_NAME });
        return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      },
      { timeoutMs: 90_000, intervalMs: 250, proc: kubelet },
    );
    step(`node ${NODE_NAME} Ready (cgroup root ${CGROUP_ROOT})`);
    await waitFor(
      'CoreDNS /ready',
      async () => (await fetch(`http://${ADDR.node}:8181/ready`, { signal: AbortSignal.timeout(2000) })).status === 200,
      { timeoutMs: 60_000, intervalMs: 250, proc: coredns },
    );
    step('kube-proxy and CoreDNS running');

    return {
      name: NODE_NAME,
      ns,
      processes: procs,
      run: (bin, args) => ns.run(bin, args),
      diagnostics: (lines = 40) => formatLogTails(procs, lines),
      stopComponents,
      stop,
    };
  } catch (e) {
    const tails = formatLogTails(procs, 30);
    await stop().catch(() => undefined);
    throw new Error(`starting the real node failed: ${(e as Error).message}\n${tails}\n(logs in ${ns.logDir})`, { cause: e });
  }
}

/** The cluster DNS Service, selector-less, its EndpointSlice pointing at CoreDNS on the node. */
async function createKubeDNS(kc: KubeConfig): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  await core.createNamespacedService({
    namespace: KUBE_DNS.namespace,
    body: {
      metadata: { name: KUBE_DNS.name, labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' } },
      spec: {
        clusterIP: ADDR.dnsService,
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        ],
      },
    },
  });
  await discovery.createNamespacedEndpointSlice({
    namespace: KUBE_DNS.namespace,
    body: {
      metadata: { name: `${KUBE_DNS.name}-node`, labels: { 'kubernetes.io/service-name': KUBE_DNS.name, 'endpointslice.kubernetes.io/managed-by': 'tikv-operator-testenv' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [ADDR.node], conditions: { ready: true } }],
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP' },
      ],
    },
  });
}
