// The two ways the operator reaches PD: straight to the client Service (in the cluster, or a
// test's loopback PD), or through the API server's service proxy (npm start on a laptop).
// The proxy is an API server request like any other, so it goes through the runtime's one
// request path (kubeOpen: credentials per request, the keep-alive pool, the User-Agent).
import http from 'node:http';
import https from 'node:https';
import { type KubeClient, kubeOpen, readBody } from '../runtime/kube-http.js';
import { USER_AGENT } from '../runtime/user-agent.js';
import { PDError } from './json.js';

export interface PDRequestInit {
  method: string;
  timeoutMs: number;
  /** JSON request body, for the writes. */
  body?: string;
}

/**
 * Sends one request to PD. `path` starts with `/pd/api/...` and may carry a query. Resolves
 * with any HTTP answer (including non-2xx); rejects with a PDError of kind `Timeout` or
 * `Network` when no answer arrives.
 */
export type PDTransport = (path: string, init: PDRequestInit) => Promise<{ status: number; body: string }>;

type Answer = { status: number; body: string };

/**
 * One request with a deadline covering connect, headers and body. `open` sends it (and
 * must honour the signal); `describe` says where it went, for error messages (never
 * credentials).
 */
async function withDeadline(path: string, init: PDRequestInit, describe: string, open: (signal: AbortSignal) => Promise<http.IncomingMessage>): Promise<Answer> {
  const errorOf = (kind: 'Timeout' | 'Network', detail: string, cause?: unknown) => new PDError({ kind, status: 0, method: init.method, path, detail }, { cause });
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), init.timeoutMs);
  let what = 'cannot reach';
  try {
    const res = await open(abort.signal);
    what = 'reading the answer from';
    return { status: res.statusCode ?? 0, body: await readBody(res) };
  } catch (e) {
    if (e instanceof PDError) throw e;
    if (abort.signal.aborted) throw errorOf('Timeout', `no answer from ${describe} within ${init.timeoutMs} ms`);
    throw errorOf('Network', `${what} ${describe}: ${(e as Error).message}`, e);
  } finally {
    clearTimeout(timer);
  }
}

const joinPath = (base: string, path: string) => `${base.replace(/\/+$/, '')}${path.startsWith('/') ? path : `/${path}`}`;

const splitQuery = (path: string): [string, string] => {
  const i = path.indexOf('?');
  return i < 0 ? [path, ''] : [path.slice(0, i), path.slice(i)];
};

/** Talks to PD at `baseURL` (e.g. `http://basic-pd.ns.svc:2379`) over the network. */
export function directTransport(baseURL: string): PDTransport {
  const base = new URL(baseURL);
  const request = base.protocol === 'https:' ? https.request : http.request;
  const describe = `PD at ${base.origin}`;
  return (path, init) => {
    const url = new URL(base.href);
    const [pathname, query] = splitQuery(path);
    url.pathname = joinPath(base.pathname, pathname);
    url.search = query;
    const headers: http.OutgoingHttpHeaders = { Accept: 'application/json', 'User-Agent': USER_AGENT };
    if (init.body !== undefined) headers['Content-Type'] = 'application/json';
    return withDeadline(path, init, describe, (signal) => {
      return new Promise((resolve, reject) => {
        const req = request(url, { method: init.method, headers, signal }, resolve);
        req.on('error', reject);
        req.end(init.body);
      });
    });
  };
}

/**
 * The raw service-proxy path. Built by hand because client-node's typed
 * connectGet…ProxyWithPath %-encodes the path, turning `?state=2` into `%3Fstate=2`.
 */
export function serviceProxyPath(namespace: string, service: string, port: number | string, path: string): string {
  const rest = path.startsWith('/') ? path : `/${path}`;
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(service)}:${port}/proxy${rest}`;
}

/**
 * Talks to PD through the API server: <server>/api/v1/namespaces/<ns>/services/<svc>:<port>/proxy/<path>,
 * authenticated like every other API server request. Needs RBAC `get` on `services/proxy`.
 */
export function serviceProxyTransport(kc: KubeClient, namespace: string, service: string, port: number | string): PDTransport {
  return (path, init) => {
    const cluster = kc.getCurrentCluster();
    if (!cluster) {
      return Promise.reject(new PDError({ kind: 'Network', status: 0, method: init.method, path, detail: 'the kubeconfig has no current cluster' }));
    }
    const describe = `the API server's proxy to service ${namespace}/${service}:${port} (${new URL(cluster.server).origin})`;
    return withDeadline(path, init, describe, (signal) => kubeOpen(kc, init.method, serviceProxyPath(namespace, service, port, path), {}, { signal, body: init.body }));
  };
}
