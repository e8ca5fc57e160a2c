// Generated TikvClusters through validation and synthesis: valid ones always synthesize
// into objects whose every derived name fits Kubernetes limits; invalid ones always fail
// with a field path; nothing throws.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  DNS1035_LABEL_MAX,
  DNS1123_SUBDOMAIN_MAX,
  LABEL_VALUE_MAX,
  MAX_CLUSTER_NAME_LENGTH,
  pdPvcName,
  REVISION_HASH_MAX,
  tikvPvcName,
  validateTikvCluster,
} from '../../src/api/index.js';
import { type KubeObject, PD_INITIAL_CLUSTER_KEY, synthesize, synthesizeUncached } from '../../src/charts/index.js';
import { toYamlStream } from '../../src/cli/yaml.js';
import { configMapData, statefulSet, walk } from './charts-helpers.js';

const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const MAX_REPLICAS = 99;

const chars = (alphabet: string) => fc.constantFrom(...alphabet.split(''));
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';

/** A DNS-1035 / DNS-1123 label of exactly `len` characters. */
const label = (len: number, first: string) =>
  len === 1
    ? chars(first)
    : fc
        .tuple(chars(first), fc.array(chars(`${LOWER}${DIGITS}-`), { minLength: len - 2, maxLength: len - 2 }), chars(`${LOWER}${DIGITS}`))
        .map(([a, mid, z]) => `${a}${mid.join('')}${z}`);

const labelUpTo = (max: number, first: string) =>
  fc.oneof(
    { arbitrary: fc.integer({ min: 1, max }).chain((n) => label(n, first)), weight: 3 },
    { arbitrary: label(max, first), weight: 1 },
  );

const clusterName = labelUpTo(MAX_CLUSTER_NAME_LENGTH, LOWER);
const namespace = labelUpTo(63, `${LOWER}${DIGITS}`);

// Quantities within the CRD's bounds: memory and storage from 1Mi, CPU above 0.
const size = (maxUnit: 'Ti' | 'Pi') =>
  fc
    .tuple(fc.integer({ min: 2, max: 1024 }), fc.constantFrom('Mi', 'Gi', ...(maxUnit === 'Pi' ? ['Ti'] : []), 'M', 'G'))
    .map(([n, unit]) => `${n}${unit}`);
const storageSize = fc.oneof(size('Pi'), fc.constantFrom('1.5Gi', '500M', '1e9', '1048576'));
const memory = fc.oneof(size('Ti'), fc.constantFrom(1 << 30, '1.5Gi'));
/** CPU in millicores, with the spellings the apiserver accepts. */
const cpu = fc.integer({ min: 1, max: 16_000 }).chain((m) =>
  fc.constantFrom<string | number>(`${m}m`, ...(m % 1000 === 0 ? [m / 1000, `${m / 1000}`] : []), ...(m % 100 === 0 ? [`${m / 1000}`] : [])),
);
/** Requests and limits, each request at most its limit (core/v1 refuses more). */
const resources = fc
  .record(
    {
      cpu: fc.tuple(fc.integer({ min: 1, max: 8000 }), fc.integer({ min: 0, max: 8000 })),
      memory: fc.tuple(fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 0, max: 4096 })),
    },
    { requiredKeys: [] },
  )
  .chain((r) =>
    fc.record(
      {
        requests: fc.record(
          { ...(r.cpu ? { cpu: fc.constant(`${r.cpu[0]}m`) } : {}), ...(r.memory ? { memory: fc.constant(`${r.memory[0]}Mi`) } : {}) },
          { requiredKeys: [] },
        ),
        limits: fc.record(
          {
            ...(r.cpu ? { cpu: fc.constant(`${r.cpu[0] + r.cpu[1]}m`) } : { cpu }),
            ...(r.memory ? { memory: fc.constant(`${r.memory[0] + r.memory[1]}Mi`) } : { memory }),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    ),
  );

const tomlKey = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/);
const tomlScalar = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean(), fc.array(fc.integer(), { maxLength: 3 }));
const tomlTree = fc.letrec((tie) => ({
  tree: fc.dictionary(tomlKey, fc.oneof({ maxDepth: 6 }, { arbitrary: tomlScalar, weight: 3 }, { arbitrary: tie('tree'), weight: 1 }), {
    maxKeys: 4,
  }),
})).tree;

const labelKey = fc.stringMatching(/^([a-z0-9]+\.)?[a-z]([a-z0-9-]{0,14}[a-z0-9])?$/).map((k) => (k.includes('.') ? `${k}/x` : k));
const labelValue = fc.stringMatching(/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?)?$/);
const toleration = fc.oneof(
  fc.record({ key: labelKey, operator: fc.constant('Exists'), effect: fc.constantFrom('NoSchedule', 'PreferNoSchedule', 'NoExecute') }, {
    requiredKeys: ['key'],
  }),
  fc.record(
    { key: labelKey, operator: fc.constant('Equal'), value: labelValue, effect: fc.constantFrom('NoSchedule', 'PreferNoSchedule', 'NoExecute') },
    { requiredKeys: ['key'] },
  ),
);

