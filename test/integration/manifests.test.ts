// Every manifest the kind path applies (crds/, deploy/ as `npm run kind:up` stamps it,
// examples/) goes through the real apiserver's server-side apply with strict field
// validation, as `kubectl apply --server-side` would send it: an unknown, misspelt or
// duplicated field, a schema the apiserver refuses or an object admission rejects fails
// here instead of on a user's kind cluster.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { stampImageId } from '../../scripts/kind-lib.js';
import { DEPLOY_FILE } from '../../src/charts/operator-yaml.js';
import { kubeJSON } from '../../src/controller/kube/raw.js';
import { applyStrict, type Manifest, parseManifests, readManifests } from '../e2e/support/kube.js';
import { REPO_ROOT } from '../env/binaries.js';
import { getEnv, newNamespace } from '../env/context.js';
import { installOperatorPrerequisites } from './support/operator.js';

const yamlFiles = (dir: string) =>
  readdirSync(join(REPO_ROOT, dir))
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => join(dir, f));

const label = (m: Manifest) => `${m.kind}/${m.metadata.name}`;

describe('manifests applied on kind pass strict server-side validation', () => {
  const kc = () => getEnv().kc;
  let ns: string;

  beforeAll(async () => {
    // The CRD must be served before examples/ can be checked, and the operator namespace
    // must exist for the namespaced deploy/ objects to be admitted.
    await installOperatorPrerequisites();
    ns = await newNamespace('manifests');
  });

  it('crds/: each CRD, and the admission policy for operator-owned config keys, applies as is', async () => {
    const files = yamlFiles('crds');
    expect(files.length).toBeGreaterThan(0);
    const applied: string[] = [];
    for (const file of files) {
      for (const m of readManifests(join(REPO_ROOT, file))) {
        const obj = await applyStrict(kc(), m, { fieldManager: 'manifests-test' });
        expect(label(obj), file).toBe(label(m));
        applied.push(obj.kind);
      }
    }
    expect(applied.sort()).toEqual(['CustomResourceDefinition', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
  });

  it('deploy/: every document, also with the image-ID annotation kind:up adds, is admitted (dry run)', async () => {
    const file = join(REPO_ROOT, DEPLOY_FILE);
    const plain = readManifests(file);
    const stamped = parseManifests(stampImageId(readFileSync(file, 'utf8'), 'sha256:0123456789abcdef'), `${DEPLOY_FILE} (stamped)`);
    expect(stamped.map(label)).toEqual(plain.map(label));
    expect(plain.map(label).sort()).toEqual(
      [
        'ClusterRole/tikv-operator',
        'ClusterRoleBinding/tikv-operator',
        'Deployment/tikv-operator',
        'Namespace/tikv-operator-system',
        'Role/tikv-operator-leader-election',
        'RoleBinding/tikv-operator-leader-election',
        'Service/tikv-operator-metrics',
        'ServiceAccount/tikv-operator',
      ].sort(),
    );
    for (const m of [...plain, ...stamped]) {
      const applied = await applyStrict(kc(), m, { fieldManager: 'kubectl', dryRun: true });
      expect(label(applied), DEPLOY_FILE).toBe(label(m));
    }
  });

  it('deploy/: the operator pod meets the "restricted" Pod Security Standard', async () => {
    const psNs = await newNamespace('restricted');
    await kubeJSON(kc(), {
      method: 'PATCH',
      path: `/api/v1/namespaces/${psNs}`,
      body: { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' } } },
      contentType: 'application/merge-patch+json',
    });
    await kubeJSON(kc(), { method: 'POST', path: `/api/v1/namespaces/${psNs}/serviceaccounts`, body: { metadata: { name: 'tikv-operator' } } });
    const deployment = readManifests(join(REPO_ROOT, DEPLOY_FILE)).find((m) => m.kind === 'Deployment') as Manifest & {
      spec: { template: { metadata: Record<string, unknown>; spec: Record<string, unknown> } };
    };
    // The namespace only labels which standard to enforce; a pod built from the template is what PodSecurity admission judges.
    const pod: Manifest = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'tikv-operator-pss' }, spec: deployment.spec.template.spec };
    const admitted = await applyStrict(kc(), pod, { fieldManager: 'kubectl', namespace: psNs, dryRun: true });
    expect(label(admitted)).toBe('Pod/tikv-operator-pss');
    // And the check is real: the same pod without runAsNonRoot is refused.
    const spec = deployment.spec.template.spec as { securityContext: Record<string, unknown> };
    const loose: Manifest = { ...pod, spec: { ...spec, securityContext: { ...spec.securityContext, runAsNonRoot: false } } };
    await expect(applyStrict(kc(), loose, { fieldManager: 'kubectl', namespace: psNs, dryRun: true })).rejects.toThrow(/violates PodSecurity "restricted/);
  });

  it('examples/: each TikvCluster is admitted by the CRD schema and its CEL rules (dry run)', async () => {
    const files = yamlFiles('examples');
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const docs = readManifests(join(REPO_ROOT, file));
      expect(docs.length, file).toBeGreaterThan(0);
      for (const m of docs) {
        const applied = await applyStrict(kc(), m, { fieldManager: 'kubectl', namespace: ns, dryRun: true });
        expect(label(applied), file).toBe(label(m));
      }
    }
  });

  it('is strict: an unknown field is refused, in a deploy/ document and in a TikvCluster', async () => {
    const sa = readManifests(join(REPO_ROOT, DEPLOY_FILE)).find((m) => m.kind === 'ServiceAccount')!;
    await expect(applyStrict(kc(), { ...sa, automountServiceAccountTokn: false }, { fieldManager: 'kubectl', dryRun: true })).rejects.toThrow(
      // Server-side apply refuses a field its schema lacks, for built-in kinds and CRs alike
      // (HTTP 500 "failed to create typed patch object" in 1.36).
      /automountServiceAccountTokn: field not declared in schema/,
    );
    const example = readManifests(join(REPO_ROOT, 'examples/basic.yaml'))[0]!;
    const typo = { ...example, spec: { ...(example.spec as object), tikv: { replicas: 3, storag: { size: '1Gi' } } } };
    await expect(applyStrict(kc(), typo, { fieldManager: 'kubectl', namespace: ns, dryRun: true })).rejects.toThrow(/\.spec\.tikv\.storag: field not declared in schema/);
  });
});
