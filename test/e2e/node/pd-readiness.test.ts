// Issue 10 on the real node: PD's readiness means "this member can serve" (etcd's GET
// /health), which must not break a bootstrap (peers find each other through the peer
// Service, which publishes not-ready addresses) nor a later --join (through the client
// Service, whose endpoints are then the members with quorum); and the PD start script
// waits for the pod's own DNS name. One scenario: a 3-PD cluster whose pods 1 and 2 have
// their DNS names hidden by a node hook (test/env/node/dns-hook.ts), so pod 0 runs alone,
// without quorum, for a while; then the names appear, the bootstrap completes with no
// restart, and a 4th member joins.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeRequest } from '../../../src/controller/kube/raw.js';
import { type DNSHook, hideDNSLabels } from '../../env/node/dns-hook.js';
import { waitFor } from '../../env/process.js';
import { clusterPath, getOrUndefined, mergePatchSpec } from '../support/kube.js';
import type { NodeBackend } from '../support/node-backend.js';
import type { Cluster } from '../support/scenario.js';
import { createCluster, nodeWithOperator } from './clusters.js';

const NAME = 'rpd';
const pdPod = (i: number) => `${NAME}-pd-${i}`;

interface Pod {
  metadata: { name: string };
  status?: {
    conditions?: { type: string; status: string }[];
    containerStatuses?: { restartCount: number; state?: { running?: unknown } }[];
  };
}
interface EndpointSlices {
  items: { endpoints?: { addresses: string[]; conditions?: { ready?: boolean }; targetRef?: { name: string } }[] }[];
}

const podReady = (p: Pod | undefined) => p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const running = (p: Pod | undefined) => p?.status?.containerStatuses?.[0]?.state?.running !== undefined;
const restarts = (p: Pod | undefined) => p?.status?.containerStatuses?.[0]?.restartCount;
/** The start script's own lines (`pd start: ...`), in order. */
const said = (logs: string) => logs.split('\n').filter((l) => l.startsWith('pd start: '));

