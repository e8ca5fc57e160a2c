// `tikv-operator status NAME` against the test environment, as a person reads it: for a
// Ready cluster, a degraded one (a store stops heartbeating), one whose PD cannot be
// reached, and a scale-in in progress that PD's max-replicas blocks. The command asks PD
// itself, at the environment's PD (TIKV_OPERATOR_PD_URL_TEMPLATE, as in the playground).
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runStatus } from '../../src/cli/status.js';
import type { StatusReport } from '../../src/cli/status-report.js';
import { getEnv, newNamespace } from '../env/context.js';
import {
  condition,
  createCluster,
  patchSpec,
  startTestOperator,
  type TestOperator,
  TestPDResolver,
  TiKVStandins,
  waitForCluster,
} from './support/operator.js';

async function status(namespace: string, name: string, extra: string[] = [], pdURL = getEnv().pdURLs[0]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runStatus([name, '-n', namespace, `--kubeconfig=${getEnv().kubeconfigPath}`, ...extra], {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    env: { TIKV_OPERATOR_PD_URL_TEMPLATE: pdURL },
  });
  return { code, out, err };
}

async function report(namespace: string, name: string): Promise<StatusReport> {
  const r = await status(namespace, name, ['-o', 'json']);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as StatusReport;
}

describe('tikv-operator status', () => {
  let op: TestOperator;
  let standins: TiKVStandins;
  let ns: string;
  const name = 'basic';

  beforeAll(async () => {
    op = await startTestOperator({ pd: new TestPDResolver(getEnv().pdURLs), leaderElection: true, identity: 'status-test' });
    ns = await newNamespace('status');
    await createCluster(ns, { metadata: { name } });
    standins = new TiKVStandins(ns, name).start();
    await waitForCluster(ns, name, 'Ready=True', (c) => condition(c, 'Ready')?.status === 'True', 120_000);
  });
  afterAll(async () => {
    await op?.stop();
    await standins?.stop();
  });

  it('shows a Ready cluster: the operator holding its Lease, PD members and leader, three Up stores with pod, node and arch', async () => {
    const { code, out, err } = await status(ns, name);
    expect(code, err).toBe(0);
    console.log(`[status] Ready cluster:\n${out}`);
    const lines = out.split('\n');
    expect(lines[0]).toBe(`TikvCluster ${ns}/basic  phase Running  version v8.5.5  generation 1 (observed 1)`);
    expect(lines[1]).toMatch(/^Operator: {2}held by status-test, renewed \d+s ago \(Lease tikv-operator-system\/tikv-operator-leader\)$/);
    expect(lines[2]).toBe('Waiting:   nothing: the cluster is Ready and every StatefulSet is up to date');
    expect(out).toMatch(/\n {2}Ready +True +ClusterReady +\S+ +3 PD members healthy/);
    expect(out).toContain('TiKV  3 of 3 stores Up; spec.tikv.replicas 3\n');

    // The same report as JSON: PD's members and leader, and each store's pod on its node.
    const r = await report(ns, name);
    expect(r.pd.members.filter((m) => m.health === 'healthy')).toHaveLength(3);
    expect(r.pd.members.filter((m) => m.leader).map((m) => m.name)).toEqual([r.pd.leader]);
    expect(r.tikv.stores.map((s) => [s.state, s.pod?.name, s.pod?.state])).toEqual([
      ['Up', expect.stringMatching(/^basic-tikv-[0-2]$/), 'Running'],
      ['Up', expect.stringMatching(/^basic-tikv-[0-2]$/), 'Running'],
      ['Up', expect.stringMatching(/^basic-tikv-[0-2]$/), 'Running'],
    ]);
    const core = getEnv().kc.makeApiClient(CoreV1Api);
    for (const s of r.tikv.stores) {
      const pod = await core.readNamespacedPod({ namespace: ns, name: s.pod?.name ?? '' });
      const node = await core.readNode({ name: pod.spec?.nodeName ?? '' });
      expect(s.pod?.node).toBe(pod.spec?.nodeName);
      expect(s.pod?.arch).toBe(node.metadata?.labels?.['kubernetes.io/arch']);
      // Counts, as PD reports them (the environment's one PD spreads regions over every test's stores).
      expect(Number.isInteger(s.regions) && Number.isInteger(s.leaders)).toBe(true);
      expect(s.capacity).toMatch(/iB$/);
      // The table row says the same.
      expect(out).toMatch(new RegExp(`\\n {2}${s.id} +Up +${s.leaders} +${s.regions} +\\S+ +\\S+ +\\S+ +${s.pod?.name} +Running +${s.pod?.node} +${s.pod?.arch}\\n`));
    }
    expect(r.tikv.podsWithoutStore).toEqual([]);
  });

  it('shows a degraded cluster: the silent store Disconnected in PD, Degraded naming it, and why it is not Ready', async () => {
    const store = await standins.running(2);
    store.pauseHeartbeats();
    try {
      await waitForCluster(ns, name, 'Degraded=True', (c) => condition(c, 'Degraded')?.status === 'True', 60_000);
      const { code, out } = await status(ns, name);
      expect(code).toBe(0);
      console.log(`[status] degraded cluster:\n${out}`);
      expect(out).toMatch(new RegExp(`\\n {2}${store.id} +Disconnected +.* basic-tikv-2 +Running `));
      expect(out).toMatch(new RegExp(`\\n {2}Degraded +True +StoreNotUp +\\S+ +.*store ${store.id} \\(basic-tikv-2\\)`));
      expect(out).toContain('TiKV  2 of 3 stores Up; spec.tikv.replicas 3\n');
      expect(out.split('\n')[2]).toMatch(/^Waiting: {3}nothing in progress, but not Ready \(\w+\): /);
    } finally {
      store.resumeHeartbeats();
    }
    await waitForCluster(ns, name, 'Ready again', (c) => condition(c, 'Ready')?.status === 'True', 60_000);
  });

  it('says when PD does not answer and falls back to the last status the operator wrote', async () => {
    const { code, out } = await status(ns, name, [], 'http://127.0.0.1:9');
    expect(code).toBe(0);
    expect(out).toContain('  PD did not answer: ');
    expect(out).toContain('ECONNREFUSED');
    expect(out).toContain("(members below are from the TikvCluster status, as of the operator's last look)");
    expect(out).toContain('TiKV  3 of 3 stores Up; spec.tikv.replicas 3\n');
  });

  it('shows a scale-in in progress that PD blocks: what the operator waits for and what to do', async () => {
    await patchSpec(ns, name, { tikv: { replicas: 2 } });
    await waitForCluster(ns, name, 'Progressing ScaleInBlocked', (c) => condition(c, 'Progressing')?.reason === 'ScaleInBlocked', 60_000);
    const { code, out } = await status(ns, name);
    expect(code).toBe(0);
    console.log(`[status] blocked scale-in:\n${out}`);
    const waiting = out.split('\n')[2];
    expect(waiting).toMatch(/^Waiting: {3}ScaleInBlocked: removing store \d+ \(basic-tikv-2\) would leave 2 Up stores, fewer than PD's max-replicas 3; keep spec.tikv.replicas at 3/);
    expect(out.split('\n')[0]).toBe(`TikvCluster ${ns}/basic  phase Blocked  version v8.5.5  generation 2 (observed 2)`);
    expect(out).toContain('TiKV  3 of 3 stores Up; spec.tikv.replicas 2\n');
    await patchSpec(ns, name, { tikv: { replicas: 3 } });
  });

  it('fails clearly for a cluster that does not exist and for bad arguments', async () => {
    const missing = await status(ns, 'nope');
    expect(missing.code).toBe(1);
    expect(missing.err).toBe(`tikv-operator status: TikvCluster ${ns}/nope not found (kubectl get tikvclusters -A lists them)\n`);
    const bad = await status(ns, name, ['-o', 'yaml']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^tikv-operator status: --output must be text or json, not "yaml"/);
  });
});
