import type { KubernetesObject, V1OwnerReference } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../support/wait.js';
import {
  Controller,
  type ControllerMetrics,
  controllerOwner,
  objectKey,
  type ReconcileResult,
  splitKey,
} from '../../../src/controller/runtime/controller.js';
import { createInformer, type Informer } from '../../../src/controller/runtime/informer.js';
import { StubApiServer, StubCollection } from './stub-apiserver.js';

const log = pino({ level: 'silent' });
type Obj = KubernetesObject & { spec?: Record<string, unknown> };

/** An in-memory informer: tests drive its events directly. */
class FakeInformer implements Informer<Obj> {
  readonly path = '/fake';
  readonly objects = new Map<string, Obj>();
  private synced = false;
  private readonly handlers: Record<'add' | 'update' | 'delete', Array<(obj: Obj, old?: Obj) => void>> = {
    add: [],
    update: [],
    delete: [],
  };
  start() {
    this.synced = true;
    return Promise.resolve();
  }
  stop() {}
  hasSynced() {
    return this.synced;
  }
  list() {
    return [...this.objects.values()];
  }
  get(name: string, namespace?: string) {
    return this.objects.get(`${namespace}/${name}`);
  }
  byIndex() {
    return [];
  }
  on(event: 'add' | 'update' | 'delete', handler: (obj: Obj, old?: Obj) => void) {
    this.handlers[event].push(handler);
  }
  emit(event: 'add' | 'update' | 'delete', obj: Obj, old?: Obj) {
    if (event === 'delete') this.objects.delete(objectKey(obj));
    else this.objects.set(objectKey(obj), obj);
    for (const handler of this.handlers[event]) handler(obj, old);
  }
}

const cluster = (name: string, generation = 1): Obj => ({
  apiVersion: 'tikv.org/v1alpha1',
  kind: 'TikvCluster',
  metadata: { name, namespace: 'ns', generation },
});

const ownerRef = (name: string, overrides: Partial<V1OwnerReference> = {}): V1OwnerReference => ({
  apiVersion: 'tikv.org/v1alpha1',
  kind: 'TikvCluster',
  name,
  uid: `uid-${name}`,
  controller: true,
  ...overrides,
});

const owned = (name: string, refs: V1OwnerReference[]): Obj => ({
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name, namespace: 'ns', ownerReferences: refs },
});

class CountingMetrics implements ControllerMetrics {
  readonly totals: string[] = [];
  errors = 0;
  durations = 0;
  readonly depths: number[] = [];
  reconcileTotal(_c: string, outcome: string) {
    this.totals.push(outcome);
  }
  reconcileErrors() {
    this.errors++;
  }
  reconcileDuration() {
    this.durations++;
  }
  queueDepth(_c: string, depth: number) {
    this.depths.push(depth);
  }
}

describe('key helpers', () => {
  it('builds and splits namespace/name keys', () => {
    expect(objectKey(cluster('basic'))).toBe('ns/basic');
    expect(objectKey({ metadata: { name: 'cluster-scoped' } })).toBe('cluster-scoped');
    expect(splitKey('ns/basic')).toEqual({ namespace: 'ns', name: 'basic' });
    expect(splitKey('cluster-scoped')).toEqual({ name: 'cluster-scoped' });
  });

  it('finds only the controller owner of the wanted kind and group, any version', () => {
    expect(controllerOwner(owned('s', [ownerRef('a')]), 'TikvCluster', 'tikv.org/v1alpha1')?.name).toBe('a');
    expect(controllerOwner(owned('s', [ownerRef('a', { apiVersion: 'tikv.org/v1' })]), 'TikvCluster', 'tikv.org/v1alpha1')?.name).toBe('a');
    expect(controllerOwner(owned('s', [ownerRef('a', { controller: false })]), 'TikvCluster', 'tikv.org/v1alpha1')).toBeUndefined();
    expect(controllerOwner(owned('s', [ownerRef('a', { apiVersion: 'other.io/v1' })]), 'TikvCluster', 'tikv.org/v1alpha1')).toBeUndefined();
    expect(controllerOwner(owned('s', [ownerRef('a', { kind: 'StatefulSet' })]), 'TikvCluster', 'tikv.org/v1alpha1')).toBeUndefined();
  });
});

