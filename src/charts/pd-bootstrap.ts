// How a PD pod decides to start: bootstrap a new cluster, join an existing one, or
// restart from its own data. No discovery service: the controller renders the initial
// member list once and later flips a marker in the PD ConfigMap. The marker is ConfigMap
// data (not part of the pod template), so flipping it restarts nothing; the kubelet
// refreshes the mounted file and the next PD start reads it.
import { names, pdPeerURL, pdPodName, pdServiceURL, podFqdn } from '../api/index.js';

/** ConfigMap keys of the PD ConfigMap. */
export const PD_CONFIG_KEYS = {
  config: 'pd.toml',
  startScript: 'start.sh',
  initialCluster: 'initial-cluster',
  bootstrapped: 'bootstrapped',
} as const;
/** The bootstrap marker key of the PD ConfigMap; `"true"` once the initial members formed the cluster. */
export const PD_BOOTSTRAPPED_KEY = PD_CONFIG_KEYS.bootstrapped;
/** The PD ConfigMap key listing the initial members (`name=peerURL,...`). */
export const PD_INITIAL_CLUSTER_KEY = PD_CONFIG_KEYS.initialCluster;

export const PD_CONFIG_DIR = '/etc/pd';
export const PD_DATA_DIR = '/var/lib/pd';
export const PD_SERVER_BINARY = '/pd-server';

/** `--initial-cluster` value: every member of a cluster bootstrapped with `replicas` PDs. */
export function initialCluster(cluster: string, namespace: string, replicas: number): string {
  return Array.from({ length: replicas }, (_, i) => `${pdPodName(cluster, i)}=${pdPeerURL(cluster, namespace, i)}`).join(',');
}

/** How long the start script waits for the pod's own DNS name before starting pd-server anyway. */
export const PD_DNS_WAIT_SECONDS = 60;

/**
 * The PD container's entrypoint. POSIX sh: it must run in any image with /bin/sh (bash in
 * pingcap/pd, dash, busybox ash). Besides builtins it uses only `getent` or `nslookup` and
 * `sleep` for the DNS wait, and skips the wait, saying so, in an image without them. The
 * three path variables at the top are the only absolute paths it uses.
 *
 * The DNS wait: pd-server that starts before its own advertise name resolves fails its
 * first bootstrap after about 20 s (`ErrEtcdMemberList ... DeadlineExceeded`, measured
 * with real pd-server v8.5.5 and the name missing for 10 s or more), then heals through a
 * restart and the kubelet's back-off: a fresh cluster healthy after ~35 s instead of ~1 s.
 * On kind the name appears once the EndpointSlice of the peer Service reaches CoreDNS.
 * The wait is bounded: past it pd-server starts and reports whatever it meets.
 */
export function pdStartScript(cluster: string, namespace: string): string {
  const host = podFqdn('$POD_NAME', names(cluster).pdPeerService, namespace);
  return `#!/bin/sh
# Starts one PD member. Rendered by tikv-operator.
set -eu

config_dir=${PD_CONFIG_DIR}
data_dir=${PD_DATA_DIR}
pd_server=${PD_SERVER_BINARY}
dns_wait_seconds=${PD_DNS_WAIT_SECONDS}

own_host="${host}"

resolves() {
  if command -v getent >/dev/null 2>&1; then
    getent hosts "$1" >/dev/null 2>&1
  else
    nslookup "$1" >/dev/null 2>&1
  fi
}

# pd-server advertises this name to its peers and fails a bootstrap it cannot resolve.
if command -v getent >/dev/null 2>&1 || command -v nslookup >/dev/null 2>&1; then
  waited=0
  while ! resolves "$own_host"; do
    if [ "$waited" -ge "$dns_wait_seconds" ]; then
      echo "pd start: $own_host does not resolve after $waited s; starting pd-server anyway"
      break
    fi
    if [ "$waited" -eq 0 ]; then echo "pd start: waiting up to $dns_wait_seconds s for $own_host to resolve"; fi
    sleep 1
    waited=$((waited + 1))
  done
  if [ "$waited" -gt 0 ] && [ "$waited" -lt "$dns_wait_seconds" ]; then echo "pd start: $own_host resolves after $waited s"; fi
else
  echo "pd start: no getent or nslookup in the image; not waiting for $own_host to resolve"
fi

set -- \\
  --name="$POD_NAME" \\
  --data-dir="$data_dir" \\
  --client-urls=http://0.0.0.0:2379 \\
  --advertise-client-urls="http://$own_host:2379" \\
  --peer-urls=http://0.0.0.0:2380 \\
  --advertise-peer-urls="http://$own_host:2380" \\
  --config="$config_dir/${PD_CONFIG_KEYS.config}"

# ConfigMap values carry no trailing newline, so read reports EOF although it read the value.
initial_cluster=
bootstrapped=false
read -r initial_cluster < "$config_dir/${PD_CONFIG_KEYS.initialCluster}" || true
read -r bootstrapped < "$config_dir/${PD_CONFIG_KEYS.bootstrapped}" || true

is_initial_member() {
  case ",$initial_cluster," in
    *",$POD_NAME=http://"*) return 0 ;;
    *) return 1 ;;
  esac
}

if [ -e "$data_dir/member/wal" ]; then
  # A member with data: etcd reads the membership from its data directory.
  echo "pd start: $POD_NAME restarts from its data"
elif [ "$bootstrapped" != true ] && is_initial_member; then
  echo "pd start: $POD_NAME bootstraps the cluster with the initial members"
  set -- "$@" --initial-cluster="$initial_cluster"
else
  echo "pd start: $POD_NAME joins the cluster"
  set -- "$@" --join=${pdServiceURL(cluster)}
fi

exec "$pd_server" "$@"
`;
}
