// Proof that the test environment is a real control plane: StatefulSets get Running pods
// with IPs and bound volumes on kwok nodes, garbage collection cascades, the project's CRD
// is enforced by the apiserver (defaults, CEL, status subresource), every manifest the
// synth CLI prints passes strict server-side apply, RBAC and the audit log work.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { runSynth } from '../../src/cli/synth.js';
import { REPO_ROOT } from '../env/binaries.js';
import { createServiceAccountKubeconfig, getEnv, newNamespace } from '../env/context.js';
import { waitFor } from '../env/process.js';
import { DEFAULT_STORAGE_CLASS, FAKE_PROVISIONER, OTHER_STORAGE_CLASS } from '../env/controlplane/provisioner.js';

const CRD_FILE = join(REPO_ROOT, 'crds/tikv.org_tikvclusters.yaml');
const GROUP = 'tikv.org';
const VERSION = 'v1alpha1';
const PLURAL = 'tikvclusters';

const statusOf = (e: unknown) => (e as { code?: number }).code;
const bodyOf = (e: unknown) => String((e as { body?: unknown }).body ?? (e as Error).message);

async function expectApiError(p: Promise<unknown>, code: number): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(statusOf(e), bodyOf(e)).toBe(code);
    return bodyOf(e);
  }
  throw new Error(`expected HTTP ${code}, but the request succeeded`);
}

function statefulSet(namespace: string, name: string, replicas: number): V1StatefulSet {
  const labels = { app: name };
  const claim = (claimName: string, storageClassName?: string) => ({
    metadata: { name: claimName },
    spec: { accessModes: ['ReadWriteOnce'], storageClassName, resources: { requests: { storage: '2Gi' } } },
  });
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace },
    spec: {
      replicas,
      serviceName: name,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'main', image: 'registry.invalid/never-pulled:1' }] },
      },
      // One claim in the default class (no storageClassName) and one in `other`.
      volumeClaimTemplates: [claim('data'), claim('extra', OTHER_STORAGE_CLASS)],
    },
  };
}