describe('Controller', () => {
  let stop: AbortController;
  let running: Promise<void> | undefined;

  beforeEach(() => {
    vi.useFakeTimers();
    stop = new AbortController();
    running = undefined;
  });

  afterEach(async () => {
    stop.abort();
    await vi.runOnlyPendingTimersAsync();
    await running;
    vi.useRealTimers();
  });

  function setup(reconcile: (key: string) => Promise<ReconcileResult>, options: { resyncMs?: number; workers?: number } = {}) {
    const primary = new FakeInformer();
    const children = new FakeInformer();
    const metrics = new CountingMetrics();
    const calls: string[] = [];
    const controller = new Controller({
      name: 'tikvcluster',
      log,
      metrics,
      ...options,
      reconcile: async (key) => {
        calls.push(key);
        return reconcile(key);
      },
    });
    controller.watchPrimary(primary, { update: (obj, old) => obj.metadata?.generation !== old?.metadata?.generation });
    controller.watchOwned(children, 'TikvCluster', 'tikv.org/v1alpha1');
    const start = async () => {
      running = controller.run(stop.signal);
      await vi.advanceTimersByTimeAsync(0);
    };
    return { controller, primary, children, metrics, calls, start };
  }

  it('reconciles every cached primary once the caches have synced', async () => {
    const { primary, calls, start, controller } = setup(async () => {});
    primary.objects.set('ns/a', cluster('a'));
    primary.objects.set('ns/b', cluster('b'));
    expect(controller.hasSynced()).toBe(false);
    await start();
    expect(controller.hasSynced()).toBe(true);
    expect(calls.sort()).toEqual(['ns/a', 'ns/b']);
  });

  it('maps an owned object event to its owner key', async () => {
    const { children, calls, start } = setup(async () => {});
    await start();
    children.emit('add', owned('basic-pd', [ownerRef('basic')]));
    children.emit('add', owned('orphan', []));
    children.emit('add', owned('foreign', [ownerRef('x', { kind: 'Deployment', apiVersion: 'apps/v1' })]));
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual(['ns/basic']);

    children.emit('delete', owned('basic-pd', [ownerRef('basic')]));
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual(['ns/basic', 'ns/basic']);
  });

  it('reconciles both owners when an owned object changes hands', async () => {
    const { children, calls, start } = setup(async () => {});
    await start();
    children.emit('update', owned('s', [ownerRef('new')]), owned('s', [ownerRef('old')]));
    await vi.advanceTimersByTimeAsync(0);
    expect(calls.sort()).toEqual(['ns/new', 'ns/old']);
  });

  it('skips primary updates the predicate rejects', async () => {
    const { primary, calls, start } = setup(async () => {});
    await start();
    primary.emit('update', cluster('a', 1), cluster('a', 1));
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual([]);
    primary.emit('update', cluster('a', 2), cluster('a', 1));
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual(['ns/a']);
  });

  it('retries a failing reconcile with growing backoff, then stops retrying once it succeeds', async () => {
    let failuresLeft = 3;
    const { primary, calls, metrics, start } = setup(async () => {
      if (failuresLeft-- > 0) throw new Error('PD unreachable');
    });
    await start();
    primary.emit('add', cluster('a'));
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toHaveLength(1);

    // Backoff 100, 200, 400 ms: the retries land at t=100, 300 and 700.
    const callsAt = async (ms: number) => {
      await vi.advanceTimersByTimeAsync(ms);
      return calls.length;
    };
    expect(await callsAt(99)).toBe(1);
    expect(await callsAt(1)).toBe(2);
    expect(await callsAt(199)).toBe(2);
    expect(await callsAt(1)).toBe(3);
    expect(await callsAt(399)).toBe(3);
    expect(await callsAt(1)).toBe(4);
    expect(await callsAt(120_000)).toBe(4);
    expect(metrics.totals).toEqual(['error', 'error', 'error', 'success']);
    expect(metrics.errors).toBe(3);
    expect(metrics.durations).toBe(4);
  });

  it('forgets the backoff after a success', async () => {
    let fail = true;
    const { primary, calls, start } = setup(async () => {
      if (fail) throw new Error('boom');
    });
    await start();
    primary.emit('add', cluster('a'));
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(100);
    await vi.advanceTimersByTimeAsync(200);
    expect(calls).toHaveLength(3);
    fail = false;
    await vi.advanceTimersByTimeAsync(400);
    expect(calls).toHaveLength(4);
    fail = true;
    primary.emit('update', cluster('a', 2), cluster('a', 1));
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toHaveLength(5);
    // Back to the base delay, not 800 ms.
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toHaveLength(6);
  });

  it('honours requeueAfterMs', async () => {
    const { primary, calls, metrics, start } = setup(async () => ({ requeueAfterMs: 10_000 }));
    await start();
    primary.emit('add', cluster('a'));
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(9_999);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toHaveLength(3);
    expect(metrics.totals.every((t) => t === 'requeue_after')).toBe(true);
  });

  it('resyncs every cached primary key periodically', async () => {
    const { primary, calls, start } = setup(async () => {}, { resyncMs: 60_000 });
    primary.objects.set('ns/a', cluster('a'));
    await start();
    expect(calls).toEqual(['ns/a']);
    primary.objects.set('ns/b', cluster('b'));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls.sort()).toEqual(['ns/a', 'ns/a', 'ns/b']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(5);
  });

  it('never reconciles one key on two workers at once', async () => {
    let active = 0;
    let overlaps = 0;
    const { primary, calls, start } = setup(
      async () => {
        if (++active > 1) overlaps++;
        await new Promise((resolve) => setTimeout(resolve, 1000));
        active--;
      },
      { workers: 4 },
    );
    await start();
    for (let generation = 2; generation < 10; generation++) {
      primary.emit('update', cluster('a', generation), cluster('a', generation - 1));
      await vi.advanceTimersByTimeAsync(300);
    }
    await vi.advanceTimersByTimeAsync(5000);
    expect(overlaps).toBe(0);
    expect(calls.length).toBeGreaterThan(1);
  });

  it('reports the queue depth', async () => {
    const { primary, metrics, start } = setup(async () => {}, { workers: 1 });
    primary.objects.set('ns/a', cluster('a'));
    primary.objects.set('ns/b', cluster('b'));
    await start();
    expect(Math.max(...metrics.depths)).toBeGreaterThanOrEqual(1);
    expect(metrics.depths.at(-1)).toBe(0);
  });

  it('lets in-flight reconciles finish on stop and starts no new ones', async () => {
    let finished = 0;
    let sawAbort = false;
    const primary = new FakeInformer();
    const calls: string[] = [];
    const controller = new Controller({
      name: 'c',
      log,
      workers: 1,
      reconcile: async (key, { signal }) => {
        calls.push(key);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        sawAbort = signal.aborted;
        finished++;
      },
    });
    controller.watchPrimary(primary);
    primary.objects.set('ns/a', cluster('a'));
    primary.objects.set('ns/b', cluster('b'));
    running = controller.run(stop.signal);
    await vi.advanceTimersByTimeAsync(10);
    stop.abort();
    await vi.advanceTimersByTimeAsync(5000);
    await running;
    expect(calls).toHaveLength(1);
    expect(finished).toBe(1);
    expect(sawAbort).toBe(true);
  });

  it('refuses to run twice', async () => {
    const { controller, start } = setup(async () => {});
    await start();
    await expect(controller.run(stop.signal)).rejects.toThrow(/already run/);
  });
});

