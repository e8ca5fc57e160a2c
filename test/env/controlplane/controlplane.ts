// The Kubernetes side of the test environment, envtest-style: etcd -> kube-apiserver ->
// kube-controller-manager -> kube-scheduler -> kwok (fake nodes whose pods become Running
// with IPs), all on 127.0.0.1 with throwaway state under one temp dir.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { Binaries } from '../binaries.js';
import { kubeconfigYaml } from './kubeconfig.js';
import { freePorts, LOOPBACK, type ManagedProcess, spawnLogged, waitFor } from '../process.js';

export const SERVICE_CLUSTER_IP_RANGE = '10.96.0.0/16';
export const POD_CIDR = '10.244.0.0/16';
export const ADMIN_USER = 'admin';

/**
 * Controllers the tests need (canonical 1.36 names, see `kube-controller-manager --help`).
 * Leaving out e.g. cronjob/hpa/csr keeps the controller-manager light on 2 cores.
 */
export const KCM_CONTROLLERS = [
  'statefulset-controller',
  'garbage-collector-controller',
  'namespace-controller',
  'persistentvolume-binder-controller',
  'persistentvolumeclaim-protection-controller',
  'persistentvolume-protection-controller',
  'endpoints-controller',
  'endpointslice-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'root-ca-certificate-publisher-controller',
  'replicaset-controller',
  'deployment-controller',
  'node-lifecycle-controller',
  'taint-eviction-controller',
  'pod-garbage-collector-controller',
  'disruption-controller',
  'clusterrole-aggregation-controller',
];

/** kwok stages, relative to KWOK_STAGES_DIR. The chaos stages only act on labelled objects. */
export const KWOK_STAGES = [
  'node/fast/node-initialize.yaml',
  'node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
  'pod/fast/pod-ready.yaml',
  'pod/fast/pod-complete.yaml',
  'pod/fast/pod-delete.yaml',
  'node/chaos/node-not-ready.yaml',
  'pod/chaos/pod-container-running-failed.yaml',
];

const AUDIT_POLICY = {
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived'],
  rules: [{ level: 'Metadata' }],
};

export interface ControlPlaneOptions {
  bins: Binaries;
  dir: string;
  nodes: number;
  log: (s: string) => void;
  /** Every spawned process is pushed here at once, so the caller can stop them even if startup fails. */
  procs: ManagedProcess[];
  /**
   * For a real node (test/env/node): the apiserver binds and advertises this address instead
   * of 127.0.0.1, so pods reach it through the kubernetes Service (the endpoint reconciler
   * writes that Service's endpoints), and dials kubelets by their InternalIP.
   */
  apiserverAddress?: string;
  /** Service ClusterIP range (default SERVICE_CLUSTER_IP_RANGE). */
  serviceCIDR?: string;
}

export interface ControlPlane {
  server: string;
  adminToken: string;
  kubeconfigPath: string;
  /** CA bundle of the apiserver's self-signed serving certificate (clients verify TLS with it). */
  caFile: string;
  kc: KubeConfig;
  auditLogPath: string;
  nodeNames: string[];
}

interface HttpResult {
  status: number;
  body: string;
}

/** GET over http(s) on loopback; TLS is verified against `ca` when given. */
function httpGet(url: string, opts: { token?: string; ca?: string } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const isHttps = url.startsWith('https:');
    const headers = opts.token ? { Authorization: `Bearer ${opts.token}` } : undefined;
    const req = (isHttps ? httpsRequest : httpRequest)(url, { headers, ca: opts.ca, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on('error', reject);
    req.end();
  });
}

/** Whether a binary's --help mentions a flag (for flags that differ between versions). */
function supportsFlag(bin: string, flag: string): boolean {
  try {
    return execFileSync(bin, ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).includes(flag);
  } catch (e) {
    // Some binaries print help to stderr and exit non-zero.
    const err = e as { stdout?: string; stderr?: string };
    return `${err.stdout ?? ''}${err.stderr ?? ''}`.includes(flag);
  }
}

