// The operator's kubeconfig. client-node's KubeConfig module imports its whole generated
// API (every typed client and model) for makeApiClient, which the operator never calls:
// about 60 MiB of RSS and half a second of start-up. This loader keeps client-node's own
// parts that matter (config_types parses and checks clusters, users and contexts;
// ExecAuth runs credential plugins and caches their tokens; FileAuth re-reads a token
// file) and does the rest KubeConfig does around them: which file, merging KUBECONFIG,
// the current context, TLS material, the Authorization header.
// Differences, on purpose: merged KUBECONFIG files follow kubectl (the first file to set
// a name or current-context wins) instead of throwing on a duplicate; auth providers
// (azure, gcp, oidc; removed from kubectl in 1.26) and proxy-url are refused at load
// time with the field named, rather than half-supported.
import { readFileSync, statSync } from 'node:fs';
import type http from 'node:http';
import type https from 'node:https';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { type Cluster, type Context, newClusters, newContexts, newUsers, type User } from '@kubernetes/client-node/dist/config_types.js';
import { ExecAuth } from '@kubernetes/client-node/dist/exec_auth.js';
import { FileAuth } from '@kubernetes/client-node/dist/file_auth.js';
import { parse } from 'yaml';
import type { KubeClient } from './kube-http.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface Loaded {
  clusters: Cluster[];
  users: User[];
  contexts: Context[];
  currentContext?: string;
}

/** TLS files are read again at most this often, so a rotated certificate is picked up. */
const FILE_TTL_MS = 60_000;

export class OperatorKubeConfig implements KubeClient {
  private readonly exec = new ExecAuth();
  private readonly file = new FileAuth();
  private readonly files = new Map<string, { at: number; data: Buffer }>();
  private readonly cluster: Cluster;
  private readonly user: User;
  private readonly context: Context;

  private constructor(
    private readonly loaded: Loaded,
    /** Where the configuration came from, for error messages. */
    readonly source: string,
  ) {
    const context = loaded.contexts.find((c) => c.name === loaded.currentContext);
    if (!context) throw new Error(`${source}: current-context ${JSON.stringify(loaded.currentContext ?? '')} is not among its contexts`);
    const cluster = loaded.clusters.find((c) => c.name === context.cluster);
    if (!cluster) throw new Error(`${source}: context "${context.name}" names cluster "${context.cluster}", which is not defined`);
    const user = loaded.users.find((u) => u.name === context.user) ?? { name: context.user };
    if (cluster.proxyUrl) throw new Error(`${source}: clusters[${cluster.name}].proxy-url is not supported by tikv-operator`);
    if (user.authProvider && !this.exec.isAuthProvider(user) && !this.file.isAuthProvider(user)) {
      throw new Error(
        `${source}: users[${user.name}].auth-provider "${user.authProvider.name}" is not supported by tikv-operator; use an exec credential plugin (kubectl removed auth providers in 1.26)`,
      );
    }
    this.context = context;
    this.cluster = cluster;
    this.user = user;
  }

  /** One kubeconfig file; relative certificate paths are taken from its directory. */
  static fromFile(path: string): OperatorKubeConfig {
    return new OperatorKubeConfig(readKubeconfig(path), path);
  }

  /** `KUBECONFIG` (a list, merged as kubectl merges it), else `~/.kube/config`. */
  static fromDefault(env: NodeJS.ProcessEnv = process.env, home = env.HOME ?? homedir()): OperatorKubeConfig {
    const files = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
    if (files.length) {
      const merged: Loaded = { clusters: [], users: [], contexts: [] };
      for (const file of files) {
        const one = readKubeconfig(file);
        merged.currentContext ||= one.currentContext;
        for (const key of ['clusters', 'users', 'contexts'] as const) {
          for (const item of one[key]) if (!merged[key].some((x) => x.name === item.name)) (merged[key] as Array<typeof item>).push(item);
        }
      }
      return new OperatorKubeConfig(merged, `KUBECONFIG=${env.KUBECONFIG}`);
    }
    const path = join(home, '.kube', 'config');
    if (!exists(path)) throw new Error(`no kubeconfig: ${path} does not exist; set KUBECONFIG or --kubeconfig`);
    return OperatorKubeConfig.fromFile(path);
  }

