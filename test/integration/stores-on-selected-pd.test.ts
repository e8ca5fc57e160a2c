// TiKV store stand-ins talking pdpb to the 3-member PD the environment selects
// (test/env/pd/pd-select.ts): pd-server v8.5.5 where its binary exists, otherwise the PD
// stand-in. CI cannot build pd-server, so on CI these run against the stand-in; with a
// pd-server binary (TESTENV_PD=real) the same assertions hold for the real PD, whose store
// states (Up, Disconnected, Down, Offline, Tombstone) PD computes itself. This file starts
// its own PD (in a temp dir) so it does not depend on global-setup's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSafeNumber, parse } from 'lossless-json';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinaries } from '../env/binaries.js';
import { type PDClusterHandle, pdHealth } from '../env/pd/pd.js';
import { startPD } from '../env/pd/pd-select.js';
import { waitFor } from '../env/process.js';
import { loadProtoDirs, type ProtoDirs, type StoreStandin, startStoreStandin } from '../env/stores/stores.js';

interface StoreInfo {
  store: { id: number; address: string; state_name: string; version: string; last_heartbeat: number | string };
  status: { region_count?: number; leader_count?: number };
}

const ADDRESSES = [0, 1, 2].map((i) => `basic-tikv-${i}.basic-tikv-peer.default.svc:20160`);
const EXTRA_ADDRESS = 'basic-tikv-3.basic-tikv-peer.default.svc:20160';
const POLL = { timeoutMs: 60_000, intervalMs: 500 };

const figures: string[] = [];
const figure = (what: string, ms: number) => figures.push(`${what}: ${(ms / 1000).toFixed(1)} s`);

