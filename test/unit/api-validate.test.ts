// The operator's validation of bad and hostile TikvClusters (issue 8, holes 3, 4, 7 and 8):
// what synth refuses and what the reconciler turns into Ready=False InvalidSpec. The CRD
// refuses the same at admission (test/integration/admission.test.ts).
import { describe, expect, it } from 'vitest';
import { renderTikvToml } from '../../src/charts/config.js';
import { type FieldIssue, validateTikvCluster } from '../../src/api/validate.js';

type Spec = Record<string, unknown>;

const tkc = (spec: Spec, name = 'basic') => ({ apiVersion: 'tikv.org/v1alpha1', kind: 'TikvCluster', metadata: { name, namespace: 'ns' }, spec });

function issues(spec: Spec, name?: string): FieldIssue[] {
  const r = validateTikvCluster(tkc(spec, name));
  return r.ok ? [] : r.issues;
}

/** The issue paths of an invalid spec; fails when the spec is valid. */
function pathsOf(spec: Spec): string[] {
  const found = issues(spec);
  expect(found, 'expected the spec to be invalid').not.toEqual([]);
  return [...new Set(found.map((i) => i.path))];
}

const nested = (depth: number, leaf: unknown = 1): Spec => {
  let node: unknown = leaf;
  for (let i = 0; i < depth; i++) node = { a: node };
  return node as Spec;
};

describe('hole 3: deeply nested config', () => {
  it('reports a config nested 10,000 levels (the apiserver JSON limit) without overflowing the stack', () => {
    const found = issues({ tikv: { config: nested(10_000) } });
    expect(found).toHaveLength(1);
    expect(found[0]?.path).toBe('spec.tikv.config.a.a.a.a.a.a.a.a');
    expect(found[0]?.message).toMatch(/nested too deeply: config tables nest at most 8 keys deep/);
  });

  it('allows tables 8 keys deep and arrays of tables of scalars, as the CRD does', () => {
    expect(issues({ tikv: { config: nested(8) } })).toEqual([]);
    expect(issues({ pd: { config: { 'label-property': { 'reject-leader': [{ key: 'zone', value: 'z1' }] } } } })).toEqual([]);
    expect(pathsOf({ pd: { config: { a: [{ b: { c: 1 } }] } } })).toEqual(['spec.pd.config.a[0].b']);
    expect(pathsOf({ pd: { config: { a: [[[1]]] } } })).toEqual(['spec.pd.config.a[0][0]']);
  });

  it('refuses a deeply nested affinity at its first unknown field, without walking it', () => {
    expect(pathsOf({ tikv: { affinity: { nodeAffinity: nested(10_000) } } })).toEqual(['spec.tikv.affinity.nodeAffinity']);
  });
});

describe('hole 4: non-positive storage sizes', () => {
  it.each(['0', '0Gi', '-0', '-1Gi', '1', '1k'])('refuses storage.size %s', (size) => {
    const found = issues({ tikv: { storage: { size } } });
    expect(found).toEqual([{ path: 'spec.tikv.storage.size', message: 'must be a size from 1Mi to 1Ei, such as 10Gi' }]);
  });

  it('accepts the sizes from 1Mi to 1Ei', () => {
    for (const size of ['1Mi', '1048576', '10Gi', '1.5Ti', '1Ei']) expect(issues({ pd: { storage: { size } } }), size).toEqual([]);
  });
});

describe('hole 7: exact integers, every key, finite derived sizes', () => {
  it('keeps an integer beyond 2^53 exact into the TOML, and refuses one beyond 64 bits', () => {
    const r = validateTikvCluster(tkc({ tikv: { config: { raftstore: { 'region-split-size': 9007199254740993n } } } }));
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect(renderTikvToml(r.value.spec.tikv)).toContain('region-split-size = 9007199254740993\n');
    expect(pathsOf({ tikv: { config: { x: 1n << 64n } } })).toEqual(['spec.tikv.config.x']);
    expect(issues({ tikv: { config: { x: 1n << 64n } } })[0]?.message).toBe("integer out of TOML's 64-bit range");
  });

  it('keeps a __proto__ key through validation and rendering', () => {
    const config = JSON.parse('{"__proto__": {"x": 1}, "log": {"level": "warn"}}') as Spec;
    const r = validateTikvCluster(tkc({ tikv: { config } }));
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect(Object.keys(r.value.spec.tikv.config ?? {})).toEqual(['__proto__', 'log']);
    expect(renderTikvToml(r.value.spec.tikv)).toContain('[__proto__]\nx = 1\n');
  });

  it.each(['1e308', '2Pi', '0.5'])('refuses a memory limit of %s (its derived block cache would not be sensible)', (memory) => {
    expect(pathsOf({ tikv: { resources: { limits: { memory } } } })).toEqual(['spec.tikv.resources.limits.memory']);
  });

  it('sizes the block cache from the exact memory limit', () => {
    const r = validateTikvCluster(tkc({ tikv: { resources: { limits: { memory: '1Pi' } } } }));
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect(renderTikvToml(r.value.spec.tikv)).toContain(`capacity = "${(2n ** 50n * 3n) / 10n / 2n ** 20n}MiB"`);
  });
});

