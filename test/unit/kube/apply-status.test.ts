import { describe, expect, it } from 'vitest';
import { APPLIED_HASH_ANNOTATION, contains, contentHash, difference, stampHashes, TEMPLATE_HASH_ANNOTATION } from '../../../src/controller/kube/apply.js';
import { mergePatch } from '../../../src/controller/kube/status.js';

describe('contains (skip-apply check)', () => {
  const desired = {
    metadata: { name: 'a', labels: { x: 'on' } },
    spec: {
      replicas: 3,
      template: { spec: { containers: [{ name: 'pd', resources: { requests: { cpu: '1000m', memory: '1Gi' } }, ports: [{ containerPort: 2379 }] }] } },
    },
  };
  const live = {
    metadata: { name: 'a', labels: { x: 'on', other: 'y' }, resourceVersion: '7' },
    spec: {
      replicas: 3,
      revisionHistoryLimit: 10,
      template: {
        spec: {
          containers: [
            { name: 'sidecar' },
            { name: 'pd', terminationMessagePath: '/dev/termination-log', resources: { requests: { cpu: '1', memory: '1Gi' } }, ports: [{ containerPort: 2379, protocol: 'TCP' }] },
          ],
        },
      },
    },
  };

  it('ignores defaulted and foreign fields, matches named list items by name, and quantities by value', () => {
    expect(contains(live, desired)).toBe(true);
  });

  it('detects a changed scalar, a missing label, a missing list item and a different quantity', () => {
    expect(contains({ ...live, spec: { ...live.spec, replicas: 4 } }, desired)).toBe(false);
    expect(contains({ ...live, metadata: { name: 'a', labels: {} } }, desired)).toBe(false);
    expect(contains({ ...live, spec: { ...live.spec, template: { spec: { containers: [{ name: 'sidecar' }] } } } }, desired)).toBe(false);
    const more = structuredClone(live);
    more.spec.template.spec.containers[1]!.resources!.requests.memory = '2Gi';
    expect(contains(more, desired)).toBe(false);
  });

  it('compares strings outside resource lists as strings: a ConfigMap value 1Gi is not 1024Mi', () => {
    expect(contains({ v: 'abc' }, { v: 'abd' })).toBe(false);
    expect(contains({ v: '1Gi' }, { v: '1024Mi' })).toBe(false);
    expect(contains({ data: { size: '1' } }, { data: { size: '1000m' } })).toBe(false);
  });

  // The strings the apiserver writes back for these were read from kube-apiserver 1.36
  // (test/integration/quantity.test.ts checks the port against it for generated values).
  const container = (resources: unknown) => ({ spec: { template: { spec: { containers: [{ name: 'tikv', resources }] } } } });
  const claim = (storage: unknown) => ({ spec: { volumeClaimTemplates: [{ metadata: { name: 'tikv' }, spec: { resources: { requests: { storage } } } }] } });
  it.each([
    ['100000000000000000000Ei', '9223372036854775807'],
    ['8Ei', '9223372036854775807'],
    ['0.0000000001', '1m'],
    ['1000E', '1'],
    ['1.5Gi', '1536Mi'],
    ['+1Gi', '+1Gi'],
    [2, '2'],
    ['1500u', '2m'],
  ])('treats a desired %s as the live %s the apiserver stored for it (no endless patching)', (desired, live) => {
    expect(contains(container({ limits: { memory: live } }), container({ limits: { memory: desired } }))).toBe(true);
    expect(contains(container({ requests: { cpu: live } }), container({ requests: { cpu: desired } }))).toBe(true);
    expect(contains(claim(live), claim(desired))).toBe(true);
  });

  it('still sees a real change of a quantity', () => {
    expect(contains(container({ limits: { memory: '1536Mi' } }), container({ limits: { memory: '1.6Gi' } }))).toBe(false);
    expect(contains(container({ requests: { cpu: '1m' } }), container({ requests: { cpu: '2m' } }))).toBe(false);
    expect(contains(claim('10Gi'), claim('11Gi'))).toBe(false);
    expect(contains(claim('10Gi'), claim('not-a-quantity'))).toBe(false);
  });
});

