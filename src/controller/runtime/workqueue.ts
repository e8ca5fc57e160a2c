export interface WorkQueueOptions {
  /** First retry delay of `addRateLimited`; doubles per consecutive failure. */
  baseDelayMs?: number;
  /** Upper bound of the per-key retry delay. */
  maxDelayMs?: number;
  /** Called with the number of keys ready for a worker whenever it changes. */
  onDepthChange?: (depth: number) => void;
}

interface Pending {
  dueAt: number;
  timer: NodeJS.Timeout;
}

/**
 * A work queue with client-go semantics: a key waiting is queued once, a key is never
 * handed to two workers at once (a key added while it is processed runs again after
 * `done`), failures back off exponentially per key, and delayed adds keep the earliest
 * due time.
 */
export class WorkQueue<K extends string = string> {
  private readonly ready: K[] = [];
  /** Keys that need processing: queued, or added again while a worker holds them. */
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly delayed = new Map<K, Pending>();
  private readonly failures = new Map<K, number>();
  private readonly waiters: Array<(key: K | undefined) => void> = [];
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private stopped = false;

  constructor(private readonly options: WorkQueueOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 60_000;
  }

  add(key: K): void {
    if (this.stopped || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (!this.processing.has(key)) this.enqueue(key);
  }

  addAfter(key: K, delayMs: number): void {
    if (this.stopped) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const dueAt = Date.now() + delayMs;
    const pending = this.delayed.get(key);
    if (pending && pending.dueAt <= dueAt) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.delayed.set(key, { dueAt, timer });
  }

  addRateLimited(key: K): void {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    this.addAfter(key, this.backoffMs(failures));
  }

  /** Consecutive failures recorded for the key since the last `forget`. */
  retries(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: K): void {
    this.failures.delete(key);
  }

  /** Resolves with the next key, or `undefined` once the queue is shut down. */
  get(): Promise<K | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    const key = this.ready.shift();
    if (key === undefined) return new Promise((resolve) => this.waiters.push(resolve));
    this.depthChanged();
    return Promise.resolve(this.claim(key));
  }

  done(key: K): void {
    this.processing.delete(key);
    if (!this.stopped && this.dirty.has(key)) this.enqueue(key);
  }

  len(): number {
    return this.ready.length;
  }

  isShutdown(): boolean {
    return this.stopped;
  }

  /** Releases waiting workers and drops queued and delayed keys; keys in flight finish normally. */
  shutdown(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.ready.length = 0;
    this.dirty.clear();
    this.depthChanged();
    for (const release of this.waiters.splice(0)) release(undefined);
  }

  private enqueue(key: K): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter(this.claim(key));
      return;
    }
    this.ready.push(key);
    this.depthChanged();
  }

  private claim(key: K): K {
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }

  private backoffMs(failures: number): number {
    return Math.min(this.baseDelayMs * 2 ** failures, this.maxDelayMs);
  }

  private depthChanged(): void {
    this.options.onDepthChange?.(this.ready.length);
  }
}
