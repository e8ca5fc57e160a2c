// Step status: the status the rules derive (status/) from this pass, written only when it
// says something new, then one Event per transition. Also the two statuses a pass can end
// in early: an invalid spec, and an unexpected error.

import { names } from '../../api/names.js';
import type { TikvClusterStatus } from '../../api/v1alpha1.js';
import { errorText } from '../pd/view.js';
import { assembleStatus, invalidStatus, reconcileErrorStatus, type StatusInput } from '../status/assemble.js';
import { setCondition } from '../status/conditions.js';
import { statusEqual } from '../status/equal.js';
import { rfc3339 } from '../status/time.js';
import { transitionEvents } from '../status/events.js';
import type { Observation } from './observe.js';
import { newFailures, PODS_HEALTHY, podFailures, podsHealthy } from './pod-failures.js';
import type { Pass, Wait } from './steps.js';

/**
 * How old status.lastSyncTime may get before a reconcile writes status although nothing
 * changed: like a kubelet's node status (nodeStatusReportFrequency, 5 minutes), a report
 * that the operator still watches, which also refreshes the per-store counters. Between
 * reports a cluster at rest costs no write at all.
 */
export const STATUS_REPORT_MS = 5 * 60_000;

/** The TikvCluster is gone (a status write met 404): the reconcile is done. */
export class ClusterGoneError extends Error {}
/** Errors of status writes themselves: writing another status about them is pointless. */
const statusWriteErrors = new WeakSet<object>();
export const isStatusWriteError = (e: unknown) => typeof e === 'object' && e !== null && statusWriteErrors.has(e);

/** Derives the status of this pass and writes it when it changed; returns it. */
export async function status(pass: Pass, obs: Observation, waits: readonly Wait[], applyErrors: readonly string[]): Promise<TikvClusterStatus> {
  const { ref, raw, reads } = pass;
  const n = names(ref.name);
  const input: StatusInput = {
    cluster: ref,
    prev: raw.status,
    generation: raw.metadata.generation,
    desired: { pd: obs.cluster.spec.pd.replicas, tikv: obs.cluster.spec.tikv.replicas },
    paused: obs.cluster.spec.paused,
    members: obs.pd.members,
    stores: obs.pd.stores,
    bootstrapped: obs.bootstrapped,
    // Read again: the cache may already hold what this pass applied.
    statefulSets: {
      pd: reads.cache.owned('StatefulSet', ref.namespace, n.pdStatefulSet),
      tikv: reads.cache.owned('StatefulSet', ref.namespace, n.tikvStatefulSet),
    },
    waits,
    applyErrors,
  };
  const next = assembleStatus(input, pass.now);
  // PodsHealthy (pod-failures.ts), and one Warning Event per new failure, after the write.
  const failures = podFailures([...obs.live.pods.pd, ...obs.live.pods.tikv]);
  const podsBefore = raw.status?.conditions?.find((c) => c.type === PODS_HEALTHY);
  next.conditions = setCondition(next.conditions, PODS_HEALTHY, podsHealthy(failures), raw.metadata.generation, pass.now);
  await writeIfChanged(pass, next);
  for (const e of newFailures(podsBefore, failures)) await pass.writes.emit(pass.target, 'Warning', e.reason, e.message);
  pass.memory.lastReconcileError = undefined;
  return next;
}

/** The invalid spec's status, over whatever the cluster had. */
export async function invalid(pass: Pass, message: string): Promise<void> {
  await writeIfChanged(pass, invalidStatus(pass.raw.status, message, pass.raw.metadata.generation, pass.now));
}

/**
 * Ready False, reason ReconcileError, with the error, over whatever status the cluster
 * had; one Warning Event per distinct error. Best effort: the caller rethrows anyway.
 */
export async function reconcileError(pass: Pass, e: unknown): Promise<void> {
  const { raw, memory } = pass;
  const message = `the reconcile failed and is retried with backoff: ${errorText(e)}`.slice(0, 4096);
  const next = reconcileErrorStatus(raw.status, message, raw.metadata.generation, pass.now);
  if (!statusEqual(raw.status, next)) {
    await write(pass, next);
    remember(pass, next);
  }
  if (memory.lastReconcileError !== message) {
    memory.lastReconcileError = message;
    await pass.writes.emit(pass.target, 'Warning', 'ReconcileError', message);
  }
}

async function writeIfChanged(pass: Pass, derived: TikvClusterStatus): Promise<void> {
  const prev = pass.raw.status;
  const synced = prev?.lastSyncTime ? Date.parse(prev.lastSyncTime) : Number.NaN;
  // From the status itself, not this process's memory: a restarted operator reports on time too.
  const reportDue = !(pass.now.getTime() - synced < STATUS_REPORT_MS);
  if (!reportDue && statusEqual(prev, { ...derived, lastSyncTime: prev?.lastSyncTime }, { ignoreVolatile: true })) return;
  const next = { ...derived, lastSyncTime: rfc3339(pass.now) };
  await write(pass, next);
  remember(pass, next);
  // After the write: a failed write is retried, and events emitted before it would repeat.
  for (const ev of transitionEvents(prev, next)) {
    // The same news in the log: a store going Down or PD becoming unreachable is something an
    // operator's log reader looks for, not only `kubectl get events`.
    pass.log[ev.type === 'Warning' ? 'warn' : 'info']({ step: 'status', reason: ev.reason }, ev.message);
    await pass.writes.emit(pass.target, ev.type, ev.reason, ev.message);
  }
}

/** A 404 means the cluster was just deleted (done); other errors are marked as status errors. */
async function write(pass: Pass, next: TikvClusterStatus): Promise<void> {
  try {
    await pass.writes.writeStatus(pass.ref, pass.raw.status, next);
  } catch (e) {
    if (isNotFound(e)) throw new ClusterGoneError(`TikvCluster ${pass.ref.namespace}/${pass.ref.name} is gone`);
    if (typeof e === 'object' && e !== null) statusWriteErrors.add(e);
    throw e;
  }
}

/** The status this process wrote, over the resourceVersion it was written on (see Reconciler.withOwnStatus). */
function remember(pass: Pass, next: TikvClusterStatus): void {
  const rv = pass.raw.metadata.resourceVersion;
  if (rv !== undefined) pass.memory.lastWritten = { basedOn: rv, status: next };
}

const isNotFound = (e: unknown) => typeof e === 'object' && e !== null && 'status' in e && e.status === 404;