/** PD's JSON with uint64 ids (cluster and member ids exceed 2^53) kept as strings. */
async function pdGet<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${url} → ${res.status}: ${text}`);
  return parse(text, undefined, (n) => (isSafeNumber(n) ? Number(n) : n)) as T;
}

describe('real PD cluster with store stand-ins over pdpb', () => {
  let dir: string;
  let pd: PDClusterHandle;
  let protoDirs: ProtoDirs;
  const standins: StoreStandin[] = [];
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const api = (path: string) => `${pd.clientURLs[0]}/pd/api/v1${path}`;
  const stores = async (query = '') => (await pdGet<{ stores: StoreInfo[] }>(api(`/stores${query}`))).stores;
  const storeState = async (id: string) => (await pdGet<StoreInfo>(api(`/store/${id}`))).store.state_name;
  const start = (address: string) =>
    startStoreStandin({ pdEndpoints: pd.clientURLs, address, protoDirs, heartbeatIntervalMs: 1_000, log });

  beforeAll(async () => {
    // Missing binaries throw MissingBinariesError (how to build them): the suite fails, never skips.
    const bins = findBinaries([]);
    protoDirs = loadProtoDirs(bins.binDir);
    dir = mkdtempSync(join(tmpdir(), 'pd-standins-'));
    const t0 = Date.now();
    ({ handle: pd } = await startPD({ binDir: bins.binDir, dir, log }));
    figure('3-member PD ready (healthy + leader)', Date.now() - t0);
  });

  afterAll(async () => {
    await Promise.all(standins.map((s) => s.stop()));
    await pd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    log(`[stores-on-selected-pd] figures:\n  ${figures.join('\n  ')}`);
  });

  it('three stand-ins register concurrently (one bootstraps) and PD shows exactly them Up', async () => {
    const t0 = Date.now();
    standins.push(...(await Promise.all(ADDRESSES.map(start))));
    const up = await waitFor(
      'three Up stores',
      async () => {
        const list = await stores();
        return list.length === 3 && list.every((s) => s.store.state_name === 'Up') && list;
      },
      POLL,
    );
    figure('3 stand-ins registered and Up', Date.now() - t0);
    expect(up.map((s) => s.store.address).sort()).toEqual([...ADDRESSES].sort());
    expect(up.map((s) => String(s.store.id)).sort()).toEqual(standins.map((s) => s.id).sort());
    expect(new Set(up.map((s) => s.store.version))).toEqual(new Set(['8.5.5']));
  });

  it('reports a cluster id', async () => {
    const cluster = await pdGet<{ id: number | string; max_peer_count: number }>(api('/cluster'));
    expect(String(cluster.id)).toMatch(/^[1-9][0-9]*$/);
    expect(cluster.max_peer_count).toBe(3);
  });

  it('PD splits the bootstrap region and replicates every region onto all three stores, one leader each', async () => {
    const counts = await waitFor(
      'every region on three stores',
      async () => {
        const total = (await pdGet<{ count: number }>(api('/regions'))).count;
        const list = await stores();
        const regions = list.map((s) => s.status.region_count ?? 0);
        const leaders = list.reduce((n, s) => n + (s.status.leader_count ?? 0), 0);
        return regions.every((r) => r === total) && leaders === total && { total, regions, leaders };
      },
      POLL,
    );
    log(`[stores-on-selected-pd] regions after PD's splits and replica checks: ${counts.total}`);
    expect(counts.total).toBeGreaterThanOrEqual(1);
    expect(standins.reduce((n, s) => n + s.leaderCount(), 0)).toBe(counts.total);
  });

  it('evict-leader-scheduler moves every leader off a store; removing it stops the eviction', async () => {
    const leaderCount = async (id: string) => (await pdGet<StoreInfo>(api(`/store/${id}`))).status.leader_count ?? 0;
    const busiest = [...standins].sort((a, b) => b.leaderCount() - a.leaderCount())[0]!;
    expect(await leaderCount(busiest.id)).toBeGreaterThan(0);
    const add = await fetch(api('/schedulers'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"name":"evict-leader-scheduler","store_id":${busiest.id}}`,
    });
    expect(add.status, await add.text()).toBe(200);
    await waitFor('no leaders left on the evicted store', async () => (await leaderCount(busiest.id)) === 0, POLL);
    expect(busiest.leaderCount()).toBe(0);
    const del = await fetch(api(`/schedulers/evict-leader-scheduler-${busiest.id}`), { method: 'DELETE' });
    expect(del.status, await del.text()).toBe(200);
    const left = await pdGet<string[]>(api('/schedulers'));
    expect(left).not.toContain('evict-leader-scheduler');
  });

  it('a stand-in without heartbeats goes Disconnected, then Down; resumed, it is Up again', async () => {
    const victim = standins[2]!;
    victim.pauseHeartbeats();
    const t0 = Date.now();
    await waitFor('Disconnected', async () => (await storeState(victim.id)) === 'Disconnected', POLL);
    figure('heartbeats paused → Disconnected', Date.now() - t0);
    await waitFor('Down', async () => (await storeState(victim.id)) === 'Down', POLL);
    figure('heartbeats paused → Down (max-store-down-time 30s)', Date.now() - t0);
    victim.resumeHeartbeats();
    await waitFor('Up again', async () => (await storeState(victim.id)) === 'Up', POLL);
    const others = (await stores()).filter((s) => String(s.store.id) !== victim.id);
    expect(others.map((s) => s.store.state_name)).toEqual(['Up', 'Up']);
  });

  it('DELETE /store/{id} takes a fourth store Offline, then Tombstone', async () => {
    const extra = await start(EXTRA_ADDRESS);
    standins.push(extra);
    await waitFor('fourth store Up', async () => (await storeState(extra.id)) === 'Up', POLL);
    const res = await fetch(api(`/store/${extra.id}`), { method: 'DELETE' });
    expect(res.status, await res.text()).toBe(200);
    const seen = new Set<string>();
    await waitFor(
      'Tombstone',
      async () => {
        const tomb = await stores('?state=2');
        const state = tomb.find((s) => String(s.store.id) === extra.id)?.store.state_name ?? (await storeState(extra.id));
        seen.add(state);
        return state === 'Tombstone';
      },
      POLL,
    );
    const plain = await stores();
    expect(plain.map((s) => String(s.store.id))).not.toContain(extra.id);
    log(`[stores-on-selected-pd] states seen after DELETE: ${[...seen].join(' → ')}`);
  });

  it('stand-ins follow a PD leader change and keep heartbeating through the new leader', async () => {
    const leaderName = (await pdGet<{ name: string }>(api('/leader'))).name;
    const idx = pd.names.indexOf(leaderName);
    const survivor = pd.clientURLs[(idx + 1) % pd.clientURLs.length]!;
    const live = standins.slice(0, 3);
    await pd.stopMember(idx);
    const stoppedAt = BigInt(Date.now()) * 1_000_000n;
    try {
      await waitFor(
        'heartbeats newer than the leader stop',
        async () => {
          const list = (await pdGet<{ stores: StoreInfo[] }>(`${survivor}/pd/api/v1/stores`)).stores;
          const fresh = list.filter((s) => BigInt(s.store.last_heartbeat) > stoppedAt + 2_000_000_000n);
          return live.every((sd) => fresh.some((s) => String(s.store.id) === sd.id));
        },
        POLL,
      );
      const newLeader = (await pdGet<{ name: string }>(`${survivor}/pd/api/v1/leader`)).name;
      expect(newLeader).not.toBe(leaderName);
    } finally {
      await pd.startMember(idx);
    }
  });

  it('health lists 3 healthy members; after stopMember(2) one is unhealthy; startMember(2) heals it', async () => {
    const healthy = (h: { health: boolean }[]) => h.filter((e) => e.health).length;
    const before = await pdHealth(pd.clientURLs[0]!);
    expect(before.map((e) => e.name).sort()).toEqual(pd.names);
    expect(healthy(before)).toBe(3);

    await pd.stopMember(2);
    const after = await waitFor(
      'pd-2 unhealthy',
      async () => {
        const h = await pdHealth(pd.clientURLs[0]!);
        return healthy(h) === 2 && h;
      },
      POLL,
    );
    expect(after.filter((e) => !e.health).map((e) => e.name)).toEqual(['pd-2']);

    await pd.startMember(2);
    expect(healthy(await pdHealth(pd.clientURLs[0]!))).toBe(3);
  });
});
