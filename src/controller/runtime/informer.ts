import { createInterface } from 'node:readline';
import { type KubeConfig, type KubernetesListObject, type KubernetesObject, ListWatch, Watch } from '@kubernetes/client-node';
import { KubeHttpError, kubeGet, kubeGetJSON, type Query, readBody } from './kube-http.js';
import type { Logger } from './log.js';

export type ListFn<T extends KubernetesObject> = (labelSelector: string | undefined) => Promise<KubernetesListObject<T>>;
export type ObjectHandler<T> = (obj: T) => void;
/** `old` is the previously cached version, when the informer had one. */
export type UpdateHandler<T> = (obj: T, old: T | undefined) => void;

export interface InformerOptions<T extends KubernetesObject> {
  kc: KubeConfig;
  /** Collection path, e.g. `/apis/apps/v1/statefulsets` or `/api/v1/namespaces/x/pods`. */
  path: string;
  /** Defaults to a raw GET of `path`, so items are plain JSON like watch events. */
  list?: ListFn<T>;
  labelSelector?: string;
  /** Asks the server to end each watch after this long, so a watch never lives forever. */
  watchTimeoutSeconds?: number;
  /** How long past `watchTimeoutSeconds` a watch may stay open before it is abandoned as dead. */
  watchGraceMs?: number;
  /** First delay before restarting after an error; doubles per consecutive error. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  /** A list whose connection stays silent this long fails (and is retried). */
  listTimeoutMs?: number;
  /** Parses list bodies and watch events; JSON.parse unless given (e.g. parseExactJSON). */
  parse?: (text: string) => unknown;
  log: Logger;
}

export interface Informer<T extends KubernetesObject> {
  readonly path: string;
  /** Resolves once the first list is in the cache; rejects if stopped before that. */
  start(): Promise<void>;
  stop(): void;
  hasSynced(): boolean;
  list(namespace?: string): readonly T[];
  get(name: string, namespace?: string): T | undefined;
  on(event: 'add' | 'delete', handler: ObjectHandler<T>): void;
  on(event: 'update', handler: UpdateHandler<T>): void;
}

interface WatchHooks {
  timeoutSeconds: number;
  graceMs: number;
  log: Logger;
  parse?: (text: string) => unknown;
  /** A watch is being opened; ListWatch has applied any list that preceded it. */
  onOpening(): void;
  /** The server accepted a watch. */
  onEstablished(): void;
}

/**
 * A `Watch` whose requests carry `timeoutSeconds` and `allowWatchBookmarks`, and that
 * gives up on a connection the server failed to end in time: the stock 1.4.0 `Watch`
 * hangs forever on a silent connection (dead NAT/LB). Ending a watch this way reports
 * a clean close, so ListWatch re-watches from its resourceVersion without relisting.
 */
export class BoundedWatch extends Watch {
  private readonly open = new Set<AbortController>();

  constructor(
    private readonly kc: KubeConfig,
    private readonly hooks: WatchHooks,
  ) {
    super(kc);
  }

  override async watch(
    path: string,
    queryParams: Query,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    this.hooks.onOpening();
    const controller = new AbortController();
    this.open.add(controller);
    let finished = false;
    const finish = (err: unknown) => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      this.open.delete(controller);
      // An abort by the owner (ListWatch.stop, abortAll) is not news to it.
      const abortedByOwner = controller.signal.aborted;
      controller.abort();
      if (!abortedByOwner) done(err);
    };
    const deadline = setTimeout(() => finish(null), this.hooks.timeoutSeconds * 1000 + this.hooks.graceMs);
    const query = { ...queryParams, timeoutSeconds: this.hooks.timeoutSeconds, allowWatchBookmarks: true, watch: true };
    try {
      const res = await kubeGet(this.kc, path, query, { signal: controller.signal });
      if (res.statusCode !== 200) throw new KubeHttpError(res.statusCode ?? 0, await readBody(res), path);
      this.hooks.onEstablished();
      res.on('error', finish);
      const lines = createInterface({ input: res, crlfDelay: Number.POSITIVE_INFINITY });
      lines.on('line', (line) => this.deliver(line, callback));
      lines.on('error', finish);
      lines.on('close', () => finish(null));
    } catch (err) {
      finish(err);
    }
    return controller;
  }

  /** Ends every open watch without reporting it, for an informer that is stopping. */
  abortAll(): void {
    for (const controller of this.open) controller.abort();
  }

  private deliver(line: string, callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void): void {
    if (!line.trim()) return;
    try {
      const event = (this.hooks.parse ?? JSON.parse)(line) as { type: string; object: unknown };
      callback(event.type, event.object, event);
    } catch (err) {
      this.hooks.log.error({ err }, 'dropped a watch event that could not be handled');
    }
  }
}