describe('Controller with real informers', () => {
  it('reconciles the owner when the stub apiserver reports a change to an owned object', async () => {
    const server = new StubApiServer();
    const clusters = new StubCollection(server, '/apis/tikv.org/v1alpha1/tikvclusters');
    const statefulSets = new StubCollection(server, '/apis/apps/v1/statefulsets');
    await server.start();
    const kc = server.kubeConfig();
    const clusterInformer = createInformer<Obj>({ kc, path: clusters.path, log });
    const stsInformer = createInformer<Obj>({ kc, path: statefulSets.path, labelSelector: 'app.kubernetes.io/managed-by=tikv-operator', log });
    const calls: string[] = [];
    const controller = new Controller({
      name: 'tikvcluster',
      log,
      reconcile: async (key) => {
        calls.push(key);
      },
    });
    controller.watchPrimary(clusterInformer);
    controller.watchOwned(stsInformer, 'TikvCluster', 'tikv.org/v1alpha1');
    clusters.upsert(cluster('basic'));
    const stop = new AbortController();
    const running = controller.run(stop.signal);
    try {
      await waitFor(() => expect(calls).toEqual(['ns/basic']));
      await waitFor(() => expect(statefulSets.openWatches()).toBe(1));
      const sts = owned('basic-tikv', [ownerRef('basic')]);
      sts.metadata!.labels = { 'app.kubernetes.io/managed-by': 'tikv-operator' };
      statefulSets.upsert(sts);
      await waitFor(() => expect(calls).toEqual(['ns/basic', 'ns/basic']));
    } finally {
      stop.abort();
      await running;
      clusterInformer.stop();
      stsInformer.stop();
      await server.close();
    }
  });
});
