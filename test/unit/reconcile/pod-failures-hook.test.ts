// The reconciler's pod-failure step on the fakes: a failing pod shows as PodsHealthy=False
// with the kubelet's reason, and as exactly one Warning Event however often it reconciles.
import { describe, expect, it } from 'vitest';
import { World } from './fakes.js';

describe('reconciler: pod failures', () => {
  it('shows an image pull failure as PodsHealthy=False and one Warning Event across reconciles; True again once the pod runs', async () => {
    const w = await World.atRest(3, 3);
    expect(w.condition('PodsHealthy')).toMatchObject({ status: 'True', reason: 'PodsRunning' });
    const before = w.events.events.length;
    const pod = w.store.podObjects.get('basic-tikv-2')!;
    const healthy = structuredClone(pod.status);
    pod.status = {
      phase: 'Pending',
      containerStatuses: [{ name: 'tikv', restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "pingcap/tikv:v8.5.55"' } } }],
    };
    for (let i = 0; i < 3; i++) await w.reconcile();
    const c = w.condition('PodsHealthy');
    expect(c).toMatchObject({ status: 'False', reason: 'ImagePullBackOff', observedGeneration: 1 });
    expect(c?.message).toBe('basic-tikv-2 (tikv) ImagePullBackOff: Back-off pulling image "pingcap/tikv:v8.5.55"');
    const warnings = w.events.events.slice(before).filter((e) => e.type === 'Warning');
    expect(warnings.map((e) => [e.reason, e.message])).toEqual([['ImagePullBackOff', c?.message]]);

    pod.status = healthy;
    await w.reconcile();
    expect(w.condition('PodsHealthy')).toMatchObject({ status: 'True', reason: 'PodsRunning' });
  });
});
