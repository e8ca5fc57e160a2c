// `tikv-operator status NAME` (also `kubectl tikv status NAME` when installed as the
// kubectl plugin `kubectl-tikv`): one screen on a TikvCluster. PD is asked directly, the
// way the operator asks it (the API server's service proxy out of a cluster, or
// TIKV_OPERATOR_PD_URL_TEMPLATE), so the members, stores, leaders and regions are PD's
// word right now, not the operator's last status write; the pods and their nodes come from
// the API server, and the conditions and what the operator waits for from the TikvCluster.
import { parseArgs } from 'node:util';
import { podNameOfStoreAddress } from '../api/names.js';
import { GROUP, PLURAL, type TikvClusterStatus, VERSION } from '../api/v1alpha1.js';
import { LABELS } from '../charts/labels.js';
import { LEASE_NAME, OPERATOR_NAMESPACE } from '../charts/operator.js';
import { KubeApiError, kubeJSON } from '../controller/kube/raw.js';
import { describePDAccess, loadKubeConfig } from './run.js';
import { lookAtPD } from '../controller/pd/observe.js';
import type { PDStore } from '../controller/pd/reads.js';
import { createPDResolver } from '../controller/pd/resolve.js';
import { errorText, type StoresUnread } from '../controller/pd/view.js';
import type { OperatorKubeConfig } from '../controller/runtime/kubeconfig.js';
import { type LeaseInfo, type PodInfo, renderStatus, type StatusReport, type StoreRow } from './status-report.js';

export interface StatusIO {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Defaults to process.env: KUBECONFIG, TIKV_OPERATOR_PD_URL_TEMPLATE, TIKV_OPERATOR_PD_ACCESS. */
  env?: Record<string, string | undefined>;
  now?: () => Date;
}

export const USAGE = `Usage: tikv-operator status NAME [options]
       kubectl tikv status NAME [options]      (installed as the kubectl plugin kubectl-tikv)

Shows one TikvCluster at a glance: PD members and the leader, TiKV stores with their state,
leaders, regions and capacity, the pod, node and node architecture of each, the conditions,
and what the operator is waiting for. PD is asked directly, the way the operator reaches it:
through the API server's service proxy (needs get on services/proxy), or at
TIKV_OPERATOR_PD_URL_TEMPLATE when set.

Options:
  -n, --namespace NS           namespace of the TikvCluster (default: the context's, else "default")
      --kubeconfig PATH        kubeconfig (default: $KUBECONFIG, else ~/.kube/config)
      --context NAME           kubeconfig context (default: the current one)
      --lease-namespace NS     where the operator's Lease is (default: ${OPERATOR_NAMESPACE})
  -o, --output text|json       text (default) or the same report as JSON
  -h, --help                   show this help
`;

interface RawObject {
  metadata: { name: string; namespace?: string; generation?: number; labels?: Record<string, string>; deletionTimestamp?: string };
}
interface RawCluster extends RawObject {
  spec?: { version?: string; paused?: boolean; tikv?: { replicas?: number } };
  status?: TikvClusterStatus;
}
interface RawPod extends RawObject {
  spec?: { nodeName?: string };
  status?: { phase?: string; conditions?: Array<{ type: string; status: string }> };
}
interface RawNode extends RawObject {
  status?: { nodeInfo?: { architecture?: string } };
}
interface RawLease {
  spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number };
}

