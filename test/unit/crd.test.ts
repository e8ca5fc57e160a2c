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
    expect((crd.spec as { names: { shortNames: string[] } }).names.shortNames).toEqual(['tkc']);
  });

  describe('printer columns', () => {
    const columns = version(crd).additionalPrinterColumns as Array<{ name: string; type: string; jsonPath: string; priority?: number }>;
    const paths = new Set([...fields(root)].map(([p]) => p));
    /** The field a column reads, as `fields` names it: `.status.conditions[?(...)].reason` -> `status.conditions[].reason`. */
    const fieldOf = (jsonPath: string) => jsonPath.slice(1).replace(/\[\?\(@\.type=="[A-Za-z]+"\)\]/, '[]');
    /** kubectl's JSONPath for the forms the columns use. */
    const read = (obj: unknown, jsonPath: string): unknown => {
      let v: unknown = obj;
      for (const part of jsonPath.slice(1).match(/[^.[\]]+|\[\?\(@\.type=="[A-Za-z]+"\)\]/g) ?? []) {
        const filter = /^\[\?\(@\.type=="([A-Za-z]+)"\)\]$/.exec(part);
        v = filter ? (v as Array<{ type: string }> | undefined)?.find((c) => c.type === filter[1]) : (v as Record<string, unknown> | undefined)?.[part];
      }
      return v;
    };

    it('are, in order: the summary by default, why not Ready and pod counts with -o wide', () => {
      expect(columns.filter((c) => !c.priority).map((c) => c.name)).toEqual(['Ready', 'Phase', 'PD', 'PD-Desired', 'Stores', 'TiKV-Desired', 'Pods', 'Version', 'Synced', 'Age']);
      expect(columns.filter((c) => c.priority === 1).map((c) => c.name)).toEqual(['Reason', 'TiKV-Pods', 'Message']);
    });

    it('each read a field the schema has (metadata is the apiserver\'s own)', () => {
      for (const c of columns.filter((x) => !x.jsonPath.startsWith('.metadata.'))) expect(paths, `${c.name}: ${c.jsonPath}`).toContain(fieldOf(c.jsonPath));
    });

    it('show what runs from status: stores Up (not ready pods), the running version (not the spec), the last sync', () => {
      const obj = {
        metadata: { creationTimestamp: '2025-08-19T09:00:00Z' },
        spec: { version: 'v8.5.6', pd: { replicas: 3 }, tikv: { replicas: 3 } },
        status: {
          version: 'v8.5.5',
          lastSyncTime: '2025-08-19T10:00:00Z',
          phase: 'Blocked',
          conditions: [
            { type: 'PDAvailable', status: 'True', reason: 'AllMembersHealthy', message: 'x' },
            { type: 'Ready', status: 'False', reason: 'ScaleInBlocked', message: 'set spec.tikv.replicas back to 3' },
            { type: 'PodsHealthy', status: 'False', reason: 'CrashLoopBackOff', message: 'basic-tikv-1: …' },
          ],
          pd: { readyReplicas: 3 },
          tikv: { readyReplicas: 3, upStores: 0 },
        },
      };
      const row = Object.fromEntries(columns.map((c) => [c.name, read(obj, c.jsonPath)]));
      expect(row).toEqual({
        Ready: 'False',
        Phase: 'Blocked',
        PD: 3,
        'PD-Desired': 3,
        Stores: 0,
        'TiKV-Desired': 3,
        Pods: 'CrashLoopBackOff',
        Version: 'v8.5.5',
        Synced: '2025-08-19T10:00:00Z',
        Age: '2025-08-19T09:00:00Z',
        Reason: 'ScaleInBlocked',
        'TiKV-Pods': 3,
        Message: 'set spec.tikv.replicas back to 3',
      });
      expect(columns.find((c) => c.name === 'Synced')?.type).toBe('date');
    });
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
