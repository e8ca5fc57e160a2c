import type { Informer, KubeResource } from './informer.js';

type OwnerRef = NonNullable<NonNullable<KubeResource['metadata']>['ownerReferences']>[number];

import type { Logger } from './log.js';
import { WorkQueue } from './workqueue.js';

export type ReconcileOutcome = 'success' | 'requeue_after' | 'error';

/** Hooks for the controller's metrics; the prom-client implementation lives in src/controller/metrics.ts. */
export interface ControllerMetrics {
  reconcileTotal(controller: string, outcome: ReconcileOutcome): void;
  reconcileErrors(controller: string): void;
  reconcileDuration(controller: string, seconds: number): void;
  queueDepth(controller: string, depth: number): void;
}

// biome-ignore lint/suspicious/noConfusingVoidType: a reconcile with nothing to say returns nothing.
export type ReconcileResult = { requeueAfterMs?: number } | void;

export interface ReconcileContext {
  /** Child logger carrying `controller` and `key`. */
  log: Logger;
  /** Aborted when the controller is stopping; long waits should give up. */
  signal: AbortSignal;
}

export type Reconciler = (key: string, ctx: ReconcileContext) => Promise<ReconcileResult>;

/** Decides whether an update of a primary object is worth a reconcile. */
export type UpdatePredicate<T> = (obj: T, old: T | undefined) => boolean;

export interface ControllerOptions {
  name: string;
  reconcile: Reconciler;
  /** Defaults to a WorkQueue whose depth is reported to `metrics`. */
  queue?: WorkQueue;
  workers?: number;
  /** Every cached primary object is enqueued this often, whatever the watches said. */
  resyncMs?: number;
  log: Logger;
  metrics?: ControllerMetrics;
}

/** `namespace/name`, or `name` for cluster-scoped objects. */
export function objectKey(obj: KubeResource): string {
  const { namespace, name = '' } = obj.metadata ?? {};
  return namespace ? `${namespace}/${name}` : name;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The ownerReference marked `controller: true`, if it points at `kind` in the group of `apiVersion`. */
export function controllerOwner(obj: KubeResource, kind: string, apiVersion: string): OwnerRef | undefined {
  const group = groupOf(apiVersion);
  return obj.metadata?.ownerReferences?.find((ref) => ref.controller === true && ref.kind === kind && groupOf(ref.apiVersion) === group);
}

const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '');

/**
 * Wires informers to a work queue and a pool of workers, controller-runtime style:
 * events become keys, a key runs on one worker at a time, failures retry with
 * per-key exponential backoff, `requeueAfterMs` schedules the next run, and a periodic
 * resync enqueues every cached primary object. Informers are started (if they are not
 * already) and waited for, but never stopped here: they may be shared, and their
 * owner stops them. A Controller runs once.
 */
export class Controller {
  readonly name: string;
  private readonly queue: WorkQueue;
  private readonly workers: number;
  private readonly resyncMs: number;
  private readonly log: Logger;
  private readonly primaries: Informer<KubeResource>[] = [];
  private readonly informers = new Set<Informer<KubeResource>>();
  private started = false;

  constructor(private readonly options: ControllerOptions) {
    this.name = options.name;
    this.log = options.log.child({ controller: options.name });
    this.workers = options.workers ?? 2;
    this.resyncMs = options.resyncMs ?? 300_000;
    this.queue = options.queue ?? new WorkQueue({ onDepthChange: (depth) => options.metrics?.queueDepth(options.name, depth) });
  }

  /** Reconciles the object's own key on add, delete and (when `update` allows) update. */
  watchPrimary<T extends KubeResource>(informer: Informer<T>, predicates: { update?: UpdatePredicate<T> } = {}): void {
    this.primaries.push(informer as unknown as Informer<KubeResource>);
    const shouldReconcile = predicates.update ?? (() => true);
    this.watch(informer, (obj) => [objectKey(obj)], (obj, old) => shouldReconcile(obj, old));
  }

  /** Reconciles the owner named by the object's controller ownerReference of `ownerKind`. */
  watchOwned<T extends KubeResource>(informer: Informer<T>, ownerKind: string, ownerApiVersion: string): void {
    this.watch(informer, (obj) => {
      const owner = controllerOwner(obj, ownerKind, ownerApiVersion);
      return owner ? [objectKey({ metadata: { namespace: obj.metadata?.namespace, name: owner.name } })] : [];
    });
  }

  /**
   * Reconciles the keys `toKeys` maps each event's object to (for updates, of the old
   * object too, so a change of owner or label reaches both).
   */
  watch<T extends KubeResource>(
    informer: Informer<T>,
    toKeys: (obj: T) => string[],
    updateFilter: UpdatePredicate<T> = () => true,
  ): void {
    this.informers.add(informer as unknown as Informer<KubeResource>);
    const enqueue = (...objs: T[]) => {
      // One add per distinct key: a worker may claim the first add at once, and a
      // repeat would then run the key a second time.
      for (const key of new Set(objs.flatMap(toKeys))) this.queue.add(key);
    };
    informer.on('add', (obj) => enqueue(obj));
    informer.on('delete', (obj) => enqueue(obj));
    informer.on('update', (obj, old) => {
      if (updateFilter(obj, old)) enqueue(obj, ...(old ? [old] : []));
    });
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  hasSynced(): boolean {
    return [...this.informers].every((informer) => informer.hasSynced());
  }

  /** Waits for the informers' first lists, then processes keys until `signal` aborts and in-flight reconciles finish. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.started) throw new Error(`controller ${this.name} was already run`);
    this.started = true;
    const stop = () => this.queue.shutdown();
    signal.addEventListener('abort', stop, { once: true });
    try {
      if (!(await this.waitForSync(signal))) return;
      this.log.info({ workers: this.workers }, 'caches synced; starting workers');
      this.resync();
      const resync = setInterval(() => this.resync(), this.resyncMs);
      try {
        await Promise.all(Array.from({ length: this.workers }, () => this.work(signal)));
      } finally {
        clearInterval(resync);
      }
    } finally {
      signal.removeEventListener('abort', stop);
      stop();
    }
  }

  private async waitForSync(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return false;
    const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    try {
      await Promise.race([Promise.all([...this.informers].map((informer) => informer.start())), aborted]);
    } catch (err) {
      // An informer stopped by its owner during shutdown rejects its start(); that is not a failure.
      if (signal.aborted) return false;
      throw err;
    }
    return !signal.aborted;
  }

  private resync(): void {
    for (const informer of this.primaries) {
      for (const obj of informer.list()) this.queue.add(objectKey(obj));
    }
  }

  private async work(signal: AbortSignal): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.reconcileOne(key, signal);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async reconcileOne(key: string, signal: AbortSignal): Promise<void> {
    const { metrics } = this.options;
    const log = this.log.child({ key });
    const startedAt = performance.now();
    try {
      const result = await this.options.reconcile(key, { log, signal });
      this.queue.forget(key);
      const requeueAfterMs = result?.requeueAfterMs;
      if (requeueAfterMs !== undefined && requeueAfterMs > 0) this.queue.addAfter(key, requeueAfterMs);
      metrics?.reconcileTotal(this.name, requeueAfterMs ? 'requeue_after' : 'success');
    } catch (err) {
      this.queue.addRateLimited(key);
      log.error({ err, retries: this.queue.retries(key) }, 'reconcile failed; will retry with backoff');
      metrics?.reconcileTotal(this.name, 'error');
      metrics?.reconcileErrors(this.name);
    } finally {
      metrics?.reconcileDuration(this.name, (performance.now() - startedAt) / 1000);
    }
  }
}
