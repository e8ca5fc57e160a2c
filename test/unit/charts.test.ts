import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { afterAll, describe, expect, it } from 'vitest';
import { pdPvcName, tikvPvcName } from '../../src/api/index.js';
import {
  CONFIG_HASH_ANNOTATION,
  imageRef,
  type KubeObject,
  LABELS,
  PD_BOOTSTRAPPED_KEY,
  PD_CONFIG_KEYS,
  PD_INITIAL_CLUSTER_KEY,
  selectorLabels,
  synthesize,
} from '../../src/charts/index.js';
import { cluster, configMapData, container, find, service, statefulSet, walk } from './charts-helpers.js';

const hashOf = (objects: KubeObject[], sts: string) =>
  statefulSet(objects, sts).spec?.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION];

describe('synthesize: objects and names', () => {
  const objects = synthesize(cluster('basic'));

  it('emits the ConfigMaps, then the Services, then the StatefulSets, named as tidb-operator names them', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'ConfigMap/basic-pd',
      'ConfigMap/basic-tikv',
      'Service/basic-pd-peer',
      'Service/basic-pd',
      'Service/basic-tikv-peer',
      'StatefulSet/basic-pd',
      'StatefulSet/basic-tikv',
    ]);
  });

  it('puts every object in the cluster namespace, or default when it has none', () => {
    expect(new Set(objects.map((o) => o.metadata.namespace))).toEqual(new Set(['team-a']));
    const inDefault = synthesize(cluster('basic', {}, null));
    expect(new Set(inDefault.map((o) => o.metadata.namespace))).toEqual(new Set(['default']));
  });

  it('makes the peer Services headless and publishes not-ready pods; the PD client Service is a ClusterIP', () => {
    for (const name of ['basic-pd-peer', 'basic-tikv-peer']) {
      const spec = service(objects, name).spec;
      expect(spec?.clusterIP).toBe('None');
      expect(spec?.publishNotReadyAddresses).toBe(true);
    }
    const client = service(objects, 'basic-pd').spec;
    expect(client?.clusterIP).toBeUndefined();
    expect(client?.type).toBe('ClusterIP');
  });

  it('exposes the PD and TiKV ports by name on Services and containers', () => {
    const ports = (name: string) => service(objects, name).spec?.ports?.map((p) => [p.name, p.port, p.targetPort]);
    expect(ports('basic-pd-peer')).toEqual([
      ['client', 2379, 2379],
      ['peer', 2380, 2380],
    ]);
    expect(ports('basic-pd')).toEqual([['client', 2379, 2379]]);
    expect(ports('basic-tikv-peer')).toEqual([['peer', 20160, 20160]]);
    const cports = (name: string) => container(statefulSet(objects, name)).ports?.map((p) => [p.name, p.containerPort]);
    expect(cports('basic-pd')).toEqual([
      ['client', 2379],
      ['peer', 2380],
    ]);
    expect(cports('basic-tikv')).toEqual([
      ['server', 20160],
      ['status', 20180],
    ]);
  });

  it('runs both StatefulSets in parallel behind their peer Service, partitioned as asked', () => {
    const partitioned = synthesize(cluster('basic'), { pdPartition: 2, tikvPartition: 1 });
    for (const [name, svc, partition] of [
      ['basic-pd', 'basic-pd-peer', 2],
      ['basic-tikv', 'basic-tikv-peer', 1],
    ] as const) {
      const spec = statefulSet(partitioned, name).spec;
      expect(spec?.serviceName).toBe(svc);
      expect(spec?.podManagementPolicy).toBe('Parallel');
      expect(spec?.replicas).toBe(3);
      expect(spec?.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { partition } });
      expect(statefulSet(objects, name).spec?.updateStrategy?.rollingUpdate?.partition).toBe(0);
    }
  });
});

