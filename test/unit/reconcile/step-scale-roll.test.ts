// The planning steps on their own: scale (replicas, admissions, a leftover PVC) and roll
// (the version check, one synthesis, the partitions). Neither writes anything.
import { describe, expect, it } from 'vitest';
import { names } from '../../../src/api/names.js';
import { observe } from '../../../src/controller/reconcile/observe.js';
import { roll } from '../../../src/controller/reconcile/roll.js';
import { scale } from '../../../src/controller/reconcile/scale.js';
import { validate } from '../../../src/controller/reconcile/validate.js';
import { NAME, tombstonedStore3, World } from './fakes.js';

const n = names(NAME);

async function planned(w: World) {
  const pass = w.pass();
  const v = validate(pass);
  if (!v.ok) throw new Error(v.message);
  const obs = await observe(pass, v.cluster);
  const scaled = await scale(pass, obs);
  return { pass, obs, scaled, rolled: await roll(pass, obs, scaled) };
}

async function tombstonedOrdinal3(): Promise<World> {
  const w = await tombstonedStore3();
  w.store.rollOut(n.tikvStatefulSet);
  await w.settle();
  return w;
}

describe('step scale', () => {
  it('plans the deletion of a leftover PVC a scale-out must pass, and holds the count below it, writing nothing', async () => {
    const w = await tombstonedOrdinal3();
    w.store.editSpec((s) => {
      s.tikv = { replicas: 4 };
    });
    const done = w.mark();
    const { scaled } = await planned(w);
    expect(scaled.tikv?.replicas).toBe(3);
    expect(scaled.tikv?.deleteClaim).toMatchObject({ ordinal: 3, claim: { name: 'tikv-basic-tikv-3' } });
    expect(scaled.tikv?.deleteClaim?.reason).toContain('Tombstone');
    const d = done();
    expect([d.pvcDeletes, d.pdWrites, d.events]).toEqual([[], [], []]);
  });

  it('while paused plans admissions only, and says nothing of TiKV waiting for PD', async () => {
    const w = await World.atRest(3, 3);
    w.store.editSpec((s) => {
      s.paused = true;
    });
    const { scaled, rolled } = await planned(w);
    expect(scaled.pd).toBeUndefined();
    expect(scaled.tikv).toBeUndefined();
    expect(scaled.waits).toEqual([]);
    expect(rolled).toBeUndefined();
  });

  it('leaves TiKV unplanned while PD has no quorum, and says so', async () => {
    const w = new World();
    const { scaled } = await planned(w);
    expect(scaled.pd?.replicas).toBe(3);
    expect(scaled.tikv).toBeUndefined();
    expect(scaled.waits).toEqual([{ reason: 'WaitingForPD', message: expect.stringContaining('quorum') }]);
  });
});

describe('step roll', () => {
  it('synthesizes once with the planned replicas and holds a changed template at partition = replicas', async () => {
    const w = await World.atRest(3, 3);
    w.store.editSpec((s) => {
      s.version = 'v8.5.6';
    });
    const { rolled } = await planned(w);
    const sts = (name: string) => rolled?.desired.find((o) => o.kind === 'StatefulSet' && o.metadata.name === name)?.spec as
      | { replicas: number; updateStrategy: { rollingUpdate: { partition: number } } }
      | undefined;
    expect(rolled?.pd.partition).toBe(3);
    expect(sts(n.pdStatefulSet)?.updateStrategy.rollingUpdate.partition).toBe(3);
    expect(sts(n.tikvStatefulSet)?.updateStrategy.rollingUpdate.partition).toBe(3);
    expect(rolled?.downgrade).toBeUndefined();
  });

  it('refuses a lower version: keeps what runs and says why as a wait', async () => {
    const w = await World.atRest(3, 3);
    w.store.editSpec((s) => {
      s.version = 'v8.1.0';
    });
    const { rolled } = await planned(w);
    expect(rolled?.downgrade?.keep).toBe('v8.5.5');
    expect(rolled?.waits).toEqual([{ reason: rolled?.downgrade?.reason, message: rolled?.downgrade?.message }]);
    const spec = rolled?.desired.find((o) => o.kind === 'StatefulSet' && o.metadata.name === n.tikvStatefulSet)?.spec as
      | { template: { spec: { containers: Array<{ image: string }> } } }
      | undefined;
    const image = spec?.template.spec.containers[0]?.image;
    expect(image).toBe('pingcap/tikv:v8.5.5');
  });
});