describe('mergePatch (status writes)', () => {
  it('is undefined when nothing changed, whatever the key order', () => {
    expect(mergePatch({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toBeUndefined();
  });

  it('sets removed fields to null, replaces lists whole, and keeps unchanged siblings out', () => {
    const from = { phase: 'Running', clusterID: '1', pd: { leader: 'basic-pd-0', replicas: 3 }, conditions: [{ type: 'Ready' }] };
    const to = { phase: 'Degraded', pd: { replicas: 3 }, conditions: [{ type: 'Ready' }, { type: 'Degraded' }] };
    expect(mergePatch(from, to)).toEqual({
      phase: 'Degraded',
      clusterID: null,
      pd: { leader: null },
      conditions: [{ type: 'Ready' }, { type: 'Degraded' }],
    });
  });
});

describe('contains and apiserver omitempty', () => {
  it('treats an empty desired list or map as matching an absent live field, but not a non-empty one', () => {
    expect(contains({ spec: { type: 'ClusterIP' } }, { spec: { externalIPs: [], selector: {} } })).toBe(true);
    expect(contains({ spec: {} }, { spec: { externalIPs: ['1.2.3.4'] } })).toBe(false);
  });
});

describe('difference', () => {
  it('matches zero scalars the apiserver omitted and names the first drifted path', () => {
    expect(contains({ spec: {} }, { spec: { minReadySeconds: 0, paused: false, x: '' } })).toBe(true);
    expect(difference({ spec: { template: { spec: { containers: [{ name: 'pd', image: 'a:1' }] } } } }, { spec: { template: { spec: { containers: [{ name: 'pd', image: 'a:2' }] } } } })).toBe(
      'spec.template.spec.containers[pd].image: "a:1" != "a:2"',
    );
  });
});

describe('applied-hash stamps', () => {
  const sts = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'basic-tikv', namespace: 'ns' },
    spec: { replicas: 3, template: { spec: { nodeSelector: { disk: 'ssd' }, containers: [{ name: 'tikv', image: 'pingcap/tikv:v8.5.5' }] } } },
  };
  const withoutNodeSelector = structuredClone(sts);
  delete (withoutNodeSelector.spec.template.spec as { nodeSelector?: unknown }).nodeSelector;

  it('lets a live object applied from the same chart output count as unchanged, whatever the key order', () => {
    const live = { ...stampHashes(sts), status: { replicas: 3 } };
    const reordered = { kind: sts.kind, metadata: sts.metadata, spec: sts.spec, apiVersion: sts.apiVersion };
    expect(contains(live, stampHashes(reordered))).toBe(true);
  });

  it('sees a field the chart stopped sending, which containment alone cannot', () => {
    const live = stampHashes(sts);
    expect(contains(live, withoutNodeSelector)).toBe(true);
    expect(contains(live, stampHashes(withoutNodeSelector))).toBe(false);
  });

  it('stamps a pod-template hash only on objects with a template, and it follows only the template', () => {
    const a = stampHashes(sts).metadata.annotations!;
    expect(a[TEMPLATE_HASH_ANNOTATION]).toBe(contentHash(sts.spec.template));
    expect(stampHashes({ ...sts, spec: { ...sts.spec, replicas: 5 } }).metadata.annotations![TEMPLATE_HASH_ANNOTATION]).toBe(a[TEMPLATE_HASH_ANNOTATION]);
    expect(stampHashes(withoutNodeSelector).metadata.annotations![TEMPLATE_HASH_ANNOTATION]).not.toBe(a[TEMPLATE_HASH_ANNOTATION]);
    expect(stampHashes({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }).metadata.annotations).not.toHaveProperty(TEMPLATE_HASH_ANNOTATION);
    expect(a[APPLIED_HASH_ANNOTATION]).toMatch(/^[0-9a-f]{16}$/);
  });
});
