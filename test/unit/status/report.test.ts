// What status says for `kubectl get`: the stores Up, the version that runs, and
// status.lastSyncTime, the report that an operator still watches (written at every change
// and, while nothing changes, once it is 5 minutes old: no write between reports).
import { describe, expect, it } from 'vitest';
import { names } from '../../../src/api/names.js';
import type { TikvClusterStatus } from '../../../src/api/v1alpha1.js';
import { STATUS_REPORT_MS } from '../../../src/controller/reconcile/status.js';
import { mergePatch } from '../../../src/controller/kube/status.js';
import { World } from '../reconcile/fakes.js';

const n = names('basic');

/** The fields a status write changed, as paths (`tikv.stores`, `lastSyncTime`). */
function changed(from: TikvClusterStatus | undefined, to: TikvClusterStatus): string[] {
  const out: string[] = [];
  const walk = (p: unknown, prefix: string) => {
    if (!p || typeof p !== 'object' || Array.isArray(p)) return void out.push(prefix);
    for (const [k, v] of Object.entries(p)) walk(v, prefix ? `${prefix}.${k}` : k);
  };
  walk(mergePatch(from ?? {}, to), '');
  return out.sort();
}

/** Reconciles every `stepMs` for `ms`, as the requeues would, with heartbeats moving the counters. */
async function poll(w: World, ms: number, stepMs: number) {
  for (let t = 0; t < ms; t += stepMs) {
    w.advance(stepMs);
    w.pd.heartbeat();
    await w.reconcile();
  }
}

describe('status.lastSyncTime', () => {
  it('at rest: no write for 5 minutes, then one that changes only lastSyncTime and the per-store counters', async () => {
    const w = await World.atRest();
    const synced = w.status?.lastSyncTime;
    expect(synced).toBe('2025-08-19T10:00:00Z');
    const done = w.mark();
    await poll(w, STATUS_REPORT_MS - 10_000, 10_000);
    expect(done().statusWrites).toBe(0);
    await poll(w, 10_000, 10_000);
    expect(done().statusWrites).toBe(1);
    const last = w.statusWrites.at(-1);
    expect(last && changed(last.live, last.desired)).toEqual(['lastSyncTime', 'tikv.stores']);
    expect(w.status?.lastSyncTime).toBe('2025-08-19T10:05:00Z');
  });

  it('PD unreachable: the report is the only write, every 5 minutes', async () => {
    const w = await World.atRest();
    w.pd.reachable = false;
    await w.reconcile();
    const done = w.mark();
    await poll(w, 3 * STATUS_REPORT_MS, 30_000);
    expect(done().statusWrites).toBe(3);
    for (const write of w.statusWrites.slice(-3)) expect(changed(write.live, write.desired)).toEqual(['lastSyncTime']);
  });

  it('is kept by a restarted operator: the report is due by the time in status, not the process', async () => {
    const w = await World.atRest();
    await poll(w, STATUS_REPORT_MS - 60_000, 30_000);
    w.restart();
    const done = w.mark();
    await poll(w, 30_000, 30_000);
    expect(done().statusWrites).toBe(0);
    await poll(w, 30_000, 30_000);
    expect(done().statusWrites).toBe(1);
  });

  it('moves with every change', async () => {
    const w = await World.atRest();
    w.advance(30_000);
    w.pd.setStoreState(1, 'Disconnected');
    await w.reconcile();
    expect(w.status?.lastSyncTime).toBe('2025-08-19T10:00:30Z');
  });
});

describe('status.tikv.upStores and status.version', () => {
  it('count the stores PD reports Up, not ready pods', async () => {
    const w = await World.atRest();
    expect(w.status?.tikv?.upStores).toBe(3);
    w.pd.setStoreState(0, 'Down');
    await w.reconcile();
    expect(w.status?.tikv?.upStores).toBe(2);
    expect(w.status?.tikv?.readyReplicas).toBe(3);
  });

  it('say what runs: the old version until every pod of both StatefulSets runs the new one', async () => {
    const w = await World.atRest();
    expect(w.status?.version).toBe('v8.5.5');
    w.store.editSpec((spec) => {
      spec.version = 'v8.5.6';
    });
    await w.reconcile();
    const seen = new Set<string | undefined>();
    // The StatefulSet controllers run, stores heartbeat, the operator steps the roll on.
    for (let i = 0; i < 60 && w.status?.version !== 'v8.5.6'; i++) {
      seen.add(w.status?.version);
      w.pd.drainLeaders();
      w.store.runStatefulSet(n.pdStatefulSet);
      w.store.runStatefulSet(n.tikvStatefulSet);
      w.advance(1000);
      w.pd.heartbeat();
      await w.reconcile();
    }
    expect(seen).toEqual(new Set(['v8.5.5']));
    expect(w.status?.version).toBe('v8.5.6');
  });
});