const component = fc.record(
  {
    replicas: fc.integer({ min: 1, max: MAX_REPLICAS }),
    image: fc.constantFrom('pingcap/pd', 'localhost:5000/x', 'registry.example.com/team/tikv:v1', 'img@sha256:0123'),
    storage: fc.record({ size: storageSize, storageClassName: labelUpTo(63, LOWER) }, { requiredKeys: [] }),
    resources,
    config: tomlTree,
    nodeSelector: fc.dictionary(labelKey, labelValue, { maxKeys: 2 }),
    tolerations: fc.array(toleration, { maxLength: 2 }),
  },
  { requiredKeys: [] },
);

const validCluster = fc.record({
  apiVersion: fc.constant('tikv.org/v1alpha1'),
  kind: fc.constant('TikvCluster'),
  metadata: fc.record({ name: clusterName, namespace }, { requiredKeys: ['name'] }),
  spec: fc.record(
    {
      version: fc.constantFrom('v8.5.5', 'v7.5.0', 'nightly', 'v8.5.5-rc.1'),
      paused: fc.boolean(),
      imagePullPolicy: fc.constantFrom('Always', 'IfNotPresent', 'Never'),
      pd: component,
      tikv: component,
    },
    { requiredKeys: [] },
  ),
});

const synthOptions = fc.record(
  {
    uid: fc.uuid(),
    pdBootstrapped: fc.boolean(),
    pdPartition: fc.integer({ min: 0, max: MAX_REPLICAS }),
    tikvPartition: fc.integer({ min: 0, max: MAX_REPLICAS }),
  },
  { requiredKeys: [] },
);

function expectName(name: string, pattern: RegExp, max: number, what: string) {
  expect(name.length, `${what} ${name}`).toBeLessThanOrEqual(max);
  expect(name, what).toMatch(pattern);
}

/** Every name the objects lead the apiserver and the StatefulSet controller to create. */
function checkDerivedNames(objects: KubeObject[]) {
  for (const o of objects) {
    if (o.kind === 'Service') expectName(o.metadata.name, DNS1035_LABEL, DNS1035_LABEL_MAX, 'Service name');
    else expectName(o.metadata.name, DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_MAX, `${o.kind} name`);
  }
  for (const o of objects.filter((x) => x.kind === 'StatefulSet')) {
    const sts = statefulSet(objects, o.metadata.name);
    const maxOrdinal = (sts.spec?.replicas ?? 1) - 1;
    for (const ordinal of [maxOrdinal, MAX_REPLICAS - 1]) {
      // Pod names double as hostnames: DNS-1123 labels.
      expectName(`${o.metadata.name}-${ordinal}`, DNS1123_LABEL, 63, 'pod name');
      for (const t of sts.spec?.volumeClaimTemplates ?? []) {
        expectName(`${t.metadata?.name}-${o.metadata.name}-${ordinal}`, DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_MAX, 'PVC name');
      }
    }
    // The StatefulSet controller labels pods controller-revision-hash=<sts>-<hash>.
    expectName(`${o.metadata.name}-${'9'.repeat(REVISION_HASH_MAX)}`, LABEL_VALUE, LABEL_VALUE_MAX, 'controller-revision-hash');
    expectName(`${o.metadata.name}-${MAX_REPLICAS - 1}`, LABEL_VALUE, LABEL_VALUE_MAX, 'statefulset.kubernetes.io/pod-name');
  }
  for (const [p, v] of walk(objects)) {
    if (/\.(labels|matchLabels|selector)\.[^.]+$/.test(p) && typeof v === 'string') expectName(v, LABEL_VALUE, LABEL_VALUE_MAX, `label ${p}`);
  }
}