async function startEtcd(o: ControlPlaneOptions): Promise<string> {
  const [client, peer] = await freePorts(2);
  const clientURL = `http://${LOOPBACK}:${client}`;
  const peerURL = `http://${LOOPBACK}:${peer}`;
  const etcd = o.bins.bin('etcd');
  const args = [
    '--name=etcd0',
    `--data-dir=${join(o.dir, 'etcd')}`,
    `--listen-client-urls=${clientURL}`,
    `--advertise-client-urls=${clientURL}`,
    `--listen-peer-urls=${peerURL}`,
    `--initial-advertise-peer-urls=${peerURL}`,
    `--initial-cluster=etcd0=${peerURL}`,
    '--log-level=warn',
  ];
  // Throwaway data: skipping fsync makes every apiserver write cheaper.
  if (supportsFlag(etcd, '--unsafe-no-fsync')) args.push('--unsafe-no-fsync');
  const proc = spawnLogged('etcd', etcd, args, { logDir: o.dir, ports: [client!, peer!] });
  o.procs.push(proc);
  await waitFor(
    'etcd /health',
    async () => {
      const r = await httpGet(`${clientURL}/health`);
      return r.status === 200 && r.body.includes('true');
    },
    { timeoutMs: 30_000, proc },
  );
  return clientURL;
}

interface ApiServerFiles {
  certDir: string;
  saKey: string;
  saPub: string;
  tokens: string;
  auditPolicy: string;
  auditLog: string;
}

function writeApiServerFiles(dir: string, adminToken: string): ApiServerFiles {
  const certDir = join(dir, 'certs');
  mkdirSync(certDir, { recursive: true });
  const sa = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const files: ApiServerFiles = {
    certDir,
    saKey: join(dir, 'sa.key'),
    saPub: join(dir, 'sa.pub'),
    tokens: join(dir, 'tokens.csv'),
    auditPolicy: join(dir, 'audit-policy.yaml'),
    auditLog: join(dir, 'audit.log'),
  };
  writeFileSync(files.saKey, sa.privateKey, { mode: 0o600 });
  writeFileSync(files.saPub, sa.publicKey);
  // system:masters bypasses RBAC; restricted identities come from ServiceAccount tokens.
  writeFileSync(files.tokens, `${adminToken},${ADMIN_USER},${ADMIN_USER}-uid,system:masters\n`, { mode: 0o600 });
  writeFileSync(files.auditPolicy, stringify(AUDIT_POLICY));
  writeFileSync(files.auditLog, '');
  return files;
}

async function startApiServer(
  o: ControlPlaneOptions,
  etcdURL: string,
  adminToken: string,
): Promise<{ server: string; caFile: string; auditLog: string }> {
  const [port] = await freePorts(1);
  const f = writeApiServerFiles(o.dir, adminToken);
  const address = o.apiserverAddress ?? LOOPBACK;
  const args = [
    `--etcd-servers=${etcdURL}`,
    `--bind-address=${address}`,
    // A loopback advertise address is fine because no endpoint reconciler writes it into
    // the default/kubernetes Endpoints (which reject loopback IPs); it also spares us a
    // dependency on the machine having a default route.
    `--advertise-address=${address}`,
    ...(address === LOOPBACK
      ? ['--endpoint-reconciler-type=none']
      : // Node addresses are dialled directly: by Hostname first it would ask the machine's resolver.
        ['--kubelet-preferred-address-types=InternalIP']),
    `--secure-port=${port}`,
    `--cert-dir=${f.certDir}`,
    `--service-cluster-ip-range=${o.serviceCIDR ?? SERVICE_CLUSTER_IP_RANGE}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${f.saPub}`,
    `--service-account-signing-key-file=${f.saKey}`,
    '--authorization-mode=RBAC',
    `--token-auth-file=${f.tokens}`,
    '--allow-privileged=true',
    `--audit-policy-file=${f.auditPolicy}`,
    `--audit-log-path=${f.auditLog}`,
    '--profiling=false',
  ];
  const proc = spawnLogged('kube-apiserver', o.bins.bin('kube-apiserver'), args, { logDir: o.dir, ports: address === LOOPBACK ? [port!] : [] });
  o.procs.push(proc);
  const server = `https://${address}:${port}`;
  // With no --tls-cert-file the apiserver writes a self-signed cert + its CA here.
  const caFile = join(f.certDir, 'apiserver.crt');
  await waitFor(
    'kube-apiserver /readyz',
    async () => {
      const r = await httpGet(`${server}/readyz`, { token: adminToken, ca: readFileSync(caFile, 'utf8') });
      return r.status === 200;
    },
    { timeoutMs: 90_000, intervalMs: 300, proc },
  );
  return { server, caFile, auditLog: f.auditLog };
}