describe('node: PD readiness from /health, the DNS wait, bootstrap and join', () => {
  let b: NodeBackend;
  let ns: string;
  let hook: DNSHook | undefined;
  const log = (s: string) => console.log(`[pd-readiness] ${s}`);

  const pod = (name: string) => getOrUndefined<Pod>(b.kc, `/api/v1/namespaces/${ns}/pods/${name}`);
  const cluster = () => getOrUndefined<Cluster>(b.kc, clusterPath(ns, NAME));
  /** Pod names the client Service would send a connection to (ready endpoints). */
  const clientEndpoints = async () => {
    const slices = await getOrUndefined<EndpointSlices>(b.kc, `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io/service-name=${NAME}-pd`);
    return (slices?.items ?? []).flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).map((e) => e.targetRef?.name ?? e.addresses[0]));
  };
  /** etcd's /health of one PD pod, asked directly through the apiserver's pod proxy. */
  const health = (name: string) => kubeRequest(b.kc, { method: 'GET', path: `/api/v1/namespaces/${ns}/pods/${name}:2379/proxy/health` });

  beforeAll(async () => {
    ({ b, ns } = await nodeWithOperator());
  });
  afterAll(async () => {
    await hook?.release();
    await b?.teardown();
  });

  it('with pods 1 and 2 waiting for their DNS names, pod 0 runs alone without quorum: /health 503, not Ready, no client-Service endpoint', async () => {
    hook = await hideDNSLabels(b.env.node!.node, [pdPod(1), pdPod(2)]);
    const hiddenAt = Date.now();
    await createCluster(b, ns, NAME, { pd: { replicas: 3, config: { replication: { 'max-replicas': 1 } } }, tikv: { replicas: 1 } });

    await waitFor(`${pdPod(0)} running`, async () => running(await pod(pdPod(0))), { timeoutMs: b.timeouts.ready, intervalMs: 500 });
    for (const i of [1, 2]) {
      await waitFor(
        `${pdPod(i)} waiting for its DNS name`,
        async () => running(await pod(pdPod(i))) && said(await b.logs(ns, pdPod(i)))[0]?.startsWith(`pd start: waiting up to 60 s for ${pdPod(i)}.${NAME}-pd-peer.${ns}.svc`),
        { timeoutMs: b.timeouts.ready, intervalMs: 1000 },
      );
    }
    // pd-0 started pd-server (it bootstraps), but with 1 of 3 members there is no leader.
    await waitFor(`${pdPod(0)} bootstrapping`, async () => said(await b.logs(ns, pdPod(0))).some((l) => l.includes('bootstraps the cluster')), {
      timeoutMs: 60_000,
      intervalMs: 1000,
    });
    // The script's line comes before pd-server listens: wait for PD itself (not the apiserver's "connection refused") to answer.
    await waitFor(`${pdPod(0)} answering on 2379`, async () => !(await health(pdPod(0))).body.includes('"kind":"Status"'), { timeoutMs: 60_000, intervalMs: 500 });
    // Sample the lone member for a while: more than the probe's 3 failures at 10 s periods
    // would need to flip it Ready, and past the 5 s in which a PD without its own name gives up.
    let samples = 0;
    while (Date.now() - hiddenAt < 30_000 || samples < 5) {
      const h = await health(pdPod(0));
      expect(h.status, h.body).toBe(503);
      expect(h.body.trim()).toBe('{"health":"false","reason":"RAFT NO LEADER"}');
      expect(podReady(await pod(pdPod(0))), `${pdPod(0)} Ready without quorum`).toBe(false);
      expect(await clientEndpoints()).toEqual([]);
      samples++;
      await new Promise((r) => setTimeout(r, 2000));
    }
    log(`${samples} samples of ${pdPod(0)} without quorum: 503, not Ready, no endpoint`);
    for (const i of [1, 2]) expect(said(await b.logs(ns, pdPod(i))), pdPod(i)).toHaveLength(1);
  });

  it('once the names resolve, the bootstrap completes without a restart: 3 members healthy, all Ready and client endpoints', async () => {
    await hook!.release();
    const c = await waitFor(
      'the TikvCluster Ready with 3 healthy PD members',
      async () => {
        const c = await cluster();
        const ready = c?.status?.conditions?.find((x) => x.type === 'Ready');
        return ready?.status === 'True' && c?.status?.pd?.members?.length === 3 && c.status.pd.members.every((m) => m.health) ? c : undefined;
      },
      { timeoutMs: b.timeouts.ready, intervalMs: 1000 },
    );
    expect(c.status?.pd?.members?.map((m) => m.name).sort()).toEqual([0, 1, 2].map(pdPod));
    for (const i of [0, 1, 2]) {
      const p = await pod(pdPod(i));
      expect(restarts(p), `${pdPod(i)} restarts`).toBe(0);
      expect(podReady(p), pdPod(i)).toBe(true);
    }
    for (const i of [1, 2]) {
      const lines = said(await b.logs(ns, pdPod(i)));
      expect(lines[1], pdPod(i)).toMatch(new RegExp(`^pd start: ${pdPod(i)}\\.${NAME}-pd-peer\\.${ns}\\.svc resolves after \\d+ s$`));
      expect(lines[2], pdPod(i)).toBe(`pd start: ${pdPod(i)} bootstraps the cluster with the initial members`);
    }
    const h = await health(pdPod(1));
    expect(h.status).toBe(200);
    expect(JSON.parse(h.body)).toEqual({ health: 'true', reason: '' });
    await waitFor('3 client-Service endpoints', async () => (await clientEndpoints()).sort().join() === [0, 1, 2].map(pdPod).join(), { timeoutMs: 60_000, intervalMs: 1000 });
  });

  it('a 4th member joins through the client Service and becomes Ready', async () => {
    await mergePatchSpec(b.kc, ns, NAME, { pd: { replicas: 4 } });
    await waitFor(
      '4 healthy PD members',
      async () => {
        const c = await cluster();
        return c?.status?.pd?.members?.length === 4 && c.status.pd.members.every((m) => m.health);
      },
      { timeoutMs: b.timeouts.change, intervalMs: 1000 },
    );
    const lines = said(await b.logs(ns, pdPod(3)));
    expect(lines.at(-1)).toBe(`pd start: ${pdPod(3)} joins the cluster`);
    const argv = (await b.kubectl(['-n', ns, 'exec', pdPod(3), '--', 'cat', '/proc/1/cmdline'])).stdout.split('\0');
    expect(argv).toContain(`--join=http://${NAME}-pd:2379`);
    await waitFor(`${pdPod(3)} Ready`, async () => podReady(await pod(pdPod(3))), { timeoutMs: 60_000, intervalMs: 1000 });
    expect(restarts(await pod(pdPod(3)))).toBe(0);
    await waitFor('4 client-Service endpoints', async () => (await clientEndpoints()).length === 4, { timeoutMs: 60_000, intervalMs: 1000 });
  });
});
