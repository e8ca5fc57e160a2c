import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WorkQueue } from '../../../src/controller/runtime/workqueue.js';

/** Keys handed out until the queue has nothing ready (never waits). */
async function drainReady<K extends string>(q: WorkQueue<K>): Promise<K[]> {
  const keys: K[] = [];
  while (q.len() > 0) {
    const key = await q.get();
    if (key === undefined) break;
    keys.push(key);
    q.done(key);
  }
  return keys;
}

describe('WorkQueue', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('queues a waiting key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('ns/a');
    q.add('ns/b');
    q.add('ns/a');
    q.add('ns/a');
    expect(q.len()).toBe(2);
    expect(await drainReady(q)).toEqual(['ns/a', 'ns/b']);
  });

  it('never hands one key to two concurrent workers', async () => {
    const q = new WorkQueue();
    const active = new Set<string>();
    const perWorker = [0, 0];
    let overlaps = 0;
    let processed = 0;
    const worker = async (id: number) => {
      for (;;) {
        const key = await q.get();
        if (key === undefined) return;
        if (active.has(key)) overlaps++;
        active.add(key);
        // Re-adding while processing must not let the other worker pick the key up.
        q.add(key);
        await Promise.resolve();
        await Promise.resolve();
        active.delete(key);
        perWorker[id]!++;
        if (++processed === 40) q.shutdown();
        q.done(key);
      }
    };
    q.add('ns/a');
    await Promise.all([worker(0), worker(1)]);
    expect(overlaps).toBe(0);
    expect(perWorker[0]).toBeGreaterThan(0);
    expect(perWorker[1]).toBeGreaterThan(0);
  });

  it('requeues a key added while it was processed, once, when it is done', async () => {
    const q = new WorkQueue();
    q.add('ns/a');
    const key = await q.get();
    expect(key).toBe('ns/a');
    q.add('ns/a');
    q.add('ns/a');
    expect(q.len()).toBe(0);
    q.done('ns/a');
    expect(q.len()).toBe(1);
    expect(await drainReady(q)).toEqual(['ns/a']);
  });

  it('hands a key to a worker that is already waiting', async () => {
    const q = new WorkQueue();
    const pending = q.get();
    q.add('ns/a');
    expect(await pending).toBe('ns/a');
    q.add('ns/a');
    expect(q.len()).toBe(0);
    q.done('ns/a');
    expect(q.len()).toBe(1);
  });

  it('backs off exponentially per key, capped, and resets on forget', async () => {
    const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1000 });
    const delays: number[] = [];
    for (let attempt = 0; attempt < 6; attempt++) {
      q.addRateLimited('ns/a');
      delays.push(await msUntilReady(q));
      const key = await q.get();
      q.done(key!);
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(q.retries('ns/a')).toBe(6);

    q.forget('ns/a');
    expect(q.retries('ns/a')).toBe(0);
    q.addRateLimited('ns/a');
    expect(await msUntilReady(q)).toBe(100);
  });

  it('uses the default 100 ms base doubling up to a 60 s cap', async () => {
    const q = new WorkQueue();
    const delays: number[] = [];
    for (let attempt = 0; attempt < 12; attempt++) {
      q.addRateLimited('ns/a');
      delays.push(await msUntilReady(q));
      q.done((await q.get())!);
    }
    expect(delays.slice(0, 3)).toEqual([100, 200, 400]);
    expect(delays[9]).toBe(51_200);
    expect(delays.slice(10)).toEqual([60_000, 60_000]);
  });

  it('tracks backoff separately for each key', async () => {
    const q = new WorkQueue({ baseDelayMs: 10 });
    q.addRateLimited('ns/a');
    q.addRateLimited('ns/a');
    q.addRateLimited('ns/b');
    expect(q.retries('ns/a')).toBe(2);
    expect(q.retries('ns/b')).toBe(1);
  });

  it('keeps the earliest due time when a key is delayed twice', async () => {
    const q = new WorkQueue();
    q.addAfter('ns/a', 5000);
    q.addAfter('ns/a', 1000);
    q.addAfter('ns/a', 3000);
    expect(await msUntilReady(q)).toBe(1000);
    expect(await drainReady(q)).toEqual(['ns/a']);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(q.len()).toBe(0);
  });

  it('adds at once when the delay is not positive', () => {
    const q = new WorkQueue();
    q.addAfter('ns/a', 0);
    expect(q.len()).toBe(1);
  });

  it('releases waiting workers on shutdown and ignores later adds', async () => {
    const q = new WorkQueue();
    const waiting = [q.get(), q.get()];
    q.addAfter('ns/late', 1000);
    q.shutdown();
    expect(await Promise.all(waiting)).toEqual([undefined, undefined]);
    q.add('ns/a');
    expect(q.len()).toBe(0);
    expect(await q.get()).toBeUndefined();
    await vi.advanceTimersByTimeAsync(5000);
    expect(q.len()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('reports the ready depth as it changes', async () => {
    const depths: number[] = [];
    const q = new WorkQueue({ onDepthChange: (d) => depths.push(d) });
    q.add('ns/a');
    q.add('ns/b');
    q.add('ns/a');
    await q.get();
    expect(depths).toEqual([1, 2, 1]);
  });
});

/** Advances fake time 1 ms at a time until a key is ready; returns the ms it took. */
async function msUntilReady(q: WorkQueue): Promise<number> {
  let waited = 0;
  while (q.len() === 0) {
    await vi.advanceTimersByTimeAsync(1);
    waited++;
    if (waited > 120_000) throw new Error('nothing became ready');
  }
  return waited;
}
