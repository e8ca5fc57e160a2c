// A cluster at rest costs the API server nothing: in every state a cluster can rest in,
// once it got there, reconciles go on (PD polls, resyncs) and the operator makes no API
// write. Counted from the apiserver's audit log over a number of reconciles of the
// cluster, never over a length of time.
import { Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TikvClusterStatus } from '../../src/api/v1alpha1.js';
import { kubeOpen, readBody } from '../../src/controller/runtime/kube-http.js';
import { normalizeStatus } from '../../src/controller/status/equal.js';
import { getEnv, newNamespace } from '../env/context.js';
import { waitFor } from '../env/process.js';
import {
  auditWrites,
  condition,
  createCluster,
  patchSpec,
  startTestOperator,
  type TestOperator,
  TestPDResolver,
  TiKVStandins,
  type TikvClusterObj,
  waitForCluster,
} from './support/operator.js';

describe('a cluster at rest makes no API writes', () => {
  const pd = new TestPDResolver(getEnv().pdURLs);
  let op: TestOperator;
  const standins: TiKVStandins[] = [];

  beforeAll(async () => {
    // A short resync: clusters that requeue nothing (an invalid spec) are reconciled too.
    op = await startTestOperator({ pd, resyncMs: 2000 });
  });
  afterAll(async () => {
    await op?.stop();
    await Promise.all(standins.map((s) => s.stop()));
  });

  async function readyCluster(prefix: string, spec: Record<string, unknown> = {}) {
    const ns = await newNamespace(prefix);
    await createCluster(ns, { metadata: { name: 'basic' }, spec });
    const s = new TiKVStandins(ns, 'basic').start();
    standins.push(s);
    await waitForCluster(ns, 'basic', 'Ready=True', (x) => condition(x, 'Ready')?.status === 'True', 150_000);
    return { ns, name: 'basic', standins: s };
  }

  const reconciled = async (key: string, n: number) => {
    const start = op.reconciles(key);
    await waitFor(`${n} reconciles of ${key}`, async () => op.reconciles(key) >= start + n, { timeoutMs: 90_000, intervalMs: 100 });
  };

  /**
   * The operator's writes in the cluster's namespace over `n` reconciles of it, after two
   * more to let the last change settle; and every status the cluster had meanwhile.
   */
  async function atRest(ns: string, name: string, n = 5) {
    const key = `${ns}/${name}`;
    await reconciled(key, 2);
    const statuses: TikvClusterStatus[] = [];
    const watch = await new Watch(getEnv().kc).watch(
      `/apis/tikv.org/v1alpha1/namespaces/${ns}/tikvclusters`,
      {},
      (_type, obj: TikvClusterObj) => statuses.push(obj.status ?? {}),
      () => {},
    );
    const since = new Date();
    try {
      await reconciled(key, n);
      const until = new Date();
      // One more, so a write of the last counted reconcile has reached the audit log.
      await reconciled(key, 1);
      const writes = auditWrites(op.username, since).filter(
        (e) => e.objectRef?.namespace === ns && new Date(e.requestReceivedTimestamp) < until,
      );
      return { writes: writes.map((e) => `${e.verb} ${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`), statuses };
    } finally {
      watch.abort();
    }
  }

  /** The cluster's row of `kubectl get tkc -o wide`: the apiserver's Table for the CRD's printer columns. */
  async function tableRow(ns: string, name: string): Promise<Record<string, unknown>> {
    const res = await kubeOpen(getEnv().kc, 'GET', `/apis/tikv.org/v1alpha1/namespaces/${ns}/tikvclusters/${name}`, {}, {
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
    });
    const body = await readBody(res);
    const table = JSON.parse(body) as { columnDefinitions: Array<{ name: string }>; rows: Array<{ cells: unknown[] }> };
    return Object.fromEntries(table.columnDefinitions.map((c, i) => [c.name, table.rows[0]?.cells[i]]));
  }

  // Status writes at rest stop between the reports of status.lastSyncTime (every 5 minutes,
  // pinned in test/unit/status/report.test.ts); each window here is far shorter than that.
  it('Ready, and its row in kubectl get -o wide', async () => {
    const { ns, name } = await readyCluster('rest-ready');
    expect((await atRest(ns, name)).writes).toEqual([]);
    const row = await tableRow(ns, name);
    expect(row).toMatchObject({ Name: name, Ready: 'True', Phase: 'Running', PD: 3, 'PD-Desired': 3, Stores: 3, 'TiKV-Desired': 3, Version: 'v8.5.5' });
    expect(row).toMatchObject({ Reason: 'ClusterReady', 'TiKV-Pods': 3, Message: '3 PD members healthy, 3 TiKV stores Up, StatefulSets rolled out' });
    expect(row.Synced).toMatch(/^\d+s$|^\d+m\d*s?$/);
  });

  it('PD never reachable: PD created, waiting for PD', async () => {
    const ns = await newNamespace('rest-nopd');
    pd.setReachable({ namespace: ns, name: 'basic' }, false);
    await createCluster(ns, { metadata: { name: 'basic' }, spec: {} });
    await waitForCluster(
      ns,
      'basic',
      'PDAvailable Unknown and all PD pods ready',
      (c) => condition(c, 'PDAvailable')?.status === 'Unknown' && c.status?.pd?.readyReplicas === 3,
      120_000,
    );
    expect((await atRest(ns, 'basic')).writes).toEqual([]);
  });

  it('PD unreachable after it was Ready', async () => {
    const { ns, name } = await readyCluster('rest-lostpd');
    pd.setReachable({ namespace: ns, name }, false);
    try {
      await waitForCluster(ns, name, 'PDAvailable Unknown', (c) => condition(c, 'PDAvailable')?.status === 'Unknown');
      expect((await atRest(ns, name)).writes).toEqual([]);
    } finally {
      pd.setReachable({ namespace: ns, name }, true);
    }
  });

  // PD's two first calls (health, members) are sent together; here they fail in a random
  // order on every poll, and the status must not depend on which failed first.
  it('PD unreachable, its calls failing in either order', async () => {
    const ns = await newNamespace('rest-pdorder');
    const ref = { namespace: ns, name: 'basic' };
    pd.setReachable(ref, false);
    pd.beforeCall = async (r, method) => {
      if (r.namespace === ns && (method === 'health' || method === 'members')) await new Promise((res) => setTimeout(res, Math.random() * 30));
    };
    try {
      await createCluster(ns, { metadata: { name: 'basic' }, spec: {} });
      await waitForCluster(ns, 'basic', 'PDAvailable Unknown', (c) => condition(c, 'PDAvailable')?.status === 'Unknown' && c.status?.pd?.readyReplicas === 3, 120_000);
      const { writes, statuses } = await atRest(ns, 'basic');
      expect(writes).toEqual([]);
      expect(new Set(statuses.map((st) => JSON.stringify(normalizeStatus(st)))).size).toBe(1);
    } finally {
      pd.beforeCall = undefined;
    }
  });

  it('paused', async () => {
    const { ns, name } = await readyCluster('rest-paused');
    await patchSpec(ns, name, { paused: true });
    await waitForCluster(ns, name, 'phase Paused', (c) => c.status?.phase === 'Paused');
    expect((await atRest(ns, name)).writes).toEqual([]);
  });

  it('invalid spec', async () => {
    const ns = await newNamespace('rest-invalid');
    // The CRD lets it through (the apiserver prunes a null value of a key, not a null
    // array item; config is free-form), but no TOML can hold a null.
    await createCluster(ns, { metadata: { name: 'basic' }, spec: { tikv: { config: { a: [null] } } } as never });
    await waitForCluster(ns, 'basic', 'phase Invalid', (c) => c.status?.phase === 'Invalid');
    expect((await atRest(ns, 'basic')).writes).toEqual([]);
  });

  it('blocked scale-in: fewer Up stores than max-replicas would remain', async () => {
    const { ns, name } = await readyCluster('rest-blocked');
    await patchSpec(ns, name, { tikv: { replicas: 2 } });
    await waitForCluster(ns, name, 'scale-in refused', (c) => /max-replicas/.test(condition(c, 'Progressing')?.message ?? ''));
    expect((await atRest(ns, name)).writes).toEqual([]);
    // What someone whose `kubectl wait --for=condition=Ready` hangs sees with -o wide.
    expect(await tableRow(ns, name)).toMatchObject({
      Ready: 'False',
      Phase: 'Blocked',
      Stores: 3,
      'TiKV-Desired': 2,
      Reason: 'ScaleInBlocked',
      Message: expect.stringContaining('set spec.tikv.replicas back to 3'),
    });
  });

  // Messages say when PD last heard from a store (a time), never how long ago (an age that
  // ticked on every 3 s poll and rewrote status 19 times a minute).
  it('degraded, a store down', async () => {
    const { ns, name, standins: s } = await readyCluster('rest-degraded');
    (await s.running(2)).pauseHeartbeats();
    await waitForCluster(ns, name, 'a store Down', (c) => !!c.status?.tikv?.stores?.some((x) => x.state === 'Down'), 120_000);
    const { writes, statuses } = await atRest(ns, name);
    expect(writes).toEqual([]);
    expect(new Set(statuses.map((st) => JSON.stringify(normalizeStatus(st)))).size).toBe(1);
  });
});
