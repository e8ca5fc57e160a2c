// A PD that does not answer is polled less and less often (bounded), and the warning it
// causes is written once, then counted. Counted over a clock the test moves: reconciles,
// requeues and log lines, never how long anything took.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pdBackoffMs } from '../../../src/controller/reconcile/reconciler.js';
import { collapseRepeats } from '../../../src/controller/runtime/log.js';
import { BUSY_MS, basicCluster, KEY, recordingLog, STEADY_MS, T0, World } from './fakes.js';

/** Reconciles whenever the last one asked to be requeued, for `ms` of the World's clock; the requeues asked for. */
async function pollFor(w: World, ms: number, onTick: (waitMs: number) => void = () => {}): Promise<number[]> {
  const requeues: number[] = [];
  for (let elapsed = 0; elapsed < ms; ) {
    const wait = (await w.reconcile()).requeueAfterMs ?? 0;
    requeues.push(wait);
    w.advance(wait);
    onTick(wait);
    elapsed += wait;
  }
  return requeues;
}

describe('PD poll backoff', () => {
  it('doubles from the busy interval up to 30 s: 23 polls in 10 minutes instead of 200', async () => {
    const w = new World();
    const requeues = await pollFor(w, 600_000);
    expect(requeues.slice(0, 6)).toEqual([3000, 6000, 12000, 24000, 30000, 30000]);
    expect(requeues).toHaveLength(23);
    expect(Math.max(...requeues)).toBe(30_000);
    // One PD client per reconcile, one look at PD each.
    expect(w.pd.resolved).toBe(23);
  });

  it('starts over at the busy interval once PD answers, and again when it goes away again', async () => {
    const w = await World.atRest();
    w.pd.reachable = false;
    expect(await pollFor(w, 45_000)).toEqual([3000, 6000, 12000, 24000]);
    w.pd.reachable = true;
    expect((await w.reconcile()).requeueAfterMs).toBe(STEADY_MS);
    w.pd.reachable = false;
    expect((await w.reconcile()).requeueAfterMs).toBe(BUSY_MS);
  });

  it('starts over when the spec changes (a new generation)', async () => {
    const w = new World(basicCluster());
    await pollFor(w, 45_000);
    expect((await w.reconcile()).requeueAfterMs).toBe(30_000);
    w.store.editSpec((spec) => {
      (spec.tikv as { replicas: number }).replicas = 4;
    });
    expect((await w.reconcile()).requeueAfterMs).toBe(BUSY_MS);
  });

  it('is bounded whatever the count', () => {
    expect([1, 2, 3, 4, 5, 1000, Number.MAX_SAFE_INTEGER].map((n) => pdBackoffMs(3000, n, 30_000))).toEqual([3000, 6000, 12000, 24000, 30000, 30000, 30000]);
  });
});

describe('the PD-unreachable warning', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is written once, then once a minute with the count of the polls it stands for', async () => {
    const w = new World();
    const lines: Array<Record<string, unknown>> = [];
    const log = collapseRepeats(recordingLog(lines), { windowMs: 60_000 });
    const requeues: number[] = [];
    for (let elapsed = 0; elapsed < 600_000; ) {
      const wait = (await w.reconciler.reconcile(KEY, log.child({ key: KEY }))).requeueAfterMs ?? 0;
      requeues.push(wait);
      w.advance(wait);
      vi.advanceTimersByTime(wait);
      elapsed += wait;
    }
    log.flush();
    const warnings = lines.filter((l) => l.level === 'warn' && String(l.msg).startsWith('PD is unreachable'));
    const repeated = warnings.reduce((sum, l) => sum + ((l.repeated as number | undefined) ?? 0), 0);
    // Every poll is accounted for: the first line, and the counts of the summaries.
    expect(1 + repeated).toBe(requeues.length);
    expect(warnings[0]?.repeated).toBeUndefined();
    expect(warnings.slice(1).every((l) => typeof l.repeated === 'number' && /repeated \d+ more times? in \d+s/.test(String(l.msg)))).toBe(true);
    // About one line a minute, not one a poll.
    expect(warnings.length).toBeLessThanOrEqual(11);
    expect(requeues.length).toBe(23);
  });
});