/** A request with the kubeconfig's credentials, body and response kept as text. */
async function rawRequest(
  kc: KubeConfig,
  method: string,
  path: string,
  body: string,
  contentType: string,
): Promise<{ status: number; body: string }> {
  const cluster = kc.getCurrentCluster()!;
  const opts: RequestOptions = { method, headers: { 'Content-Type': contentType, Accept: 'application/json' } };
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(cluster.server + path), opts, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** REST path of a namespaced object, from API discovery (no hard-coded kind table). */
async function objectPath(kc: KubeConfig, apiVersion: string, kind: string, namespace: string, name: string): Promise<string> {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const res = await rawRequest(kc, 'GET', base, '', 'application/json');
  expect(res.status, res.body).toBe(200);
  const list = JSON.parse(res.body) as { resources: { name: string; kind: string; namespaced: boolean }[] };
  const resource = list.resources.find((r) => r.kind === kind && !r.name.includes('/'));
  if (!resource) throw new Error(`${apiVersion} has no resource of kind ${kind}`);
  expect(resource.namespaced).toBe(true);
  return `${base}/namespaces/${namespace}/${resource.name}/${name}`;
}

async function installCRD(kc: KubeConfig): Promise<void> {
  const crd = parse(readFileSync(CRD_FILE, 'utf8'));
  const path = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`;
  const res = await rawRequest(
    kc,
    'PATCH',
    `${path}?fieldManager=testenv&force=true&fieldValidation=Strict`,
    JSON.stringify(crd),
    'application/apply-patch+yaml',
  );
  expect(res.status, res.body).toBeLessThan(300);
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  await waitFor(
    'the TikvCluster CRD to be Established',
    async () => {
      const c = await ext.readCustomResourceDefinition({ name: crd.metadata.name });
      return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
    },
    { timeoutMs: 30_000 },
  );
}

describe('test environment', () => {
  it('runs a StatefulSet with volume claim templates: Running pods with IPs on kwok nodes, Bound PVCs in both classes', async () => {
    const { kc } = getEnv();
    const ns = await newNamespace('sts');
    const apps = kc.makeApiClient(AppsV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    await apps.createNamespacedStatefulSet({ namespace: ns, body: statefulSet(ns, 'web', 3) });

    const pods = await waitFor(
      '3 Running pods with IPs',
      async () => {
        const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
        const running = list.items.filter((p) => p.status?.phase === 'Running' && p.status.podIP);
        return running.length === 3 ? running : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    const nodes = await core.listNode({ labelSelector: 'type=kwok' });
    const kwokNodes = new Set(nodes.items.map((n) => n.metadata!.name!));
    expect(pods.map((p) => p.metadata!.name).sort()).toEqual(['web-0', 'web-1', 'web-2']);
    for (const p of pods) {
      expect(kwokNodes.has(p.spec!.nodeName!)).toBe(true);
      expect(p.status!.podIP).toMatch(/^10\.244\.\d+\.\d+$/);
      expect(p.status!.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    }
    expect(new Set(pods.map((p) => p.status!.podIP)).size).toBe(3);

    const pvcs = await core.listNamespacedPersistentVolumeClaim({ namespace: ns });
    expect(pvcs.items.map((c) => c.metadata!.name).sort()).toEqual([
      'data-web-0',
      'data-web-1',
      'data-web-2',
      'extra-web-0',
      'extra-web-1',
      'extra-web-2',
    ]);
    for (const pvc of pvcs.items) {
      expect(pvc.status?.phase).toBe('Bound');
      const expectedClass = pvc.metadata!.name!.startsWith('data-') ? DEFAULT_STORAGE_CLASS : OTHER_STORAGE_CLASS;
      expect(pvc.spec?.storageClassName).toBe(expectedClass);
      const pv = await core.readPersistentVolume({ name: pvc.spec!.volumeName! });
      const pod = pods.find((p) => pvc.metadata!.name!.endsWith(p.metadata!.name!))!;
      expect(pv.metadata?.annotations?.['pv.kubernetes.io/provisioned-by']).toBe(FAKE_PROVISIONER);
      expect(pv.spec?.capacity?.storage).toBe('2Gi');
      expect(pv.spec?.nodeAffinity?.required?.nodeSelectorTerms[0]?.matchExpressions?.[0]?.values).toEqual([pod.spec!.nodeName]);
    }
  });

  it('cascades deletion to dependents (garbage collector, kwok pod deletion)', async () => {
    const { kc } = getEnv();
    const ns = await newNamespace('gc');
    const core = kc.makeApiClient(CoreV1Api);
    const apps = kc.makeApiClient(AppsV1Api);

    const owner = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'owner' } } });
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: {
          name: 'dependent',
          ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! }],
        },
        stringData: { k: 'v' },
      },
    });
    await apps.createNamespacedStatefulSet({ namespace: ns, body: statefulSet(ns, 'db', 2) });
    await waitFor(
      '2 Running pods',
      async () => (await core.listNamespacedPod({ namespace: ns })).items.filter((p) => p.status?.phase === 'Running').length === 2,
      { timeoutMs: 120_000, intervalMs: 500 },
    );

    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'owner' });
    await apps.deleteNamespacedStatefulSet({ namespace: ns, name: 'db' });
    await waitFor(
      'the Secret and the pods to be garbage-collected',
      async () => {
        const secrets = await core.listNamespacedSecret({ namespace: ns });
        const pods = await core.listNamespacedPod({ namespace: ns });
        return !secrets.items.some((s) => s.metadata?.name === 'dependent') && pods.items.length === 0;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    // StatefulSet PVCs are retained by default (persistentVolumeClaimRetentionPolicy Retain).
    const pvcs = await core.listNamespacedPersistentVolumeClaim({ namespace: ns });
    expect(pvcs.items).toHaveLength(4);
  });

  describe('the TikvCluster CRD', () => {
    it('applies defaults at admission and round-trips', async () => {
      const { kc } = getEnv();
      await installCRD(kc);
      const ns = await newNamespace('crd');
      const custom = kc.makeApiClient(CustomObjectsApi);
      await custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: PLURAL,
        body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'TikvCluster', metadata: { name: 'demo' }, spec: {} },
      });
      const got = (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name: 'demo' })) as {
        spec: { version: string; pd: { replicas: number }; tikv: { storage: { size: string } } };
      };
      expect(got.spec.pd.replicas).toBe(3);
      expect(got.spec.version).toBe('v8.5.5');
      expect(got.spec.tikv.storage.size).toBe('5Gi');
    });

    it('rejects a 48-character name and a storage size change with the CEL messages', async () => {
      const { kc } = getEnv();
      await installCRD(kc);
      const ns = await newNamespace('cel');
      const custom = kc.makeApiClient(CustomObjectsApi);
      const create = (name: string) =>
        custom.createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: ns,
          plural: PLURAL,
          body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'TikvCluster', metadata: { name }, spec: {} },
        });

      const longName = `a${'b'.repeat(46)}c`;
      expect(longName).toHaveLength(48);
      const tooLong = await expectApiError(create(longName), 422);
      expect(tooLong).toMatch(/metadata\.name: Invalid value: .*must be at most 47 characters/);
      await create(longName.slice(1)); // 47 characters are fine

      await create('sized');
      const resize = custom.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          namespace: ns,
          plural: PLURAL,
          name: 'sized',
          body: { spec: { tikv: { storage: { size: '10Gi' } } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      const immutable = await expectApiError(resize, 422);
      expect(immutable).toMatch(/spec\.tikv\.storage\.size: Invalid value: .*cannot change after creation/);
    });

    it('accepts a merge patch on the status subresource without touching spec or generation', async () => {
      const { kc } = getEnv();
      await installCRD(kc);
      const ns = await newNamespace('status');
      const path = `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}/demo`;
      const created = await rawRequest(
        kc,
        'POST',
        `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`,
        JSON.stringify({ apiVersion: `${GROUP}/${VERSION}`, kind: 'TikvCluster', metadata: { name: 'demo' }, spec: {} }),
        'application/json',
      );
      expect(created.status, created.body).toBe(201);
      const generation = JSON.parse(created.body).metadata.generation;

      const patch = { status: { phase: 'Running', observedGeneration: generation }, spec: { pd: { replicas: 5 } } };
      const res = await rawRequest(kc, 'PATCH', `${path}/status`, JSON.stringify(patch), 'application/merge-patch+json');
      expect(res.status, res.body).toBe(200);
      const after = JSON.parse((await rawRequest(kc, 'GET', path, '', 'application/json')).body);
      expect(after.status).toEqual({ phase: 'Running', observedGeneration: generation });
      // The status endpoint ignores spec changes and does not bump the generation.
      expect(after.spec.pd.replicas).toBe(3);
      expect(after.metadata.generation).toBe(generation);

      const invalid = { status: { phase: 'Exploded' } };
      const bad = await rawRequest(kc, 'PATCH', `${path}/status`, JSON.stringify(invalid), 'application/merge-patch+json');
      expect(bad.status).toBe(422);
      expect(bad.body).toContain('status.phase');
    });
  });

  it('accepts every manifest `synth` prints for the examples with strict server-side apply', async () => {
    const { kc, auditLogPath } = getEnv();
    const ns = await newNamespace('synth');
    const work = mkdtempSync(join(tmpdir(), 'synth-'));
    const examples = readdirSync(join(REPO_ROOT, 'examples'))
      .filter((f) => f.endsWith('.yaml'))
      .map((file) => ({
        file,
        clusters: parseAllDocuments(readFileSync(join(REPO_ROOT, 'examples', file), 'utf8'), { version: '1.1' })
          .map((d) => d.toJS())
          .filter((d) => d?.kind === 'TikvCluster'),
      }))
      .filter((e) => e.clusters.length > 0);
    const clusterCount = examples.reduce((n, e) => n + e.clusters.length, 0);
    expect(clusterCount).toBeGreaterThanOrEqual(2);
    const applied: string[] = [];
    try {
      for (const { file: example, clusters } of examples) {
        const input = join(work, example);
        writeFileSync(input, clusters.map((c) => JSON.stringify({ ...c, metadata: { ...c.metadata, namespace: ns } })).join('\n---\n'));
        let out = '';
        let err = '';
        const code = await runSynth(['-f', input], { stdout: (s) => (out += s), stderr: (s) => (err += s) });
        expect(code, err).toBe(0);

        const manifests = out.split(/^---\n/m).filter((d) => d.trim() !== '');
        expect(manifests.length).toBeGreaterThan(0);
        for (const text of manifests) {
          const obj = parse(text, { version: '1.1' }) as { apiVersion: string; kind: string; metadata: { name: string; namespace: string } };
          expect(obj.metadata.namespace).toBe(ns);
          const path = await objectPath(kc, obj.apiVersion, obj.kind, ns, obj.metadata.name);
          // The YAML text exactly as printed; the apiserver reads it as kubectl would.
          const res = await rawRequest(
            kc,
            'PATCH',
            `${path}?fieldManager=tikv-operator&force=true&fieldValidation=Strict`,
            text,
            'application/apply-patch+yaml',
          );
          expect(res.status, `${example}: ${obj.kind}/${obj.metadata.name}: ${res.body}`).toBeLessThan(300);
          applied.push(`${obj.kind}/${obj.metadata.name}`);
        }
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    expect(applied.filter((a) => a.startsWith('StatefulSet/')).length).toBe(2 * clusterCount);

    // Strictness is real: the same kind of request with an unknown field is refused.
    const sts = applied.find((a) => a.startsWith('StatefulSet/'))!.split('/')[1]!;
    const path = await objectPath(kc, 'apps/v1', 'StatefulSet', ns, sts);
    const bogus = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: sts, namespace: ns }, spec: { replica: 3 } };
    const res = await rawRequest(
      kc,
      'PATCH',
      `${path}?fieldManager=tikv-operator&force=true&fieldValidation=Strict`,
      JSON.stringify(bogus),
      'application/apply-patch+yaml',
    );
    // Server-side apply refuses fields missing from the type's schema while building the
    // typed patch (HTTP 500 in 1.36, whatever fieldValidation says).
    expect(res.status, res.body).toBeGreaterThanOrEqual(400);
    expect(res.body).toContain('.spec.replica: field not declared in schema');

    // The audit log records each apply with the admin user.
    await waitFor(
      'audit events for the applies',
      async () => {
        const events = readFileSync(auditLogPath, 'utf8')
          .split('\n')
          .filter((l) => l.includes(`"namespace":"${ns}"`))
          .map((l) => JSON.parse(l) as { verb: string; user: { username: string }; objectRef: { resource: string } });
        const patches = events.filter((e) => e.verb === 'patch' && e.objectRef.resource === 'statefulsets' && e.user.username === 'admin');
        return patches.length >= 2 * clusterCount + 1;
      },
      { timeoutMs: 10_000 },
    );
  });

  it('enforces RBAC for a ServiceAccount kubeconfig from the TokenRequest API', async () => {
    const { kc } = getEnv();
    const ns = await newNamespace('rbac');
    const sa = await createServiceAccountKubeconfig(ns, 'robot');
    expect(sa.username).toBe(`system:serviceaccount:${ns}:robot`);
    const asRobot = sa.kc.makeApiClient(CoreV1Api);
    await expectApiError(asRobot.listNamespacedConfigMap({ namespace: ns }), 403);

    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: { metadata: { name: 'read-configmaps' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'robot-read-configmaps' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-configmaps' },
        subjects: [{ kind: 'ServiceAccount', name: 'robot', namespace: ns }],
      },
    });
    const list = await waitFor('the RoleBinding to take effect', () => asRobot.listNamespacedConfigMap({ namespace: ns }), {
      timeoutMs: 10_000,
    });
    // The root-ca-certificate-publisher controller puts kube-root-ca.crt in every namespace.
    expect(list.items.map((c) => c.metadata?.name)).toContain('kube-root-ca.crt');
    await expectApiError(asRobot.deleteNamespacedConfigMap({ namespace: ns, name: 'kube-root-ca.crt' }), 403);
  });
});
