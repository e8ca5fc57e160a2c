import type { V1Lease, V1LeaseSpec } from '@kubernetes/client-node';
import { type KubeClient, kubeOpen, readBody } from './kube-http.js';
import type { Logger } from './log.js';

export interface LeaderElectorOptions {
  kc: KubeClient;
  namespace: string;
  /** Name of the coordination.k8s.io Lease. */
  name: string;
  /** Unique per process (e.g. pod name plus a random suffix). */
  identity: string;
  leaseDurationSeconds?: number;
  /** How often the leader renews and a follower retries. */
  renewIntervalMs?: number;
  /**
   * Leading stops when no renewal succeeded for this long. Shorter than the lease so a
   * leader that cannot renew stops before anyone else may take over. Default 2/3 of it.
   */
  renewDeadlineMs?: number;
  onStartedLeading: () => void;
  /** Awaited before the Lease is released on a graceful stop. */
  onStoppedLeading: () => void | Promise<void>;
  log: Logger;
}

/**
 * Lease-based leader election, as client-go's leaderelection does it: read the Lease,
 * create it if missing, follow while another holder's lease is unexpired, otherwise
 * write ourselves in with the read resourceVersion so a concurrent writer gets a 409.
 * Expiry compares the holder's renewTime with our clock, so clocks must roughly agree.
 * Three plain JSON requests: client-node's typed CoordinationV1Api would load its whole
 * generated API (about 60 MiB of RSS) for them.
 */
export class LeaderElector {
  private readonly leaseDurationSeconds: number;
  private readonly renewIntervalMs: number;
  private readonly renewDeadlineMs: number;
  private leading = false;
  private renewDeadline: NodeJS.Timeout | undefined;
  /** The other holder this standby last reported. */
  private observedHolder: string | undefined;

  constructor(private readonly options: LeaderElectorOptions) {
    this.leaseDurationSeconds = options.leaseDurationSeconds ?? 15;
    this.renewIntervalMs = options.renewIntervalMs ?? 5000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? (this.leaseDurationSeconds * 1000 * 2) / 3;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Campaigns (and keeps campaigning after losing the lease) until `signal` aborts, then releases. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.attempt();
      await sleep(this.renewIntervalMs, signal);
    }
    if (!this.leading) return;
    await this.stopLeading('shutting down');
    await this.release().catch((err) => this.options.log.warn({ err, lease: this.options.name }, 'could not release the lease'));
  }

  private async attempt(): Promise<void> {
    const startedAt = Date.now();
    try {
      if (await this.tryAcquireOrRenew()) return this.renewed(startedAt);
      if (this.leading) void this.stopLeading('the lease is held by another candidate');
    } catch (err) {
      // A leader keeps trying until its renew deadline passes; see renewed().
      this.options.log.warn({ err, lease: this.options.name, leading: this.leading }, 'lease request failed');
    }
  }

  /** True when this candidate holds the lease after the call. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const now = microTime(Date.now());
    const lease = await this.readLease();
    if (!lease) {
      const body = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: this.spec(now, undefined) };
      return this.write('POST', leasePath(namespace), body);
    }
    const held = lease.spec ?? {};
    if (held.holderIdentity && held.holderIdentity !== identity && !this.expired(held)) {
      this.standingBy(held.holderIdentity);
      return false;
    }
    lease.spec = this.spec(now, held);
    return this.write('PUT', leasePath(namespace, name), lease);
  }

  private spec(now: string, held: WireLeaseSpec | undefined): WireLeaseSpec {
    const takeover = held?.holderIdentity !== this.options.identity;
    return {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: this.leaseDurationSeconds,
      acquireTime: takeover ? now : held?.acquireTime,
      renewTime: now,
      leaseTransitions: (held?.leaseTransitions ?? 0) + (takeover && held ? 1 : 0),
    };
  }

  /** The holder let the lease run out: no renewal within its leaseDurationSeconds. */
  private expired(spec: WireLeaseSpec): boolean {
    const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : Number.NaN;
    if (Number.isNaN(renewed)) return true;
    return renewed + (spec.leaseDurationSeconds ?? this.leaseDurationSeconds) * 1000 < Date.now();
  }

  /** Says once per holder that another process leads, so two operators never run silently. */
  private standingBy(holder: string): void {
    if (this.observedHolder === holder) return;
    this.observedHolder = holder;
    const { namespace, name } = this.options;
    this.options.log.info(
      { lease: `${namespace}/${name}`, holder, identity: this.options.identity },
      `another operator holds the Lease ${namespace}/${name} (holder ${holder}): standing by, reconciling nothing until it is released or expires`,
    );
  }

  private renewed(startedAt: number): void {
    clearTimeout(this.renewDeadline);
    // Counted from before the request: the lease others see was renewed no later than that.
    const remaining = startedAt + this.renewDeadlineMs - Date.now();
    this.renewDeadline = setTimeout(() => void this.stopLeading('could not renew the lease in time'), remaining);
    if (this.leading) return;
    this.leading = true;
    this.observedHolder = undefined;
    this.options.log.info({ lease: this.options.name, identity: this.options.identity }, 'started leading');
    this.options.onStartedLeading();
  }

  private async stopLeading(reason: string): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    clearTimeout(this.renewDeadline);
    this.options.log.warn({ lease: this.options.name, identity: this.options.identity, reason }, 'stopped leading');
    try {
      await this.options.onStoppedLeading();
    } catch (err) {
      this.options.log.error({ err }, 'onStoppedLeading failed');
    }
  }

  /** Hands the lease back so another candidate can take over without waiting for expiry. */
  private async release(): Promise<void> {
    const lease = await this.readLease();
    if (!lease?.spec || lease.spec.holderIdentity !== this.options.identity) return;
    const now = microTime(Date.now());
    lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now };
    const { namespace, name } = this.options;
    if (!(await this.write('PUT', leasePath(namespace, name), lease))) throw new Error('the lease changed while it was being released');
  }

  private async readLease(): Promise<WireLease | undefined> {
    const { namespace, name } = this.options;
    const res = await this.request('GET', leasePath(namespace, name));
    if (res.status === 404) return undefined;
    return JSON.parse(res.body) as WireLease;
  }

  /** A create or replace; false on 409, when another candidate wrote first. */
  private async write(method: 'POST' | 'PUT', path: string, body: WireLease): Promise<boolean> {
    const res = await this.request(method, path, body);
    return res.status !== 409;
  }

  /**
   * One Lease request, bounded so a silent apiserver connection cannot stall the loop.
   * Resolves with 2xx, 404 and 409 answers; anything else is an error.
   */
  private async request(method: string, path: string, body?: WireLease): Promise<{ status: number; body: string }> {
    const signal = AbortSignal.timeout(Math.min(this.renewIntervalMs, this.renewDeadlineMs));
    const res = await kubeOpen(this.options.kc, method, path, {}, { signal, body });
    const text = await readBody(res);
    const status = res.statusCode ?? 0;
    if ((status >= 200 && status < 300) || status === 404 || status === 409) return { status, body: text };
    throw new Error(`${method} ${path}: HTTP ${status}: ${text.slice(0, 300)}`);
  }
}

/** A Lease as JSON: MicroTime fields are strings on the wire. */
type WireLeaseSpec = Omit<V1LeaseSpec, 'acquireTime' | 'renewTime'> & { acquireTime?: string; renewTime?: string };
type WireLease = Omit<V1Lease, 'spec'> & { spec?: WireLeaseSpec };

const leasePath = (namespace: string, name?: string) =>
  `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases${name ? `/${encodeURIComponent(name)}` : ''}`;

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits, as the apiserver writes it. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
