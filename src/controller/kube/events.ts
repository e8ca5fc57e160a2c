// Kubernetes Events for notable transitions (kubectl describe tikvcluster shows them).
// The caller emits on transitions only; a failed Event write is logged, never fatal.
import { randomBytes } from 'node:crypto';
import type { KubeClient } from '../runtime/kube-http.js';
import { kubeJSON } from './raw.js';
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

export class KubeEventRecorder implements EventRecorder {
  constructor(
    private readonly kc: KubeClient,
    private readonly component = 'tikv-operator',
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  async emit(target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    const now = new Date().toISOString();
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${target.name}.${randomBytes(8).toString('hex')}`, namespace: target.namespace },
      involvedObject: { apiVersion: target.apiVersion, kind: target.kind, name: target.name, namespace: target.namespace, uid: target.uid },
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.component,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      await kubeJSON(this.kc, { method: 'POST', path: resourcePath('Event', target.namespace), body: event });
    } catch (err) {
      this.onError(err);
    }
  }
}
