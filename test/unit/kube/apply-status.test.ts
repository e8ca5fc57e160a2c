import { describe, expect, it } from 'vitest';
import { contains, difference } from '../../../src/controller/kube/apply.js';
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

  it('does not treat non-quantity strings as equal by value', () => {
    expect(contains({ v: 'abc' }, { v: 'abd' })).toBe(false);
    expect(contains({ v: '1Gi' }, { v: '1024Mi' })).toBe(true);
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
