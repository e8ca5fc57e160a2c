// Kubernetes Events for notable transitions (kubectl describe tikvcluster shows them).
// The caller emits on transitions only; a repeat is counted on the Event already sent; a
// failed Event write is logged, never fatal.
import { randomBytes } from 'node:crypto';
import type { KubeClient } from '../runtime/kube-http.js';
import { KubeApiError, kubeJSON } from './raw.js';
import { resourcePath } from './resources.js';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  emit(target: EventTarget, type: EventType, reason: string, message: string): Promise<void>;
}

/** Events remembered for counting; the oldest is forgotten first (client-go's correlator keeps 4096). */
const MAX_REMEMBERED = 1024;

interface Sent {
  name: string;
  count: number;
}

/**
 * Records core/v1 Events. An Event identical to one this process sent (same object, type,
 * reason and message) is not a new object: the one sent is patched, `count` + 1 and a new
 * `lastTimestamp`, as client-go's EventRecorder does, so `kubectl describe` shows
 * "(x5 over 3m)" and the apiserver stores one object. When that Event is gone (the
 * apiserver's event TTL, an hour by default), a new one is created and counted from 1.
 */
export class KubeEventRecorder implements EventRecorder {
  private readonly sent = new Map<string, Sent>();

  constructor(
    private readonly kc: KubeClient,
    private readonly component = 'tikv-operator',
    private readonly onError: (err: unknown) => void = () => {},
    private readonly now: () => Date = () => new Date(),
  ) {}

  async emit(target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    const text = message.slice(0, 1024);
    const key = JSON.stringify([target.namespace, target.kind, target.name, target.uid ?? '', type, reason, text]);
    const now = this.now().toISOString();
    try {
      const before = this.sent.get(key);
      if (before && (await this.bump(target.namespace, before, now))) {
        this.remember(key, before);
        return;
      }
      const name = `${target.name}.${randomBytes(8).toString('hex')}`;
      const event = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: target.namespace },
        involvedObject: { apiVersion: target.apiVersion, kind: target.kind, name: target.name, namespace: target.namespace, uid: target.uid },
        reason,
        message: text,
        type,
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.component,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      };
      await kubeJSON(this.kc, { method: 'POST', path: resourcePath('Event', target.namespace), body: event });
      this.remember(key, { name, count: 1 });
    } catch (err) {
      this.onError(err);
    }
  }

  /** Patches the Event sent before; false when it no longer exists. */
  private async bump(namespace: string, sent: Sent, now: string): Promise<boolean> {
    try {
      await kubeJSON(this.kc, {
        method: 'PATCH',
        path: resourcePath('Event', namespace, sent.name),
        body: { count: sent.count + 1, lastTimestamp: now },
        contentType: 'application/merge-patch+json',
      });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return false;
      throw err;
    }
    sent.count += 1;
    return true;
  }

  /** Most recently used last, so the one forgotten is the one least recently emitted. */
  private remember(key: string, sent: Sent): void {
    this.sent.delete(key);
    this.sent.set(key, sent);
    if (this.sent.size > MAX_REMEMBERED) {
      const oldest = this.sent.keys().next().value;
      if (oldest !== undefined) this.sent.delete(oldest);
    }
  }
}
