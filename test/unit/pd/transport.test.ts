import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { directTransport, serviceProxyPath, serviceProxyTransport } from '../../../src/controller/pd/client.js';
import { PDError } from '../../../src/controller/pd/json.js';
import { choosePDAccess, createPDResolver, inClusterPDURL, pdURLFromTemplate } from '../../../src/controller/pd/resolve.js';
import { USER_AGENT } from '../../../src/controller/runtime/user-agent.js';

interface Seen {
  method?: string;
  url?: string;
  authorization?: string;
}

const servers: http.Server[] = [];

/** A loopback server recording requests; `answer` false leaves every request hanging. */
async function stubServer(answer: boolean, status = 200, body = '[]'): Promise<{ base: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization });
    if (answer) res.writeHead(status, { 'Content-Type': 'application/json' }).end(body);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

function kubeConfigFor(server: string, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u', token }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kc;
}

describe('directTransport', () => {
  it('sends the path and query unchanged and returns status and body text', async () => {
    const { base, seen } = await stubServer(true, 500, '"not bootstrapped"');
    const res = await directTransport(base)('/pd/api/v1/stores?state=0&state=1&state=2', { method: 'GET', timeoutMs: 2000 });
    expect(res).toEqual({ status: 500, body: '"not bootstrapped"' });
    expect(seen).toEqual([{ method: 'GET', url: '/pd/api/v1/stores?state=0&state=1&state=2', authorization: undefined }]);
  });

  it('fails with a Timeout PDError when the server never answers', async () => {
    const { base, seen } = await stubServer(false);
    const err = await directTransport(base)('/pd/api/v1/health', { method: 'GET', timeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PDError);
    expect((err as PDError).kind).toBe('Timeout');
    expect((err as PDError).status).toBe(0);
    expect(seen).toHaveLength(1);
  });

  it('fails with a Network PDError when nothing listens', async () => {
    const { base } = await stubServer(true);
    for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
    const err = await directTransport(base)('/pd/api/v1/health', { method: 'GET', timeoutMs: 2000 }).catch((e: unknown) => e);
    expect((err as PDError).kind).toBe('Network');
    expect((err as PDError).message).toContain('ECONNREFUSED');
  });
});

describe('serviceProxyTransport', () => {
  it('builds the raw proxy path with the query intact', () => {
    expect(serviceProxyPath('ns', 'basic-pd', 2379, '/pd/api/v1/stores?state=0&state=1&state=2')).toBe(
      '/api/v1/namespaces/ns/services/basic-pd:2379/proxy/pd/api/v1/stores?state=0&state=1&state=2',
    );
  });

  it('sends the raw path and the bearer token to the API server', async () => {
    const { base, seen } = await stubServer(true, 200, '[{"name":"basic-pd-0","member_id":1,"health":true}]');
    const transport = serviceProxyTransport(kubeConfigFor(base, 'secret-token'), 'ns', 'basic-pd', 2379);
    const res = await transport('/pd/api/v1/stores?state=0&state=1&state=2', { method: 'GET', timeoutMs: 2000 });
    expect(res.status).toBe(200);
    expect(seen).toEqual([
      {
        method: 'GET',
        url: '/api/v1/namespaces/ns/services/basic-pd:2379/proxy/pd/api/v1/stores?state=0&state=1&state=2',
        authorization: 'Bearer secret-token',
      },
    ]);
  });

  it('keeps a path prefix of the API server URL', async () => {
    const { base, seen } = await stubServer(true);
    await serviceProxyTransport(kubeConfigFor(`${base}/k8s/clusters/c-1/`, 't'), 'ns', 'basic-pd', 2379)('/pd/api/v1/health', {
      method: 'GET',
      timeoutMs: 2000,
    });
    expect(seen[0]?.url).toBe('/k8s/clusters/c-1/api/v1/namespaces/ns/services/basic-pd:2379/proxy/pd/api/v1/health');
  });

  it('times out like the direct transport', async () => {
    const { base } = await stubServer(false);
    const transport = serviceProxyTransport(kubeConfigFor(base, 't'), 'ns', 'basic-pd', 2379);
    const err = await transport('/pd/api/v1/health', { method: 'GET', timeoutMs: 200 }).catch((e: unknown) => e);
    expect((err as PDError).kind).toBe('Timeout');
  });
});

describe('both transports', () => {
  it('name the operator and its version in the User-Agent, and reuse connections', async () => {
    const agents: Array<string | undefined> = [];
    let connections = 0;
    const server = http.createServer((req, res) => {
      agents.push(req.headers['user-agent']);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('[]');
    });
    server.on('connection', () => connections++);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const direct = directTransport(base);
    const proxied = serviceProxyTransport(kubeConfigFor(base, 't'), 'ns', 'basic-pd', 2379);
    for (const send of [direct, direct, proxied, proxied]) await send('/pd/api/v1/health', { method: 'GET', timeoutMs: 2000 });
    expect(agents).toEqual(Array(4).fill(USER_AGENT));
    expect(connections).toBe(2);
  });
});

describe('PD resolver', () => {
  const cluster = { name: 'basic', namespace: 'ns' };

  it('fills the URL template', () => {
    expect(pdURLFromTemplate('http://{name}-pd.{namespace}:2379', cluster)).toBe('http://basic-pd.ns:2379');
    expect(inClusterPDURL(cluster)).toBe('http://basic-pd.ns.svc:2379');
  });

  it('uses the pod network in a pod unless told otherwise', () => {
    expect(choosePDAccess({ KUBERNETES_SERVICE_HOST: '10.96.0.1' })).toBe('dns');
    expect(choosePDAccess({})).toBe('proxy');
    expect(choosePDAccess({ KUBERNETES_SERVICE_HOST: '10.96.0.1', TIKV_OPERATOR_PD_ACCESS: 'proxy' })).toBe('proxy');
    expect(choosePDAccess({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, 'proxy')).toBe('proxy');
    expect(() => choosePDAccess({ TIKV_OPERATOR_PD_ACCESS: 'port-forward' })).toThrow(/dns.*proxy/);
  });

  it('points every cluster at the URL template from the environment', async () => {
    const { base, seen } = await stubServer(true, 200, '[]');
    const resolve = createPDResolver({ env: { TIKV_OPERATOR_PD_URL_TEMPLATE: base, KUBERNETES_SERVICE_HOST: '10.96.0.1' } });
    expect(await resolve(cluster).reads.health()).toEqual([]);
    expect(seen.map((s) => s.url)).toEqual(['/pd/api/v1/health']);
  });

  it('goes through the service proxy of the kubeconfig outside a pod', async () => {
    const { base, seen } = await stubServer(true, 200, '[]');
    const resolve = createPDResolver({ env: {}, kubeConfig: kubeConfigFor(base, 'tok') });
    await resolve(cluster).reads.health();
    expect(seen).toEqual([
      { method: 'GET', url: '/api/v1/namespaces/ns/services/basic-pd:2379/proxy/pd/api/v1/health', authorization: 'Bearer tok' },
    ]);
  });

  it('refuses proxy access without a kubeconfig', () => {
    expect(() => createPDResolver({ env: {} })).toThrow(/kubeConfig/);
  });
});
