// The config check (reconcile/config-check.ts): a changed spec.*.config runs through the
// binary's --config-check in a one-off pod before any pod of the cluster uses it; a refusal
// holds the config that runs (no ConfigMap or template change, so no pod is replaced) and
// says the checker's words, once as an Event.
import { describe, expect, it } from 'vitest';
import { names } from '../../../src/api/names.js';
import { validateTikvCluster } from '../../../src/api/validate.js';
import { renderPdToml, renderTikvToml } from '../../../src/charts/index.js';
import type { LivePod } from '../../../src/controller/kube/objects.js';
import { apply } from '../../../src/controller/reconcile/apply.js';
import { checkPod, heldConfig, judgeCheckPod } from '../../../src/controller/reconcile/config-check.js';
import { NOT_LEADING } from '../../../src/controller/reconcile/io.js';
import { observe } from '../../../src/controller/reconcile/observe.js';
import { roll } from '../../../src/controller/reconcile/roll.js';
import { scale } from '../../../src/controller/reconcile/scale.js';
import { validate } from '../../../src/controller/reconcile/validate.js';
import { basicCluster, NS, World } from './fakes.js';

const n = names('basic');
const cm = (w: World, name: string) => (w.store.get('ConfigMap', name)?.data ?? {}) as Record<string, string>;
const template = (w: World, sts: string) => JSON.stringify((w.store.get('StatefulSet', sts)?.spec as { template?: unknown } | undefined)?.template);
const checkPods = (w: World) => [...w.store.objects.values()].filter((o) => o.kind === 'Pod');
type PodStatus = { status?: unknown };

function validCluster(spec: Record<string, unknown>) {
  const v = validateTikvCluster({ ...basicCluster(spec), metadata: { name: 'basic', namespace: NS } });
  if (!v.ok) throw new Error(JSON.stringify(v.issues));
  return v.value;
}

describe('config check: the pieces', () => {
  it('holds the running config exactly: the live file parsed back renders to the same file', () => {
    const c = validCluster({ pd: { config: { log: { level: 'warn' }, schedule: { 'low-space-ratio': 0.85 } } }, tikv: { config: { server: { 'grpc-concurrency': 2 } } } });
    const pd = renderPdToml(c.spec.pd);
    expect(renderPdToml({ ...c.spec.pd, config: heldConfig(pd) })).toBe(pd);
    const tikv = renderTikvToml(c.spec.tikv);
    expect(renderTikvToml({ ...c.spec.tikv, config: heldConfig(tikv) })).toBe(tikv);
    // Integers beyond 2^53 and a __proto__ key survive the round trip.
    const exact = validCluster({ pd: { config: { schedule: { 'max-merge-region-keys': 9007199254740993n } } }, tikv: { config: { ['__proto__']: { x: 1 } } } });
    const pdExact = renderPdToml(exact.spec.pd);
    expect(pdExact).toContain('9007199254740993');
    expect(renderPdToml({ ...exact.spec.pd, config: heldConfig(pdExact) })).toBe(pdExact);
    const tikvExact = renderTikvToml(exact.spec.tikv);
    expect(renderTikvToml({ ...exact.spec.tikv, config: heldConfig(tikvExact) })).toBe(tikvExact);
  });

  it("runs the component's own image and binary on the new file, never restarted, owned by the cluster", () => {
    const c = validCluster({});
    const pod = checkPod(c, 'tikv', 'x = 1\n', 'uid-1') as unknown as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
    expect(pod.metadata.name).toMatch(/^basic-tikv-config-check-[0-9a-f]{10}$/);
    expect(pod.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'basic', 'app.kubernetes.io/component': 'tikv-config-check' });
    expect(pod.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'TikvCluster', uid: 'uid-1', controller: true })]);
    const [ctr] = pod.spec.containers as Array<{ image: string; command: string[]; env: unknown[]; terminationMessagePolicy: string }>;
    expect(pod.spec.restartPolicy).toBe('Never');
    expect(ctr?.image).toBe('pingcap/tikv:v8.5.5');
    expect(ctr?.env).toEqual([{ name: 'CONFIG', value: 'x = 1\n' }]);
    expect(ctr?.command[2]).toContain('/tikv-server --config-check --config=/config-check/tikv.toml --pd=http://basic-pd:2379');
    expect(ctr?.terminationMessagePolicy).toBe('FallbackToLogsOnError');
    // Another config or image is another pod.
    expect(checkPod(c, 'tikv', 'x = 2\n', 'uid-1').metadata.name).not.toBe(pod.metadata.name);
  });

  it('reads the verdict: Succeeded passes, Failed carries the output, a pull failure is said while it waits', () => {
    const pod = (status: LivePod['status'], annotations?: Record<string, string>): LivePod => ({ kind: 'Pod', metadata: { name: 'p', ...(annotations ? { annotations } : {}) }, ...(status ? { status } : {}) });
    expect(judgeCheckPod(pod({ phase: 'Succeeded' }))).toEqual({ kind: 'passed' });
    expect(
      judgeCheckPod(pod({ phase: 'Failed', containerStatuses: [{ name: 'config-check', state: { terminated: { exitCode: 1, message: 'Config contains undefined item: replication.max-replica\n' } } }] })),
    ).toEqual({ kind: 'failed', output: 'Config contains undefined item: replication.max-replica', reported: false });
    expect(judgeCheckPod(pod({ phase: 'Failed' }, { 'tikv.org/config-check-reported': 'true' }))).toMatchObject({ reported: true, output: 'exit code ?' });
    expect(judgeCheckPod(pod({ phase: 'Pending', containerStatuses: [{ name: 'config-check', state: { waiting: { reason: 'ImagePullBackOff', message: 'nope' } } }] }))).toEqual({
      kind: 'running',
      detail: 'ImagePullBackOff: nope',
    });
  });
});

