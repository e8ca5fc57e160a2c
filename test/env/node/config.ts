// The real node's addresses, paths and configuration files, as pure functions of a few
// inputs (tested in test/unit/env/node-config.test.ts). Background: the reference notes
// real-node.md §3 (every flag and field needed, and why).
//
// The node lives in its own network, mount, PID and UTS namespaces (see host.ts), so the
// kubelet's and kube-proxy's iptables rules, the pods' bridge and veths, the CNI and
// containerd state, and every mount the kubelet makes stay inside it. Inside those
// namespaces the usual paths are private: /run is a fresh tmpfs, /var/lib and /var/log
// are bind mounts of directories under the node's work dir. So containerd, the kubelet
// and the CNI plugins keep their stock paths (/var/lib/kubelet, /run/containerd, ...)
// and nothing of theirs lands on the host's own /var/lib or /run.

/**
 * Addresses, private and used only on this machine (checked at start: no host address or
 * route may overlap NODE_NET). kwok's fake pod IPs are 10.244/16 and the kwok control
 * planes use 10.96/16 for Services; this is far from both.
 */
export const NODE_NET = '10.231.0.0/16';
export const ADDR = {
  /** The host's end of the veth pair; the apiserver and the stand-in hub bind it. */
  host: '10.231.0.1',
  /** The node's end (its InternalIP): kubelet :10250, CoreDNS :53. */
  node: '10.231.0.2',
  linkPrefix: 30,
  podCIDR: '10.231.1.0/24',
  podGateway: '10.231.1.1',
  serviceCIDR: '10.231.2.0/24',
  /** The first Service IP goes to default/kubernetes. */
  kubernetesService: '10.231.2.1',
  dnsService: '10.231.2.10',
} as const;

export const NODE_NAME = 'tikv-node';
/** Host side of the veth pair (the node side is eth0 in the node's namespace). */
export const HOST_VETH = 'tikvnode0';
export const BRIDGE = 'tikvcni0';
/** The kubelet's cgroup root: kubepods lives under it in every v1 hierarchy, so teardown knows what is ours. */
export const CGROUP_ROOT = '/tikv-operator-node';
export const CLUSTER_DOMAIN = 'cluster.local';
export const PAUSE_IMAGE = 'localhost/tikv-operator-testenv/pause:1';

/** Paths inside the node's mount namespace (private; see the header). */
export const IN_NODE = {
  containerdConfig: '/var/lib/tikv-node/containerd.toml',
  containerdSocket: '/run/containerd/containerd.sock',
  cniConfDir: '/var/lib/tikv-node/cni',
  cniBinDir: '/usr/lib/cni',
  kubeletRoot: '/var/lib/kubelet',
  kubeletConfig: '/var/lib/tikv-node/kubelet.yaml',
  kubeletKubeconfig: '/var/lib/tikv-node/kubelet.kubeconfig',
  kubeletPki: '/var/lib/tikv-node/kubelet-pki',
  resolvConf: '/var/lib/tikv-node/resolv.conf',
  kubeProxyConfig: '/var/lib/tikv-node/kube-proxy.yaml',
  corefile: '/var/lib/tikv-node/Corefile',
  hostVolumes: '/var/lib/tikv-node/volumes',
} as const;

/**
 * What the kubelet would write at every start (vm.overcommit_memory 0→1, kernel.panic 1→10,
 * kernel.panic_on_oops 0→1 on these machines; pkg/kubelet/cm/container_manager_linux.go
 * setupKernelTunables). These are not per-namespace sysctls, so the node's /proc shows the
 * kubelet files that already hold its values (bind mounts over the /proc/sys entries) and the
 * kubelet changes nothing on the host.
 */
export const KUBELET_SYSCTLS: Record<string, string> = {
  'vm/overcommit_memory': '1',
  'vm/panic_on_oom': '0',
  'kernel/panic': '10',
  'kernel/panic_on_oops': '1',
  'kernel/keys/root_maxkeys': '1000000',
  'kernel/keys/root_maxbytes': '25000000',
};

