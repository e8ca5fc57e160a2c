// Running the operator against the test environment the way a user runs it: the CRD and
// the deploy/ RBAC installed, the operator acting as its own ServiceAccount (so a missing
// permission fails a test), PD reached through the one seam the operator has for it (the
// PD resolver), and TiKV pods backed by store stand-ins that register with the real PD.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import pino from 'pino';
import { parse } from 'yaml';
import { CRD_FILE } from '../../../src/api/crd.js';
import { tikvPodName, tikvAdvertiseAddr } from '../../../src/api/names.js';
import { GROUP, PLURAL, VERSION, type TikvClusterInput, type TikvClusterStatus } from '../../../src/api/v1alpha1.js';
import { LEASE_NAME, OPERATOR_NAME, OPERATOR_NAMESPACE, synthesizeOperator } from '../../../src/charts/operator.js';
import { FIELD_MANAGER } from '../../../src/controller/kube/apply.js';
import { kubeJSON } from '../../../src/controller/kube/raw.js';
import { type OperatorHandle, startOperator } from '../../../src/controller/operator.js';
import { type ClusterRef, directTransport, HttpPDClient, type PDResolver } from '../../../src/controller/pd/client.js';
import { REPO_ROOT } from '../../env/binaries.js';
import { createServiceAccountKubeconfig, getEnv } from '../../env/context.js';
import { waitFor } from '../../env/process.js';
import { loadProtoDirs, type ProtoDirs, type StoreStandin, startStoreStandin } from '../../env/stores.js';

const CLUSTER_SCOPED: Record<string, string> = {
  CustomResourceDefinition: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
  Namespace: '/api/v1/namespaces',
  ClusterRole: '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  ClusterRoleBinding: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
};
const NAMESPACED: Record<string, string> = {
  ServiceAccount: 'api/v1/serviceaccounts',
  Role: 'apis/rbac.authorization.k8s.io/v1/roles',
  RoleBinding: 'apis/rbac.authorization.k8s.io/v1/rolebindings',
};

/** Server-side apply as the admin, raw JSON (what `kubectl apply --server-side` does). */
export async function adminApply(kc: KubeConfig, obj: { kind: string; metadata: { name: string; namespace?: string } }): Promise<void> {
  const { kind, metadata } = obj;
  const ns = NAMESPACED[kind];
  const collection = CLUSTER_SCOPED[kind] ?? (ns && metadata.namespace ? `/${ns.replace(/\/([a-z]+)$/, `/namespaces/${metadata.namespace}/$1`)}` : undefined);
  if (!collection) throw new Error(`adminApply: no path for ${kind}`);
  await kubeJSON(kc, {
    method: 'PATCH',
    path: `${collection}/${metadata.name}?fieldManager=test-admin&force=true`,
    body: obj,
    contentType: 'application/apply-patch+yaml',
  });
}

let installed: Promise<void> | undefined;

/** The CRD from crds/ and the operator's Namespace, ServiceAccount and RBAC from deploy/ (not its Deployment). */
export function installOperatorPrerequisites(): Promise<void> {
  installed ??= (async () => {
    const { kc } = getEnv();
    await adminApply(kc, parse(readFileSync(join(REPO_ROOT, CRD_FILE), 'utf8')));
    await waitFor('the TikvCluster CRD to be served', async () => {
      await kubeJSON(kc, { method: 'GET', path: `/apis/${GROUP}/${VERSION}/${PLURAL}` });
      return true;
    }, { timeoutMs: 30_000 });
    for (const obj of synthesizeOperator()) {
      if (obj.kind === 'Deployment' || obj.kind === 'Service') continue;
      await adminApply(kc, obj);
    }
  })();
  return installed;
}

/** PD for every cluster is the environment's PD, unless a test marks a cluster unreachable. */
export class TestPDResolver {
  private readonly unreachable = new Set<string>();
  constructor(private readonly urls: string[]) {}

  setReachable(ref: ClusterRef, reachable: boolean): void {
    const key = `${ref.namespace}/${ref.name}`;
    if (reachable) this.unreachable.delete(key);
    else this.unreachable.add(key);
  }

  readonly resolve: PDResolver = (ref) => {
    // A closed loopback port: connection refused, like a PD whose pods are all gone.
    const url = this.unreachable.has(`${ref.namespace}/${ref.name}`) ? 'http://127.0.0.1:9' : (this.urls[0] ?? 'http://127.0.0.1:9');
    return new HttpPDClient(directTransport(url), { timeoutMs: 2000 });
  };
}

export interface TestOperator extends OperatorHandle {
  username: string;
}

export async function startTestOperator(opts: {
  pd: TestPDResolver;
  leaderElection?: boolean;
  identity?: string;
  namespace?: string;
  /** How often every cluster is reconciled whatever happens (the operator's default is 5 minutes). */
  resyncMs?: number;
}): Promise<TestOperator> {
  await installOperatorPrerequisites();
  const sa = await createServiceAccountKubeconfig(OPERATOR_NAMESPACE, OPERATOR_NAME);
  const handle = startOperator({
    kc: sa.kc,
    log: pino({ level: process.env.TEST_OPERATOR_LOG ?? 'silent' }),
    namespace: opts.namespace,
    pd: opts.pd.resolve,
    leaderElection: opts.leaderElection
      ? { namespace: OPERATOR_NAMESPACE, name: LEASE_NAME, identity: opts.identity ?? 'test', leaseDurationSeconds: 6, renewIntervalMs: 1000 }
      : undefined,
    steadyRequeueMs: 3000,
    busyRequeueMs: 1000,
    resyncMs: opts.resyncMs,
  });
  return Object.assign(handle, { username: sa.username });
}

