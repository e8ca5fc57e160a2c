// Issue 10 on the real node: a PD pod whose PVC was deleted with it comes back on an empty
// volume while PD still lists its member; pd-server refuses to join ("missing data or join
// a duplicated pd") and the pod crash-loops. The operator removes the stale member (PD
// keeps quorum, PD reports it unhealthy) and the pod joins afresh: without a human, with
// exactly one member removal. The operator runs in the cluster and reaches PD by DNS, so
// the removal is counted in PD's own member history (the stand-in hub's), not in the
// apiserver's audit log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../env/process.js';
import { clusterPath, getOrUndefined } from '../support/kube.js';
import type { NodeBackend } from '../support/node-backend.js';
import type { Cluster } from '../support/scenario.js';
import { createCluster, nodeWithOperator, waitReady } from './clusters.js';

const NAME = 'lost';
const POD = `${NAME}-pd-2`;

interface EventList {
  items: { type: string; reason: string; message: string; count?: number }[];
}

describe('node: a PD member that lost its data is recovered', () => {
  let b: NodeBackend;
  let ns: string;
  const cluster = () => getOrUndefined<Cluster>(b.kc, clusterPath(ns, NAME));

  beforeAll(async () => {
    ({ b, ns } = await nodeWithOperator());
    await createCluster(b, ns, NAME, { pd: { replicas: 3, config: { replication: { 'max-replicas': 1 } } }, tikv: { replicas: 1 } });
    await waitReady(b, ns, NAME);
  });
  afterAll(async () => {
    await b?.teardown();
  });

  it('kubectl delete pvc + pod: the pod crash-loops on "missing data", the operator removes the stale member once, the pod joins afresh', async () => {
    const before = await cluster();
    const oldId = before?.status?.pd?.members?.find((m) => m.name === POD)?.id;
    expect(oldId).toMatch(/^\d+$/);
    const oldPvc = await getOrUndefined<{ metadata: { uid: string } }>(b.kc, `/api/v1/namespaces/${ns}/persistentvolumeclaims/pd-${POD}`);

    await b.kubectl(['-n', ns, 'delete', 'pvc', `pd-${POD}`, '--wait=false']);
    await b.kubectl(['-n', ns, 'delete', 'pod', POD, '--wait=false']);

    const after = await waitFor(
      `${POD} back as a new member, 3 members healthy`,
      async () => {
        const c = await cluster();
        const m = c?.status?.pd?.members?.find((x) => x.name === POD);
        return m && m.id !== oldId && c?.status?.pd?.members?.length === 3 && c.status.pd.members.every((x) => x.health) ? c : undefined;
      },
      { timeoutMs: 2 * b.timeouts.change, intervalMs: 2000 },
    );
    const newPvc = await getOrUndefined<{ metadata: { uid: string } }>(b.kc, `/api/v1/namespaces/${ns}/persistentvolumeclaims/pd-${POD}`);
    expect(newPvc?.metadata.uid, 'a new, empty PVC').not.toBe(oldPvc?.metadata.uid);
    // The pod said why it could not start, before the operator acted.
    const previous = await b.logs(ns, POD, { previous: true }).catch(() => '');
    const logs = await b.logs(ns, POD);
    expect(logs).toContain(`pd start: ${POD} joins the cluster`);
    expect(previous + logs).toMatch(/joined the cluster|missing data or join a duplicated pd/);

    // Exactly one removal: PD's member history holds the old member of that name once, removed.
    const hub = b.env.node!.hub.pdCluster(`${NAME}-pd-peer.${ns}.svc`);
    const named = (hub?.members ?? []).filter((m) => m.name === POD);
    expect(named.map((m) => ({ id: m.id, removed: m.removed }))).toEqual([
      { id: oldId, removed: true },
      { id: after.status?.pd?.members?.find((m) => m.name === POD)?.id, removed: false },
    ]);
    const events = await getOrUndefined<EventList>(
      b.kc,
      `/api/v1/namespaces/${ns}/events?fieldSelector=${encodeURIComponent(`involvedObject.kind=TikvCluster,involvedObject.name=${NAME}`)}`,
    );
    const removed = (events?.items ?? []).filter((e) => e.reason === 'PDStaleMemberRemoved');
    expect(removed).toHaveLength(1);
    expect(removed[0]?.count ?? 1).toBe(1);
    expect(removed[0]?.message).toContain(`removed PD member ${POD} (id ${oldId})`);
  });
});
