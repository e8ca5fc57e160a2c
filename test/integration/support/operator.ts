// Running the operator against the test environment the way a user runs it: the CRD and
// the deploy/ RBAC installed, the operator acting as its own ServiceAccount (so a missing
// permission fails a test), PD reached through the one seam the operator has for it (the
// PD resolver), and TiKV pods backed by store stand-ins that register with the real PD.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import pino from 'pino';
import { GROUP, PLURAL, type TikvClusterInput, type TikvClusterStatus, VERSION } from '../../../src/api/v1alpha1.js';
import { LEASE_NAME, OPERATOR_NAME, OPERATOR_NAMESPACE } from '../../../src/charts/operator.js';
import { FIELD_MANAGER } from '../../../src/controller/kube/apply.js';
import { type OperatorHandle, startOperator } from '../../../src/controller/operator.js';
import { directTransport, pdClient } from '../../../src/controller/pd/client.js';
import type { PDResolver } from '../../../src/controller/pd/resolve.js';
import type { ClusterRef } from '../../../src/controller/ref.js';
import { createServiceAccountKubeconfig, getEnv } from '../../env/context.js';
import { installOperatorPrerequisitesWith } from '../../env/operator-install.js';
import { waitFor } from '../../env/process.js';
import { loadProtoDirs, type ProtoDirs } from '../../env/stores/stores.js';
import { TiKVStandins as EnvTiKVStandins, type StandinPolicy } from '../../env/stores/tikv-standins.js';

export type { StandinPolicy };

export { adminApply } from '../../env/operator-install.js';

let installed: Promise<void> | undefined;

/** The CRD from crds/ and the operator's Namespace, ServiceAccount and RBAC from deploy/ (not its Deployment). */
export function installOperatorPrerequisites(): Promise<void> {
  installed ??= installOperatorPrerequisitesWith(getEnv().kc);
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

  /**
   * Runs after PD answered one of the operator's calls and before the operator sees the
   * answer: the moment a test injects a competing event (a store registering) into the
   * window between the operator's read and its write.
   */
  afterAnswer: ((ref: ClusterRef, method: string) => Promise<void>) | undefined;
  /** Runs before each of the operator's calls is sent (a test delays one call behind another). */
  beforeCall: ((ref: ClusterRef, method: string) => Promise<void>) | undefined;

  readonly resolve: PDResolver = (ref) => {
    // A closed loopback port: connection refused, like a PD whose pods are all gone.
    const url = this.unreachable.has(`${ref.namespace}/${ref.name}`) ? 'http://127.0.0.1:9' : (this.urls[0] ?? 'http://127.0.0.1:9');
    const client = pdClient(directTransport(url), { timeoutMs: 2000 });
    const observed = <T extends object>(calls: T): T =>
      new Proxy(calls, {
        get: (target, prop, receiver) => {
          const value = Reflect.get(target, prop, receiver);
          if (typeof value !== 'function') return value;
          return async (...args: unknown[]) => {
            await this.beforeCall?.(ref, String(prop));
            const answer = await value.apply(target, args);
            await this.afterAnswer?.(ref, String(prop));
            return answer;
          };
        },
      });
    return { reads: observed(client.reads), writes: observed(client.writes) };
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
  /** Where the operator logs; silent unless TEST_OPERATOR_LOG names a level. */
  log?: pino.Logger;
  /** How often every cluster is reconciled whatever happens (the operator's default is 5 minutes). */
  resyncMs?: number;
}): Promise<TestOperator> {
  await installOperatorPrerequisites();
  const sa = await createServiceAccountKubeconfig(OPERATOR_NAMESPACE, OPERATOR_NAME);
  const handle = startOperator({
    kc: sa.kc,
    log: opts.log ?? pino({ level: process.env.TEST_OPERATOR_LOG ?? 'silent' }),
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

/** The stand-ins of one cluster's TiKV pods, registered with the environment's PD. */
export class TiKVStandins extends EnvTiKVStandins {
  constructor(namespace: string, cluster: string, policy: StandinPolicy = {}) {
    super({
      kc: getEnv().kc,
      pdURLs: getEnv().pdURLs,
      protoDirs: protos(),
      namespace,
      cluster,
      policy,
      ...(process.env.STANDIN_LOG ? { standinLog: (line: string) => console.log(`${new Date().toISOString()} ${line}`) } : {}),
    });
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
