import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.js';
import { LeaderElector, type LeaderElectorOptions } from '../../../src/controller/runtime/leader.js';
import { StubApiServer, StubLeases } from './stub-apiserver.js';

const NS = 'tikv-operator';
const LEASE = 'tikv-operator-leader';
const LEASES_PATH = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const log = pino({ level: 'silent' });

interface Candidate {
  elector: LeaderElector;
  stop: () => Promise<void>;
  started: number;
  stopped: number;
}

describe('LeaderElector', () => {
  let server: StubApiServer;
  let leases: StubLeases;
  let candidates: Candidate[];

  beforeEach(async () => {
    server = new StubApiServer();
    leases = new StubLeases(server);
    await server.start();
    candidates = [];
  });

  afterEach(async () => {
    await Promise.all(candidates.map((c) => c.stop()));
    await server.close();
  });

  function candidate(identity: string, options: Partial<LeaderElectorOptions> = {}): Candidate {
    const controller = new AbortController();
    const c: Candidate = { elector: undefined as unknown as LeaderElector, stop: async () => {}, started: 0, stopped: 0 };
    c.elector = new LeaderElector({
      kc: server.kubeConfig(),
      namespace: NS,
      name: LEASE,
      identity,
      renewIntervalMs: 10,
      log,
      onStartedLeading: () => {
        c.started++;
      },
      onStoppedLeading: () => {
        c.stopped++;
      },
      ...options,
    });
    const running = c.elector.run(controller.signal);
    c.stop = async () => {
      controller.abort();
      await running;
    };
    candidates.push(c);
    return c;
  }

  const lease = () => leases.get(NS, LEASE);
  const leaseRequests = (method: string) =>
    server.requests.filter((r) => r.method === method && r.path.startsWith(LEASES_PATH)).length;

  function seedLease(holder: string, renewedMsAgo: number, transitions = 0) {
    const renewTime = new Date(Date.now() - renewedMsAgo).toISOString().replace('Z', '000Z');
    leases.leases.set(`${NS}/${LEASE}`, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: LEASE, namespace: NS, resourceVersion: '1' },
      spec: { holderIdentity: holder, leaseDurationSeconds: 15, renewTime, acquireTime: renewTime, leaseTransitions: transitions },
    });
  }

  it('lets the first candidate create the lease and lead, with MicroTime timestamps', async () => {
    const a = candidate('a');
    await waitFor(() => expect(a.elector.isLeader()).toBe(true));
    expect(a.started).toBe(1);
    const spec = lease()!.spec;
    expect(spec.holderIdentity).toBe('a');
    expect(spec.leaseDurationSeconds).toBe(15);
    expect(spec.leaseTransitions).toBe(0);
    expect(spec.renewTime).toMatch(MICRO_TIME);
    expect(spec.acquireTime).toMatch(MICRO_TIME);
  });

  it('renews while leading, keeping acquireTime and the transition count', async () => {
    const a = candidate('a');
    await waitFor(() => expect(a.elector.isLeader()).toBe(true));
    const first = { ...lease()!.spec };
    await waitFor(() => expect(leaseRequests('PUT')).toBeGreaterThanOrEqual(3));
    const later = lease()!.spec;
    expect(later.acquireTime).toBe(first.acquireTime);
    expect(later.leaseTransitions).toBe(0);
    expect(later.holderIdentity).toBe('a');
    expect(Number(lease()!.metadata.resourceVersion)).toBeGreaterThan(2);
    expect(a.started).toBe(1);
  });

  it('makes a second candidate follow while the first holds the lease', async () => {
    const a = candidate('a');
    await waitFor(() => expect(a.elector.isLeader()).toBe(true));
    const b = candidate('b');
    const getsBefore = leaseRequests('GET');
    await waitFor(() => expect(leaseRequests('GET')).toBeGreaterThanOrEqual(getsBefore + 10));
    expect(b.elector.isLeader()).toBe(false);
    expect(b.started).toBe(0);
    expect(lease()!.spec.holderIdentity).toBe('a');
  });

  it('never lets two candidates lead at once, and hands over on a graceful stop', async () => {
    let leaders = 0;
    let overlaps = 0;
    const track = {
      onStartedLeading: () => {
        if (++leaders > 1) overlaps++;
      },
      onStoppedLeading: () => {
        leaders--;
      },
    };
    const all = ['a', 'b', 'c'].map((id) => candidate(id, track));
    await waitFor(() => expect(leaseRequests('PUT')).toBeGreaterThanOrEqual(20));
    const [first] = all.filter((c) => c.elector.isLeader());
    expect(first).toBeDefined();
    await first!.stop();
    await waitFor(() => expect(all.filter((c) => c.elector.isLeader())).toHaveLength(1));
    expect(overlaps).toBe(0);
    expect(leaders).toBe(1);
    expect(lease()!.spec.leaseTransitions).toBe(1);
  });

  it('releases the lease on a graceful stop', async () => {
    const a = candidate('a');
    await waitFor(() => expect(a.elector.isLeader()).toBe(true));
    await a.stop();
    expect(a.elector.isLeader()).toBe(false);
    expect(a.stopped).toBe(1);
    expect(lease()!.spec.holderIdentity).toBe('');
  });

  it('takes over a lease whose holder stopped renewing, counting the transition', async () => {
    seedLease('crashed', 60_000, 3);
    const b = candidate('b');
    await waitFor(() => expect(b.elector.isLeader()).toBe(true));
    const spec = lease()!.spec;
    expect(spec.holderIdentity).toBe('b');
    expect(spec.leaseTransitions).toBe(4);
    expect(Date.parse(String(spec.acquireTime))).toBeGreaterThan(Date.now() - 10_000);
  });

  it('does not take over a lease that has not expired', async () => {
    seedLease('alive', 1000);
    const b = candidate('b');
    await waitFor(() => expect(leaseRequests('GET')).toBeGreaterThanOrEqual(5));
    expect(b.elector.isLeader()).toBe(false);
    expect(leaseRequests('PUT')).toBe(0);
    expect(lease()!.spec.holderIdentity).toBe('alive');
  });

  it('stops leading when it cannot renew before the deadline, and leads again once it can', async () => {
    const a = candidate('a', { renewDeadlineMs: 100 });
    await waitFor(() => expect(a.elector.isLeader()).toBe(true));
    leases.failWith = 500;
    await waitFor(() => expect(a.stopped).toBe(1));
    expect(a.elector.isLeader()).toBe(false);

    leases.failWith = undefined;
    await waitFor(() => expect(a.started).toBe(2));
    expect(lease()!.spec.leaseTransitions).toBe(0);
  });

  it('stops leading at once when another candidate holds the lease', async () => {
    const a = candidate('a');
    await waitFor(() => expect(a.elector.isLeader()).toBe(true));
    const current = lease()!;
    current.spec = { ...current.spec, holderIdentity: 'usurper', renewTime: new Date().toISOString().replace('Z', '000Z') };
    current.metadata.resourceVersion = '999';
    await waitFor(() => expect(a.stopped).toBe(1));
    expect(a.elector.isLeader()).toBe(false);
    expect(lease()!.spec.holderIdentity).toBe('usurper');
  });
});
