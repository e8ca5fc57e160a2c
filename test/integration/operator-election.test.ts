// Two operator processes (in-process here, each with its own informers and queue) share
// one coordination.k8s.io Lease: only the holder reconciles; when it stops, the other
// takes over.
import { afterAll, describe, expect, it } from 'vitest';
import { getEnv, newNamespace } from '../env/context.js';
import { waitFor } from '../env/process.js';
import { createCluster, startTestOperator, TestPDResolver, type TestOperator } from './support/operator.js';

describe('leader election', () => {
  const ops: TestOperator[] = [];
  afterAll(async () => {
    await Promise.all(ops.map((o) => o.stop()));
  });

  it('never lets two operators reconcile at once, and hands over when the leader stops', async () => {
    const pd = new TestPDResolver(getEnv().pdURLs);
    const ns = await newNamespace('election');
    await createCluster(ns, { metadata: { name: 'elect' }, spec: { pd: { replicas: 1 }, tikv: { replicas: 1 } } });
    const a = await startTestOperator({ pd, leaderElection: true, identity: 'operator-a' });
    ops.push(a);
    const b = await startTestOperator({ pd, leaderElection: true, identity: 'operator-b' });
    ops.push(b);

    const leader = await waitFor('a leader', async () => (a.isLeader() ? a : b.isLeader() ? b : undefined), { timeoutMs: 30_000 });
    const follower = leader === a ? b : a;
    await waitFor('the leader to reconcile', async () => leader.reconciles() > 0, { timeoutMs: 30_000 });

    // Sample both for a while: never two leaders, and the follower never reconciles.
    const followerStart = follower.reconciles();
    let bothLeading = 0;
    for (let i = 0; i < 60; i++) {
      if (a.isLeader() && b.isLeader()) bothLeading++;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(bothLeading).toBe(0);
    expect(follower.reconciles()).toBe(followerStart);
    expect(leader.isLeader()).toBe(true);

    await leader.stop();
    ops.splice(ops.indexOf(leader), 1);
    await waitFor('the follower to take over and reconcile', async () => follower.isLeader() && follower.reconciles() > followerStart, {
      timeoutMs: 30_000,
    });
  });
});
