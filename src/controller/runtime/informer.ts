// An informer: a cache of one collection kept current by list + watch, and handlers told
// of every change. It does what client-node's ListWatch does (list, watch from the list's
// resourceVersion, 410 => relist with deletions of vanished objects, re-watch after a
// clean close without relisting) and what 1.4.0 leaves out: every watch is bounded,
// failures restart with exponential backoff, the label selector reaches the list too,
// objects are transformed before they are cached, and a secondary index answers "the
// pods of this cluster" without a scan. ListWatch itself is not used: its module loads
// client-node's model serializer (about 25 MiB of RSS) for one identity call.
import { createInterface } from 'node:readline';
import { KubeApiError, type KubeClient, kubeGet, kubeGetJSON, readBody } from './kube-http.js';
import type { Logger } from './log.js';

/**
 * What the runtime reads of any object: its identity, labels and owners. client-node's
 * KubernetesObject fits, and so do the operator's own typed live objects (whose timestamps
 * are the strings the API sends, not client-node's Dates).
 */
export interface KubeResource {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
  };
}

/** A list answer: the items and the resourceVersion to watch from. */
export interface ResourceList<T> {
  metadata?: { resourceVersion?: string };
  items: T[];
}

export type ListFn<T extends KubeResource> = (labelSelector: string | undefined, signal?: AbortSignal) => Promise<ResourceList<T>>;
export type ObjectHandler<T> = (obj: T) => void;
/** `old` is the previously cached version, when the informer had one. */
export type UpdateHandler<T> = (obj: T, old: T | undefined) => void;

export interface InformerOptions<T extends KubeResource> {
  kc: KubeClient;
  /** Collection path, e.g. `/apis/apps/v1/statefulsets` or `/api/v1/namespaces/x/pods`. */
  path: string;
  /** Defaults to a raw GET of `path`, so items are plain JSON like watch events. */
  list?: ListFn<T>;
  labelSelector?: string;
  /**
   * What is cached of each object (list items and watch events alike), e.g. without
   * metadata.managedFields: the cache then holds only what the controller reads, as a
   * controller-runtime cache transform does. Handlers see the transformed objects.
   */
  transform?: (obj: T) => T;
  /** Parses list bodies and watch events; JSON.parse unless given (e.g. parseExactJSON). */
  parse?: (text: string) => unknown;
  /** Files each object under one key of a secondary index, read with `byIndex`. */
  indexBy?: (obj: T) => string | undefined;
  /** Asks the server to end each watch after this long, so a watch never lives forever. */
  watchTimeoutSeconds?: number;
  /** How long past `watchTimeoutSeconds` a watch may stay open before it is abandoned as dead. */
  watchGraceMs?: number;
  /** First delay before restarting after an error; doubles per consecutive error. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  /** A list whose connection stays silent this long fails (and is retried). */
  listTimeoutMs?: number;
  log: Logger;
}

export interface Informer<T extends KubeResource> {
  readonly path: string;
  /** Resolves once the first list is in the cache; rejects if stopped before that. */
  start(): Promise<void>;
  stop(): void;
  hasSynced(): boolean;
  list(namespace?: string): readonly T[];
  get(name: string, namespace?: string): T | undefined;
  /** Objects filed under `key` by `indexBy` (none without an index). */
  byIndex(key: string): readonly T[];
  on(event: 'add' | 'delete', handler: ObjectHandler<T>): void;
  on(event: 'update', handler: UpdateHandler<T>): void;
}

interface WatchEvent {
  type: string;
  object: KubeResource & { code?: number };
}

/** The objects of one collection, by namespace and name, plus the optional secondary index. */
class Cache<T extends KubeResource> {
  private readonly byNamespace = new Map<string, Map<string, T>>();
  private readonly index = new Map<string, Map<string, T>>();

  constructor(private readonly indexBy: ((obj: T) => string | undefined) | undefined) {}

  get(name: string, namespace = ''): T | undefined {
    return this.byNamespace.get(namespace)?.get(name);
  }

  list(namespace?: string): T[] {
    if (namespace) return [...(this.byNamespace.get(namespace)?.values() ?? [])];
    const all: T[] = [];
    for (const objects of this.byNamespace.values()) all.push(...objects.values());
    return all;
  }