export function containerdConfig(): string {
  return `version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "${IN_NODE.containerdSocket}"
[ttrpc]
  address = "${IN_NODE.containerdSocket}.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # No CAP_SYS_RESOURCE on these VMs: never ask runc for a lower oom_score_adj.
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  # exec/logs streaming stays inside the node.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${IN_NODE.cniBinDir}"
    conf_dir = "${IN_NODE.cniConfDir}"
    max_conf_num = 1
`;
}

/**
 * The pods' network: one bridge in the node's namespace, host-local IPAM, a default route to
 * the bridge (the node's namespace has nowhere to send anything but the pods, the node
 * address and the host's end of the veth), no masquerade. isGateway sets ip_forward, but
 * in the node's own network namespace.
 */
export function cniConfig(): string {
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'tikv-node-pods',
      plugins: [
        {
          type: 'bridge',
          bridge: BRIDGE,
          isGateway: true,
          isDefaultGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: '/var/lib/cni/networks',
            ranges: [[{ subnet: ADDR.podCIDR, gateway: ADDR.podGateway }]],
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  )}\n`;
}

export interface KubeletOptions {
  /** How often the kubelet resyncs pods (and so refreshes ConfigMap volumes); default 1m, the tests use 5s. */
  syncFrequency?: string;
}

export function kubeletConfig(o: KubeletOptions = {}): string {
  const lines = [
    'apiVersion: kubelet.config.k8s.io/v1beta1',
    'kind: KubeletConfiguration',
    // 1.36 refuses cgroup v1 otherwise (it logs a deprecation warning with it).
    'failCgroupV1: false',
    'cgroupDriver: cgroupfs',
    `cgroupRoot: ${CGROUP_ROOT}`,
    'failSwapOn: false',
    `containerRuntimeEndpoint: unix://${IN_NODE.containerdSocket}`,
    `address: ${ADDR.node}`,
    'port: 10250',
    'readOnlyPort: 0',
    'healthzBindAddress: 127.0.0.1',
    'healthzPort: 10248',
    // Probe-grade: the apiserver dials the kubelet without a client certificate.
    'authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}',
    'authorization: {mode: AlwaysAllow}',
    `clusterDomain: ${CLUSTER_DOMAIN}`,
    `clusterDNS: [${ADDR.dnsService}]`,
    `resolvConf: ${IN_NODE.resolvConf}`,
    'registerNode: true',
    `podCIDR: ${ADDR.podCIDR}`,
    'maxPods: 60',
    `volumePluginDir: ${IN_NODE.kubeletRoot}/volume-plugins`,
    // Never garbage-collect the locally imported images: nothing could pull them again.
    'imageGCHighThresholdPercent: 100',
    'imageGCLowThresholdPercent: 99',
    'evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}',
    'serializeImagePulls: false',
  ];
  if (o.syncFrequency) lines.push(`syncFrequency: ${o.syncFrequency}`);
  return `${lines.join('\n')}\n`;
}

/** kube-proxy in iptables mode, configured so that it changes no sysctl (in the node's namespace or the host's). */
export function kubeProxyConfig(): string {
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: ${IN_NODE.kubeletKubeconfig}}
mode: iptables
clusterCIDR: ${ADDR.podCIDR}
hostnameOverride: ${NODE_NAME}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
nodePortAddresses: [primary]
`;
}

/**
 * CoreDNS answers the cluster domain from the apiserver and nothing else: no forward plugin,
 * so no query leaves the machine. It binds the node's address; pods reach it through the
 * kube-dns Service (a selector-less Service whose EndpointSlice points here).
 */
export function corefile(kubeconfigPath: string): string {
  return `.:53 {
    bind ${ADDR.node}
    errors
    health ${ADDR.node}:8080
    ready ${ADDR.node}:8181
    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {
        kubeconfig ${kubeconfigPath}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
    loadbalance
}
`;
}

/** The node's own resolv.conf (the kubelet's resolvConf): no upstream servers, nothing to inherit. */
export function nodeResolvConf(): string {
  return `# tikv-operator test environment node: cluster DNS only\nnameserver ${ADDR.node}\noptions ndots:5\n`;
}
