// Which PD a TikvCluster has, and how this process reaches it: the client Service's DNS name
// in a pod, the API server's service proxy outside one, or a URL template (tests, the
// playground, a port-forward).
import { names, PD_PORTS } from '../../api/names.js';
import type { ClusterRef } from '../ref.js';
import type { KubeClient } from '../runtime/kube-http.js';
import { type PDClient, pdClient } from './client.js';
import type { PDClientOptions } from './http.js';
import { directTransport, serviceProxyTransport } from './transport.js';
import type { PDWrites } from './writes.js';

/** Gives the PD client of one TikvCluster. Tests replace it to point at their own PD. */
export type PDResolver = (cluster: ClusterRef) => PDClient;

/** `dns`: the client Service's in-cluster name; `proxy`: the API server's service proxy. */
export type PDAccess = 'dns' | 'proxy';

export const PD_URL_TEMPLATE_ENV = 'TIKV_OPERATOR_PD_URL_TEMPLATE';
export const PD_ACCESS_ENV = 'TIKV_OPERATOR_PD_ACCESS';

export interface PDResolverOptions extends PDClientOptions {
  /** Needed for `proxy` access. */
  kubeConfig?: KubeClient;
  /** Defaults to process.env; read once, when the resolver is created. */
  env?: Record<string, string | undefined>;
  /** Overrides TIKV_OPERATOR_PD_ACCESS and the in-cluster detection. */
  access?: PDAccess;
  /** Overrides TIKV_OPERATOR_PD_URL_TEMPLATE. */
  urlTemplate?: string;
}

/** `{name}` and `{namespace}` in the template are replaced, e.g. `http://{name}-pd.{namespace}:2379`. */
export function pdURLFromTemplate(template: string, cluster: ClusterRef): string {
  return template.replaceAll('{name}', cluster.name).replaceAll('{namespace}', cluster.namespace);
}

/** The client Service's cluster DNS name. */
export function inClusterPDURL(cluster: ClusterRef): string {
  return `http://${names(cluster.name).pdClientService}.${cluster.namespace}.svc:${PD_PORTS.client}`;
}

/**
 * How this process reaches PD: an explicit choice, else TIKV_OPERATOR_PD_ACCESS, else the
 * pod network when running in a pod (KUBERNETES_SERVICE_HOST set), else the service proxy.
 */
export function choosePDAccess(env: Record<string, string | undefined>, explicit?: PDAccess): PDAccess {
  if (explicit) return explicit;
  const fromEnv = env[PD_ACCESS_ENV]?.trim();
  if (fromEnv === 'dns' || fromEnv === 'proxy') return fromEnv;
  if (fromEnv) throw new Error(`${PD_ACCESS_ENV} must be "dns" or "proxy", not "${fromEnv}"`);
  return env.KUBERNETES_SERVICE_HOST ? 'dns' : 'proxy';
}

/**
 * The operator's PD resolver. A URL template (option or TIKV_OPERATOR_PD_URL_TEMPLATE) wins
 * over everything: that is how integration tests point the operator at their loopback PD.
 */
export function createPDResolver(options: PDResolverOptions = {}): PDResolver {
  const env = options.env ?? process.env;
  const clientOptions: PDClientOptions = { timeoutMs: options.timeoutMs, onRequest: options.onRequest };
  const template = options.urlTemplate ?? env[PD_URL_TEMPLATE_ENV]?.trim();
  if (template) return (cluster) => pdClient(directTransport(pdURLFromTemplate(template, cluster)), clientOptions);
  if (choosePDAccess(env, options.access) === 'dns') return (cluster) => pdClient(directTransport(inClusterPDURL(cluster)), clientOptions);
  const kc = options.kubeConfig;
  if (!kc) throw new Error('reaching PD through the API server service proxy needs a kubeConfig');
  return (cluster) => pdClient(serviceProxyTransport(kc, cluster.namespace, names(cluster.name).pdClientService, PD_PORTS.client), clientOptions);
}

/** PD's writes for any cluster, the cluster as each call's first argument (what the reconcile's writes object holds). */
export type ClusterPDWrites = { [K in keyof PDWrites]: (cluster: ClusterRef, ...args: Parameters<PDWrites[K]>) => ReturnType<PDWrites[K]> };

export function clusterPDWrites(resolve: PDResolver): ClusterPDWrites {
  const of = (cluster: ClusterRef) => resolve(cluster).writes;
  return {
    deleteStore: (cluster, id) => of(cluster).deleteStore(id),
    cancelStoreRemoval: (cluster, id) => of(cluster).cancelStoreRemoval(id),
    deleteMember: (cluster, name) => of(cluster).deleteMember(name),
    transferLeader: (cluster, name) => of(cluster).transferLeader(name),
    evictLeader: (cluster, id) => of(cluster).evictLeader(id),
    removeEvictLeader: (cluster, id) => of(cluster).removeEvictLeader(id),
  };
}
