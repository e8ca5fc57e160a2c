// Reconcile of one TikvCluster: a level-based, idempotent function of its key that reads
// from caches, asks PD, applies the charts with server-side apply and writes status. It
// reads as its steps (steps.ts names them; each is a file of its own):
//   validate -> observe -> scale -> roll -> apply -> act -> status
// Deletion relies on owner references; PVCs are kept on purpose, and deleted only when a
// scale-out would otherwise hand a new pod dead data (PD must confirm it is dead).
// Pods start gated and are admitted by act (charts/admission.ts): a scale-in that PD has
// no store or member for leans on the gate, not on a PD read a starting pod could outrun.
// Any unexpected exception ends in a status that says so (Ready False, ReconcileError).
import { API_VERSION, KIND } from '../../api/v1alpha1.js';
import type { TikvClusterObject } from '../kube/objects.js';
import { errorText } from '../pd/view.js';
import { clusterRef } from '../ref.js';
import type { Logger } from '../runtime/log.js';
import { act } from './act.js';
import { apply } from './apply.js';
import type { Guarded, Reads, Writes } from './io.js';
import { Memory } from './memory.js';
import { observe } from './observe.js';
import { roll } from './roll.js';
import { scale } from './scale.js';
import { ClusterGoneError, invalid, isStatusWriteError, reconcileError, status } from './status.js';
import type { Pass } from './steps.js';
import { validate } from './validate.js';

export interface ReconcilerDeps {
  reads: Reads;
  /** Guarded (io.ts guardWrites): no write once this process stops leading. */
  writes: Guarded<Writes>;
  log: Logger;
  now?: () => Date;
  /** Poll interval while the cluster is ready / while anything is in flux. */
  steadyRequeueMs?: number;
  busyRequeueMs?: number;
  /** The longest wait between polls of a PD that does not answer. */
  maxPDBackoffMs?: number;
}

/**
 * The wait before the next poll of a PD that did not answer `polls` times in a row: the busy
 * interval, doubled per poll, at most `maxMs` (3, 6, 12, 24, 30, 30 … s). A PD that is gone
 * for long is then asked twice a minute, not twenty times (tidb-operator retries every
 * 24–40 s); a spec change or PD answering starts over at the busy interval.
 */
export function pdBackoffMs(busyMs: number, polls: number, maxMs: number): number {
  return Math.min(maxMs, busyMs * 2 ** Math.min(Math.max(polls - 1, 0), 20));
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** The apply failures of a reconcile, already in status; rethrown for the retry with backoff. */
class ApplyFailedError extends Error {}

export class TikvClusterReconciler {
  private readonly now: () => Date;
  private readonly steadyMs: number;
  private readonly busyMs: number;
  private readonly maxPDBackoffMs: number;
  private readonly memory: Memory;

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
    this.steadyMs = deps.steadyRequeueMs ?? 10_000;
    this.busyMs = deps.busyRequeueMs ?? 3_000;
    this.maxPDBackoffMs = deps.maxPDBackoffMs ?? 30_000;
    this.memory = new Memory();
  }

  /** `log` carries the cluster key (the runtime's child logger). */
  async reconcile(key: string, log: Logger = this.deps.log): Promise<ReconcileResult> {
    const ref = clusterRef(key);
    const cached = this.deps.reads.cache.cluster(ref.namespace, ref.name);
    if (!cached || cached.metadata.deletionTimestamp) {
      this.memory.forget(key);
      return {};
    }
    const memory = this.memory.of(key);
    const raw = withOwnStatus(memory, cached);
    const pass: Pass = {
      key,
      ref,
      raw,
      reads: this.deps.reads,
      writes: this.deps.writes,
      memory,
      log,
      now: this.now(),
      target: { apiVersion: API_VERSION, kind: KIND, name: ref.name, namespace: ref.namespace, uid: raw.metadata.uid },
    };
    try {
      return await this.steps(pass);
    } catch (e) {
      if (e instanceof ClusterGoneError) {
        log.info({ step: 'status' }, 'the TikvCluster is gone; nothing left to do');
        this.memory.forget(key);
        return {};
      }
      // Anything unexpected (a bug, an overflowing validation walk) is still reported in
      // status, so a cluster is never silently stuck in a retry loop.
      if (!(e instanceof ApplyFailedError) && !isStatusWriteError(e)) {
        log.error({ err: errorText(e) }, 'reconcile failed unexpectedly');
        await reconcileError(pass, e).catch((err) => log.warn({ err: errorText(err) }, 'could not report the reconcile error in status'));
      }
      throw e;
    }
  }

  private async steps(pass: Pass): Promise<ReconcileResult> {
    const valid = validate(pass);
    if (!valid.ok) {
      await invalid(pass, valid.message);
      return {};
    }
    const observed = await observe(pass, valid.cluster);
    const scaled = await scale(pass, observed);
    const rolled = await roll(pass, observed, scaled);
    const applied = await apply(pass, rolled, scaled);
    const acted = await act(pass, observed, scaled, rolled, applied);
    const waits = [
      ...acted.admissions,
      ...scaled.admissionWaits,
      ...scaled.waits,
      ...(rolled?.waits ?? []),
      ...applied.errors.map((message) => ({ reason: 'ApplyFailed', message })),
      ...acted.scale,
      ...acted.scaleIn,
      ...acted.roll,
    ];
    const written = await status(pass, observed, waits, applied.errors);
    const ready = written.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    return this.result(pass, ready, applied.errors, observed.pd.members.kind === 'Unreachable');
  }

  /** Apply failures are thrown after status is written, so the runtime retries with backoff (one Event per distinct error). */
  private async result(pass: Pass, ready: boolean, applyErrors: readonly string[], pdUnreachable: boolean): Promise<ReconcileResult> {
    const first = applyErrors[0];
    if (first !== undefined) {
      if (pass.memory.lastApplyError !== first) await pass.writes.emit(pass.target, 'Warning', 'ApplyFailed', first);
      pass.memory.lastApplyError = first;
      throw new ApplyFailedError(`apply failed: ${applyErrors.join('; ')}`);
    }
    pass.memory.lastApplyError = undefined;
    const { memory } = pass;
    if (!pdUnreachable) {
      memory.pdUnreachable = undefined;
      return { requeueAfterMs: ready ? this.steadyMs : this.busyMs };
    }
    const generation = pass.raw.metadata.generation;
    const last = memory.pdUnreachable;
    const before = last && last.generation === generation ? last.polls : 0;
    memory.pdUnreachable = { generation, polls: before + 1 };
    return { requeueAfterMs: pdBackoffMs(this.busyMs, before + 1, this.maxPDBackoffMs) };
  }
}

/**
 * The cluster with the newest status we know of. The cache can lag behind our own status
 * write (an owned object's event may trigger the next reconcile first); diffing against
 * the old status would then write again and repeat every event. A status write always
 * moves resourceVersion, so a cached object still at the version we wrote over has not
 * seen our write yet.
 */
function withOwnStatus(memory: Pass['memory'], cached: TikvClusterObject): TikvClusterObject {
  const mine = memory.lastWritten;
  const rv = cached.metadata.resourceVersion;
  if (!mine || rv === undefined || rv !== mine.basedOn) {
    memory.lastWritten = undefined;
    return cached;
  }
  return { ...cached, status: mine.status };
}
