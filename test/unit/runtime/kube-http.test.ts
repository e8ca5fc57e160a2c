import type { Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kubeJSON } from '../../../src/controller/kube/raw.js';
import { USER_AGENT } from '../../../src/controller/runtime/user-agent.js';
import { sendJSON, StubApiServer } from './stub-apiserver.js';

describe('requests to the API server', () => {
  let server: StubApiServer;

  beforeEach(async () => {
    server = new StubApiServer();
    server.route('GET', /^\/api\/v1\/namespaces\/ns\/configmaps\/c$/, (_req, res) => sendJSON(res, 200, { metadata: { name: 'c' } }));
    await server.start();
  });
  afterEach(() => server.close());

  it('reuse one kept-alive connection instead of a new one per request', async () => {
    const kc = server.kubeConfig();
    for (let i = 0; i < 5; i++) await kubeJSON(kc, { method: 'GET', path: '/api/v1/namespaces/ns/configmaps/c' });
    expect(server.requests).toHaveLength(5);
    expect(server.connections).toBe(1);
  });

  it('name the operator and its version in the User-Agent', async () => {
    await kubeJSON(server.kubeConfig(), { method: 'GET', path: '/api/v1/namespaces/ns/configmaps/c' });
    expect(server.requests[0]?.userAgent).toBe(USER_AGENT);
    expect(USER_AGENT).toMatch(/^tikv-operator\/0\.\d+\.\d+ \(linux\/\w+\) node\/v\d+/);
  });

  it('send a request again on a fresh connection when the server closed the reused one', async () => {
    // The second request on a connection finds it closed, as when the server's idle
    // timeout fires just as the client reuses the socket.
    const served = new WeakMap<Socket, number>();
    server.route('GET', /^\/api\/v1\/namespaces\/ns\/configmaps\/flaky$/, (req, res) => {
      const n = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, n);
      if (n > 1) req.socket.destroy();
      else sendJSON(res, 200, { n });
    });
    const kc = server.kubeConfig();
    const get = () => kubeJSON(kc, { method: 'GET', path: '/api/v1/namespaces/ns/configmaps/flaky' });
    await expect(get()).resolves.toEqual({ n: 1 });
    await expect(get()).resolves.toEqual({ n: 1 });
    expect(server.connections).toBe(2);
  });
});