describe('config check: in the reconciler', () => {
  it('a refused PD config: no ConfigMap or template change, ConfigCheckFailed with the checker words, one Event; a fixed config goes through', async () => {
    const w = await World.atRest(3, 3);
    const pdToml = cm(w, n.pdConfigMap)['pd.toml'];
    const pdTemplate = template(w, n.pdStatefulSet);
    expect(checkPods(w)).toEqual([]);

    w.store.editSpec((s) => {
      (s.pd as Record<string, unknown>).config = { replication: { 'max-replica': 1 } };
    });
    await w.reconcile();
    const [pod] = checkPods(w);
    expect(pod?.metadata.name).toMatch(/^basic-pd-config-check-/);
    expect(cm(w, n.pdConfigMap)['pd.toml']).toBe(pdToml);
    expect(template(w, n.pdStatefulSet)).toBe(pdTemplate);
    expect(w.condition('Progressing')).toMatchObject({ status: 'True', reason: 'ConfigChecking' });

    // The check pod ends as pd-server --config-check ends on a typo.
    (pod as PodStatus).status = {
      phase: 'Failed',
      containerStatuses: [{ name: 'config-check', state: { terminated: { exitCode: 1, message: 'Config contains undefined item: replication.max-replica\n' } } }],
    };
    const before = w.events.events.length;
    for (let i = 0; i < 3; i++) await w.reconcile();
    const progressing = w.condition('Progressing');
    expect(progressing).toMatchObject({ status: 'True', reason: 'ConfigCheckFailed' });
    expect(progressing?.message).toContain('spec.pd.config is refused by /pd-server --config-check');
    expect(progressing?.message).toContain('Config contains undefined item: replication.max-replica');
    expect(w.events.events.slice(before).map((e) => e.reason)).toEqual(['ConfigCheckFailed']);
    expect(cm(w, n.pdConfigMap)['pd.toml']).toBe(pdToml);
    expect(template(w, n.pdStatefulSet)).toBe(pdTemplate);
    expect(w.pods.deletes).toEqual([]);
    expect(w.condition('Ready')?.status).toBe('True');

    // The fix: a new config, a new check pod; once it succeeds the config rolls out.
    w.store.editSpec((s) => {
      (s.pd as Record<string, unknown>).config = { replication: { 'max-replicas': 1 } };
    });
    await w.reconcile();
    const fixed = checkPods(w).find((p) => p.metadata.name !== pod?.metadata.name);
    expect(fixed).toBeDefined();
    expect(cm(w, n.pdConfigMap)['pd.toml']).toBe(pdToml);
    (fixed as PodStatus).status = { phase: 'Succeeded' };
    await w.reconcile();
    expect(cm(w, n.pdConfigMap)['pd.toml']).toContain('max-replicas = 1');
    expect(template(w, n.pdStatefulSet)).not.toBe(pdTemplate);
  });

  it('checks nothing for a new cluster, nor when the config did not change (no extra reads at rest)', async () => {
    const w = await World.atRest(3, 3);
    expect(checkPods(w)).toEqual([]);
    const reads = w.pods.reads.length;
    w.store.editSpec((s) => {
      (s.tikv as Record<string, unknown>).replicas = 4;
    });
    await w.reconcile();
    expect(checkPods(w)).toEqual([]);
    expect(w.pods.reads.slice(reads).filter((r) => r.includes('config-check'))).toEqual([]);
  });
});

describe('config check: across the steps', () => {
  async function upToRoll(w: World) {
    const pass = w.pass();
    const v = validate(pass);
    if (!v.ok) throw new Error(v.message);
    const obs = await observe(pass, v.cluster);
    const scaled = await scale(pass, obs);
    const rolled = await roll(pass, obs, scaled);
    if (!rolled) throw new Error('paused');
    return { pass, scaled, rolled };
  }

  it('roll only decides (the held config is synthesized, the pod is asked for); apply creates the pod', async () => {
    const w = await World.atRest(3, 3);
    const pdToml = cm(w, n.pdConfigMap)['pd.toml'];
    w.store.editSpec((s) => {
      (s.pd as Record<string, unknown>).config = { replication: { 'max-replica': 1 } };
    });
    const p = await upToRoll(w);
    expect(checkPods(w)).toEqual([]);
    expect(p.rolled.configChecks.map((c) => c.kind)).toEqual(['create']);
    const desiredCm = p.rolled.desired.find((o) => o.kind === 'ConfigMap' && o.metadata.name === n.pdConfigMap) as { data?: Record<string, string> } | undefined;
    expect(desiredCm?.data?.['pd.toml']).toBe(pdToml);
    expect(p.rolled.waits.map((x) => x.reason)).toContain('ConfigChecking');
    const done = await apply(p.pass, p.rolled, p.scaled);
    expect(done.errors).toEqual([]);
    expect(checkPods(w).map((x) => x.metadata.name)).toEqual([expect.stringMatching(/^basic-pd-config-check-/)]);
  });

  it('creates no check pod once the process stopped leading between the decision and the write', async () => {
    const w = await World.atRest(3, 3);
    w.store.editSpec((s) => {
      (s.pd as Record<string, unknown>).config = { replication: { 'max-replica': 1 } };
    });
    const p = await upToRoll(w);
    expect(p.rolled.configChecks.map((c) => c.kind)).toEqual(['create']);
    w.leading.abort();
    const done = await apply(p.pass, p.rolled, p.scaled);
    expect(checkPods(w)).toEqual([]);
    expect(done.errors[0]).toMatch(new RegExp(`^Pod/basic-pd-config-check-\\w+: ${NOT_LEADING}`));
  });
});