function startControllerManager(o: ControlPlaneOptions, kubeconfigPath: string, caFile: string): ManagedProcess {
  const args = [
    `--kubeconfig=${kubeconfigPath}`,
    '--leader-elect=false',
    '--secure-port=0',
    `--controllers=${KCM_CONTROLLERS.join(',')}`,
    '--use-service-account-credentials=false',
    `--root-ca-file=${caFile}`,
    `--service-account-private-key-file=${join(o.dir, 'sa.key')}`,
    `--service-cluster-ip-range=${o.serviceCIDR ?? SERVICE_CLUSTER_IP_RANGE}`,
  ];
  const proc = spawnLogged('kube-controller-manager', o.bins.bin('kube-controller-manager'), args, { logDir: o.dir });
  o.procs.push(proc);
  return proc;
}

function startScheduler(o: ControlPlaneOptions, kubeconfigPath: string): ManagedProcess {
  const args = [`--kubeconfig=${kubeconfigPath}`, '--leader-elect=false', '--secure-port=0'];
  const proc = spawnLogged('kube-scheduler', o.bins.bin('kube-scheduler'), args, { logDir: o.dir });
  o.procs.push(proc);
  return proc;
}

/**
 * kwok runs no container, so the operator's one-off config-check pods (label
 * tikv.org/config-check, src/controller/reconcile/config-check.ts) complete at once with the
 * binaries' success line: the check passes here; the real node runs it for real.
 */
