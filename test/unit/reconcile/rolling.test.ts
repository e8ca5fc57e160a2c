// Rolling upgrades driven by the reconciler over the fakes: the partition of each
// StatefulSet steps high→low only on PD's word, with the PD leader moved and each TiKV
// store's leaders evicted before its pod is replaced.
import { describe, expect, it } from 'vitest';
import { names } from '../../../src/api/names.js';
import { NAME, World } from './fakes.js';

const n = names(NAME);
type StsSpec = { updateStrategy: { rollingUpdate: { partition: number } }; template: { spec: { containers: Array<{ image: string }> } } };
const spec = (w: World, sts: string) => w.store.get('StatefulSet', sts)?.spec as StsSpec;
const partition = (w: World, sts: string) => spec(w, sts).updateStrategy.rollingUpdate.partition;
const revisionOf = (w: World, pod: string) => w.store.pod(pod)?.metadata.labels?.['controller-revision-hash'];
const progressing = (w: World) => w.condition('Progressing');

/** A cluster at rest whose version was just changed and reconciled once. */
async function upgradeStarted(pd = 3, tikv = 3): Promise<World> {
  const w = await World.atRest(pd, tikv);
  w.store.editSpec((s) => {
    s.version = 'v8.5.6';
  });
  await w.reconcile();
  return w;
}

/** The StatefulSet controllers run, time passes, stores heartbeat, and the operator reconciles. */
async function tick(w: World): Promise<void> {
  w.store.runStatefulSet(n.pdStatefulSet);
  w.store.runStatefulSet(n.tikvStatefulSet);
  w.advance(1000);
  w.pd.heartbeat();
  await w.reconcile();
}

