import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ControllerMetrics, ReconcileOutcome } from './runtime/controller.js';

const PREFIX = 'tikv_operator_';
export const EVENT_LOOP_SAMPLE_MS = 1000;

export interface OperatorMetrics extends ControllerMetrics {
  /** Serve with `registry.metrics()` and `registry.contentType`. */
  readonly registry: Registry;
  /**
   * One PD API call. `endpoint` must be the route (e.g. `/pd/api/v1/stores`), never a
   * URL with ids in it, to keep the label set small; `outcome` is the HTTP status or
   * `error` when no response arrived.
   */
  pdRequest(endpoint: string, outcome: string, seconds: number): void;
}

/**
 * The operator's Prometheus metrics on a registry of their own (so tests can create
 * several). Node's default process metrics keep their standard unprefixed names
 * (`process_resident_memory_bytes`, …) that existing dashboards expect.
 */
export function createMetrics(options: { defaultMetrics?: boolean } = {}): OperatorMetrics {
  const registry = new Registry();
  // The event-loop lag histogram samples once a second, not every 10 ms (prom-client's
  // default): 100 timer wake-ups a second cost an idle operator ~0.35 s of CPU a minute,
  // more than everything else it does at rest with one cluster.
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const registers = [registry];

  const reconcileTotal = new Counter({
    name: `${PREFIX}reconcile_total`,
    help: 'Reconciles by controller and outcome (success, requeue_after, error).',
    labelNames: ['controller', 'outcome'] as const,
    registers,
  });
  const reconcileErrors = new Counter({
    name: `${PREFIX}reconcile_errors_total`,
    help: 'Reconciles that failed and were queued for a retry with backoff.',
    labelNames: ['controller'] as const,
    registers,
  });
  const reconcileDuration = new Histogram({
    name: `${PREFIX}reconcile_duration_seconds`,
    help: 'Time spent in one reconcile.',
    labelNames: ['controller'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const queueDepth = new Gauge({
    name: `${PREFIX}workqueue_depth`,
    help: 'Keys waiting for a worker.',
    labelNames: ['controller'] as const,
    registers,
  });
  const pdRequestDuration = new Histogram({
    name: `${PREFIX}pd_request_duration_seconds`,
    help: 'Latency of PD API requests by endpoint and outcome.',
    labelNames: ['endpoint', 'outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });

  return {
    registry,
    reconcileTotal: (controller: string, outcome: ReconcileOutcome) => reconcileTotal.inc({ controller, outcome }),
    reconcileErrors: (controller: string) => reconcileErrors.inc({ controller }),
    reconcileDuration: (controller: string, seconds: number) => reconcileDuration.observe({ controller }, seconds),
    queueDepth: (controller: string, depth: number) => queueDepth.set({ controller }, depth),
    pdRequest: (endpoint: string, outcome: string, seconds: number) => pdRequestDuration.observe({ endpoint, outcome }, seconds),
  };
}