export async function runStatus(argv: string[], io: StatusIO): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    io.stderr(`tikv-operator status: ${(e as Error).message}\n\n${USAGE}`);
    return 1;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const output = values.output ?? 'text';
  if (positionals.length !== 1 || (output !== 'text' && output !== 'json')) {
    io.stderr(`tikv-operator status: ${positionals.length !== 1 ? 'give exactly one TikvCluster name' : `--output must be text or json, not "${output}"`}\n\n${USAGE}`);
    return 1;
  }
  const env = io.env ?? process.env;
  let kc: OperatorKubeConfig;
  try {
    kc = loadKubeConfig(values.kubeconfig, env);
    if (values.context) kc = kc.inContext(values.context);
  } catch (e) {
    io.stderr(`tikv-operator status: ${(e as Error).message}\n`);
    return 1;
  }
  const namespace = values.namespace ?? kc.contextNamespace() ?? 'default';
  const name = positionals[0] ?? '';
  let report: StatusReport;
  try {
    report = await gatherStatus({ kc, namespace, name, env, leaseNamespace: values['lease-namespace'] ?? OPERATOR_NAMESPACE, now: io.now?.() ?? new Date() });
  } catch (e) {
    if (e instanceof KubeApiError && e.status === 404 && e.path.includes(`/${PLURAL}/`)) {
      io.stderr(`tikv-operator status: TikvCluster ${namespace}/${name} not found (kubectl get tikvclusters -A lists them)\n`);
    } else {
      io.stderr(`tikv-operator status: ${errorText(e)}\n`);
    }
    return 1;
  }
  io.stdout(output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderStatus(report));
  return 0;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      namespace: { type: 'string', short: 'n' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      'lease-namespace': { type: 'string' },
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

export interface GatherOptions {
  kc: OperatorKubeConfig;
  namespace: string;
  name: string;
  env: Record<string, string | undefined>;
  leaseNamespace: string;
  now: Date;
}

export async function gatherStatus(o: GatherOptions): Promise<StatusReport> {
  const { kc, namespace, name } = o;
  const get = <T>(path: string) => kubeJSON<T>(kc, { method: 'GET', path, timeoutMs: 10_000 });
  const cluster = await get<RawCluster>(`/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}/${encodeURIComponent(name)}`);
  const selector = encodeURIComponent(`${LABELS.instance}=${name}`);
  const pd = createPDResolver({ kubeConfig: kc, env: o.env })({ namespace, name });
  const [pods, lease, observed] = await Promise.all([
    get<{ items: RawPod[] }>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods?labelSelector=${selector}`).then((l) => l.items),
    readLease(kc, o.leaseNamespace, o.now),
    lookAtPD(pd.reads),
  ]);
  const archOf = await nodeArchitectures(kc, pods);
  const podInfo = (p: RawPod): PodInfo => ({ name: p.metadata.name, state: podState(p), node: p.spec?.nodeName, arch: p.spec?.nodeName ? archOf.get(p.spec.nodeName) : undefined });
  const byName = new Map(pods.map((p) => [p.metadata.name, p]));
  const component = (c: string) => pods.filter((p) => p.metadata.labels?.[LABELS.component] === c);
  const status = cluster.status;

  // PD's word when it answered; the operator's last status otherwise.
  const storesRead = observed.reachable && Array.isArray(observed.stores) ? observed.stores : undefined;
  const storesError = observed.reachable ? storesProblem(observed.stores) : undefined;
  const members: StatusReport['pd']['members'] = observed.reachable
    ? observed.members.members.map((m) => {
        const h = observed.health.find((x) => x.id === m.id);
        const pod = byName.get(m.name);
        return {
          name: m.name,
          id: m.id,
          health: h ? (h.health ? 'healthy' : 'unhealthy') : 'unknown',
          leader: observed.members.leader?.id === m.id,
          version: m.binaryVersion,
          pod: pod ? podInfo(pod) : undefined,
        };
      })
    : (status?.pd?.members ?? []).map((m) => {
        const pod = byName.get(m.name);
        return { name: m.name, id: m.id, health: m.health ? 'healthy' : 'unhealthy', leader: status?.pd?.leader === m.name, pod: pod ? podInfo(pod) : undefined };
      });
  members.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const memberNames = new Set(members.map((m) => m.name));

  const stores: StoreRow[] = (
    storesRead
      ? storesRead
          .filter((s) => podNameOfStoreAddress(name, namespace, s.address) !== undefined)
          .map((s) => ({
            id: s.id,
            address: s.address,
            state: s.stateName,
            leaders: s.leaderCount,
            regions: s.regionCount,
            capacity: s.capacity,
            available: s.available,
            version: s.version,
            podName: podNameOfStoreAddress(name, namespace, s.address),
          }))
      : (status?.tikv?.stores ?? []).map((s) => ({
          id: s.id,
          address: s.address,
          state: s.state,
          leaders: s.leaderCount,
          regions: s.regionCount,
          capacity: s.capacity,
          available: s.available,
          podName: s.podName,
        }))
  ).map(({ podName, ...row }) => {
    const pod = podName ? byName.get(podName) : undefined;
    return { ...row, pod: pod ? podInfo(pod) : undefined };
  });
  // A pod re-created on the address of a Tombstone has a live store next to the old one.
  const podsWithStore = new Set(stores.filter((s) => s.state !== 'Tombstone').map((s) => s.pod?.name));

  const wanted = cluster.spec?.version ?? 'v8.5.5';
  const running = status?.version ?? wanted;
  return {
    namespace,
    name,
    generation: cluster.metadata.generation,
    observedGeneration: status?.observedGeneration,
    phase: status?.phase,
    version: running,
    ...(running !== wanted ? { specVersion: wanted } : {}),
    paused: cluster.spec?.paused ?? false,
    conditions: status?.conditions ?? [],
    operator: lease,
    pd: {
      access: describePDAccess(o.env).text,
      error: observed.reachable ? undefined : observed.error,
      storesError,
      clusterID: (observed.reachable ? observed.members.clusterID : undefined) ?? status?.clusterID,
      leader: observed.reachable ? observed.members.leader?.name : status?.pd?.leader,
      members,
      podsWithoutMember: component('pd')
        .filter((p) => !memberNames.has(p.metadata.name))
        .map(podInfo),
    },
    tikv: {
      desired: cluster.spec?.tikv?.replicas,
      stores,
      podsWithoutStore: component('tikv')
        .filter((p) => !podsWithStore.has(p.metadata.name))
        .map(podInfo),
    },
    now: o.now.toISOString(),
  };
}

function storesProblem(stores: PDStore[] | StoresUnread): string | undefined {
  if (Array.isArray(stores)) return undefined;
  if (stores.kind === 'NotBootstrapped') return 'PD is not bootstrapped yet: no TiKV store has registered';
  return stores.kind === 'Unknown' ? stores.error : undefined;
}

async function readLease(kc: OperatorKubeConfig, namespace: string, now: Date): Promise<LeaseInfo> {
  const lease = `${namespace}/${LEASE_NAME}`;
  let body: RawLease;
  try {
    body = await kubeJSON<RawLease>(kc, { method: 'GET', path: `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases/${LEASE_NAME}`, timeoutMs: 10_000 });
  } catch (e) {
    if (e instanceof KubeApiError && e.status === 404) return { lease, state: 'absent' };
    return { lease, state: 'unreadable', error: errorText(e) };
  }
  const holder = body.spec?.holderIdentity || undefined;
  if (!holder) return { lease, state: 'released' };
  const renewed = body.spec?.renewTime ? new Date(body.spec.renewTime).getTime() : Number.NaN;
  const ago = Number.isNaN(renewed) ? undefined : Math.max(0, (now.getTime() - renewed) / 1000);
  const expired = ago === undefined || ago > (body.spec?.leaseDurationSeconds ?? 15);
  return { lease, state: expired ? 'expired' : 'held', holder, renewedSecondsAgo: ago };
}

/** kubernetes.io/arch of each node the pods run on (the node's own report if unlabelled); unreadable nodes are left out. */
async function nodeArchitectures(kc: OperatorKubeConfig, pods: RawPod[]): Promise<Map<string, string>> {
  const nodes = [...new Set(pods.map((p) => p.spec?.nodeName).filter((n): n is string => !!n))];
  const found = await Promise.all(
    nodes.map(async (n) => {
      try {
        const node = await kubeJSON<RawNode>(kc, { method: 'GET', path: `/api/v1/nodes/${encodeURIComponent(n)}`, timeoutMs: 10_000 });
        return [n, node.metadata.labels?.['kubernetes.io/arch'] ?? node.status?.nodeInfo?.architecture] as const;
      } catch {
        return [n, undefined] as const;
      }
    }),
  );
  return new Map(found.filter((e): e is readonly [string, string] => !!e[1]));
}

function podState(p: RawPod): string {
  if (p.metadata.deletionTimestamp) return 'Terminating';
  const phase = p.status?.phase ?? 'Unknown';
  if (phase !== 'Running') return phase;
  const ready = p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  return ready ? 'Running' : 'Running (not ready)';
}