describe('valid TikvClusters', () => {
  it('always validate and synthesize, and every derived name fits Kubernetes limits', () => {
    fc.assert(
      fc.property(validCluster, synthOptions, (input, opts) => {
        const result = validateTikvCluster(input);
        if (!result.ok) throw new Error(`valid input rejected: ${JSON.stringify(result.issues)}`);
        const c = result.value;
        const objects = synthesize(c, opts);
        expect(objects).toHaveLength(7);
        checkDerivedNames(objects);

        const name = c.metadata.name;
        expect(statefulSet(objects, `${name}-pd`).spec?.volumeClaimTemplates?.[0]?.metadata?.name).toBe('pd');
        expect(`pd-${name}-pd-${c.spec.pd.replicas - 1}`).toBe(pdPvcName(name, c.spec.pd.replicas - 1));
        expect(`tikv-${name}-tikv-${c.spec.tikv.replicas - 1}`).toBe(tikvPvcName(name, c.spec.tikv.replicas - 1));
        const members = configMapData(objects, `${name}-pd`)[PD_INITIAL_CLUSTER_KEY]?.split(',') ?? [];
        expect(members).toHaveLength(c.spec.pd.replicas);
        for (const o of objects) expect(o.metadata.ownerReferences?.[0]?.uid).toBe(opts.uid);
      }),
      { numRuns: 300 },
    );
  });

  it('synthesize from memory exactly what a fresh synthesis gives, as objects the caller owns', () => {
    fc.assert(
      fc.property(validCluster, synthOptions, fc.integer({ min: 1, max: 1e6 }), (input, opts, rv) => {
        const result = validateTikvCluster(input);
        if (!result.ok) throw new Error(`valid input rejected: ${JSON.stringify(result.issues)}`);
        const c = result.value;
        // Remembered under another resourceVersion and generation: neither feeds the charts.
        const first = synthesize({ ...c, metadata: { ...c.metadata, resourceVersion: String(rv), generation: rv } }, opts);
        const fresh = synthesizeUncached(c, opts);
        expect(first).toEqual(fresh);
        first[0]!.metadata.name = 'changed by the caller';
        (first[first.length - 1]!.spec as { replicas: number }).replicas = -1;
        expect(synthesize(c, opts)).toEqual(fresh);
      }),
      { numRuns: 200 },
    );
  });

  it('never answer from memory for a config integer beyond 2^53 what its digit string rendered', () => {
    const withConfig = (value: unknown) => {
      const result = validateTikvCluster({ apiVersion: 'tikv.org/v1alpha1', kind: 'TikvCluster', metadata: { name: 'exact', namespace: 'default' }, spec: { tikv: { config: { raftstore: { 'region-split-size': value } } } } });
      if (!result.ok) throw new Error(`valid input rejected: ${JSON.stringify(result.issues)}`);
      return result.value;
    };
    const toml = (objects: KubeObject[]) => (objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-tikv'))?.data as Record<string, string> | undefined)?.['tikv.toml'] ?? '';
    expect(toml(synthesize(withConfig('9007199254740993')))).toContain('region-split-size = "9007199254740993"');
    expect(toml(synthesize(withConfig(9007199254740993n)))).toContain('region-split-size = 9007199254740993\n');
  });

  it('survive a YAML 1.1 round trip unchanged', () => {
    fc.assert(
      fc.property(validCluster, (input) => {
        const result = validateTikvCluster(input);
        if (!result.ok) throw new Error(`valid input rejected: ${JSON.stringify(result.issues)}`);
        const objects = synthesize(result.value);
        const back = parseAllDocuments(toYamlStream(objects), { version: '1.1' }).map((d) => d.toJS());
        expect(back).toEqual(objects);
      }),
      { numRuns: 100 },
    );
  });
});

// --- invalid clusters: a valid one with exactly one thing broken ------------------------

type Tree = Record<string, unknown>;
type Mutation = { path: string; apply: (c: Tree) => void };

/** Sets the field at a dotted path (creating parents); `reportedAt` is where validation should point. */
const set = (path: string, value: unknown, reportedAt = path): Mutation => ({
  path: reportedAt,
  apply: (c) => {
    const keys = path.split('.');
    let node = c;
    for (const k of keys.slice(0, -1)) {
      node[k] ??= {};
      node = node[k] as Tree;
    }
    node[keys.at(-1) as string] = value;
  },
});

const badName = fc.oneof(
  fc.constantFrom('', 'Basic', '1abc', 'a_b', 'abc-', '-abc', 'a.b', 'a b', 'ä'),
  fc.integer({ min: MAX_CLUSTER_NAME_LENGTH + 1, max: 300 }).chain((n) => label(n, LOWER)),
);
const badQuantity = fc.oneof(fc.constantFrom('lots', '1 Gi', 'Gi', '1GB', '', '1Gi ', '-', 'x1'), fc.stringMatching(/^[a-z]{1,8}$/));
const badReplicas = fc.oneof(fc.constantFrom(0, -1, 100, 1.5, '3', null, true), fc.integer({ max: 0 }), fc.integer({ min: 100 }));
const component_ = fc.constantFrom('pd', 'tikv');

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  badName.map((n) => set('metadata.name', n)),
  fc.constant(set('metadata.name', 42)),
  fc.tuple(component_, badReplicas).map(([c, r]) => set(`spec.${c}.replicas`, r)),
  fc.tuple(component_, badQuantity).map(([c, q]) => set(`spec.${c}.storage.size`, q)),
  fc.tuple(component_, badQuantity, fc.constantFrom('requests', 'limits'), fc.constantFrom('cpu', 'memory')).map(([c, q, k, r]) =>
    set(`spec.${c}.resources.${k}.${r}`, q),
  ),
  fc
    .tuple(fc.constantFrom('spec', 'spec.pd', 'spec.tikv.storage', 'spec.tikv.resources'), fc.stringMatching(/^[a-z][a-zA-Z]{2,10}$/))
    .filter(([, k]) => !['version', 'paused', 'pd', 'tikv', 'replicas', 'image', 'storage', 'resources', 'config', 'nodeSelector', 'tolerations', 'affinity', 'size', 'requests', 'limits', 'imagePullPolicy', 'storageClassName'].includes(k))
    .map(([parent, k]) => set(`${parent}.${k}`, 'x', parent)),
  fc.constantFrom(
    set('spec.paused', 'yes'),
    set('spec.version', 'has space'),
    set('spec.imagePullPolicy', 'Sometimes'),
    set('spec.pd', 'three'),
    set('spec.tikv.config', 'log-level=info'),
    set('spec.tikv.config', { log: { level: null } }, 'spec.tikv.config.log.level'),
    set('spec.pd.tolerations', { key: 'a' }),
    set('spec.tikv.tolerations', [{ effect: 'Sometimes' }], 'spec.tikv.tolerations[0].effect'),
    set('spec.pd.nodeSelector', { disk: 1 }, 'spec.pd.nodeSelector.disk'),
    set('spec.tikv.storage.storageClassName', ''),
    set('spec.pd.image', ''),
    set('apiVersion', 'tikv.org/v1'),
    set('kind', 'TiKVCluster'),
  ),
);

describe('invalid TikvClusters', () => {
  it('always fail validation with the path of the broken field', () => {
    fc.assert(
      fc.property(validCluster, mutation, (input, m) => {
        const broken: Tree = structuredClone(input);
        m.apply(broken);
        const result = validateTikvCluster(broken);
        expect(result.ok, `${m.path} = ${JSON.stringify(broken)}`).toBe(false);
        if (result.ok) return;
        expect(result.issues.length).toBeGreaterThan(0);
        for (const issue of result.issues) expect(issue.path, issue.message).not.toBe('');
        expect(result.issues.map((i) => i.path)).toContain(m.path);
      }),
      { numRuns: 400 },
    );
  });

  it('never make validation throw, whatever the input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.record({ apiVersion: fc.anything(), kind: fc.anything(), metadata: fc.anything(), spec: fc.anything() })), (junk) => {
        const result = validateTikvCluster(junk);
        if (!result.ok) expect(result.issues.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });
});
