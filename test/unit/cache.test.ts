import { describe, expect, it } from 'vitest';
import { podSummary, withoutManagedFields } from '../../src/controller/cache.js';

const managedFields = [{ manager: 'kube-controller-manager', operation: 'Update', fieldsV1: { 'f:spec': {} } }];

const pod = {
  metadata: {
    name: 'basic-tikv-0',
    namespace: 'ns',
    uid: 'u1',
    resourceVersion: '42',
    labels: { 'app.kubernetes.io/instance': 'basic', 'app.kubernetes.io/component': 'tikv', 'controller-revision-hash': 'basic-tikv-abc' },
    annotations: { 'prometheus.io/scrape': 'true' },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'basic-tikv', uid: 's1', controller: true }],
    creationTimestamp: '2026-01-01T00:00:00Z',
    deletionTimestamp: '2026-01-01T00:05:00Z',
    managedFields,
  },
  spec: { containers: [{ name: 'tikv', image: 'pingcap/tikv:v8.5.5' }], nodeName: 'node-1', schedulingGates: [{ name: 'tikv.org/admission' }] },
  status: {
    phase: 'Running',
    podIP: '10.0.0.1',
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:01:00Z' }],
    containerStatuses: [{ name: 'tikv', ready: true, restartCount: 0 }],
  },
};

describe('what the caches keep', () => {
  it('drops managedFields and nothing else, without touching the input', () => {
    const sts = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 's', managedFields, annotations: { a: 'b' } }, spec: { replicas: 3 } };
    const slim = withoutManagedFields(sts);
    expect(slim).toEqual({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 's', annotations: { a: 'b' } }, spec: { replicas: 3 } });
    expect(sts.metadata.managedFields).toBe(managedFields);
    const plain = { metadata: { name: 'x' } };
    expect(withoutManagedFields(plain)).toBe(plain);
  });

  it('keeps of a Pod what the reconciler reads: identity, labels, owners, timestamps, phase and conditions', () => {
    expect(podSummary(pod)).toEqual({
      metadata: {
        name: 'basic-tikv-0',
        namespace: 'ns',
        uid: 'u1',
        resourceVersion: '42',
        labels: pod.metadata.labels,
        ownerReferences: pod.metadata.ownerReferences,
        creationTimestamp: '2026-01-01T00:00:00Z',
        deletionTimestamp: '2026-01-01T00:05:00Z',
      },
      // The admission fence reads the gates: a summary without them would never admit a pod.
      spec: { nodeName: 'node-1', schedulingGates: [{ name: 'tikv.org/admission' }] },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    });
    expect(pod.spec.containers).toHaveLength(1);
  });

  it('keeps why a Pod fails: a False condition with its reason, a waiting container with its last termination', () => {
    const failing = {
      metadata: { name: 'basic-pd-0' },
      status: {
        phase: 'Pending',
        conditions: [
          { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient memory.', lastProbeTime: null },
          { type: 'Initialized', status: 'True', reason: 'ignored' },
        ],
        containerStatuses: [
          {
            name: 'pd',
            ready: false,
            restartCount: 3,
            image: 'pingcap/pd:v8.5.5',
            state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s' } },
            lastState: { terminated: { exitCode: 1, reason: 'Error', message: '[FATAL] boom', startedAt: 'x', containerID: 'c' } },
          },
          { name: 'sidecar', ready: true, restartCount: 1, state: { running: { startedAt: 'x' } }, lastState: { terminated: { exitCode: 2 } } },
        ],
        initContainerStatuses: [{ name: 'check', restartCount: 0, state: { terminated: { exitCode: 1, reason: 'Error', message: 'bad key' } } }],
      },
    };
    expect(podSummary(failing).status).toEqual({
      phase: 'Pending',
      conditions: [
        { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient memory.' },
        { type: 'Initialized', status: 'True' },
      ],
      containerStatuses: [
        {
          name: 'pd',
          restartCount: 3,
          state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s' } },
          lastState: { terminated: { exitCode: 1, reason: 'Error', message: '[FATAL] boom' } },
        },
      ],
      initContainerStatuses: [{ name: 'check', restartCount: 0, state: { terminated: { exitCode: 1, reason: 'Error', message: 'bad key' } } }],
    });
  });

  it('leaves out what a Pod does not have yet', () => {
    expect(podSummary({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' } })).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'ns' },
    });
  });
});
