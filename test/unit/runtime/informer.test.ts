import type { KubernetesObject } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../support/wait.js';
import { createInformer, type Informer, type InformerOptions } from '../../../src/controller/runtime/informer.js';
import { StubApiServer, StubCollection } from './stub-apiserver.js';

const PATH = '/api/v1/configmaps';
const log = pino({ level: 'silent' });

interface ConfigMap extends KubernetesObject {
  data: Record<string, string>;
}

function configMap(name: string, data: Record<string, string> = {}, labels: Record<string, string> = { app: 'tikv' }): ConfigMap {
  // creationTimestamp is a string on the wire; client-node's types claim Date.
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'ns', labels, creationTimestamp: '2026-01-01T00:00:00Z' as unknown as Date },
    data,
  };
}

const names = (informer: Informer<KubernetesObject>) => informer.list().map((o) => o.metadata?.name).sort();

describe('createInformer', () => {
  let server: StubApiServer;
  let collection: StubCollection;
  let informers: Informer<KubernetesObject>[];

  beforeEach(async () => {
    server = new StubApiServer();
    collection = new StubCollection(server, PATH, 'ConfigMapList');
    await server.start();
    informers = [];
  });

  afterEach(async () => {
    for (const informer of informers) informer.stop();
    await server.close();
  });

  function informer(options: Partial<InformerOptions<KubernetesObject>> = {}) {
    const created = createInformer<KubernetesObject>({
      kc: server.kubeConfig(),
      path: PATH,
      restartDelayMs: 5,
      log,
      ...options,
    });
    informers.push(created);
    return created;
  }

  it('populates the cache from the first list before start() resolves, as plain JSON', async () => {
    collection.upsert(configMap('a'));
    collection.upsert(configMap('b'));
    const inf = informer();
    const added: string[] = [];
    inf.on('add', (o) => added.push(o.metadata!.name!));
    expect(inf.hasSynced()).toBe(false);
    await inf.start();
    expect(inf.hasSynced()).toBe(true);
    expect(names(inf)).toEqual(['a', 'b']);
    expect(added.sort()).toEqual(['a', 'b']);
    const a = inf.get('a', 'ns');
    expect(typeof a?.metadata?.creationTimestamp).toBe('string');
    expect(Object.getPrototypeOf(a)).toBe(Object.prototype);
    expect(inf.list('other')).toEqual([]);
  });

  it('applies watch events to the cache and reports the previous version on update', async () => {
    const inf = informer();
    const seen: string[] = [];
    inf.on('add', (o) => seen.push(`add ${o.metadata!.name}`));
    inf.on('update', (o, old) =>
      seen.push(`update ${o.metadata!.name} ${(old as ConfigMap | undefined)?.data.v}->${(o as ConfigMap).data.v}`),
    );
    inf.on('delete', (o) => seen.push(`delete ${o.metadata!.name}`));
    await inf.start();
    await waitFor(() => expect(collection.openWatches()).toBe(1));

    collection.upsert(configMap('a', { v: '1' }));
    collection.upsert(configMap('a', { v: '2' }));
    collection.remove('a', 'ns');
    await waitFor(() => expect(seen).toHaveLength(3));
    expect(seen).toEqual(['add a', 'update a 1->2', 'delete a']);
    expect(inf.list()).toEqual([]);
  });

  it('parses list bodies and watch events with the parse option when given', async () => {
    collection.upsert(configMap('listed', { v: '1' }));
    const texts: string[] = [];
    const inf = informer({
      parse: (text) => {
        texts.push(text);
        // Marks what it parsed, so the cache shows the option's result was used.
        const obj = JSON.parse(text) as { items?: ConfigMap[]; object?: ConfigMap };
        for (const o of [...(obj.items ?? []), ...(obj.object ? [obj.object] : [])]) o.data.parsedBy = 'option';
        return obj;
      },
    });
    await inf.start();
    await waitFor(() => expect(collection.openWatches()).toBe(1));
    collection.upsert(configMap('watched', { v: '2' }));
    await waitFor(() => expect(names(inf)).toEqual(['listed', 'watched']));
    expect((inf.get('listed', 'ns') as ConfigMap).data.parsedBy).toBe('option');
    expect((inf.get('watched', 'ns') as ConfigMap).data.parsedBy).toBe('option');
    expect(texts.some((t) => t.includes('"ConfigMapList"'))).toBe(true);
    expect(texts.some((t) => t.includes('"ADDED"'))).toBe(true);
  });

  it('bounds every watch and sends the label selector with both list and watch', async () => {
    collection.upsert(configMap('mine'));
    collection.upsert(configMap('other', {}, { app: 'else' }));
    const inf = informer({ labelSelector: 'app=tikv', watchTimeoutSeconds: 17 });
    await inf.start();
    await waitFor(() => expect(server.requestsTo(PATH).watches).toHaveLength(1));
    expect(names(inf)).toEqual(['mine']);

    const { lists, watches } = server.requestsTo(PATH);
    expect(lists[0]!.query.get('labelSelector')).toBe('app=tikv');
    const watch = watches[0]!.query;
    expect(watch.get('labelSelector')).toBe('app=tikv');
    expect(watch.get('timeoutSeconds')).toBe('17');
    expect(watch.get('allowWatchBookmarks')).toBe('true');
    expect(watch.get('resourceVersion')).toBe('102');
  });

  it('defaults the watch timeout to 240 s', async () => {
    await informer().start();
    await waitFor(() => expect(server.requestsTo(PATH).watches).toHaveLength(1));
    expect(server.requestsTo(PATH).watches[0]!.query.get('timeoutSeconds')).toBe('240');
  });

  it('re-watches from the last resourceVersion, without relisting, when the server ends a watch', async () => {
    const inf = informer();
    await inf.start();
    await waitFor(() => expect(collection.openWatches()).toBe(1));
    collection.upsert(configMap('a'));
    await waitFor(() => expect(inf.get('a', 'ns')).toBeDefined());

    for (let closes = 1; closes <= 3; closes++) {
      collection.closeWatches();
      await waitFor(() => expect(collection.openWatches()).toBe(1));
    }
    const { lists, watches } = server.requestsTo(PATH);
    expect(lists).toHaveLength(1);
    expect(watches).toHaveLength(4);
    expect(watches[3]!.query.get('resourceVersion')).toBe(inf.get('a', 'ns')!.metadata!.resourceVersion);
  });

  it('abandons a watch the server never ends, and watches again', async () => {
    collection.scriptWatches({ kind: 'silent' });
    const inf = informer({ watchTimeoutSeconds: 0, watchGraceMs: 20 });
    await inf.start();
    await waitFor(() => expect(collection.openWatches()).toBeGreaterThan(0));
    collection.upsert(configMap('after-silence'));
    await waitFor(() => expect(inf.get('after-silence', 'ns')).toBeDefined());
    expect(server.requestsTo(PATH).lists).toHaveLength(1);
  });

  it('gives up on a list that gets no answer, and lists again', async () => {
    collection.upsert(configMap('a'));
    collection.scriptLists({ kind: 'silent' }, { kind: 'status', code: 503 });
    const inf = informer({ listTimeoutMs: 20 });
    await inf.start();
    expect(names(inf)).toEqual(['a']);
    expect(server.requestsTo(PATH).lists).toHaveLength(3);
  });

  it('restarts by itself after the watch fails with HTTP 500', async () => {
    collection.scriptWatches({ kind: 'status', code: 500 }, { kind: 'status', code: 500 }, { kind: 'status', code: 500 });
    const inf = informer();
    await inf.start();
    await waitFor(() => expect(collection.openWatches()).toBe(1));
    expect(server.requestsTo(PATH).watches).toHaveLength(4);
    expect(server.requestsTo(PATH).lists).toHaveLength(1);

    collection.upsert(configMap('after-errors'));
    await waitFor(() => expect(inf.get('after-errors', 'ns')).toBeDefined());
  });

  it('keeps retrying a list that fails until it succeeds', async () => {
    let failuresLeft = 2;
    let calls = 0;
    const inf = informer({
      list: async () => {
        calls++;
        if (failuresLeft-- > 0) throw new Error('apiserver unavailable');
        return { metadata: { resourceVersion: '1' }, items: [configMap('x')] };
      },
    });
    await inf.start();
    expect(calls).toBe(3);
    expect(names(inf)).toEqual(['x']);
  });

  it('backs off exponentially between restarts', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      let calls = 0;
      const inf = informer({
        restartDelayMs: 1000,
        maxRestartDelayMs: 4000,
        list: async () => {
          calls++;
          throw new Error('down');
        },
      });
      void inf.start();
      const callsAt: number[] = [];
      for (let second = 0; second < 16; second++) {
        await vi.advanceTimersByTimeAsync(1000);
        callsAt.push(calls);
      }
      // Retries after 1, 2, 4, 4, 4 s: at t=1, 3, 7, 11, 15.
      expect(callsAt).toEqual([2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('relists after 410 Gone and deletes objects that vanished meanwhile', async () => {
    collection.upsert(configMap('stays'));
    collection.upsert(configMap('goes'));
    const inf = informer();
    const deleted: string[] = [];
    inf.on('delete', (o) => deleted.push(o.metadata!.name!));
    await inf.start();
    await waitFor(() => expect(collection.openWatches()).toBe(1));

    collection.removeQuietly('goes', 'ns');
    collection.expireWatches();
    await waitFor(() => expect(deleted).toEqual(['goes']));
    expect(names(inf)).toEqual(['stays']);
    expect(server.requestsTo(PATH).lists).toHaveLength(2);
  });

  it('relists after a watch answered with HTTP 410', async () => {
    const inf = informer();
    await inf.start();
    await waitFor(() => expect(collection.openWatches()).toBe(1));
    collection.scriptWatches({ kind: 'status', code: 410 });
    collection.upsert(configMap('unseen'));
    await waitFor(() => expect(inf.get('unseen', 'ns')).toBeDefined());
    collection.removeQuietly('unseen', 'ns');
    collection.closeWatches();
    await waitFor(() => expect(inf.get('unseen', 'ns')).toBeUndefined());
    expect(server.requestsTo(PATH).lists).toHaveLength(2);
  });

  it('does not restart after stop()', async () => {
    const inf = informer();
    await inf.start();
    await waitFor(() => expect(collection.openWatches()).toBe(1));
    inf.stop();
    await waitFor(() => expect(collection.openWatches()).toBe(0));
    const before = server.requests.length;
    collection.upsert(configMap('late'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.requests.length).toBe(before);
    expect(inf.get('late', 'ns')).toBeUndefined();
  });

  it('rejects start() when stopped before the first list', async () => {
    const inf = informer({ list: () => new Promise(() => {}) });
    const started = inf.start();
    inf.stop();
    await expect(started).rejects.toThrow(/stopped before its first list/);
    expect(inf.hasSynced()).toBe(false);
  });

  it('caches what the transform keeps, from the list and from watch events alike', async () => {
    collection.upsert({ ...configMap('listed', { v: '1' }), metadata: { ...configMap('listed').metadata, managedFields: [{ manager: 'x' }] } } as ConfigMap);
    const strip = (o: KubernetesObject): KubernetesObject => {
      const { managedFields: _, ...metadata } = o.metadata ?? {};
      return { ...o, metadata };
    };
    const inf = informer({ transform: strip });
    const updates: Array<[KubernetesObject, KubernetesObject | undefined]> = [];
    inf.on('update', (o, old) => updates.push([o, old]));
    await inf.start();
    expect(inf.get('listed', 'ns')?.metadata).not.toHaveProperty('managedFields');
    await vi.waitFor(() => expect(collection.openWatches()).toBe(1));
    collection.upsert({ ...configMap('listed', { v: '2' }), metadata: { ...configMap('listed').metadata, managedFields: [{ manager: 'y' }] } } as ConfigMap);
    await vi.waitFor(() => expect(updates).toHaveLength(1));
    const [obj, old] = updates[0]!;
    expect(obj.metadata).not.toHaveProperty('managedFields');
    expect(old?.metadata).not.toHaveProperty('managedFields');
    expect((obj as ConfigMap).data).toEqual({ v: '2' });
    expect(inf.get('listed', 'ns')).toBe(obj);
  });

  it('keeps the secondary index current through updates, deletes and relists', async () => {
    collection.upsert(configMap('a', {}, { app: 'tikv', cluster: 'one' }));
    collection.upsert(configMap('b', {}, { app: 'tikv', cluster: 'one' }));
    const inf = informer({ indexBy: (o) => o.metadata?.labels?.cluster });
    const indexed = (key: string) => inf.byIndex(key).map((o) => o.metadata?.name).sort();
    await inf.start();
    expect(indexed('one')).toEqual(['a', 'b']);
    await vi.waitFor(() => expect(collection.openWatches()).toBe(1));

    collection.upsert(configMap('b', {}, { app: 'tikv', cluster: 'two' }));
    await vi.waitFor(() => expect(indexed('two')).toEqual(['b']));
    expect(indexed('one')).toEqual(['a']);
    collection.remove('b', 'ns');
    await vi.waitFor(() => expect(indexed('two')).toEqual([]));

    collection.removeQuietly('a', 'ns');
    collection.expireWatches();
    await vi.waitFor(() => expect(indexed('one')).toEqual([]));
    expect(inf.list()).toEqual([]);
  });

  it('names the operator in the User-Agent of every list and watch', async () => {
    await informer().start();
    await vi.waitFor(() => expect(server.requestsTo(PATH).watches).toHaveLength(1));
    const { lists, watches } = server.requestsTo(PATH);
    for (const r of [...lists, ...watches]) expect(r.userAgent).toMatch(/^tikv-operator\/\d+\.\d+\.\d+ \(/);
  });

  it('keeps delivering events when a handler throws', async () => {
    const inf = informer();
    const seen: string[] = [];
    inf.on('add', () => {
      throw new Error('handler bug');
    });
    inf.on('add', (o) => seen.push(o.metadata!.name!));
    await inf.start();
    await waitFor(() => expect(collection.openWatches()).toBe(1));
    collection.upsert(configMap('one'));
    collection.upsert(configMap('two'));
    await waitFor(() => expect(seen).toEqual(['one', 'two']));
  });
});
