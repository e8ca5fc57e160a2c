// What this process remembers about each cluster between reconciles: one record per key,
// forgotten in one place (when the cluster is gone), so no part of it can outlive the
// cluster and mute the Events of a new cluster with the same name. All of it is in memory
// on purpose: after a restart each piece starts over, which costs at most one more Event
// or one more wait, never a wrong decision.
import type { TikvClusterStatus } from '../../api/v1alpha1.js';

export interface ClusterMemory {
  /** The status this process last wrote, and the resourceVersion it was written over. */
  lastWritten?: { basedOn: string; status: TikvClusterStatus };
  /**
   * When this process began evicting each store's leaders. After a restart the wait starts
   * again (at most one more timeout), which is cheaper than a pod annotation per eviction.
   */
  evictingSince: Map<string, number>;
  /** The last apply error reported, so a retry does not repeat its Event. */
  lastApplyError?: string;
  /** The refused spec.version, so a refusal gets one Event. */
  lastDowngrade?: string;
  /** The pod each component's roll last released, so each gets one Event. */
  lastRolled: { pd?: string; tikv?: string };
  /** The last unexpected reconcile error reported, so a retry does not repeat its Event. */
  lastReconcileError?: string;
  /** PD polls in a row that found PD unreachable, at one spec generation (the poll backs off). */
  pdUnreachable?: { generation: number | undefined; polls: number };
}

export class Memory {
  private readonly clusters = new Map<string, ClusterMemory>();

  of(key: string): ClusterMemory {
    let m = this.clusters.get(key);
    if (!m) {
      m = { evictingSince: new Map(), lastRolled: {} };
      this.clusters.set(key, m);
    }
    return m;
  }

  forget(key: string): void {
    this.clusters.delete(key);
  }
}