describe('synthesize: storage', () => {
  it('claims one volume per pod from templates named pd and tikv, sized from the spec, retained', () => {
    const objects = synthesize(cluster('basic', { pd: { storage: { size: '2Gi' } }, tikv: { storage: { size: '7Gi' } } }));
    for (const [sts, template, size, pvc] of [
      ['basic-pd', 'pd', '2Gi', pdPvcName('basic', 0)],
      ['basic-tikv', 'tikv', '7Gi', tikvPvcName('basic', 0)],
    ] as const) {
      const spec = statefulSet(objects, sts).spec;
      const [claim, ...more] = spec?.volumeClaimTemplates ?? [];
      expect(more).toEqual([]);
      expect(claim?.metadata?.name).toBe(template);
      expect(claim?.spec?.accessModes).toEqual(['ReadWriteOnce']);
      expect(claim?.spec?.resources?.requests).toEqual({ storage: size });
      expect(claim?.spec).not.toHaveProperty('storageClassName');
      // The StatefulSet controller names claims <template>-<statefulset>-<ordinal>.
      expect(`${claim?.metadata?.name}-${sts}-0`).toBe(pvc);
      expect(spec?.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
    }
    expect(tikvPvcName('basic', 0)).toBe('tikv-basic-tikv-0');
  });

  it('sets storageClassName only on the component that names one', () => {
    const objects = synthesize(cluster('basic', { tikv: { storage: { storageClassName: 'fast' } } }));
    expect(statefulSet(objects, 'basic-tikv').spec?.volumeClaimTemplates?.[0]?.spec?.storageClassName).toBe('fast');
    expect(statefulSet(objects, 'basic-pd').spec?.volumeClaimTemplates?.[0]?.spec).not.toHaveProperty('storageClassName');
  });

  it('mounts the data volume and the ConfigMap into each container', () => {
    const objects = synthesize(cluster('basic'));
    for (const [sts, cm, configDir, dataDir, volume] of [
      ['basic-pd', 'basic-pd', '/etc/pd', '/var/lib/pd', 'pd'],
      ['basic-tikv', 'basic-tikv', '/etc/tikv', '/var/lib/tikv', 'tikv'],
    ] as const) {
      const podSpec = statefulSet(objects, sts).spec?.template.spec;
      const mounts = container(statefulSet(objects, sts)).volumeMounts ?? [];
      const configMount = mounts.find((m) => m.mountPath === configDir);
      const configVolume = podSpec?.volumes?.find((v) => v.name === configMount?.name);
      expect(configVolume?.configMap?.name).toBe(cm);
      expect(mounts.find((m) => m.mountPath === dataDir)?.name).toBe(volume);
    }
  });
});

describe('synthesize: PD bootstrap', () => {
  const initial = (replicas: number) =>
    configMapData(synthesize(cluster('demo', { pd: { replicas } }, 'kv')), 'demo-pd')[PD_INITIAL_CLUSTER_KEY];

  it('lists the single member for 1 PD', () => {
    expect(initial(1)).toBe('demo-pd-0=http://demo-pd-0.demo-pd-peer.kv.svc:2380');
  });

  it('lists all three members for 3 PDs', () => {
    expect(initial(3)).toBe(
      'demo-pd-0=http://demo-pd-0.demo-pd-peer.kv.svc:2380,' +
        'demo-pd-1=http://demo-pd-1.demo-pd-peer.kv.svc:2380,' +
        'demo-pd-2=http://demo-pd-2.demo-pd-peer.kv.svc:2380',
    );
  });

  it('lists all five members for 5 PDs', () => {
    expect(initial(5)).toBe(
      'demo-pd-0=http://demo-pd-0.demo-pd-peer.kv.svc:2380,' +
        'demo-pd-1=http://demo-pd-1.demo-pd-peer.kv.svc:2380,' +
        'demo-pd-2=http://demo-pd-2.demo-pd-peer.kv.svc:2380,' +
        'demo-pd-3=http://demo-pd-3.demo-pd-peer.kv.svc:2380,' +
        'demo-pd-4=http://demo-pd-4.demo-pd-peer.kv.svc:2380',
    );
  });

  it('writes the bootstrap marker from the option, false by default', () => {
    const data = (pdBootstrapped?: boolean) => configMapData(synthesize(cluster('basic'), { pdBootstrapped }), 'basic-pd');
    expect(data()[PD_BOOTSTRAPPED_KEY]).toBe('false');
    expect(data(false)[PD_BOOTSTRAPPED_KEY]).toBe('false');
    expect(data(true)[PD_BOOTSTRAPPED_KEY]).toBe('true');
    expect(Object.keys(data()).sort()).toEqual(['bootstrapped', 'initial-cluster', 'pd.toml', 'start.sh']);
  });

  it('starts PD through the ConfigMap script, with the pod name from the downward API', () => {
    const pd = container(statefulSet(synthesize(cluster('basic')), 'basic-pd'));
    expect(pd.command).toEqual(['/bin/sh', '/etc/pd/start.sh']);
    expect(pd.env).toEqual([{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]);
  });
});

describe('synthesize: PD start script, executed', () => {
  const shells = ['/bin/sh', '/usr/bin/dash', '/usr/bin/bash'].filter((s) => existsSync(s));
  const root = mkdtempSync(path.join(tmpdir(), 'pd-start-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let caseNo = 0;

  /**
   * Runs start.sh with its three paths pointed into a temp dir, the ConfigMap keys as
   * files (exactly as the kubelet projects them: no trailing newline), a fake pd-server
   * that prints its arguments, and an empty PATH (so any external tool would fail).
   */
  function runStart(opts: {
    pod?: string;
    bootstrapped: boolean;
    replicas?: number;
    withData?: boolean;
    shell: string;
    /** Programs on PATH, as shell script bodies (PATH holds nothing else). */
    tools?: Record<string, string>;
    dnsWait?: number;
  }) {
    const dir = path.join(root, `case-${caseNo++}`);
    const configDir = path.join(dir, 'etc-pd');
    const dataDir = path.join(dir, 'data');
    const emptyPath = path.join(dir, 'no-tools');
    for (const d of [configDir, dataDir, emptyPath]) mkdirSync(d, { recursive: true });
    if (opts.withData) mkdirSync(path.join(dataDir, 'member', 'wal'), { recursive: true });
    for (const [tool, body] of Object.entries(opts.tools ?? {})) {
      writeFileSync(path.join(emptyPath, tool), `#!/bin/sh\n${body}\n`);
      chmodSync(path.join(emptyPath, tool), 0o755);
    }
    const fake = path.join(dir, 'pd-server');
    writeFileSync(fake, '#!/bin/sh\nfor a in "$@"; do printf "ARG %s\\n" "$a"; done\n');
    chmodSync(fake, 0o755);

    const data = configMapData(
      synthesize(cluster('basic', { pd: { replicas: opts.replicas ?? 3 } }, 'team-a'), { pdBootstrapped: opts.bootstrapped }),
      'basic-pd',
    );
    for (const [k, v] of Object.entries(data)) writeFileSync(path.join(configDir, k), v);
    const script = substitutePaths(data[PD_CONFIG_KEYS.startScript] ?? '', {
      config_dir: configDir,
      data_dir: dataDir,
      pd_server: fake,
      ...(opts.dnsWait === undefined ? {} : { dns_wait_seconds: String(opts.dnsWait) }),
    });
    writeFileSync(path.join(dir, 'start.sh'), script);

    const run = spawnSync(opts.shell, [path.join(dir, 'start.sh')], {
      env: { ...(opts.pod === undefined ? {} : { POD_NAME: opts.pod }), PATH: emptyPath },
      encoding: 'utf8',
    });
    const args = run.stdout
      .split('\n')
      .filter((l) => l.startsWith('ARG '))
      .map((l) => l.slice(4));
    const said = run.stdout.split('\n').filter((l) => l.startsWith('pd start: '));
    return { status: run.status, stderr: run.stderr, args, said, dir, initialCluster: data[PD_INITIAL_CLUSTER_KEY], configDir, dataDir };
  }

  function substitutePaths(script: string, vars: Record<string, string>): string {
    let out = script;
    for (const [name, value] of Object.entries(vars)) {
      const line = new RegExp(`^${name}=.*$`, 'm');
      expect(out, `start.sh assigns ${name} on its own line`).toMatch(line);
      out = out.replace(line, `${name}='${value}'`);
    }
    return out;
  }

  const membership = (args: string[]) => args.filter((a) => a.startsWith('--initial-cluster') || a.startsWith('--join'));

  it.each(shells)('%s: an initial member before bootstrap starts with every initial member', (shell) => {
    const run = runStart({ pod: 'basic-pd-1', bootstrapped: false, shell });
    expect(membership(run.args)).toEqual([`--initial-cluster=${run.initialCluster}`]);
    expect(run.args).toEqual([
      '--name=basic-pd-1',
      `--data-dir=${run.dataDir}`,
      '--client-urls=http://0.0.0.0:2379',
      '--advertise-client-urls=http://basic-pd-1.basic-pd-peer.team-a.svc:2379',
      '--peer-urls=http://0.0.0.0:2380',
      '--advertise-peer-urls=http://basic-pd-1.basic-pd-peer.team-a.svc:2380',
      `--config=${run.configDir}/pd.toml`,
      `--initial-cluster=${run.initialCluster}`,
    ]);
  });

  it.each(shells)('%s: after bootstrap a member without data joins through the client Service', (shell) => {
    expect(membership(runStart({ pod: 'basic-pd-0', bootstrapped: true, shell }).args)).toEqual(['--join=http://basic-pd:2379']);
  });

  it.each(shells)('%s: a pod beyond the initial members joins even before bootstrap', (shell) => {
    expect(membership(runStart({ pod: 'basic-pd-3', bootstrapped: false, replicas: 3, shell }).args)).toEqual([
      '--join=http://basic-pd:2379',
    ]);
  });

  it.each(shells)('%s: a member with data restarts with neither flag, bootstrapped or not', (shell) => {
    for (const bootstrapped of [false, true]) {
      const run = runStart({ pod: 'basic-pd-2', bootstrapped, withData: true, shell });
      expect(membership(run.args)).toEqual([]);
      expect(run.args[0]).toBe('--name=basic-pd-2');
    }
  });

  it('does not take a pod for an initial member because its name is a prefix of one', () => {
    // basic-pd-1 must not match basic-pd-10 in a list of 11.
    const run = runStart({ pod: 'basic-pd-1', bootstrapped: false, replicas: 11, shell: '/bin/sh' });
    expect(membership(run.args)).toEqual([`--initial-cluster=${run.initialCluster}`]);
    const outsider = runStart({ pod: 'asic-pd-1', bootstrapped: false, shell: '/bin/sh' });
    expect(membership(outsider.args)).toEqual(['--join=http://basic-pd:2379']);
  });

  it.each(shells)('%s: refuses to start without POD_NAME', (shell) => {
    const run = runStart({ bootstrapped: false, shell });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('POD_NAME');
    expect(run.args).toEqual([]);
  });

  // A fake `getent hosts NAME` that fails its first `fails` calls, logging each name it was asked (builtins only: PATH has nothing else).
  const flakyGetent = (dirOf: string, fails: number) =>
    `echo "$2" >> "${dirOf}/asked"; n=0; [ -f "${dirOf}/count" ] && read -r n < "${dirOf}/count"; echo $((n + 1)) > "${dirOf}/count"; [ "$n" -ge ${fails} ]`;

  it.each(shells)("%s: waits for the pod's own DNS name before starting pd-server, saying so", (shell) => {
    const dir = path.join(root, 'dns-state-wait');
    mkdirSync(dir, { recursive: true });
    const run = runStart({ pod: 'basic-pd-1', bootstrapped: false, shell, tools: { getent: flakyGetent(dir, 3), sleep: `echo slept >> "${dir}/slept"` } });
    expect(run.status).toBe(0);
    const host = 'basic-pd-1.basic-pd-peer.team-a.svc';
    expect(run.said).toEqual([
      `pd start: waiting up to 60 s for ${host} to resolve`,
      `pd start: ${host} resolves after 3 s`,
      'pd start: basic-pd-1 bootstraps the cluster with the initial members',
    ]);
    expect(readFileSync(path.join(dir, 'asked'), 'utf8').trim().split('\n')).toEqual([host, host, host, host]);
    expect(readFileSync(path.join(dir, 'slept'), 'utf8').trim().split('\n')).toHaveLength(3);
    expect(run.args).toContain(`--advertise-peer-urls=http://${host}:2380`);
    rmSync(dir, { recursive: true });
  });

  it.each(shells)('%s: the DNS wait is bounded: past it pd-server starts anyway; nslookup serves where getent is missing', (shell) => {
    const dir = path.join(root, 'dns-state-bound');
    mkdirSync(dir, { recursive: true });
    const run = runStart({ pod: 'basic-pd-0', bootstrapped: true, shell, dnsWait: 4, tools: { nslookup: 'exit 1', sleep: `echo slept >> "${dir}/slept"` } });
    expect(run.status).toBe(0);
    expect(run.said).toEqual([
      'pd start: waiting up to 4 s for basic-pd-0.basic-pd-peer.team-a.svc to resolve',
      'pd start: basic-pd-0.basic-pd-peer.team-a.svc does not resolve after 4 s; starting pd-server anyway',
      'pd start: basic-pd-0 joins the cluster',
    ]);
    expect(readFileSync(path.join(dir, 'slept'), 'utf8').trim().split('\n')).toHaveLength(4);
    expect(run.args[0]).toBe('--name=basic-pd-0');
    rmSync(dir, { recursive: true });
  });

  it.each(shells)('%s: a name that resolves at once adds no wait and no log line; no lookup tool at all skips the wait, saying so', (shell) => {
    const now = runStart({ pod: 'basic-pd-2', bootstrapped: false, shell, tools: { getent: 'exit 0', sleep: 'exit 7' } });
    expect(now.said).toEqual(['pd start: basic-pd-2 bootstraps the cluster with the initial members']);
    const none = runStart({ pod: 'basic-pd-2', bootstrapped: false, shell });
    expect(none.said).toEqual([
      'pd start: no getent or nslookup in the image; not waiting for basic-pd-2.basic-pd-peer.team-a.svc to resolve',
      'pd start: basic-pd-2 bootstraps the cluster with the initial members',
    ]);
  });

  it.each(shells)('%s: exits 0 after exec-ing pd-server in every case', (shell) => {
    expect(runStart({ pod: 'basic-pd-0', bootstrapped: false, shell }).status).toBe(0);
  });
});

describe('synthesize: TiKV', () => {
  it('starts /tikv-server directly with stable advertise addresses that include the namespace', () => {
    const tikv = container(statefulSet(synthesize(cluster('basic', {}, 'team-a')), 'basic-tikv'));
    expect(tikv.command).toEqual(['/tikv-server']);
    expect(tikv.args).toEqual([
      '--pd=http://basic-pd:2379',
      '--addr=0.0.0.0:20160',
      '--advertise-addr=$(POD_NAME).basic-tikv-peer.team-a.svc:20160',
      '--status-addr=0.0.0.0:20180',
      '--advertise-status-addr=$(POD_NAME).basic-tikv-peer.team-a.svc:20180',
      '--data-dir=/var/lib/tikv',
      '--config=/etc/tikv/tikv.toml',
    ]);
    expect(tikv.env).toEqual([{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]);
  });

  const tikvToml = (spec: Parameters<typeof cluster>[1]) =>
    parseToml(configMapData(synthesize(cluster('basic', spec)), 'basic-tikv')['tikv.toml'] ?? '') as Record<string, Record<string, unknown>>;

  it('renders kind-friendly defaults, sizing the block cache at 30% of the memory limit', () => {
    const toml = tikvToml({ tikv: { resources: { limits: { memory: '4Gi' } }, storage: { size: '10Gi' } } });
    expect(toml.rocksdb?.['max-open-files']).toBe(256);
    expect(toml.raftdb?.['max-open-files']).toBe(256);
    expect(toml.storage?.['reserve-space']).toBe('0MB');
    expect(toml.storage?.['block-cache']).toEqual({ capacity: `${Math.floor((4 * 1024 * 0.3))}MiB` });
    expect(toml.raftstore?.capacity).toBe(`${10 * 1024}MiB`);
  });

  it('sizes the block cache from the memory request when there is no limit, else a fixed fallback', () => {
    const fromRequest = tikvToml({ tikv: { resources: { requests: { memory: '1000Mi' } } } });
    expect(fromRequest.storage?.['block-cache']).toEqual({ capacity: '300MiB' });
    const fallback = tikvToml({ tikv: { resources: {} } });
    expect(fallback.storage?.['block-cache']).toEqual({ capacity: '256MiB' });
  });

  it('lets spec.tikv.config override any default and keeps the other defaults', () => {
    const toml = tikvToml({
      tikv: {
        config: {
          storage: { 'block-cache': { capacity: '1GiB' } },
          rocksdb: { 'max-open-files': 1024 },
          server: { 'grpc-concurrency': 2 },
        },
      },
    });
    expect(toml.storage).toEqual({ 'reserve-space': '0MB', 'block-cache': { capacity: '1GiB' } });
    expect(toml.rocksdb).toEqual({ 'max-open-files': 1024 });
    expect(toml.raftdb).toEqual({ 'max-open-files': 256 });
    expect(toml.server).toEqual({ 'grpc-concurrency': 2 });
  });
});

describe('synthesize: labels, selectors, owners', () => {
  it('labels every object and pod template with the four labels, and selects on exactly those', () => {
    const objects = synthesize(cluster('basic'));
    for (const o of objects) {
      const component = o.metadata.labels?.[LABELS.component];
      expect(component === 'pd' || component === 'tikv').toBe(true);
      expect(o.metadata.labels).toEqual(selectorLabels('basic', component as 'pd' | 'tikv'));
    }
    for (const component of ['pd', 'tikv'] as const) {
      const sts = statefulSet(objects, `basic-${component}`);
      const labels = selectorLabels('basic', component);
      expect(sts.spec?.selector).toEqual({ matchLabels: labels });
      expect(sts.spec?.template.metadata?.labels).toEqual(labels);
    }
    // Each Service selects exactly the pods of its own component's StatefulSet.
    for (const [svc, sts] of [
      ['basic-pd-peer', 'basic-pd'],
      ['basic-pd', 'basic-pd'],
      ['basic-tikv-peer', 'basic-tikv'],
    ]) {
      expect(service(objects, svc ?? '').spec?.selector).toEqual(statefulSet(objects, sts ?? '').spec?.template.metadata?.labels);
    }
    expect(selectorLabels('basic', 'pd')).toEqual({
      'app.kubernetes.io/name': 'tikv-cluster',
      'app.kubernetes.io/instance': 'basic',
      'app.kubernetes.io/component': 'pd',
      'app.kubernetes.io/managed-by': 'tikv-operator',
    });
  });

  it('carries no cdk8s construct-path label anywhere (it would freeze construct ids into immutable selectors)', () => {
    const json = JSON.stringify(synthesize(cluster('basic')));
    expect(json).not.toContain('cdk8s.io');
  });

  it('annotates pods for Prometheus on the metrics port', () => {
    const objects = synthesize(cluster('basic'));
    for (const [sts, port] of [
      ['basic-pd', '2379'],
      ['basic-tikv', '20180'],
    ] as const) {
      const annotations = statefulSet(objects, sts).spec?.template.metadata?.annotations;
      expect(annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': port, 'prometheus.io/path': '/metrics' });
    }
  });

  it('adds a controller owner reference to every object when the uid is known, and none otherwise', () => {
    const owned = synthesize(cluster('basic'), { uid: '1234-abcd' });
    for (const o of owned) {
      expect(o.metadata.ownerReferences).toEqual([
        { apiVersion: 'tikv.org/v1alpha1', kind: 'TikvCluster', name: 'basic', uid: '1234-abcd', controller: true, blockOwnerDeletion: true },
      ]);
    }
    for (const o of synthesize(cluster('basic'))) expect(o.metadata).not.toHaveProperty('ownerReferences');
  });

  it('returns fresh objects each call, sharing nothing', () => {
    const a = synthesize(cluster('basic'));
    const b = synthesize(cluster('basic'));
    expect(a).toEqual(b);
    const sts = statefulSet(a, 'basic-pd');
    const labels = sts.spec?.selector.matchLabels ?? {};
    labels.extra = 'x';
    expect(sts.spec?.template.metadata?.labels).not.toHaveProperty('extra');
    expect(statefulSet(b, 'basic-pd').spec?.selector.matchLabels).not.toHaveProperty('extra');
  });
});

describe('synthesize: config hash', () => {
  const base = cluster('basic');

  it('changes when the PD or TiKV config changes, only on that component', () => {
    const before = synthesize(base);
    const pdChanged = synthesize(cluster('basic', { pd: { config: { log: { level: 'debug' } } } }));
    expect(hashOf(pdChanged, 'basic-pd')).not.toBe(hashOf(before, 'basic-pd'));
    expect(hashOf(pdChanged, 'basic-tikv')).toBe(hashOf(before, 'basic-tikv'));
    const tikvChanged = synthesize(cluster('basic', { tikv: { config: { log: { level: 'debug' } } } }));
    expect(hashOf(tikvChanged, 'basic-tikv')).not.toBe(hashOf(before, 'basic-tikv'));
    expect(hashOf(tikvChanged, 'basic-pd')).toBe(hashOf(before, 'basic-pd'));
    // The memory limit feeds the rendered block cache, so it rolls TiKV too.
    const memChanged = synthesize(cluster('basic', { tikv: { resources: { limits: { memory: '3Gi' } } } }));
    expect(hashOf(memChanged, 'basic-tikv')).not.toBe(hashOf(before, 'basic-tikv'));
  });

  it('does not change when the bootstrap marker flips or the initial member list changes', () => {
    const before = synthesize(base, { pdBootstrapped: false });
    const after = synthesize(base, { pdBootstrapped: true });
    expect(hashOf(after, 'basic-pd')).toBe(hashOf(before, 'basic-pd'));
    expect(statefulSet(after, 'basic-pd').spec?.template).toEqual(statefulSet(before, 'basic-pd').spec?.template);
    const scaled = synthesize(cluster('basic', { pd: { replicas: 5 } }));
    expect(hashOf(scaled, 'basic-pd')).toBe(hashOf(before, 'basic-pd'));
  });

  it('does not depend on the order of config keys', () => {
    const a = synthesize(cluster('basic', { tikv: { config: { a: 1, b: { x: 1, y: 2 } } } }));
    const b = synthesize(cluster('basic', { tikv: { config: { b: { y: 2, x: 1 }, a: 1 } } }));
    expect(hashOf(a, 'basic-tikv')).toBe(hashOf(b, 'basic-tikv'));
  });
});

describe('synthesize: pod spec safety', () => {
  it('uses the spec image pull policy, never a plus-28 default', () => {
    for (const policy of ['Always', 'IfNotPresent', 'Never'] as const) {
      const objects = synthesize(cluster('basic', { imagePullPolicy: policy }));
      for (const sts of ['basic-pd', 'basic-tikv']) expect(container(statefulSet(objects, sts)).imagePullPolicy).toBe(policy);
    }
  });

  it('uses exactly the spec resources, quantities as strings, with no plus-28 defaults', () => {
    const objects = synthesize(
      cluster('basic', {
        pd: { resources: { requests: { cpu: '0.5', memory: '300Mi' } } },
        tikv: { resources: { requests: { cpu: '250m' }, limits: { cpu: 2, memory: '1Gi' } } },
      }),
    );
    expect(container(statefulSet(objects, 'basic-pd')).resources).toEqual({ requests: { cpu: '0.5', memory: '300Mi' } });
    expect(container(statefulSet(objects, 'basic-tikv')).resources).toEqual({
      requests: { cpu: '250m' },
      limits: { cpu: '2', memory: '1Gi' },
    });
    const none = synthesize(cluster('basic', { pd: { resources: {} } }));
    expect(container(statefulSet(none, 'basic-pd'))).not.toHaveProperty('resources');
  });

  it('leaves the images to run as their own user, with a writable root file system', () => {
    const objects = synthesize(cluster('basic'));
    for (const [p, v] of walk(objects)) {
      expect(p).not.toMatch(/securityContext|runAsNonRoot|readOnlyRootFilesystem|runAsUser/);
      expect(v).not.toEqual(expect.objectContaining({ runAsNonRoot: true }));
    }
  });

  it("probes PD's readiness with etcd's GET /health (quorum), TiKV's over TCP 20160 (open once the store registered)", () => {
    const objects = synthesize(cluster('basic'));
    expect(container(statefulSet(objects, 'basic-pd')).readinessProbe).toEqual({
      httpGet: { path: '/health', port: 2379, scheme: 'HTTP' },
      timeoutSeconds: 3,
      failureThreshold: 3,
    });
    expect(container(statefulSet(objects, 'basic-tikv')).readinessProbe).toEqual({ tcpSocket: { port: 20160 }, failureThreshold: 3 });
  });

  it("keeps each PD and TiKV container's last log lines as its termination message when it fails", () => {
    const objects = synthesize(cluster('basic'));
    for (const sts of ['basic-pd', 'basic-tikv']) expect(container(statefulSet(objects, sts)).terminationMessagePolicy, sts).toBe('FallbackToLogsOnError');
  });

  it('probes readiness only: no liveness or startup probe, no init or sidecar containers', () => {
    const objects = synthesize(cluster('basic'));
    for (const sts of ['basic-pd', 'basic-tikv'] as const) {
      const podSpec = statefulSet(objects, sts).spec?.template.spec;
      expect(podSpec?.containers).toHaveLength(1);
      expect(podSpec).not.toHaveProperty('initContainers');
      const c = container(statefulSet(objects, sts));
      expect(c.name).toBe(sts.replace('basic-', ''));
      expect(c.readinessProbe).toBeDefined();
      expect(c).not.toHaveProperty('livenessProbe');
      expect(c).not.toHaveProperty('startupProbe');
    }
  });

  it('tags images with the version unless they already carry a tag or digest', () => {
    const objects = synthesize(cluster('basic', { version: 'v8.5.4', tikv: { image: 'localhost:5000/tikv' } }));
    expect(container(statefulSet(objects, 'basic-pd')).image).toBe('pingcap/pd:v8.5.4');
    expect(container(statefulSet(objects, 'basic-tikv')).image).toBe('localhost:5000/tikv:v8.5.4');
    expect(imageRef('pingcap/pd:nightly', 'v8.5.5')).toBe('pingcap/pd:nightly');
    expect(imageRef('localhost:5000/pd@sha256:abc', 'v8.5.5')).toBe('localhost:5000/pd@sha256:abc');
  });

  it('prefers spreading pods across nodes but never requires it', () => {
    const objects = synthesize(cluster('basic'));
    const affinity = statefulSet(objects, 'basic-tikv').spec?.template.spec?.affinity;
    expect(affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution).toBeUndefined();
    expect(affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution).toEqual([
      {
        weight: 100,
        podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selectorLabels('basic', 'tikv') } },
      },
    ]);
    expect(JSON.stringify(objects)).not.toContain('requiredDuringScheduling');
  });

  it('passes nodeSelector, tolerations and affinity from the spec through unchanged', () => {
    const affinity = { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: 'disk', operator: 'In' as const, values: ['ssd'] }] } }] } };
    const tolerations = [{ key: 'dedicated', operator: 'Equal' as const, value: 'tikv', effect: 'NoSchedule' as const }];
    const objects = synthesize(cluster('basic', { tikv: { nodeSelector: { disk: 'ssd' }, tolerations, affinity } }));
    const podSpec = statefulSet(objects, 'basic-tikv').spec?.template.spec;
    expect(podSpec?.nodeSelector).toEqual({ disk: 'ssd' });
    expect(podSpec?.tolerations).toEqual(tolerations);
    expect(podSpec?.affinity).toEqual(affinity);
    const pdSpec = statefulSet(objects, 'basic-pd').spec?.template.spec;
    expect(pdSpec).not.toHaveProperty('nodeSelector');
    expect(pdSpec).not.toHaveProperty('tolerations');
  });

  it('emits only string quantities, integer ports and no empty maps an apiserver would choke on', () => {
    const objects = synthesize(cluster('basic', { pd: { resources: { requests: { cpu: 1 } } } }));
    const quantity = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
    for (const [p, v] of walk(objects)) {
      if (/\.(requests|limits)\.[a-z]+$/.test(p)) {
        expect(typeof v, p).toBe('string');
        expect(v, p).toMatch(quantity);
      }
      if (/(\.port|containerPort|targetPort)$/.test(p)) expect(Number.isInteger(v), p).toBe(true);
      if (/\.(resources|requests|limits|labels|annotations|selector|matchLabels)$/.test(p)) {
        expect(Object.keys(v as object).length, p).toBeGreaterThan(0);
      }
    }
    expect(find(objects, 'ConfigMap', 'basic-pd').apiVersion).toBe('v1');
    expect(find(objects, 'StatefulSet', 'basic-pd').apiVersion).toBe('apps/v1');
  });
});
