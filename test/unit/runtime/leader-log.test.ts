// What a standby says: one line per other holder, not one per retry, so a developer who
// runs `npm start` next to the deployed operator sees at once why nothing reconciles.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.js';
import { LeaderElector } from '../../../src/controller/runtime/leader.js';
import type { Logger } from '../../../src/controller/runtime/log.js';
import { StubApiServer, StubLeases } from './stub-apiserver.js';

const NS = 'tikv-operator-system';
const LEASE = 'tikv-operator-leader';

function recorder(lines: Array<{ level: string; obj: Record<string, unknown>; msg?: string }>): Logger {
  const at = (level: string) => (obj: Record<string, unknown>, msg?: string) => void lines.push({ level, obj, msg });
  const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
  return log;
}

describe('LeaderElector as a standby', () => {
  let server: StubApiServer;
  let leases: StubLeases;
  let stop: () => Promise<void> = async () => {};

  beforeEach(async () => {
    server = new StubApiServer();
    leases = new StubLeases(server);
    await server.start();
  });
  afterEach(async () => {
    await stop();
    await server.close();
  });

  const holdLease = (holder: string) => {
    const renewTime = new Date().toISOString().replace('Z', '000Z');
    leases.leases.set(`${NS}/${LEASE}`, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: LEASE, namespace: NS, resourceVersion: String(Date.now()) },
      spec: { holderIdentity: holder, leaseDurationSeconds: 15, renewTime, acquireTime: renewTime, leaseTransitions: 0 },
    });
  };
  const leaseGets = () => server.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/leases/${LEASE}`)).length;

  it('logs once per other holder that it stands by, naming the Lease and the holder', async () => {
    const lines: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = [];
    holdLease('tikv-operator-7d9f_1');
    const abort = new AbortController();
    const elector = new LeaderElector({
      kc: server.kubeConfig(),
      namespace: NS,
      name: LEASE,
      identity: 'laptop_4242',
      renewIntervalMs: 50,
      log: recorder(lines),
      onStartedLeading: () => {},
      onStoppedLeading: () => {},
    });
    const running = elector.run(abort.signal);
    stop = async () => {
      abort.abort();
      await running;
    };
    const standby = () => lines.filter((l) => l.msg?.startsWith('another operator holds the Lease'));

    await waitFor(() => expect(leaseGets()).toBeGreaterThanOrEqual(5), { timeout: 10_000 });
    expect(standby()).toHaveLength(1);
    expect(standby()[0]).toMatchObject({
      level: 'info',
      obj: { lease: `${NS}/${LEASE}`, holder: 'tikv-operator-7d9f_1', identity: 'laptop_4242' },
      msg: `another operator holds the Lease ${NS}/${LEASE} (holder tikv-operator-7d9f_1): standing by, reconciling nothing until it is released or expires`,
    });

    // A different holder takes over: said once more.
    holdLease('tikv-operator-5c2a_1');
    const gets = leaseGets();
    await waitFor(() => expect(leaseGets()).toBeGreaterThanOrEqual(gets + 5), { timeout: 10_000 });
    expect(standby().map((l) => l.obj.holder)).toEqual(['tikv-operator-7d9f_1', 'tikv-operator-5c2a_1']);
    expect(elector.isLeader()).toBe(false);
  });
});
