// Why a pod fails, as the TikvCluster says it (reconcile/pod-failures.ts): the kubelet's and
// the scheduler's own words, from the pod objects a kind node produces.
import { describe, expect, it } from 'vitest';
import type { LivePod } from '../../../src/controller/kube/objects.js';
import { lastWords, newFailures, podFailures, podsHealthy } from '../../../src/controller/reconcile/pod-failures.js';

const waiting = (name: string, reason: string, message: string, extra: Partial<LivePod['status']> = {}): LivePod => ({
  metadata: { name },
  status: { phase: 'Pending', containerStatuses: [{ name: name.includes('-pd-') ? 'pd' : 'tikv', restartCount: 0, state: { waiting: { reason, message } } }], ...extra },
});
const pull = waiting('basic-pd-0', 'ImagePullBackOff', 'Back-off pulling image "pingcap/pd:v8.5.55": ErrImagePull: not found');
const unschedulable: LivePod = {
  metadata: { name: 'basic-tikv-1' },
  status: {
    phase: 'Pending',
    conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.' }],
  },
};
const crash: LivePod = {
  metadata: { name: 'basic-tikv-0' },
  status: {
    phase: 'Running',
    containerStatuses: [
      {
        name: 'tikv',
        restartCount: 4,
        state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 1m20s restarting failed container=tikv pod=basic-tikv-0_ns(uid)' } },
        lastState: { terminated: { exitCode: 1, reason: 'Error', message: 'line one\n[2026/12/02] [FATAL] [main.rs:1] ["invalid configuration: x; y"]\n' } },
      },
    ],
  },
};

describe('podFailures', () => {
  it('names a wrong image tag, an impossible request and a crash loop with the last words, one per pod, by ordinal', () => {
    expect(podFailures([crash, unschedulable, pull])).toEqual([
      { pod: 'basic-pd-0', container: 'pd', reason: 'ImagePullBackOff', message: 'Back-off pulling image "pingcap/pd:v8.5.55": ErrImagePull: not found' },
      { pod: 'basic-tikv-0', container: 'tikv', reason: 'CrashLoopBackOff', message: 'restarted 4 times, exited 1 (Error): line one | [2026/12/02] [FATAL] [main.rs:1] ["invalid configuration: x, y"]' },
      { pod: 'basic-tikv-1', reason: 'Unschedulable', message: unschedulable.status!.conditions![0]!.message },
    ]);
  });

  it('sees no failure in pods that start, run, wait for the operator, or go away', () => {
    const gated: LivePod = { metadata: { name: 'basic-pd-1' }, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] } };
    const creating = waiting('basic-pd-2', 'ContainerCreating', '');
    const runningAfterRestart: LivePod = { metadata: { name: 'basic-tikv-2' }, status: { phase: 'Running', containerStatuses: [{ name: 'tikv', restartCount: 1, state: {} }] } };
    const deleting = { ...pull, metadata: { name: 'basic-pd-0', deletionTimestamp: '2026-12-02T00:00:00Z' } };
    expect(podFailures([gated, creating, runningAfterRestart, deleting, { metadata: { name: 'fresh' } }])).toEqual([]);
  });

  it('blames an init container that failed, before the main container', () => {
    const pod: LivePod = {
      metadata: { name: 'basic-pd-0' },
      status: {
        phase: 'Pending',
        initContainerStatuses: [{ name: 'config-check', restartCount: 0, state: { terminated: { exitCode: 1, reason: 'Error', message: 'Config contains undefined item: replication.max-replica\n' } } }],
        containerStatuses: [{ name: 'pd', state: { waiting: { reason: 'PodInitializing' } } }],
      },
    };
    expect(podFailures([pod])).toEqual([
      { pod: 'basic-pd-0', container: 'config-check', reason: 'InitFailed', message: 'exited 1 (Error): Config contains undefined item: replication.max-replica' },
    ]);
  });
});

describe('PodsHealthy and its Events', () => {
  it('is True with no failure, else False with the most actionable reason first and every pod listed', () => {
    expect(podsHealthy([])).toEqual({ status: 'True', reason: 'PodsRunning', message: 'no PD or TiKV pod is failing to start or run' });
    const c = podsHealthy(podFailures([crash, unschedulable, pull]));
    expect(c.status).toBe('False');
    expect(c.reason).toBe('ImagePullBackOff');
    expect(c.message.split('; ').map((m) => m.split(':')[0])).toEqual(['basic-pd-0 (pd) ImagePullBackOff', 'basic-tikv-1 Unschedulable', 'basic-tikv-0 (tikv) CrashLoopBackOff']);
  });

  it('announces a failure once: again only when a pod starts failing or fails for another reason', () => {
    const first = podFailures([pull]);
    expect(newFailures(undefined, first)).toEqual([{ reason: 'ImagePullBackOff', message: `basic-pd-0 (pd) ImagePullBackOff: ${first[0]!.message}` }]);
    const cond = { ...podsHealthy(first) };
    // The kubelet flips between ErrImagePull and ImagePullBackOff; each flip is a transition.
    expect(newFailures(cond, first)).toEqual([]);
    expect(newFailures(cond, podFailures([waiting('basic-pd-0', 'ErrImagePull', 'not found')])).map((e) => e.reason)).toEqual(['ErrImagePull']);
    const two = podFailures([pull, crash]);
    expect(newFailures(cond, two).map((e) => e.message.split(':')[0])).toEqual(['basic-tikv-0 (tikv) CrashLoopBackOff']);
    // After a healthy spell the same failure is news again.
    expect(newFailures(podsHealthy([]), first)).toHaveLength(1);
  });

  it('keeps the last words short and on one line, the last lines first kept', () => {
    const long = Array.from({ length: 80 }, (_, i) => `line ${i} ${'x'.repeat(20)}`).join('\n');
    const w = lastWords(long, 100);
    expect(w.length).toBeLessThanOrEqual(100);
    expect(w.endsWith(`line 79 ${'x'.repeat(20)}`)).toBe(true);
    expect(w).not.toContain('\n');
    expect(lastWords('y'.repeat(500), 50)).toBe(`…${'y'.repeat(49)}`);
    expect(lastWords(undefined)).toBe('');
  });
});
