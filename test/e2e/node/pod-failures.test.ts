// Issue 10 on the real node: the failures a kind user meets first show in the TikvCluster
// (`kubectl get tkc`, `kubectl describe tkc`), not only in pod events and logs. Three
// clusters at once: a PD image tag that does not exist (no registry here, so the pull
// fails as a wrong tag does), a memory request no node can hold, and a TiKV config that
// makes tikv-server crash (a wrong type panics its config loading). Each shows the
// PodsHealthy condition with the kubelet's or the scheduler's reason, the pod, the
// container's last words, and a Warning Event on the TikvCluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../env/process.js';
import { clusterPath, getOrUndefined } from '../support/kube.js';
import type { NodeBackend } from '../support/node-backend.js';
import type { Cluster } from '../support/scenario.js';
import { createCluster, nodeWithOperator } from './clusters.js';

interface EventList {
  items: { type: string; reason: string; message: string; count?: number; series?: { count?: number } }[];
}

const CLUSTERS: Record<string, { spec: Record<string, unknown>; reasons: string[]; pod: string; says: RegExp }> = {
  badtag: {
    spec: { pd: { replicas: 1, image: 'pingcap/pd:v8.5.55-no-such-tag' }, tikv: { replicas: 1 } },
    reasons: ['ErrImagePull', 'ImagePullBackOff'],
    pod: 'badtag-pd-0',
    says: /pingcap\/pd:v8\.5\.55-no-such-tag/,
  },
  toobig: {
    spec: { pd: { replicas: 1, resources: { requests: { memory: '4000Gi' } } }, tikv: { replicas: 1 } },
    reasons: ['Unschedulable'],
    pod: 'toobig-pd-0',
    says: /Insufficient memory/,
  },
  crash: {
    spec: { pd: { replicas: 1, config: { replication: { 'max-replicas': 1 } } }, tikv: { replicas: 1, config: { log: { level: 5 } } } },
    reasons: ['CrashLoopBackOff'],
    pod: 'crash-tikv-0',
    says: /restarted \d+ times, exited 101 \(Error\): .*invalid auto generated configuration file \/etc\/tikv\/tikv\.toml, err invalid type: integer `5`, expected a string for key `log\.level`/,
  },
};

describe('node: pod failures in the TikvCluster', () => {
  let b: NodeBackend;
  let ns: string;
  const cluster = (name: string) => getOrUndefined<Cluster>(b.kc, clusterPath(ns, name));
  const podsHealthy = (c: Cluster | undefined) => c?.status?.conditions?.find((x) => x.type === 'PodsHealthy');

  beforeAll(async () => {
    ({ b, ns } = await nodeWithOperator());
    for (const [name, c] of Object.entries(CLUSTERS)) await createCluster(b, ns, name, c.spec);
  });
  afterAll(async () => {
    await b?.teardown();
  });

  for (const [name, want] of Object.entries(CLUSTERS)) {
    it(`${name}: PodsHealthy=False ${want.reasons.join('/')} naming ${want.pod}, in kubectl get and describe, and a Warning Event`, async () => {
      const c = await waitFor(
        `${name}: PodsHealthy False with ${want.reasons.join(' or ')}`,
        async () => {
          const c = await cluster(name);
          const cond = podsHealthy(c);
          return cond?.status === 'False' && want.reasons.includes(cond.reason) && want.says.test(cond.message) ? c : undefined;
        },
        { timeoutMs: b.timeouts.ready, intervalMs: 1000 },
      );
      const cond = podsHealthy(c)!;
      expect(cond.message.startsWith(`${want.pod} `), cond.message).toBe(true);
      expect(cond.observedGeneration).toBe(1);

      // kubectl get tkc: the Pods column carries the reason.
      const get = await b.kubectl(['-n', ns, 'get', 'tkc', name]);
      const [header, row] = get.stdout.trim().split('\n');
      // kubectl aligns every cell under its header; a column left empty (no stores yet) is
      // blanks, so read the cell at the header's offset rather than splitting on spaces.
      const at = header!.search(/\bPODS\b/);
      expect(at, header).toBeGreaterThan(0);
      expect(want.reasons, `${header}\n${row}`).toContain(row!.slice(at).split(/\s+/)[0]);
      // kubectl describe tkc: the condition's message and the Warning Event.
      const describe = (await b.kubectl(['-n', ns, 'describe', 'tkc', name])).stdout;
      expect(describe).toContain('PodsHealthy');
      expect(describe).toMatch(new RegExp(`Warning\\s+(${want.reasons.join('|')})`));

      const events = await getOrUndefined<EventList>(
        b.kc,
        `/api/v1/namespaces/${ns}/events?fieldSelector=${encodeURIComponent(`involvedObject.kind=TikvCluster,involvedObject.name=${name}`)}`,
      );
      const mine = (events?.items ?? []).filter((e) => e.type === 'Warning' && want.reasons.includes(e.reason) && e.message.startsWith(`${want.pod} `));
      expect(mine.length, JSON.stringify(events?.items.map((e) => [e.reason, e.message]))).toBeGreaterThan(0);
      // One Event per transition, not per reconcile: a reason the kubelet flips between
      // (ErrImagePull <-> ImagePullBackOff) is a transition each time; a steady one is one Event.
      if (want.reasons.length === 1) {
        expect(mine).toHaveLength(1);
        expect(mine[0]!.count ?? 1).toBe(1);
      }
    });
  }
});