  byIndex(key: string): T[] {
    return [...(this.index.get(key)?.values() ?? [])];
  }

  set(obj: T): void {
    const { namespace = '', name = '' } = obj.metadata ?? {};
    const old = this.get(name, namespace);
    if (old) this.unindex(old);
    const objects = this.byNamespace.get(namespace) ?? new Map<string, T>();
    this.byNamespace.set(namespace, objects);
    objects.set(name, obj);
    const key = this.indexBy?.(obj);
    if (key === undefined) return;
    const filed = this.index.get(key) ?? new Map<string, T>();
    this.index.set(key, filed);
    filed.set(cacheKey(obj), obj);
  }

  delete(obj: T): T | undefined {
    const { namespace = '', name = '' } = obj.metadata ?? {};
    const objects = this.byNamespace.get(namespace);
    const old = objects?.get(name);
    if (!objects || !old) return undefined;
    objects.delete(name);
    if (objects.size === 0) this.byNamespace.delete(namespace);
    this.unindex(old);
    return old;
  }

  private unindex(obj: T): void {
    const key = this.indexBy?.(obj);
    if (key === undefined) return;
    const filed = this.index.get(key);
    filed?.delete(cacheKey(obj));
    if (filed?.size === 0) this.index.delete(key);
  }
}

export function createInformer<T extends KubeResource>(options: InformerOptions<T>): Informer<T> {
  const { kc, path, labelSelector, log } = options;
  const transform = options.transform ?? ((obj: T) => obj);
  const restartDelayMs = options.restartDelayMs ?? 2000;
  const maxRestartDelayMs = options.maxRestartDelayMs ?? 30_000;
  const watchTimeoutSeconds = options.watchTimeoutSeconds ?? 240;
  const watchGraceMs = options.watchGraceMs ?? 30_000;
  const list: ListFn<T> =
    options.list ??
    ((selector, signal) => kubeGetJSON(kc, path, { labelSelector: selector }, { signal, idleTimeoutMs: options.listTimeoutMs ?? 60_000, parse: options.parse }));

  const cache = new Cache<T>(options.indexBy);
  const handlers = { add: [] as ObjectHandler<T>[], update: [] as UpdateHandler<T>[], delete: [] as ObjectHandler<T>[] };
  const dispatch = <A extends unknown[]>(event: string, fns: Array<(...args: A) => void>, ...args: A) => {
    for (const fn of fns) {
      try {
        fn(...args);
      } catch (err) {
        log.error({ path, event, err }, 'informer event handler threw');
      }
    }
  };

  let resourceVersion = '';
  let synced = false;
  let sync = deferred();
  /** Bumped by start() and stop(): a loop of an older run stops at its next step. */
  let run = 0;
  let running = false;
  let current: { abort: AbortController; wake: () => void } | undefined;

  const upsert = (raw: T) => {
    const obj = transform(raw);
    const { namespace, name = '' } = obj.metadata ?? {};
    const old = cache.get(name, namespace);
    if (!old) {
      cache.set(obj);
      dispatch('add', handlers.add, obj);
      return;
    }
    // An unchanged resourceVersion is the same object (a relist repeats what is cached).
    const rv = old.metadata?.resourceVersion;
    if (rv !== undefined && rv === obj.metadata?.resourceVersion) return;
    cache.set(obj);
    dispatch('update', handlers.update, obj, old);
  };
  /** Handlers get the object's last state: the DELETED event's, or for a relist the cached one. */
  const remove = (obj: T, last: (cached: T) => T) => {
    const old = cache.delete(obj);
    if (old) dispatch('delete', handlers.delete, last(old));
  };

  /** A relist: objects gone from the list are deleted, the rest added or updated. */
  const replace = (items: T[]) => {
    const listed = new Set(items.map((o) => cacheKey(o)));
    for (const obj of cache.list()) if (!listed.has(cacheKey(obj))) remove(obj, (cached) => cached);
    for (const obj of items) upsert(obj);
  };

  /** One watch from `resourceVersion`; resolves when it ends cleanly (or is abandoned as dead). */
  const watchOnce = async (me: number, signal: AbortSignal, onEstablished: () => void): Promise<void> => {
    const abort = new AbortController();
    const stop = () => abort.abort();
    signal.addEventListener('abort', stop, { once: true });
    const deadline = setTimeout(stop, watchTimeoutSeconds * 1000 + watchGraceMs);
    try {
      const query = { resourceVersion, labelSelector, timeoutSeconds: watchTimeoutSeconds, allowWatchBookmarks: true, watch: true };
      const res = await kubeGet(kc, path, query, { signal: abort.signal });
      if (res.statusCode !== 200) throw new KubeApiError(res.statusCode ?? 0, 'GET', path, await readBody(res));
      onEstablished();
      const lines = createInterface({ input: res, crlfDelay: Number.POSITIVE_INFINITY });
      await new Promise<void>((resolve, reject) => {
        // Lines still buffered when a stopped informer aborts the watch are not news to anyone.
        lines.on('line', (line) => run === me && deliver(line));
        lines.on('close', resolve);
        lines.on('error', reject);
        res.on('error', reject);
        abort.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } catch (err) {
      // An abort (stop(), or the deadline of a watch the server never ended) is a clean end.
      if (!abort.signal.aborted) throw err;
    } finally {
      clearTimeout(deadline);
      signal.removeEventListener('abort', stop);
      abort.abort();
    }
  };

  const deliver = (line: string) => {
    if (!line.trim()) return;
    try {
      const event = (options.parse ?? JSON.parse)(line) as WatchEvent;
      const obj = event.object;
      switch (event.type) {
        case 'ADDED':
        case 'MODIFIED':
          upsert(obj as T);
          break;
        case 'DELETED':
          remove(obj as T, () => transform(obj as T));
          break;
        case 'ERROR':
          // 410: the resourceVersion is too old; the server ends the watch and we relist.
          if (obj.code === 410) resourceVersion = '';
          return;
      }
      resourceVersion = obj.metadata?.resourceVersion ?? resourceVersion;
    } catch (err) {
      log.error({ err }, 'dropped a watch event that could not be handled');
    }
  };

  const sleep = (ms: number, me: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      if (current && run === me) {
        current.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      }
    });

  const loop = async (me: number) => {
    let failures = 0;
    while (running && run === me) {
      const abort = new AbortController();
      current = { abort, wake: () => {} };
      try {
        if (!resourceVersion) {
          const result = await list(labelSelector, abort.signal);
          if (run !== me) return;
          replace(result.items ?? []);
          resourceVersion = result.metadata?.resourceVersion ?? '';
          failures = 0;
          if (!synced) {
            synced = true;
            sync.resolve();
          }
        }
        await watchOnce(me, abort.signal, () => {
          failures = 0;
        });
      } catch (err) {
        if (run !== me) return;
        if (err instanceof KubeApiError && err.status === 410) {
          resourceVersion = '';
          continue;
        }
        const delayMs = Math.min(restartDelayMs * 2 ** failures, maxRestartDelayMs);
        failures++;
        log.warn({ path, err: String(err), delayMs }, 'informer list/watch failed; restarting');
        await sleep(delayMs, me);
      }
    }
  };

  return {
    path,
    start() {
      if (!running) {
        running = true;
        void loop(++run);
      }
      return sync.promise;
    },
    stop() {
      if (!running) return;
      running = false;
      run++;
      current?.abort.abort();
      current?.wake();
      current = undefined;
      if (!synced) {
        sync.reject(new Error(`informer ${path} stopped before its first list`));
        sync = deferred();
      }
    },
    hasSynced: () => synced,
    list: (namespace) => cache.list(namespace),
    get: (name, namespace) => cache.get(name, namespace),
    byIndex: (key) => cache.byIndex(key),
    on(event: 'add' | 'update' | 'delete', handler: ObjectHandler<T> | UpdateHandler<T>) {
      (handlers[event] as Array<typeof handler>).push(handler);
    },
  };
}

function cacheKey(obj: KubeResource): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

function deferred() {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A caller that never awaited start() must not crash the process on stop().
  promise.catch(() => {});
  return { promise, resolve, reject };
}
