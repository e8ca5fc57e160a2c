// The same state gives the same status bytes: whichever PD call fails first, however long
// the state lasts. Anything else rewrites status on every poll of a cluster at rest.
import { describe, expect, it } from 'vitest';
import type { TikvClusterStatus, TiKVStoreStatus } from '../../../src/api/v1alpha1.js';
import type { LiveStatefulSet } from '../../../src/controller/kube/objects.js';
import { PDError } from '../../../src/controller/pd/json.js';
import { lookAtPD } from '../../../src/controller/pd/observe.js';
import type { PDReads } from '../../../src/controller/pd/reads.js';
import { assembleStatus, type StatusInput } from '../../../src/controller/status/assemble.js';
import { normalizeStatus } from '../../../src/controller/status/equal.js';

const T0 = Date.parse('2025-08-19T10:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000);
const cluster = { namespace: 'ns', name: 'basic' };

const sts = (n: number): LiveStatefulSet => ({
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name: 'x', namespace: 'ns', generation: 1 },
  spec: { replicas: n },
  status: { replicas: n, readyReplicas: n, updatedReplicas: n, currentRevision: 'r1', updateRevision: 'r1', observedGeneration: 1 },
});

const store = (id: string, ordinal: number, state: string, heartbeat: string): TiKVStoreStatus => ({
  id,
  podName: `basic-tikv-${ordinal}`,
  address: `basic-tikv-${ordinal}.basic-tikv-peer.ns.svc:20160`,
  state,
  leaderCount: 1,
  regionCount: 3,
  lastHeartbeatTime: heartbeat,
});

const members = [0, 1, 2].map((i) => ({ name: `basic-pd-${i}`, id: String(100 + i), health: true }));

function input(over: Partial<StatusInput>): StatusInput {
  return {
    cluster,
    prev: undefined,
    generation: 1,
    desired: { pd: 3, tikv: 3 },
    paused: false,
    members: { kind: 'Observed', members, leader: 'basic-pd-0', clusterID: '7' },
    stores: { kind: 'Observed', stores: [] },
    bootstrapped: true,
    statefulSets: { pd: sts(3), tikv: sts(3) },
    waits: [],
    applyErrors: [],
    ...over,
  };
}

/** Polls of one unchanging state at the given seconds, each over the status the last one gave (canonical JSON: what a write compares). */
function polls(state: Partial<StatusInput>, seconds: number[]): string[] {
  let prev: TikvClusterStatus | undefined;
  return seconds.map((s) => {
    prev = assembleStatus(input({ ...state, prev }), at(s));
    return JSON.stringify(normalizeStatus(prev));
  });
}

describe('status bytes of a state at rest', () => {
  it('a store Down: the same bytes on every poll, its heartbeat a time, not an age', () => {
    const down = store('5', 2, 'Down', '2025-08-19T09:20:00.123Z');
    const state = { stores: { kind: 'Observed' as const, stores: [store('1', 0, 'Up', '2025-08-19T10:00:00Z'), store('4', 1, 'Up', '2025-08-19T10:00:00Z'), down] } };
    const [first, ...rest] = polls(state, [3, 6, 60, 600, 7200]);
    for (const r of rest) expect(r).toBe(first);
    expect(first).toContain("store 5 (basic-tikv-2) is Down: PD's last heartbeat from it was at 2025-08-19T09:20:00Z");
    expect(first).not.toMatch(/for \d+[smhd]\b/);
  });

  it('PD unreachable: the same bytes on every poll', () => {
    const error = 'GET /pd/api/v1/health failed: cannot reach PD at http://basic-pd.ns.svc:2379: connect ECONNREFUSED 10.96.0.10:2379';
    const state = { members: { kind: 'Unreachable' as const, error }, stores: { kind: 'Unknown' as const, error } };
    const [first, ...rest] = polls(state, [3, 9, 33, 600]);
    for (const r of rest) expect(r).toBe(first);
  });
});

describe('lookAtPD: which error an unreachable PD is reported with', () => {
  const refused = (path: string) =>
    new PDError({ kind: 'HTTP', status: 503, method: 'GET', path, detail: 'the API server answered, not PD: no endpoints available for service "basic-pd"' });
  /** health and members fail, the one named by `first` a tick before the other. */
  function failing(first: 'health' | 'members'): PDReads {
    const fail = (call: 'health' | 'members') => () =>
      new Promise<never>((_, reject) => setTimeout(() => reject(refused(`/pd/api/v1/${call}`)), call === first ? 0 : 5));
    return { health: fail('health'), members: fail('members') } as unknown as PDReads;
  }

  it('is the same whichever of the two concurrent calls fails first: health, the first asked', async () => {
    const a = await lookAtPD(failing('health'));
    const b = await lookAtPD(failing('members'));
    expect(a).toEqual(b);
    expect(a).toEqual({ reachable: false, error: expect.stringMatching(/^GET \/pd\/api\/v1\/health answered 503/) });
  });

  it("is members' error when only members fails", async () => {
    const reads = {
      health: async () => [],
      members: async () => {
        throw refused('/pd/api/v1/members');
      },
    } as unknown as PDReads;
    expect(await lookAtPD(reads)).toEqual({ reachable: false, error: expect.stringMatching(/^GET \/pd\/api\/v1\/members answered 503/) });
  });
});
