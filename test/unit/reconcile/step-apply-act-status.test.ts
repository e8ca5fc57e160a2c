// The writing steps on their own: apply (a result per object), act (the writes the plans
// ask for, knowing what apply did) and status (written only when it says something new).
import { describe, expect, it } from 'vitest';
import { names } from '../../../src/api/names.js';
import { act } from '../../../src/controller/reconcile/act.js';
import { applied, apply } from '../../../src/controller/reconcile/apply.js';
import { observe } from '../../../src/controller/reconcile/observe.js';
import { roll } from '../../../src/controller/reconcile/roll.js';
import { scale } from '../../../src/controller/reconcile/scale.js';
import { ClusterGoneError, status } from '../../../src/controller/reconcile/status.js';
import { NOT_LEADING } from '../../../src/controller/reconcile/io.js';
import type { Pass } from '../../../src/controller/reconcile/steps.js';
import { validate } from '../../../src/controller/reconcile/validate.js';
import { NAME, World } from './fakes.js';

const n = names(NAME);

async function upToApply(w: World, pass: Pass = w.pass()) {
  const v = validate(pass);
  if (!v.ok) throw new Error(v.message);
  const obs = await observe(pass, v.cluster);
  const scaled = await scale(pass, obs);
  const rolled = await roll(pass, obs, scaled);
  return { pass, obs, scaled, rolled, applied: await apply(pass, rolled, scaled) };
}

/** At rest, the version changed, one reconcile and the StatefulSet controllers run: PD may release basic-pd-2 now. */
async function rollReady(): Promise<World> {
  const w = await World.atRest(3, 3);
  w.store.editSpec((s) => {
    s.version = 'v8.5.6';
  });
  await w.reconcile();
  w.store.runStatefulSet(n.pdStatefulSet);
  w.store.runStatefulSet(n.tikvStatefulSet);
  return w;
}

describe('step apply', () => {
  it('gives each object its result, goes on past a refused one, and names what was refused', async () => {
    const w = await World.atRest(3, 3);
    w.store.editSpec((s) => {
      s.version = 'v8.5.6';
    });
    w.rejectApply = (o) => (o.kind === 'StatefulSet' && o.metadata.name === n.pdStatefulSet ? 'admission webhook "policy" denied the request' : undefined);
    const { applied: a } = await upToApply(w);
    expect(a.errors).toEqual([`StatefulSet/${n.pdStatefulSet}: admission webhook "policy" denied the request`]);
    expect(applied(a, `StatefulSet/${n.pdStatefulSet}`)).toBe(false);
    expect(applied(a, `StatefulSet/${n.tikvStatefulSet}`)).toBe(true);
    expect(a.outcomes.get(`StatefulSet/${n.tikvStatefulSet}`)).toEqual({ result: 'configured' });
    expect(a.outcomes.get(`ConfigMap/${n.pdConfigMap}`)).toEqual({ result: 'unchanged' });
  });
});

describe('step act', () => {
  it('announces a pod a roll releases only when its StatefulSet was applied, and remembers only then', async () => {
    const w = await rollReady();
    w.rejectApply = (o) => (o.kind === 'StatefulSet' && o.metadata.name === n.pdStatefulSet ? 'denied' : undefined);
    const refused = await upToApply(w);
    expect(refused.rolled?.pd.rolls).toBe('basic-pd-2');
    await act(refused.pass, refused.obs, refused.scaled, refused.rolled, refused.applied);
    expect(w.events.reasons()).not.toContain('RollingUpdate');
    expect(refused.pass.memory.lastRolled.pd).toBeUndefined();

    w.rejectApply = () => undefined;
    const ok = await upToApply(w, w.pass(refused.pass.memory));
    await act(ok.pass, ok.obs, ok.scaled, ok.rolled, ok.applied);
    expect(w.events.events.filter((e) => e.reason === 'RollingUpdate').map((e) => e.message)).toEqual([
      'replacing pod basic-pd-2 with the new revision (partition 2)',
    ]);
    expect(ok.pass.memory.lastRolled.pd).toBe('basic-pd-2');
  });

  it('writes nothing once the process stopped leading, Events included', async () => {
    const w = await rollReady();
    const p = await upToApply(w);
    w.leading.abort();
    const done = w.mark();
    await expect(act(p.pass, p.obs, p.scaled, p.rolled, p.applied)).rejects.toThrow(NOT_LEADING);
    const d = done();
    expect([d.events, d.pdWrites]).toEqual([[], []]);
    expect(p.pass.memory.lastRolled.pd).toBeUndefined();
  });
});

describe('step status', () => {
  it('writes a status that says something new, with its transition Events after the write, and nothing the second time', async () => {
    const w = await World.atRest(3, 3);
    w.pd.setStoreState(1, 'Disconnected');
    const p = await upToApply(w);
    const written = await status(p.pass, p.obs, [], []);
    expect(written.conditions?.find((c) => c.type === 'Degraded')?.status).toBe('True');
    expect(w.statusWrites.at(-1)?.desired).toEqual(written);
    expect(w.events.reasons()).toContain('StoreStateChanged');

    const again = await upToApply(w, w.pass(p.pass.memory));
    const done = w.mark();
    await status(again.pass, again.obs, [], []);
    expect(done()).toMatchObject({ statusWrites: 0, events: [] });
  });

  it('ends the pass as ClusterGoneError when the status write meets a 404', async () => {
    const w = await World.atRest(3, 3);
    w.pd.setStoreState(1, 'Disconnected');
    w.statusWriteError = Object.assign(new Error('tikvclusters.tikv.org "basic" not found'), { status: 404 });
    const p = await upToApply(w);
    await expect(status(p.pass, p.obs, [], [])).rejects.toBeInstanceOf(ClusterGoneError);
  });
});
