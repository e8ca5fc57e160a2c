// The first two steps on their own: validate (the spec against the CRD's rules) and observe
// (the caches and PD, read once into one observation).
import { describe, expect, it } from 'vitest';
import { names } from '../../../src/api/names.js';
import { observe } from '../../../src/controller/reconcile/observe.js';
import { validate } from '../../../src/controller/reconcile/validate.js';
import { basicCluster, NAME, World } from './fakes.js';

const n = names(NAME);

describe('step validate', () => {
  it('hands on the spec with its defaults, and ignores a status value the schema no longer knows', () => {
    const w = new World(basicCluster());
    const c = w.store.clusters.get('ns/basic');
    if (c) c.status = { phase: 'Exploded' as never };
    const v = validate(w.pass());
    expect(v.ok && v.cluster.spec.pd.replicas).toBe(3);
    expect(v.ok && v.cluster.spec.paused).toBe(false);
  });

  it('refuses a bad spec with the field path, and logs it as its step', () => {
    const w = new World(basicCluster({ pd: { replicas: 'three' } }));
    const v = validate(w.pass());
    expect(v.ok).toBe(false);
    expect(!v.ok && v.message).toMatch(/^spec is invalid, fix it and re-apply: .*spec\.pd\.replicas/);
    expect(w.logged).toEqual([expect.objectContaining({ step: 'validate', level: 'warn' })]);
  });
});

describe('step observe', () => {
  const valid = (w: World) => {
    const v = validate(w.pass());
    if (!v.ok) throw new Error(v.message);
    return v.cluster;
  };

  it('with PD unreachable: members Unreachable, stores Unknown, TiKV left alone, and one warning', async () => {
    const w = new World();
    const pass = w.pass();
    const obs = await observe(pass, valid(w));
    expect(obs.pd.members).toEqual({ kind: 'Unreachable', error: expect.stringContaining('ECONNREFUSED') });
    expect(obs.pd.stores).toEqual({ kind: 'Unknown', error: expect.stringContaining('ECONNREFUSED') });
    expect(obs.pd.available).toBe(false);
    expect(obs.tikv).toBeUndefined();
    expect(obs.initialMembers).toBe(3);
    expect(w.logged.filter((e) => e.level === 'warn')).toEqual([expect.objectContaining({ step: 'observe' })]);
  });

  it('at rest: one view of members and stores, bootstrapped, and the evict-leader list read for TiKV; no writes', async () => {
    const w = await World.atRest(3, 3);
    const done = w.mark();
    const obs = await observe(w.pass(), valid(w));
    expect(obs.pd.members.kind === 'Observed' && obs.pd.members.members.map((m) => m.name)).toEqual(['basic-pd-0', 'basic-pd-1', 'basic-pd-2']);
    expect(obs.pd.stores.kind === 'Observed' && obs.pd.stores.stores.map((s) => s.podName)).toEqual(['basic-tikv-0', 'basic-tikv-1', 'basic-tikv-2']);
    expect(obs.pd.clusterID).toBe(w.pd.clusterID);
    expect(obs.bootstrapped).toBe(true);
    expect(obs.live.tikvStatefulSet?.metadata.name).toBe(n.tikvStatefulSet);
    expect(obs.tikv).toEqual({ stores: obs.pd.stores, evicted: [] });
    const d = done();
    expect([d.applyCalls, d.statusWrites, d.events.length, d.pdWrites.length]).toEqual([0, 0, 0, 0]);
  });

  it('asks PD for max-replicas only while a TiKV scale-in is wanted, and says Unknown when PD will not tell', async () => {
    const w = await World.atRest(3, 4);
    w.store.editSpec((s) => {
      s.tikv = { replicas: 3 };
    });
    const obs = await observe(w.pass(), valid(w));
    expect(obs.tikv?.stores.kind === 'Observed' && obs.tikv.stores.maxReplicas).toBe(3);
    w.pd.replicationConfig = async () => {
      throw new Error('GET /pd/api/v1/config/replicate: 500');
    };
    const refused = await observe(w.pass(), valid(w));
    expect(refused.tikv?.stores).toEqual({ kind: 'Unknown', error: 'GET /pd/api/v1/config/replicate: 500' });
  });
});