describe('hole 8: what core/v1 would refuse later is refused now, naming the field', () => {
  it.each(['abc', '1GB', '1 Gi', '0', '-1', '', '100k', '1e2147483648'])('refuses cpu %j', (cpu) => {
    const found = issues({ pd: { resources: { limits: { cpu } } } });
    expect(found.map((i) => i.path)).toEqual(['spec.pd.resources.limits.cpu']);
    expect(found[0]?.message).not.toMatch(/\^|\$/);
  });

  it('refuses a request above its limit, naming the request', () => {
    const resources = { requests: { cpu: '2', memory: '2Gi' }, limits: { cpu: '1500m', memory: '1Gi' } };
    expect(pathsOf({ tikv: { resources } }).sort()).toEqual(['spec.tikv.resources.requests.cpu', 'spec.tikv.resources.requests.memory']);
    expect(issues({ tikv: { resources: { requests: { cpu: '1' }, limits: { cpu: '1000m' } } } })).toEqual([]);
  });

  it('refuses a fractional number, which the CRD (integer or string) refuses too', () => {
    expect(issues({ pd: { resources: { requests: { cpu: 0.5 } } } })).toEqual([
      { path: 'spec.pd.resources.requests.cpu', message: 'must be a whole number, or a quantity string such as "500m" or "0.5"' },
    ]);
  });

  it.each([
    [{ operator: 'Equal', value: 'x' }, 'spec.tikv.tolerations[0].operator'],
    [{ key: 'k', operator: 'Exists', value: 'x' }, 'spec.tikv.tolerations[0].value'],
    [{ key: 'k', value: 'not a label value' }, 'spec.tikv.tolerations[0].value'],
    [{ key: 'bad key!' }, 'spec.tikv.tolerations[0].key'],
    [{ key: 'k', effect: 'NoSchedule', tolerationSeconds: 5 }, 'spec.tikv.tolerations[0].effect'],
  ])('refuses the toleration %j at %s', (toleration, path) => {
    expect(pathsOf({ tikv: { tolerations: [toleration] } })).toContain(path);
  });

  it('accepts the tolerations core/v1 accepts', () => {
    const tolerations = [
      { operator: 'Exists' },
      { key: 'example.com/dedicated', operator: 'Equal', value: 'tikv', effect: 'NoExecute', tolerationSeconds: 30 },
      { key: 'k', value: '' },
    ];
    expect(issues({ tikv: { tolerations } })).toEqual([]);
  });

  it.each([
    [{ 'bad key': 'v' }],
    [{ disk: 'not a label value' }],
    [{ [`${'a'.repeat(64)}`]: 'v' }],
  ])('refuses the nodeSelector %j', (nodeSelector) => {
    expect(pathsOf({ pd: { nodeSelector } })).toEqual(['spec.pd.nodeSelector']);
  });

  it.each(['Fast_SSD', 'a..b', '-x', 'x'.repeat(254)])('refuses storageClassName %j', (storageClassName) => {
    expect(pathsOf({ pd: { storage: { storageClassName } } })).toEqual(['spec.pd.storage.storageClassName']);
  });

  const term = (matchExpressions: unknown[]) => ({ nodeSelectorTerms: [{ matchExpressions }] });
  it.each([
    [{ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: term([{ key: 'disk', operator: 'In' }]) } }, '.values'],
    [{ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: term([{ key: 'disk', operator: 'Exists', values: ['x'] }]) } }, '.values'],
    [{ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: term([{ key: 'n', operator: 'Gt', values: ['five'] }]) } }, '.values'],
    [{ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: term([{ key: 'disk', operator: 'Near', values: ['x'] }]) } }, '.operator'],
    [{ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } }, 'nodeSelectorTerms'],
    [{ nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 0, preference: {} }] } }, '.weight'],
    [{ podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: '' }] } }, '.topologyKey'],
    [{ podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', matchLabelKeys: ['app'] }] } }, '.matchLabelKeys'],
    [{ podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 101, podAffinityTerm: { topologyKey: 'zone' } }] } }, '.weight'],
    [{ podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'zone', namespaces: ['Not_A_Namespace'] }] } }, '.namespaces[0]'],
    [{ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.labels', operator: 'In', values: ['n'] }] }] } } }, '.key'],
  ])('refuses the affinity %j (at ...%s)', (affinity, suffix) => {
    const paths = pathsOf({ tikv: { affinity } });
    expect(paths.some((p) => p.startsWith('spec.tikv.affinity.') && p.endsWith(suffix)), paths.join(', ')).toBe(true);
  });

  it('accepts the default-shaped anti-affinity and a node affinity', () => {
    const affinity = {
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: term([{ key: 'kubernetes.io/arch', operator: 'In', values: ['arm64', 'amd64'] }]) },
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/instance': 'basic' } } } },
        ],
      },
    };
    expect(issues({ tikv: { affinity } })).toEqual([]);
  });

  it('names the cluster name rule and keeps the message free of regex syntax', () => {
    const long = issues({}, 'a'.repeat(48));
    expect(long.map((i) => i.path)).toEqual(['metadata.name']);
    expect(long[0]?.message).toMatch(/^must be at most 47 characters/);
  });

  it('summarizes beyond 20 problems, so the condition message stays within its limit', () => {
    const config = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, null]));
    const found = issues({ tikv: { config } });
    expect(found).toHaveLength(21);
    expect(found.at(-1)).toEqual({ path: '', message: 'more problems not shown (the first 20 are)' });
  });
});
