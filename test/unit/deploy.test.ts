import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CLUSTER_RULES, NAMESPACE_RULES, synthesizeOperator } from '../../src/charts/operator.js';
import { DEPLOY_FILE, renderOperatorYaml } from '../../src/charts/operator-yaml.js';

type Container = { securityContext: Record<string, unknown>; readinessProbe?: unknown; livenessProbe?: unknown; resources: { limits?: Record<string, string> } };

describe('deploy/ (the operator in the cluster)', () => {
  const objects = synthesizeOperator();
  const byKind = (k: string) => objects.filter((o) => o.kind === k);

  it('matches the committed deploy/ file (run `npm run gen:deploy` after changing src/charts/operator.ts)', () => {
    expect(readFileSync(DEPLOY_FILE, 'utf8')).toBe(renderOperatorYaml());
    const docs = parseAllDocuments(readFileSync(DEPLOY_FILE, 'utf8'), { version: '1.1' }).map((d) => d.toJS());
    expect(docs.map((d) => d.kind)).toEqual(objects.map((o) => o.kind));
  });

  it('grants no wildcard, no secrets access and no delete but one', () => {
    for (const rule of [...CLUSTER_RULES, ...NAMESPACE_RULES]) {
      expect(rule.verbs).not.toContain('*');
      expect(rule.resources).not.toContain('*');
      expect(rule.verbs).not.toContain('deletecollection');
      expect(rule.resources).not.toContain('secrets');
    }
    // The deletes: a retained PVC whose data PD confirmed dead (tombstoned store, removed
    // member, or never a store of this PD cluster), before a scale-out reuses its ordinal;
    // and one incarnation of a pod that was admitted but never registered with PD, so it
    // cannot register while its ordinal is removed (the pod comes back, gated). Everything
    // else the operator owns goes through owner references (also the config-check pods it
    // creates: they stay, one per checked config, until the TikvCluster goes).
    // `services/proxy` delete is not a Kubernetes delete: it is a DELETE proxied to PD's own
    // API (remove a member, offline a store, drop an evict-leader entry) when running outside
    // the cluster.
    const deletes = [...CLUSTER_RULES, ...NAMESPACE_RULES].filter((r) => r.verbs.includes('delete'));
    expect(deletes).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['persistentvolumeclaims'], verbs: ['get', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['services/proxy'], verbs: ['get', 'create', 'delete'] },
    ]);
    const role = byKind('Role')[0] as unknown as { rules: unknown[]; metadata: { namespace: string } };
    expect(role.metadata.namespace).toBe('tikv-operator-system');
    expect(role.rules).toEqual(NAMESPACE_RULES);
  });

  it('binds the roles to the operator ServiceAccount', () => {
    const sa = byKind('ServiceAccount')[0]!;
    for (const b of [...byKind('ClusterRoleBinding'), ...byKind('RoleBinding')] as unknown as Array<{ subjects: Array<{ name: string; namespace: string }> }>) {
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
    }
  });

  it('runs non-root with a read-only root filesystem, probes and a memory limit', () => {
    const dep = byKind('Deployment')[0] as unknown as { spec: { template: { spec: { securityContext: Record<string, unknown>; containers: Container[] } } } };
    const pod = dep.spec.template.spec;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    const c = pod.containers[0]!;
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(c.readinessProbe).toBeDefined();
    expect(c.livenessProbe).toBeDefined();
    expect(c.resources.limits?.memory).toBeDefined();
  });

  it('starts node in the image with the small-heap flags the benchmark measures', () => {
    const entrypoint = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('ENTRYPOINT '));
    expect(JSON.parse(entrypoint?.slice('ENTRYPOINT '.length) ?? '[]')).toEqual([
      '/nodejs/bin/node',
      '--max-semi-space-size=1',
      '--v8-pool-size=1',
      '/app/dist/src/main.js',
    ]);
  });
});
