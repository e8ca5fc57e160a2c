// Cluster access for the e2e scenario that works the same on every backend: raw JSON
// requests with the backend's admin KubeConfig, server-side apply of manifest files the
// way `kubectl apply --server-side` sends them, and the scale subresource the way
// `kubectl scale` uses it.
import { readFileSync } from 'node:fs';
import { type KubeConfig, Watch } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { GROUP, PLURAL, VERSION } from '../../../src/api/v1alpha1.js';
import { OPERATOR_NAME, OPERATOR_NAMESPACE, OPERATOR_PORT } from '../../../src/charts/operator.js';
import { KubeApiError, kubeJSON, kubeRequest } from '../../../src/controller/kube/raw.js';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** Every document of a YAML file, read as kubectl reads it (YAML 1.1). */
export function readManifests(path: string): Manifest[] {
  return parseManifests(readFileSync(path, 'utf8'), path);
}

export function parseManifests(text: string, source: string): Manifest[] {
  return parseAllDocuments(text, { version: '1.1' })
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${source}: ${d.errors[0]?.message}`);
      return d.toJS() as Manifest | null;
    })
    .filter((d): d is Manifest => d !== null);
}

interface APIResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

const discovery = new Map<string, Promise<APIResource[]>>();

/** The REST resource serving `kind` in `apiVersion`, from the apiserver's discovery (as kubectl finds it). */
export async function resourceFor(kc: KubeConfig, apiVersion: string, kind: string): Promise<{ base: string; plural: string; namespaced: boolean }> {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const key = `${kc.getCurrentCluster()?.server} ${base}`;
  let list = discovery.get(key);
  if (!list) {
    list = kubeJSON<{ resources: APIResource[] }>(kc, { method: 'GET', path: base }).then((r) => r.resources);
    discovery.set(key, list);
    list.catch(() => discovery.delete(key));
  }
  const r = (await list).find((x) => x.kind === kind && !x.name.includes('/'));
  if (!r) throw new Error(`the apiserver serves no ${kind} in ${apiVersion}`);
  return { base, plural: r.name, namespaced: r.namespaced };
}

export async function objectPath(kc: KubeConfig, obj: Manifest, namespace?: string): Promise<string> {
  const r = await resourceFor(kc, obj.apiVersion, obj.kind);
  const ns = obj.metadata.namespace ?? namespace;
  if (r.namespaced && !ns) throw new Error(`${obj.kind}/${obj.metadata.name} is namespaced but has no namespace`);
  return `${r.base}${r.namespaced ? `/namespaces/${ns}` : ''}/${r.plural}/${encodeURIComponent(obj.metadata.name)}`;
}

export interface ApplyOptions {
  fieldManager: string;
  /** For objects without metadata.namespace, as `kubectl apply -n`. */
  namespace?: string;
  /** Validate and admit, persist nothing (`--dry-run=server`). */
  dryRun?: boolean;
}

/** Server-side apply with strict field validation: unknown or duplicate fields are errors, not warnings. */
export async function applyStrict(kc: KubeConfig, obj: Manifest, o: ApplyOptions): Promise<Manifest> {
  const path = await objectPath(kc, obj, o.namespace);
  const body = obj.metadata.namespace || !o.namespace ? obj : { ...obj, metadata: { ...obj.metadata, namespace: o.namespace } };
  const query = `fieldManager=${encodeURIComponent(o.fieldManager)}&fieldValidation=Strict${o.dryRun ? '&dryRun=All' : ''}`;
  return kubeJSON<Manifest>(kc, { method: 'PATCH', path: `${path}?${query}`, body, contentType: 'application/apply-patch+yaml' });
}

export const clusterPath = (namespace: string, name: string, subresource?: string) =>
  `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}/${name}${subresource ? `/${subresource}` : ''}`;

/** `kubectl scale tikvcluster/<name> --replicas=N`: a merge patch of the Scale object. */
export async function scaleTiKV(kc: KubeConfig, namespace: string, name: string, replicas: number): Promise<void> {
  await kubeJSON(kc, {
    method: 'PATCH',
    path: clusterPath(namespace, name, 'scale'),
    body: { spec: { replicas } },
    contentType: 'application/merge-patch+json',
  });
}

export async function mergePatchSpec(kc: KubeConfig, namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await kubeJSON(kc, { method: 'PATCH', path: clusterPath(namespace, name), body: { spec }, contentType: 'application/merge-patch+json' });
}

/** GET that answers undefined for 404. */
export async function getOrUndefined<T>(kc: KubeConfig, path: string): Promise<T | undefined> {
  try {
    return await kubeJSON<T>(kc, { method: 'GET', path });
  } catch (e) {
    if (e instanceof KubeApiError && e.status === 404) return undefined;
    throw e;
  }
}

/** Names of the objects a list request returns. */
export async function listNames(kc: KubeConfig, path: string): Promise<string[]> {
  const list = await kubeJSON<{ items: { metadata: { name: string } }[] }>(kc, { method: 'GET', path });
  return list.items.map((i) => i.metadata.name).sort();
}

/** The operator's metrics Service (deploy/) as the service proxy names it. */
export const OPERATOR_METRICS_SERVICE = `${OPERATOR_NAME}-metrics:${OPERATOR_PORT}`;

/** Status code and body of a GET through the API server's service proxy. */
export async function viaServiceProxy(kc: KubeConfig, namespace: string, service: string, path: string): Promise<{ status: number; body: string }> {
  return kubeRequest(kc, { method: 'GET', path: `/api/v1/namespaces/${namespace}/services/${service}/proxy${path}` });
}

/** Sum of a Prometheus counter over all its label sets, from the text exposition format. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && m[1] === name) sum += Number(m[3]);
  }
  return sum;
}

interface Pod {
  metadata: { name: string; resourceVersion: string; deletionTimestamp?: string };
  status?: { phase?: string; containerStatuses?: { name: string; state?: { terminated?: { exitCode: number } } }[] };
}

/**
 * Stops the operator the way its supervisor does, on a cluster where it runs as a pod
 * (kind, the real node): deletes the Running pod (SIGTERM to the operator) and returns the
 * container's exit code. The kubelet records it in the pod's status before it removes the
 * pod, so the watch's last state of the pod carries it. The Deployment then starts a
 * replacement: the operator keeps running for the user.
 */
export async function stopOperatorPod(kc: KubeConfig, timeoutMs = 90_000): Promise<number | null> {
  const podsPath = `/api/v1/namespaces/${OPERATOR_NAMESPACE}/pods`;
  const selector = `app.kubernetes.io/name=${OPERATOR_NAME}`;
  const pods = await kubeJSON<{ items: Pod[] }>(kc, { method: 'GET', path: `${podsPath}?labelSelector=${encodeURIComponent(selector)}` });
  const pod = pods.items.find((p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp);
  if (!pod) throw new Error(`no Running operator pod in ${OPERATOR_NAMESPACE}`);
  let last: Pod = pod;
  let lastExit: number | null = null;
  let abort: AbortController | undefined;
  let stopped = false;
  const gone = new Promise<void>((resolve, reject) => {
    // The apiserver may end a watch at any time without an error: go on from the last
    // state seen, so the pod's DELETED event cannot fall between two watches.
    const watch = () =>
      new Watch(kc)
        .watch(
          podsPath,
          { fieldSelector: `metadata.name=${pod.metadata.name}`, resourceVersion: last.metadata.resourceVersion },
          (type, obj: Pod) => {
            last = obj;
            const t = obj.status?.containerStatuses?.find((c) => c.name === 'operator')?.state?.terminated;
            if (t) lastExit = t.exitCode;
            if (type === 'DELETED') resolve();
          },
          (err) => {
            if (err) reject(err);
            else if (!stopped) watch();
          },
        )
        .then((a) => {
          abort = a;
        }, reject);
    watch();
  });
  // Aborting the watch below may end it with an error nobody waits for any more.
  gone.catch(() => {});
  await kubeJSON(kc, { method: 'DELETE', path: `${podsPath}/${pod.metadata.name}` });
  try {
    await Promise.race([
      gone,
      new Promise((_, reject) =>
        setTimeout(() => {
          const state = { deletionTimestamp: last.metadata.deletionTimestamp, phase: last.status?.phase, containers: last.status?.containerStatuses };
          reject(new Error(`operator pod ${pod.metadata.name} still there after ${timeoutMs / 1000} s; last seen: ${JSON.stringify(state)}`));
        }, timeoutMs),
      ),
    ]);
  } finally {
    stopped = true;
    abort?.abort();
  }
  return lastExit;
}