/**
 * An informer over client-node's ListWatch (cache, 410 ⇒ relist with deletions of
 * vanished objects, re-watch from the last resourceVersion) that also bounds every
 * watch, restarts after errors with exponential backoff, and lists plain JSON with the
 * label selector applied to the list as well as the watch.
 */
export function createInformer<T extends KubernetesObject>(options: InformerOptions<T>): Informer<T> {
  const { kc, path, labelSelector, log } = options;
  const restartDelayMs = options.restartDelayMs ?? 2000;
  const maxRestartDelayMs = options.maxRestartDelayMs ?? 30_000;
  const list: ListFn<T> =
    options.list ??
    ((selector) =>
      kubeGetJSON(kc, path, { labelSelector: selector }, { idleTimeoutMs: options.listTimeoutMs ?? 60_000, parse: options.parse }));

  let running = false;
  let synced = false;
  let failures = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let sync = deferred();

  const watch = new BoundedWatch(kc, {
    timeoutSeconds: options.watchTimeoutSeconds ?? 240,
    graceMs: options.watchGraceMs ?? 30_000,
    log,
    parse: options.parse,
    onOpening: () => {
      if (synced) return;
      synced = true;
      sync.resolve();
    },
    onEstablished: () => {
      failures = 0;
    },
  });

  const listWhileRunning = async (): Promise<KubernetesListObject<T>> => {
    const result = await list(labelSelector);
    // ListWatch would open a watch after a list that outlived stop(); make it bail out.
    if (!running) throw new Error(`informer ${path} stopped during list`);
    failures = 0;
    return result;
  };
  const lw = new ListWatch<T>(path, watch, listWhileRunning, false, labelSelector);

  const scheduleRestart = (err: unknown) => {
    // 1.4.0 reports an AbortError when stopped; only restart a running informer, once.
    if (!running || restartTimer) return;
    const delayMs = Math.min(restartDelayMs * 2 ** failures, maxRestartDelayMs);
    failures++;
    log.warn({ path, err: String(err), delayMs }, 'informer list/watch failed; restarting');
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (running) startListWatch();
    }, delayMs);
  };
  const startListWatch = () => {
    lw.start().catch(scheduleRestart);
  };
  lw.on('error', scheduleRestart);

  const handlers = { add: [] as ObjectHandler<T>[], update: [] as UpdateHandler<T>[], delete: [] as ObjectHandler<T>[] };
  const previous = new Map<string, T>();
  const dispatch = <A extends unknown[]>(event: string, fns: Array<(...args: A) => void>, ...args: A) => {
    for (const fn of fns) {
      try {
        fn(...args);
      } catch (err) {
        log.error({ path, event, err }, 'informer event handler threw');
      }
    }
  };
  lw.on('add', (obj) => {
    previous.set(cacheKey(obj), obj);
    dispatch('add', handlers.add, obj);
  });
  lw.on('update', (obj) => {
    const key = cacheKey(obj);
    const old = previous.get(key);
    previous.set(key, obj);
    dispatch('update', handlers.update, obj, old);
  });
  lw.on('delete', (obj) => {
    previous.delete(cacheKey(obj));
    dispatch('delete', handlers.delete, obj);
  });

  return {
    path,
    start() {
      if (!running) {
        running = true;
        startListWatch();
      }
      return sync.promise;
    },
    stop() {
      if (!running) return;
      running = false;
      clearTimeout(restartTimer);
      restartTimer = undefined;
      void lw.stop();
      watch.abortAll();
      if (!synced) {
        sync.reject(new Error(`informer ${path} stopped before its first list`));
        sync = deferred();
      }
    },
    hasSynced: () => synced,
    list: (namespace) => lw.list(namespace),
    get: (name, namespace) => lw.get(name, namespace),
    on(event: 'add' | 'update' | 'delete', handler: ObjectHandler<T> | UpdateHandler<T>) {
      (handlers[event] as Array<typeof handler>).push(handler);
    },
  };
}

function cacheKey(obj: KubernetesObject): string {
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
