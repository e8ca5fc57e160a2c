// The two ways the operator reaches PD: straight to the client Service (in the cluster, or a
// test's loopback PD), or through the API server's service proxy (npm start on a laptop).
import http from 'node:http';
import https from 'node:https';
import { type KubeClient, kubeRequestOptions } from '../runtime/kube-http.js';
import { USER_AGENT } from '../runtime/user-agent.js';
import type { PDRequestInit, PDTransport } from './client.js';
import { PDError } from './json.js';

interface Target {
  url: URL;
  /** Where the request went, for error messages (never includes credentials). */
  describe: string;
  options: https.RequestOptions;
}

/** One request with a deadline covering connect, headers and body. */
function sendOnce(target: Target, path: string, init: PDRequestInit): Promise<{ status: number; body: string }> {
  const errorOf = (kind: 'Timeout' | 'Network', detail: string, cause?: unknown) =>
    new PDError({ kind, status: 0, method: init.method, path, detail }, { cause });
  const timeoutError = () => errorOf('Timeout', `no answer from ${target.describe} within ${init.timeoutMs} ms`);
  const request = target.url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const fail = (what: string) => (e: Error) => {
      clearTimeout(timer);
      reject(timedOut ? timeoutError() : e instanceof PDError ? e : errorOf('Network', `${what} ${target.describe}: ${e.message}`, e));
    };
    const req = request(target.url, { ...target.options, method: init.method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', fail('reading the answer from'));
    });
    const timer = setTimeout(() => {
      timedOut = true;
      req.destroy(timeoutError());
    }, init.timeoutMs);
    req.on('error', fail('cannot reach'));
    if (init.body !== undefined) {
      req.setHeader('Content-Type', 'application/json');
      req.end(init.body);
    } else {
      req.end();
    }
  });
}

const joinPath = (base: string, path: string) => `${base.replace(/\/+$/, '')}${path.startsWith('/') ? path : `/${path}`}`;

/** Talks to PD at `baseURL` (e.g. `http://basic-pd.ns.svc:2379`) over the network. */
export function directTransport(baseURL: string): PDTransport {
  const base = new URL(baseURL);
  return (path, init) => {
    const url = new URL(base.href);
    const [pathname, query] = splitQuery(path);
    url.pathname = joinPath(base.pathname, pathname);
    url.search = query;
    return sendOnce({ url, describe: `PD at ${base.origin}`, options: { headers: { Accept: 'application/json', 'User-Agent': USER_AGENT } } }, path, init);
  };
}

const splitQuery = (path: string): [string, string] => {
  const i = path.indexOf('?');
  return i < 0 ? [path, ''] : [path.slice(0, i), path.slice(i)];
};

/**
 * The raw service-proxy path. Built by hand because the typed connectGet…ProxyWithPath call
 * %-encodes the path, turning `?state=2` into `%3Fstate=2` (typescript-stack.md §1.7).
 */
export function serviceProxyPath(namespace: string, service: string, port: number | string, path: string): string {
  const rest = path.startsWith('/') ? path : `/${path}`;
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(service)}:${port}/proxy${rest}`;
}

/**
 * Talks to PD through the API server: GET <server>/api/v1/namespaces/<ns>/services/<svc>:<port>/proxy/<path>,
 * authenticated like every other client-node call. Needs RBAC `get` on `services/proxy`.
 */
export function serviceProxyTransport(kc: KubeClient, namespace: string, service: string, port: number | string): PDTransport {
  return async (path, init) => {
    const cluster = kc.getCurrentCluster();
    if (!cluster) {
      throw new PDError({ kind: 'Network', status: 0, method: init.method, path, detail: 'the kubeconfig has no current cluster' });
    }
    const [pathname, query] = splitQuery(serviceProxyPath(namespace, service, port, path));
    // Credentials are applied per request (tokens rotate: service-account files, exec
    // plugins); the connection comes from the API server requests' keep-alive pool.
    const { url, options } = await kubeRequestOptions(kc, pathname);
    url.search = query;
    const describe = `the API server's proxy to service ${namespace}/${service}:${port} (${url.origin})`;
    return sendOnce({ url, describe, options }, path, init);
  };
}