  /** The pod's service account, as client-go's rest.InClusterConfig reads it. */
  static inCluster(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): OperatorKubeConfig {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT;
    if (!host || !port) throw new Error('not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set');
    const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
    return new OperatorKubeConfig(
      {
        clusters: [{ name: 'inCluster', server, caFile: join(dir, 'ca.crt'), skipTLSVerify: false }],
        users: [{ name: 'inClusterUser', authProvider: { name: 'tokenFile', config: { tokenFile: join(dir, 'token') } } }],
        contexts: [{ name: 'inClusterContext', cluster: 'inCluster', user: 'inClusterUser' }],
        currentContext: 'inClusterContext',
      },
      `the service account in ${dir}`,
    );
  }

  getCurrentCluster(): Cluster {
    return this.cluster;
  }

  getCurrentUser(): User {
    return this.user;
  }

  getCurrentContext(): string {
    return this.context.name;
  }

  /** The namespace the current context names, if any (what kubectl uses without -n). */
  contextNamespace(): string | undefined {
    return this.context.namespace || undefined;
  }

  /** The same configuration with another current context (kubectl's --context). */
  inContext(name: string): OperatorKubeConfig {
    return new OperatorKubeConfig({ ...this.loaded, currentContext: name }, this.source);
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const { cluster, user } = this;
    if (cluster.skipTLSVerify) opts.rejectUnauthorized = false;
    if (cluster.tlsServerName) opts.servername = cluster.tlsServerName;
    const ca = this.material(cluster.caFile, cluster.caData);
    if (ca) opts.ca = ca;
    const cert = this.material(user.certFile, user.certData);
    if (cert) opts.cert = cert;
    const key = this.material(user.keyFile, user.keyData);
    if (key) opts.key = key;
    opts.headers ??= {};
    const headers = opts.headers as http.OutgoingHttpHeaders;
    if (user.impersonateUser) headers['Impersonate-User'] = user.impersonateUser;
    if (this.exec.isAuthProvider(user)) await this.exec.applyAuthentication(user, opts);
    else if (this.file.isAuthProvider(user)) await this.file.applyAuthentication(user, opts);
    if (user.token) headers.Authorization = `Bearer ${user.token}`;
    if (user.username) opts.auth = `${user.username}:${user.password ?? ''}`;
  }

  private material(file: string | undefined, data: string | undefined): Buffer | undefined {
    if (file) {
      const cached = this.files.get(file);
      if (cached && Date.now() - cached.at < FILE_TTL_MS) return cached.data;
      const read = readFileSync(file);
      this.files.set(file, { at: Date.now(), data: read });
      return read;
    }
    return data ? Buffer.from(data, 'base64') : undefined;
  }
}

function readKubeconfig(path: string): Loaded {
  let doc: Record<string, unknown>;
  try {
    doc = (parse(readFileSync(path, 'utf8')) ?? {}) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  try {
    const loaded: Loaded = {
      clusters: newClusters(doc.clusters),
      users: newUsers(doc.users),
      contexts: newContexts(doc.contexts),
      currentContext: typeof doc['current-context'] === 'string' ? doc['current-context'] : undefined,
    };
    const root = dirname(path);
    const absolute = (file: string | undefined) => (file && !isAbsolute(file) ? join(root, file) : file);
    for (const c of loaded.clusters) c.caFile = absolute(c.caFile);
    for (const u of loaded.users) {
      u.certFile = absolute(u.certFile);
      u.keyFile = absolute(u.keyFile);
    }
    return loaded;
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

function exists(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
