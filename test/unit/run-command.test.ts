// `tikv-operator run`: the pieces of its start-up that decide what a person sees (log
// format, the start-up line) and which Lease it takes.
import { PassThrough } from 'node:stream';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { chooseLogFormat, createProcessLogger } from '../../src/controller/logger.js';
import { describePDAccess, leaseNamespace, normalizeArgs, startupLine } from '../../src/cli/run.js';
import { OperatorKubeConfig } from '../../src/controller/runtime/kubeconfig.js';

const kubeconfig = (context: string, server: string) => {
  const dir = mkdtempSync(join(tmpdir(), 'run-command-'));
  const file = join(dir, 'kubeconfig');
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: context, context: { cluster: 'c', user: 'u' } }],
      'current-context': context,
    }),
  );
  return OperatorKubeConfig.fromFile(file);
};

describe('log format', () => {
  it('is pretty on a terminal, JSON when piped or in a pod, and a flag or LOG_FORMAT wins', () => {
    expect(chooseLogFormat(undefined, {}, true)).toBe('pretty');
    expect(chooseLogFormat(undefined, {}, false)).toBe('json');
    expect(chooseLogFormat(undefined, { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, true)).toBe('json');
    expect(chooseLogFormat(undefined, { LOG_FORMAT: 'json' }, true)).toBe('json');
    expect(chooseLogFormat('pretty', { LOG_FORMAT: 'json' }, false)).toBe('pretty');
    expect(() => chooseLogFormat('colour', {}, true)).toThrow('log format must be one of auto, json, pretty, not "colour"');
  });

  it('pretty lines lead with the time, level and cluster key and keep the fields on the line', async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const log = await createProcessLogger({ level: 'info', format: 'pretty', destination: out, colorize: false });
    log.child({ controller: 'tikvcluster', key: 'default/basic' }).warn({ step: 'observe', error: 'connect ECONNREFUSED' }, 'PD is unreachable');
    const line = chunks.join('');
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: default\/basic PD is unreachable \{"step":"observe","error":"connect ECONNREFUSED"\}\n$/);
  });
});

describe('leader election Lease', () => {
  it('is in the operator namespace from a checkout and in the pod namespace in a cluster', () => {
    expect(leaseNamespace(undefined, {})).toBe('tikv-operator-system');
    expect(leaseNamespace(undefined, { POD_NAMESPACE: 'ops' })).toBe('ops');
    expect(leaseNamespace(undefined, { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, () => 'from-sa-file')).toBe('from-sa-file');
    // KUBECONFIG set inside a pod means "not this cluster's service account".
    expect(leaseNamespace(undefined, { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBECONFIG: '/k' }, () => 'from-sa-file')).toBe('tikv-operator-system');
    expect(leaseNamespace('mine', { POD_NAMESPACE: 'ops' })).toBe('mine');
  });

  it('is on by default; --leader-elect=false and --no-leader-elect turn it off', () => {
    expect(normalizeArgs(['--leader-elect=false', '--leader-elect=true', '--namespace=x'])).toEqual(['--no-leader-elect', '--leader-elect', '--namespace=x']);
    expect(() => normalizeArgs(['--leader-elect=yes'])).toThrow('--leader-elect takes true or false, not "yes"');
  });
});

describe('start-up line', () => {
  it('names the context, the namespace scope, how PD is reached and the Lease', () => {
    const line = startupLine({
      kc: kubeconfig('kind-tikv', 'https://127.0.0.1:6443'),
      inCluster: false,
      env: {},
      lease: { namespace: 'tikv-operator-system', name: 'tikv-operator-leader', identity: 'laptop_42' },
    });
    expect(line.message).toBe(
      "tikv-operator starting: context kind-tikv (https://127.0.0.1:6443); all namespaces; PD through the API server's service proxy; " +
        'Lease tikv-operator-system/tikv-operator-leader as laptop_42',
    );
    expect(line.fields).toEqual({
      context: 'kind-tikv',
      server: 'https://127.0.0.1:6443',
      namespace: '(all)',
      pdAccess: 'proxy',
      lease: 'tikv-operator-system/tikv-operator-leader',
      identity: 'laptop_42',
    });
  });

  it('says so when one namespace is watched, PD comes from a URL template and nothing is elected', () => {
    const line = startupLine({
      kc: kubeconfig('testenv', 'https://127.0.0.1:40000'),
      inCluster: false,
      namespace: 'team-a',
      env: { TIKV_OPERATOR_PD_URL_TEMPLATE: 'http://127.0.0.1:2379' },
    });
    expect(line.message).toBe(
      'tikv-operator starting: context testenv (https://127.0.0.1:40000); namespace team-a; PD at http://127.0.0.1:2379 (TIKV_OPERATOR_PD_URL_TEMPLATE); ' +
        'no leader election (reconciling unconditionally)',
    );
    expect(describePDAccess({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }).pdAccess).toBe('dns');
  });
});
