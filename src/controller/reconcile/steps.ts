// The steps of one reconcile, in order, by the names the `step` field of the logs and the
// README use (test/unit/reconcile/steps.test.ts keeps the three equal), and what each step
// is handed: one pass over one cluster.
import type { EventTarget } from '../kube/events.js';
import type { TikvClusterObject } from '../kube/objects.js';
import type { ClusterRef } from '../ref.js';
import type { Logger } from '../runtime/log.js';
import type { Guarded, Reads, Writes } from './io.js';
import type { ClusterMemory } from './memory.js';

export const STEPS = ['validate', 'observe', 'scale', 'roll', 'apply', 'act', 'status'] as const;
export type Step = (typeof STEPS)[number];

/** Something a step waits for, for the Progressing condition. */
export type { Wait } from '../status/assemble.js';

/** One reconcile of one cluster: what every step reads, writes and remembers through. */
export interface Pass {
  key: string;
  ref: ClusterRef;
  /** The cluster as cached, with the status this process last wrote when the cache lags behind it. */
  raw: TikvClusterObject;
  reads: Reads;
  writes: Guarded<Writes>;
  memory: ClusterMemory;
  log: Logger;
  /** One clock reading for the whole pass. */
  now: Date;
  /** The TikvCluster, as its Events name it. */
  target: EventTarget;
}