// --- TikvClusters ---------------------------------------------------------------------

export interface TikvClusterObj {
  metadata: { name: string; namespace: string; uid: string; generation: number };
  spec: Record<string, unknown>;
  status?: TikvClusterStatus;
}

export async function createCluster(namespace: string, body: Omit<TikvClusterInput, 'apiVersion' | 'kind'>): Promise<void> {
  const api = getEnv().kc.makeApiClient(CustomObjectsApi);
  await api.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: PLURAL,
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'TikvCluster', ...body, metadata: { ...body.metadata, namespace } },
  });
}

export async function getCluster(namespace: string, name: string): Promise<TikvClusterObj> {
  const api = getEnv().kc.makeApiClient(CustomObjectsApi);
  return (await api.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name })) as TikvClusterObj;
}

/** A JSON merge patch of spec, as a user editing the object would. */
export async function patchSpec(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  const api = getEnv().kc.makeApiClient(CustomObjectsApi);
  await api.patchNamespacedCustomObject(
    { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: { spec } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

export async function deleteCluster(namespace: string, name: string): Promise<void> {
  const api = getEnv().kc.makeApiClient(CustomObjectsApi);
  await api.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name });
}

export const condition = (c: TikvClusterObj, type: string) => c.status?.conditions?.find((x) => x.type === type);

/** Polls the TikvCluster until `check` holds; the message says what was awaited and what was last seen. */
export async function waitForCluster(
  namespace: string,
  name: string,
  what: string,
  check: (c: TikvClusterObj) => boolean,
  timeoutMs = 60_000,
): Promise<TikvClusterObj> {
  let last: TikvClusterObj | undefined;
  try {
    return await waitFor(
      what,
      async () => {
        last = await getCluster(namespace, name);
        return check(last) ? last : undefined;
      },
      { timeoutMs, intervalMs: 250 },
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}\nlast status: ${JSON.stringify(last?.status, null, 1)}`);
  }
}

// --- TiKV stand-ins -------------------------------------------------------------------

let protoDirs: ProtoDirs | undefined;
function protos(): ProtoDirs {
  if (!protoDirs) {
    const env = getEnv();
    const file = join(env.dir, 'paths-for-standins.env');
    writeFileSync(file, Object.entries(env.paths).map(([k, v]) => `${k}=${v}`).join('\n'));
    protoDirs = loadProtoDirs(file);
  }
  return protoDirs;
}

/**
 * What a kubelet running TiKV would do for this test: every Running TiKV pod of the
 * cluster gets a store stand-in that registers with the real PD under the pod's stable
 * DNS address; a pod that goes away stops its stand-in.
 */
export class TiKVStandins {
  /** By pod name; `uid` tells a re-created pod (a new TiKV process) from the old one. */
  private readonly stores = new Map<string, { uid: string; standin: StoreStandin }>();
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> = Promise.resolve();

  constructor(
    private readonly namespace: string,
    private readonly cluster: string,
  ) {}

  start(): this {
    let busy = false;
    // One sync at a time: two overlapping syncs would both start a stand-in for a new pod,
    // and a paused one would then hide behind its twin's heartbeats.
    const tick = () => {
      if (busy) return;
      busy = true;
      this.syncing = this.sync()
        .catch(() => {})
        .finally(() => {
          busy = false;
        });
    };
    tick();
    this.timer = setInterval(tick, 500);
    return this;
  }

  get(ordinal: number): StoreStandin | undefined {
    return this.stores.get(tikvPodName(this.cluster, ordinal))?.standin;
  }

  count(): number {
    return this.stores.size;
  }

  private async sync(): Promise<void> {
    const core = getEnv().kc.makeApiClient(CoreV1Api);
    const pods = await core.listNamespacedPod({
      namespace: this.namespace,
      labelSelector: `app.kubernetes.io/instance=${this.cluster},app.kubernetes.io/component=tikv`,
    });
    // pod name -> uid: a pod deleted and re-created between two syncs is a new process.
    const running = new Map(
      pods.items
        .filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)
        .map((p) => [p.metadata?.name ?? '', p.metadata?.uid ?? ''] as const),
    );
    for (const [pod, s] of this.stores) {
      if (running.get(pod) === s.uid) continue;
      this.stores.delete(pod);
      await s.standin.stop();
    }
    for (const [pod, uid] of running) {
      if (this.stores.has(pod)) continue;
      const ordinal = Number(pod.slice(pod.lastIndexOf('-') + 1));
      const standin = await startStoreStandin({
        pdEndpoints: getEnv().pdURLs,
        address: tikvAdvertiseAddr(this.cluster, this.namespace, ordinal),
        protoDirs: protos(),
        heartbeatIntervalMs: 1000,
      });
      this.stores.set(pod, { uid, standin });
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.syncing;
    await Promise.all([...this.stores.values()].map((s) => s.standin.stop()));
    this.stores.clear();
  }
}

// --- the audit log --------------------------------------------------------------------

export interface AuditEvent {
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  requestReceivedTimestamp: string;
  stage: string;
  responseStatus?: { code?: number };
}

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** Write requests `username` made at or after `since`, from the apiserver's audit log. */
export function auditWrites(username: string, since: Date): AuditEvent[] {
  const lines = readFileSync(getEnv().auditLogPath, 'utf8').split('\n').filter(Boolean);
  return lines
    .map((l) => JSON.parse(l) as AuditEvent)
    .filter(
      (e) =>
        e.stage === 'ResponseComplete' &&
        e.user.username === username &&
        WRITE_VERBS.has(e.verb) &&
        e.objectRef?.resource !== 'leases' &&
        new Date(e.requestReceivedTimestamp) >= since,
    );
}

export { FIELD_MANAGER };