const CONFIG_CHECK_STAGE = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: tikv-config-check-complete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchLabels:
      tikv.org/config-check: "true"
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
  next:
    statusTemplate: |
      {{ $now := Now }}
      containerStatuses:
      {{ range $index, $item := .spec.containers }}
      - image: {{ $item.image | Quote }}
        name: {{ $item.name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: 0
            message: "config check successful"
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: Succeeded`;

function writeKwokConfig(o: ControlPlaneOptions): string {
  const stagesDir = o.bins.paths.KWOK_STAGES_DIR;
  if (!stagesDir) throw new Error('KWOK_STAGES_DIR is not set (paths.env)');
  const docs = [...KWOK_STAGES.map((rel) => readFileSync(join(stagesDir, rel), 'utf8').trim()), CONFIG_CHECK_STAGE];
  const path = join(o.dir, 'kwok-stages.yaml');
  writeFileSync(path, `${docs.join('\n---\n')}\n`);
  return path;
}

async function startKwok(o: ControlPlaneOptions, kubeconfigPath: string): Promise<ManagedProcess> {
  const [serverPort] = await freePorts(1);
  const home = join(o.dir, 'kwok-home');
  mkdirSync(home, { recursive: true });
  const args = [
    `--kubeconfig=${kubeconfigPath}`,
    `--config=${writeKwokConfig(o)}`,
    '--manage-all-nodes=false',
    '--manage-nodes-with-label-selector=type=kwok',
    '--manage-nodes-with-annotation-selector=',
    '--manage-single-node=',
    `--cidr=${POD_CIDR}`,
    '--node-lease-duration-seconds=40',
    `--server-address=${LOOPBACK}:${serverPort}`,
  ];
  // kwok also reads ~/.kwok/kwok.yaml when it exists; a private HOME keeps a user's file out.
  const proc = spawnLogged('kwok', o.bins.bin('kwok'), args, {
    logDir: o.dir,
    env: { ...process.env, HOME: home },
    ports: [serverPort!],
  });
  o.procs.push(proc);
  return proc;
}

export const fakeNodeName = (i: number) => `kwok-node-${i}`;

/** A fake node: no taint, half amd64 and half arm64, three zones. */
export function fakeNode(i: number): V1Node {
  const name = fakeNodeName(i);
  const arch = i % 2 === 0 ? 'amd64' : 'arm64';
  const capacity = { cpu: '32', memory: '256Gi', pods: '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        type: 'kwok',
        'kubernetes.io/arch': arch,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/hostname': name,
        'topology.kubernetes.io/zone': `zone-${'abc'[i % 3]}`,
      },
      annotations: { 'kwok.x-k8s.io/node': 'fake' },
    },
    status: {
      capacity,
      allocatable: capacity,
      addresses: [
        { type: 'InternalIP', address: `10.0.0.${10 + i}` },
        { type: 'Hostname', address: name },
      ],
      nodeInfo: {
        architecture: arch,
        operatingSystem: 'linux',
        bootID: '',
        containerRuntimeVersion: 'kwok',
        kernelVersion: 'kwok',
        kubeProxyVersion: 'kwok',
        kubeletVersion: 'kwok',
        machineID: '',
        osImage: 'kwok',
        systemUUID: '',
      },
    },
  };
}

async function createNodes(kc: KubeConfig, n: number): Promise<string[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const node = await core.createNode({ body: fakeNode(i) });
    names.push(node.metadata!.name!);
  }
  return names;
}

async function allNodesReady(kc: KubeConfig, names: string[]): Promise<boolean> {
  const core = kc.makeApiClient(CoreV1Api);
  const list = await core.listNode({ labelSelector: 'type=kwok' });
  const ready = new Set(
    list.items
      .filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
      .map((n) => n.metadata?.name),
  );
  return names.every((n) => ready.has(n));
}

/** Starts the whole Kubernetes side and returns once the fake nodes are Ready. */
export async function startControlPlane(o: ControlPlaneOptions): Promise<ControlPlane> {
  const t0 = Date.now();
  const step = (s: string) => o.log(`[testenv] ${s} (+${((Date.now() - t0) / 1000).toFixed(1)}s)`);

  const etcdURL = await startEtcd(o);
  step(`etcd ready at ${etcdURL}`);

  const adminToken = randomBytes(32).toString('hex');
  const { server, caFile, auditLog } = await startApiServer(o, etcdURL, adminToken);
  step(`kube-apiserver ready at ${server}`);

  const kubeconfigPath = join(o.dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, kubeconfigYaml({ server, caFile }, ADMIN_USER, adminToken), { mode: 0o600 });
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);

  const kcm = startControllerManager(o, kubeconfigPath, caFile);
  const scheduler = startScheduler(o, kubeconfigPath);
  const kwok = await startKwok(o, kubeconfigPath);
  const nodeNames = await createNodes(kc, o.nodes);

  const core = kc.makeApiClient(CoreV1Api);
  // The serviceaccount controller creating default/default shows the controller-manager works.
  await waitFor('the default ServiceAccount (kube-controller-manager)', () => core.readNamespacedServiceAccount({ namespace: 'default', name: 'default' }), {
    timeoutMs: 60_000,
    proc: kcm,
  });
  step('kube-controller-manager running');
  await waitFor(`${o.nodes} kwok nodes Ready`, () => allNodesReady(kc, nodeNames), { timeoutMs: 60_000, proc: kwok });
  if (scheduler.exitStatus() !== undefined) throw new Error(`kube-scheduler exited (${scheduler.exitStatus()})`);
  step(`kube-scheduler and kwok running; ${o.nodes} nodes Ready`);

  return { server, adminToken, kubeconfigPath, caFile, kc, auditLogPath: auditLog, nodeNames };
}
