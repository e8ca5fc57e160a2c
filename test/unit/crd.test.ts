import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_MAX_KEY_DEPTH } from '../../src/api/config-shape.js';
import { buildConfigPolicy, buildCRD, CONFIG_POLICY_FILE, CRD_FILE, renderConfigPolicyYaml, renderCRDYaml } from '../../src/api/crd.js';
import { MAX_CLUSTER_NAME_LENGTH } from '../../src/api/limits.js';

type Schema = Record<string, unknown> & { properties?: Record<string, Schema>; items?: Schema };

const version = (crd: Record<string, unknown>) =>
  (crd.spec as { versions: Array<Record<string, unknown>> }).versions[0] as {
    schema: { openAPIV3Schema: Schema };
    subresources: Record<string, unknown>;
    additionalPrinterColumns: Array<{ name: string; jsonPath: string }>;
  };

/** Every property below `node`, with its dotted path. */
function* fields(node: Schema, path = ''): Generator<[string, Schema]> {
  for (const [k, v] of Object.entries(node.properties ?? {})) {
    const p = path ? `${path}.${k}` : k;
    yield [p, v];
    yield* fields(v, p);
    if (v.items) yield* fields(v.items, `${p}[]`);
  }
}

describe('CRD', () => {
  const crd = buildCRD();
  const root = version(crd).schema.openAPIV3Schema;

  it('matches the committed crds/ file (run `npm run gen:crd` after changing src/api)', () => {
    expect(readFileSync(CRD_FILE, 'utf8')).toBe(renderCRDYaml());
    expect(readFileSync(CONFIG_POLICY_FILE, 'utf8')).toBe(renderConfigPolicyYaml());
  });

  it('binds the owned-config policy to every namespace, on spec writes only (status and scale are other resources)', () => {
    const [policy, binding] = buildConfigPolicy() as Array<{ kind: string; spec: Record<string, unknown> }>;
    expect(policy?.kind).toBe('ValidatingAdmissionPolicy');
    expect(policy?.spec.matchConstraints).toEqual({
      matchPolicy: 'Equivalent',
      namespaceSelector: {},
      objectSelector: {},
      resourceRules: [{ apiGroups: ['tikv.org'], apiVersions: ['v1alpha1'], operations: ['CREATE', 'UPDATE'], resources: ['tikvclusters'], scope: '*' }],
    });
    expect(policy?.spec.failurePolicy).toBe('Fail');
    expect(binding).toMatchObject({ kind: 'ValidatingAdmissionPolicyBinding', spec: { policyName: 'tikvclusters.tikv.org-owned-config', validationActions: ['Deny'] } });
    expect(binding?.spec).not.toHaveProperty('matchResources');
  });

  it('describes every field, so kubectl explain helps', () => {
    // metadata is the exception the apiserver imposes: it refuses a description there.
    const undocumented = [...fields(root)]
      .filter(([p, s]) => p !== 'metadata' && (typeof s.description !== 'string' || !s.description))
      .map(([p]) => p);
    expect(undocumented).toEqual([]);
  });

  it('is a structural schema: typed nodes, no additionalProperties:false, no $ref', () => {
    const text = JSON.stringify(root);
    expect(text).not.toContain('"$ref"');
    expect(text).not.toContain('"additionalProperties":false');
    expect(text).not.toContain('"$schema"');
    for (const [p, s] of fields(root)) {
      const typed = typeof s.type === 'string' || s['x-kubernetes-int-or-string'] === true;
      expect(typed, `${p} must have a type`).toBe(true);
    }
  });

  it('bounds the depth of spec.*.config with untyped levels down to CONFIG_MAX_KEY_DEPTH', () => {
    for (const c of ['pd', 'tikv']) {
      const config = root.properties!.spec!.properties![c]!.properties!.config!;
      expect(config).toMatchObject({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
      // Follow the table chain: one additionalProperties per allowed key level, then a leaf.
      let node = config.additionalProperties as Schema;
      let levels = 1;
      while (node.additionalProperties) {
        expect(node['x-kubernetes-preserve-unknown-fields']).toBe(true);
        expect(node.items, 'array items have their own, fixed shape').toBeDefined();
        node = node.additionalProperties as Schema;
        levels++;
      }
      expect(levels).toBe(CONFIG_MAX_KEY_DEPTH);
      expect(node).toEqual({ 'x-kubernetes-preserve-unknown-fields': true, maxProperties: 0, maxItems: 0 });
    }
  });

  it('checks values with CEL rules that carry a message, never with a raw pattern', () => {
    // A pattern's error shows the regex; a CEL rule's shows its message (issue 12).
    const spec = root.properties!.spec!;
    expect(JSON.stringify(spec)).not.toContain('"pattern"');
    for (const [p, s] of [['metadata.name', root.properties!.metadata!.properties!.name!] as [string, Schema], ...fields(spec)]) {
      for (const r of (s['x-kubernetes-validations'] as Array<{ rule: string; message?: string }> | undefined) ?? []) {
        expect(r.message, `${p}: ${r.rule}`).toMatch(/\w/);
      }
    }
  });

  it('defaults the documented fields', () => {
    const spec = root.properties!.spec!;
    expect(spec.properties!.version!.default).toBe('v8.5.5');
    expect(spec.properties!.imagePullPolicy!.default).toBe('IfNotPresent');
    expect(spec.properties!.pd!.properties!.replicas!.default).toBe(3);
    expect(spec.properties!.tikv!.properties!.replicas!.minimum).toBe(1);
    expect(spec.properties!.pd!.properties!.storage!.properties!.size!.default).toBe('1Gi');
    expect(spec.properties!.tikv!.properties!.storage!.properties!.size!.default).toBe('5Gi');
    expect(spec.properties!.pd!.properties!.image!.default).toBe('pingcap/pd');
  });

  it('keeps storage immutable and names short enough with CEL rules that name their field', () => {
    const storage = root.properties!.spec!.properties!.tikv!.properties!.storage!;
    type R = { rule: string; fieldPath?: string };
    const rules = (s: Schema) => (s['x-kubernetes-validations'] as R[] | undefined) ?? [];
    const transitions = rules(storage).filter((r) => r.rule.includes('oldSelf'));
    expect(transitions.map((r) => r.fieldPath).sort()).toEqual(['.size', '.storageClassName']);
    expect(transitions.find((r) => r.fieldPath === '.size')?.rule).toContain('self.size == oldSelf.size');
    // The name rules sit on metadata.name, so the apiserver's error names that field, not <nil>.
    expect(rules(root)).toEqual([]);
    const name = root.properties!.metadata!.properties!.name!;
    expect(rules(name).map((r) => r.rule)).toContain(`self.size() <= ${MAX_CLUSTER_NAME_LENGTH}`);
    expect(MAX_CLUSTER_NAME_LENGTH).toBe(47);
  });

  it('has status + scale subresources and printer columns', () => {
    const v = version(crd);
    expect(v.subresources.status).toEqual({});
    expect(v.subresources.scale).toEqual({
      specReplicasPath: '.spec.tikv.replicas',
      statusReplicasPath: '.status.tikv.replicas',
      labelSelectorPath: '.status.tikv.selector',
    });
    expect(v.additionalPrinterColumns.map((c) => c.name)).toEqual(['Ready', 'Phase', 'PD', 'PD-Desired', 'TiKV', 'TiKV-Desired', 'Pods', 'Version', 'Age']);
    expect((crd.spec as { names: { shortNames: string[] } }).names.shortNames).toEqual(['tkc']);
  });

  it('renders quantities as int-or-string', () => {
    const cpu = root.properties!.spec!.properties!.tikv!.properties!.resources!.properties!.limits!.properties!.cpu!;
    expect(cpu['x-kubernetes-int-or-string']).toBe(true);
    expect(cpu.anyOf).toEqual([{ type: 'integer' }, { type: 'string' }]);
  });

  it('parses back as YAML 1.1 without changing a value', () => {
    expect(parse(renderCRDYaml(), { version: '1.1' })).toEqual(JSON.parse(JSON.stringify(crd)));
  });
});
