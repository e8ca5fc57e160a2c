// Kubeconfigs for the test control plane: the admin one written at startup, and
// token-based ones for restricted users (e.g. the operator's own ServiceAccount, so the
// integration tests exercise the project's real RBAC manifests).
import { writeFileSync } from 'node:fs';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';

export interface ClusterAccess {
  server: string;
  /** CA bundle that verifies the apiserver's serving certificate. */
  caFile: string;
}

const CLUSTER = 'testenv';

/** A kubeconfig document for one bearer-token user. */
export function kubeconfigYaml(access: ClusterAccess, user: string, token: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: CLUSTER, cluster: { server: access.server, 'certificate-authority': access.caFile } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: `${user}@${CLUSTER}`, context: { cluster: CLUSTER, user } }],
    'current-context': `${user}@${CLUSTER}`,
  });
}

/** The cluster coordinates of an existing (e.g. the admin) KubeConfig. */
export function clusterAccessOf(kc: KubeConfig): ClusterAccess {
  const cluster = kc.getCurrentCluster();
  if (!cluster?.caFile) throw new Error('the kubeconfig has no current cluster with a certificate-authority file');
  return { server: cluster.server, caFile: cluster.caFile };
}

/** A KubeConfig for the same cluster as `admin`, authenticating with `token`. */
export function kubeconfigFor(admin: KubeConfig, token: string, user = 'restricted'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfigYaml(clusterAccessOf(admin), user, token));
  return kc;
}

export interface ServiceAccountKubeconfig {
  kc: KubeConfig;
  token: string;
  /** The kubeconfig as a file, for running the operator as a separate process. */
  kubeconfigPath: string;
  /** `system:serviceaccount:<namespace>:<name>`, as RBAC and the audit log name it. */
  username: string;
}

/**
 * Creates the ServiceAccount if needed, requests a token for it (TokenRequest API) and
 * returns a kubeconfig that acts as it. The file is written to `path`.
 */
export async function createServiceAccountKubeconfig(
  admin: KubeConfig,
  namespace: string,
  name: string,
  path: string,
  expirationSeconds = 2 * 3600,
): Promise<ServiceAccountKubeconfig> {
  const core = admin.makeApiClient(CoreV1Api);
  try {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  } catch (e) {
    if ((e as { code?: number }).code !== 409) throw e;
  }
  const tr = await core.createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { spec: { audiences: [], expirationSeconds } },
  });
  const token = tr.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  const username = `system:serviceaccount:${namespace}:${name}`;
  const yaml = kubeconfigYaml(clusterAccessOf(admin), username, token);
  writeFileSync(path, yaml, { mode: 0o600 });
  const kc = new KubeConfig();
  kc.loadFromString(yaml);
  return { kc, token, kubeconfigPath: path, username };
}
