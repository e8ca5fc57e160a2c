import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { OperatorKubeConfig } from '../../../src/controller/runtime/kubeconfig.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** What a request would carry, minus the agent client-node makes per call. */
async function applied(kc: { applyToHTTPSOptions(o: https.RequestOptions): Promise<void> }) {
  const opts: https.RequestOptions = { headers: {} };
  await kc.applyToHTTPSOptions(opts);
  const { agent: _, ...rest } = opts;
  return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined && v !== null));
}

describe('OperatorKubeConfig', () => {
  let dir: string;
  const write = (name: string, doc: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof doc === 'string' ? doc : stringify(doc));
    return path;
  };
  const kubeconfig = (server: string, user: Record<string, unknown>, cluster: Record<string, unknown> = {}, name = 'c') => ({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': name,
    clusters: [{ name, cluster: { server, ...cluster } }],
    users: [{ name, user }],
    contexts: [{ name, context: { cluster: name, user: name } }],
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kubeconfig-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['a token and inline CA', { token: 'tok' }, { 'certificate-authority-data': b64('CA') }],
    ['an inline client certificate', { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') }, { 'certificate-authority-data': b64('CA') }],
    ['files relative to the kubeconfig', { 'client-certificate': 'certs/c.crt', 'client-key': 'certs/c.key' }, { 'certificate-authority': 'certs/ca.crt' }],
    ['skipped TLS verification and a server name', { token: 't' }, { 'insecure-skip-tls-verify': true, 'tls-server-name': 'api.internal' }],
    ['basic auth and impersonation', { username: 'u', password: 'p', as: 'someone' }, {}],
  ])('sends what client-node would for %s', async (_, user, cluster) => {
    mkdirSync(join(dir, 'certs'));
    for (const f of ['c.crt', 'c.key', 'ca.crt']) writeFileSync(join(dir, 'certs', f), `file ${f}`);
    const path = write('config', kubeconfig('https://127.0.0.1:6443', user, cluster));
    const reference = new KubeConfig();
    reference.loadFromFile(path);
    const ours = OperatorKubeConfig.fromFile(path);
    expect(await applied(ours)).toEqual(await applied(reference));
    expect(ours.getCurrentCluster().server).toBe('https://127.0.0.1:6443');
  });

  it('runs an exec credential plugin and caches its token until it expires', async () => {
    const counter = join(dir, 'calls');
    const plugin = write(
      'plugin.sh',
      `#!/bin/sh\necho x >> ${counter}\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-plugin","expirationTimestamp":"2999-01-01T00:00:00Z"}}'\n`,
    );
    chmodSync(plugin, 0o755);
    const path = write('config', kubeconfig('https://k:6443', { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, args: [] } }));
    const kc = OperatorKubeConfig.fromFile(path);
    expect((await applied(kc)).headers).toEqual({ Authorization: 'Bearer from-plugin' });
    await applied(kc);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(counter, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('merges a KUBECONFIG list as kubectl does: the first file to set a name or the current context wins', async () => {
    const first = write('a', { ...kubeconfig('https://first:6443', { token: 'first' }, {}, 'shared') });
    const second = write('b', {
      ...kubeconfig('https://second:6443', { token: 'second' }, {}, 'shared'),
      'current-context': 'other',
      contexts: [{ name: 'other', context: { cluster: 'shared', user: 'shared' } }],
    });
    const kc = OperatorKubeConfig.fromDefault({ KUBECONFIG: `${first}:${second}` });
    expect(kc.getCurrentContext()).toBe('shared');
    expect(kc.getCurrentCluster().server).toBe('https://first:6443');
    expect((await applied(kc)).headers).toEqual({ Authorization: 'Bearer first' });
  });

  it('falls back to ~/.kube/config, and says so when there is none', () => {
    expect(() => OperatorKubeConfig.fromDefault({}, dir)).toThrow(`no kubeconfig: ${join(dir, '.kube', 'config')} does not exist`);
    mkdirSync(join(dir, '.kube'));
    write('.kube/config', kubeconfig('https://home:6443', { token: 't' }));
    expect(OperatorKubeConfig.fromDefault({}, dir).getCurrentCluster().server).toBe('https://home:6443');
  });

  it('reads the service account in a pod: its CA file and token file, an IPv6 host in brackets', async () => {
    writeFileSync(join(dir, 'ca.crt'), 'CA');
    writeFileSync(join(dir, 'token'), 'token-1');
    const kc = OperatorKubeConfig.inCluster({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, dir);
    expect(kc.getCurrentCluster().server).toBe('https://[fd00::1]:443');
    const opts = await applied(kc);
    expect(opts.headers).toEqual({ Authorization: 'Bearer token-1' });
    expect(String(opts.ca)).toBe('CA');
    expect(() => OperatorKubeConfig.inCluster({}, dir)).toThrow(/KUBERNETES_SERVICE_HOST/);
  });

  it.each([
    ['an auth provider', kubeconfig('https://k', { 'auth-provider': { name: 'gcp', config: {} } }), /users\[c\]\.auth-provider "gcp" is not supported/],
    ['a proxy', kubeconfig('https://k', { token: 't' }, { 'proxy-url': 'http://proxy:3128' }), /clusters\[c\]\.proxy-url is not supported/],
    ['a missing context', { ...kubeconfig('https://k', { token: 't' }), 'current-context': 'nope' }, /current-context "nope" is not among its contexts/],
    ['a cluster without a server', { ...kubeconfig('https://k', {}), clusters: [{ name: 'c', cluster: {} }] }, /clusters\[0\]\.cluster\.server is missing/],
    ['YAML that does not parse', 'clusters: [', /config: /],
  ])('refuses %s, naming the file and the field', (_, doc, message) => {
    const path = write('config', doc);
    expect(() => OperatorKubeConfig.fromFile(path)).toThrow(message);
    expect(() => OperatorKubeConfig.fromFile(path)).toThrow(path);
  });
});
