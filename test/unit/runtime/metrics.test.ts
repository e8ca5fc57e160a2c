import { createRequire } from 'node:module';
import { describe, expect, it, vi } from 'vitest';
import { createMetrics } from '../../../src/controller/metrics.js';

/** The value of one sample line, e.g. `name{a="b"} 3`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('createMetrics', () => {
  it('exposes reconcile, queue and PD metrics under the tikv_operator_ prefix', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.reconcileTotal('tikvcluster', 'success');
    m.reconcileTotal('tikvcluster', 'success');
    m.reconcileTotal('tikvcluster', 'error');
    m.reconcileErrors('tikvcluster');
    m.reconcileDuration('tikvcluster', 0.2);
    m.reconcileDuration('tikvcluster', 3);
    m.queueDepth('tikvcluster', 4);
    m.queueDepth('tikvcluster', 2);
    m.pdRequest('/pd/api/v1/stores', '200', 0.004);

    const text = await m.registry.metrics();
    expect(sample(text, 'tikv_operator_reconcile_total{controller="tikvcluster",outcome="success"}')).toBe(2);
    expect(sample(text, 'tikv_operator_reconcile_total{controller="tikvcluster",outcome="error"}')).toBe(1);
    expect(sample(text, 'tikv_operator_reconcile_errors_total{controller="tikvcluster"}')).toBe(1);
    expect(sample(text, 'tikv_operator_reconcile_duration_seconds_count{controller="tikvcluster"}')).toBe(2);
    expect(sample(text, 'tikv_operator_reconcile_duration_seconds_bucket{le="0.25",controller="tikvcluster"}')).toBe(1);
    expect(sample(text, 'tikv_operator_workqueue_depth{controller="tikvcluster"}')).toBe(2);
    expect(
      sample(text, 'tikv_operator_pd_request_duration_seconds_bucket{le="0.005",endpoint="/pd/api/v1/stores",outcome="200"}'),
    ).toBe(1);
    expect(m.registry.contentType).toMatch(/^text\/plain/);
  });

  it('includes the default process metrics, and registries stay independent', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.reconcileErrors('x');
    const textA = await a.registry.metrics();
    const textB = await b.registry.metrics();
    expect(textA).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(sample(textA, 'tikv_operator_reconcile_errors_total{controller="x"}')).toBe(1);
    expect(sample(textB, 'tikv_operator_reconcile_errors_total{controller="x"}')).toBeUndefined();
  });

  it('samples the event-loop lag once a second, not every 10 ms, so an idle process stays idle', () => {
    // prom-client requires perf_hooks itself: spy on that same CommonJS module object.
    const perfHooks = createRequire(import.meta.url)('node:perf_hooks') as typeof import('node:perf_hooks');
    const spy = vi.spyOn(perfHooks, 'monitorEventLoopDelay');
    try {
      createMetrics();
      expect(spy).toHaveBeenCalledWith(expect.objectContaining({ resolution: 1000 }));
    } finally {
      spy.mockRestore();
    }
  });
});