describe('rolling upgrade', () => {
  it('starts with partition = replicas when the template changes, so no pod is replaced yet', async () => {
    const w = await upgradeStarted();
    expect(spec(w, n.tikvStatefulSet).template.spec.containers[0]?.image).toBe('pingcap/tikv:v8.5.6');
    expect(partition(w, n.pdStatefulSet)).toBe(3);
    expect(partition(w, n.tikvStatefulSet)).toBe(3);
    w.store.runStatefulSet(n.pdStatefulSet);
    w.store.runStatefulSet(n.tikvStatefulSet);
    const before = ['basic-pd-2', 'basic-tikv-2'].map((p) => revisionOf(w, p));
    expect(before).toEqual(['basic-pd-r1', 'basic-tikv-r1']);
    expect(progressing(w)).toMatchObject({ status: 'True', reason: 'RollingUpdate' });
  });

  it('walks PD then TiKV high→low, one pod at a time, and ends at partition 0 with no evictions left', async () => {
    const w = await upgradeStarted();
    const seen = { pd: [partition(w, n.pdStatefulSet)], tikv: [partition(w, n.tikvStatefulSet)] };
    for (let i = 0; i < 40 && !(w.condition('Ready')?.status === 'True'); i++) {
      w.pd.drainLeaders();
      await tick(w);
      for (const [c, sts] of [['pd', n.pdStatefulSet], ['tikv', n.tikvStatefulSet]] as const) {
        const p = partition(w, sts);
        if (seen[c].at(-1) !== p) seen[c].push(p);
      }
    }
    expect(seen).toEqual({ pd: [3, 2, 1, 0], tikv: [3, 2, 1, 0] });
    expect(w.condition('Ready')?.status).toBe('True');
    for (let i = 0; i < 3; i++) expect([revisionOf(w, `basic-pd-${i}`), revisionOf(w, `basic-tikv-${i}`)]).toEqual(['basic-pd-r2', 'basic-tikv-r2']);
    // PD first (leader basic-pd-0 moved before its pod), then each store evicted before its pod and released after.
    expect(w.pd.writes).toEqual([
      'transferLeader basic-pd-2',
      'evictLeader 3',
      'removeEvictLeader 3',
      'evictLeader 2',
      'removeEvictLeader 2',
      'evictLeader 1',
      'removeEvictLeader 1',
    ]);
    expect([...w.pd.evicted]).toEqual([]);
    const rolled = w.events.events.filter((e) => e.reason === 'RollingUpdate').map((e) => e.message.split(' ')[2]);
    expect(rolled).toEqual(['basic-pd-2', 'basic-pd-1', 'basic-pd-0', 'basic-tikv-2', 'basic-tikv-1', 'basic-tikv-0']);
  });

  it('does not step past a replaced pod until it is Ready and PD calls it healthy', async () => {
    const w = await upgradeStarted();
    await tick(w);
    expect(partition(w, n.pdStatefulSet)).toBe(2);
    w.store.runStatefulSet(n.pdStatefulSet, { ready: false });
    await w.reconcile();
    expect(partition(w, n.pdStatefulSet)).toBe(2);
    expect(progressing(w)?.message).toContain('basic-pd-2: the pod is not Ready');
    w.store.setPodReady('basic-pd-2');
    w.pd.memberList[2]!.health = false;
    await w.reconcile();
    expect(partition(w, n.pdStatefulSet)).toBe(2);
    expect(progressing(w)?.message).toContain('PD member basic-pd-2 not healthy');
    w.pd.memberList[2]!.health = true;
    await w.reconcile();
    expect(partition(w, n.pdStatefulSet)).toBe(1);
  });

  it('holds every partition while PD is unreachable', async () => {
    const w = await upgradeStarted();
    await tick(w);
    w.store.runStatefulSet(n.pdStatefulSet);
    w.pd.reachable = false;
    const done = w.mark();
    for (let i = 0; i < 3; i++) await w.reconcile();
    expect(partition(w, n.pdStatefulSet)).toBe(2);
    expect(partition(w, n.tikvStatefulSet)).toBe(3);
    expect(done().changedApplies).toEqual([]);
    expect(done().pdWrites).toEqual([]);
  });

  it('waits for the evicted store to lose its leaders before lowering the TiKV partition, up to the timeout', async () => {
    const w = await upgradeStarted(1, 3);
    await tick(w);
    expect(partition(w, n.pdStatefulSet)).toBe(0);
    await tick(w);
    expect(w.pd.writes).toEqual(['evictLeader 3']);
    await tick(w);
    expect(partition(w, n.tikvStatefulSet)).toBe(3);
    expect(progressing(w)?.message).toContain('moving the Raft leaders off store 3');
    w.advance(2 * 60_000);
    await w.reconcile();
    expect(partition(w, n.tikvStatefulSet)).toBe(2);
    expect([...w.pd.evicted]).toEqual(['3']);
  });

  it('replaces a single PD member and a single TiKV without PD calls', async () => {
    const w = await upgradeStarted(1, 1);
    expect(partition(w, n.pdStatefulSet)).toBe(0);
    expect(partition(w, n.tikvStatefulSet)).toBe(0);
    await tick(w);
    await tick(w);
    expect(w.pd.writes).toEqual([]);
    expect(w.condition('Ready')?.status).toBe('True');
  });

  it("removes evict-leader entries of this cluster's stores left behind, and only those", async () => {
    const w = await World.atRest(3, 3);
    w.pd.evicted.add('2');
    w.pd.evicted.add('99');
    await w.reconcile();
    expect(w.pd.writes).toEqual(['removeEvictLeader 2']);
    expect([...w.pd.evicted]).toEqual(['99']);
  });
});

describe('a refused StatefulSet apply during a roll', () => {
  it('announces a pod it lets the StatefulSet replace only once the lowered partition was applied', async () => {
    const w = await upgradeStarted();
    w.store.runStatefulSet(n.pdStatefulSet);
    w.store.runStatefulSet(n.tikvStatefulSet);
    w.rejectApply = (o) => (o.kind === 'StatefulSet' && o.metadata.name === n.pdStatefulSet ? 'admission webhook "policy" denied the request' : undefined);
    await expect(w.reconcile()).rejects.toThrow(/apply failed/);
    expect(partition(w, n.pdStatefulSet)).toBe(3);
    expect(w.events.events.filter((e) => e.reason === 'RollingUpdate')).toEqual([]);
    w.rejectApply = () => undefined;
    await w.reconcile();
    expect(partition(w, n.pdStatefulSet)).toBe(2);
    const rolled = w.events.events.filter((e) => e.reason === 'RollingUpdate').map((e) => e.message);
    expect(rolled).toEqual(['replacing pod basic-pd-2 with the new revision (partition 2)']);
  });
});
