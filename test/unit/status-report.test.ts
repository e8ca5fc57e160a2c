import { describe, expect, it } from 'vitest';
import { renderStatus, type StatusReport, table, waitingFor } from '../../src/cli/status-report.js';

const NOW = '2026-01-10T12:00:00.000Z';
const ago = (s: number) => new Date(Date.parse(NOW) - s * 1000).toISOString();
const cond = (type: string, status: 'True' | 'False' | 'Unknown', reason: string, message: string, age = 300) => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: ago(age),
  observedGeneration: 2,
});

function ready(): StatusReport {
  return {
    namespace: 'default',
    name: 'basic',
    generation: 2,
    observedGeneration: 2,
    phase: 'Running',
    version: 'v8.5.5',
    paused: false,
    conditions: [
      cond('Ready', 'True', 'ClusterReady', '3 PD members healthy, 3 TiKV stores Up, StatefulSets rolled out'),
      cond('Progressing', 'False', 'UpToDate', 'every StatefulSet is rolled out', 7200),
    ],
    operator: { lease: 'tikv-operator-system/tikv-operator-leader', state: 'held', holder: 'tikv-operator-7d9f_1', renewedSecondsAgo: 2 },
    pd: {
      access: "PD through the API server's service proxy",
      clusterID: '7312',
      leader: 'basic-pd-1',
      members: [
        { name: 'basic-pd-0', id: '11', health: 'healthy', leader: false, version: 'v8.5.5', pod: { name: 'basic-pd-0', state: 'Running', node: 'w1', arch: 'arm64' } },
        { name: 'basic-pd-1', id: '12', health: 'healthy', leader: true, version: 'v8.5.5', pod: { name: 'basic-pd-1', state: 'Running', node: 'w2', arch: 'amd64' } },
      ],
      podsWithoutMember: [],
    },
    tikv: {
      desired: 2,
      stores: [
        { id: '1', address: 'a:20160', state: 'Up', leaders: 3, regions: 9, capacity: '5GiB', available: '4.9GiB', version: '8.5.5', pod: { name: 'basic-tikv-0', state: 'Running', node: 'w1', arch: 'arm64' } },
        { id: '4', address: 'b:20160', state: 'Up', leaders: 2, regions: 9, capacity: '5GiB', available: '4.8GiB', version: '8.5.5', pod: { name: 'basic-tikv-1', state: 'Running', node: 'w3', arch: 'amd64' } },
      ],
      podsWithoutStore: [],
    },
    now: NOW,
  };
}

describe('table', () => {
  it('pads every column but the last to its widest cell', () => {
    expect(table(['A', 'LONG'], [['xyz', '1'], ['q', '']])).toEqual(['  A    LONG', '  xyz  1', '  q']);
  });
});

describe('renderStatus', () => {
  it('shows a Ready cluster: header, operator, conditions with ages, members with the leader, stores with pod, node and arch', () => {
    expect(renderStatus(ready())).toBe(
      [
        'TikvCluster default/basic  phase Running  version v8.5.5  generation 2 (observed 2)',
        'Operator:  held by tikv-operator-7d9f_1, renewed 2s ago (Lease tikv-operator-system/tikv-operator-leader)',
        'Waiting:   nothing: the cluster is Ready and every StatefulSet is up to date',
        '',
        'Conditions:',
        '  TYPE         STATUS  REASON        AGE  MESSAGE',
        '  Ready        True    ClusterReady  5m   3 PD members healthy, 3 TiKV stores Up, StatefulSets rolled out',
        '  Progressing  False   UpToDate      2h   every StatefulSet is rolled out',
        '',
        "PD (PD through the API server's service proxy)  cluster ID 7312  leader basic-pd-1",
        '  MEMBER      ID  HEALTH   LEADER  VERSION  POD         POD STATE  NODE  ARCH',
        '  basic-pd-0  11  healthy          v8.5.5   basic-pd-0  Running    w1    arm64',
        '  basic-pd-1  12  healthy  yes     v8.5.5   basic-pd-1  Running    w2    amd64',
        '',
        'TiKV  2 of 2 stores Up; spec.tikv.replicas 2',
        '  STORE  STATE  LEADERS  REGIONS  CAPACITY  AVAILABLE  VERSION  POD           POD STATE  NODE  ARCH   ADDRESS',
        '  1      Up     3        9        5GiB      4.9GiB     8.5.5    basic-tikv-0  Running    w1    arm64',
        '  4      Up     2        9        5GiB      4.8GiB     8.5.5    basic-tikv-1  Running    w3    amd64',
        '',
      ].join('\n'),
    );
  });

  it('says when PD did not answer, and lists pods that have no member or store yet', () => {
    const r = ready();
    r.pd.error = 'cannot reach PD: connect ECONNREFUSED';
    r.pd.podsWithoutMember = [{ name: 'basic-pd-2', state: 'Pending' }];
    r.tikv.podsWithoutStore = [{ name: 'basic-tikv-2', state: 'Running (not ready)', node: 'w2', arch: 'amd64' }];
    const text = renderStatus(r);
    expect(text).toContain('  PD did not answer: cannot reach PD: connect ECONNREFUSED\n');
    expect(text).toMatch(/\n {2}- +- +not a member +- +basic-pd-2 +Pending +- +-\n/);
    expect(text).toMatch(/\n {2}- +no store +- +- +- +- +- +basic-tikv-2 +Running \(not ready\) +w2 +amd64\n/);
  });
});

describe('renderStatus header', () => {
  it('shows the version that runs, and the spec\'s beside it while they differ', () => {
    expect(renderStatus({ ...ready(), version: 'v8.5.5', specVersion: 'v8.5.6' }).split('\n')[0]).toBe(
      'TikvCluster default/basic  phase Running  version v8.5.5 (spec v8.5.6)  generation 2 (observed 2)',
    );
  });
});

describe('waitingFor', () => {
  it('puts a missing or expired Lease first: nobody reconciles, status may be stale', () => {
    const r = ready();
    r.operator = { lease: 'tikv-operator-system/tikv-operator-leader', state: 'expired', holder: 'old_1', renewedSecondsAgo: 600 };
    expect(waitingFor(r)).toBe(
      'nothing: no operator holds the Lease tikv-operator-system/tikv-operator-leader (last held by old_1, not renewed for 10m); unless one runs with --no-leader-elect, nobody reconciles this cluster and its status may be stale',
    );
    r.operator = { lease: 'x/y', state: 'absent' };
    expect(waitingFor(r)).toContain('it does not exist: no operator with leader election has run');
  });

  it('names a spec the operator has not seen, then what Progressing says, then why it is not Ready', () => {
    const r = ready();
    r.generation = 3;
    expect(waitingFor(r)).toBe('the operator has not yet acted on generation 3 of the spec (status describes 2)');
    r.generation = 2;
    r.conditions = [
      cond('Ready', 'False', 'StoresNotUp', '2 of 3 TiKV stores Up'),
      cond('Progressing', 'True', 'ScaleInBlocked', 'store 5 cannot go Offline: only 3 Up stores would be left'),
    ];
    expect(waitingFor(r)).toBe('ScaleInBlocked: store 5 cannot go Offline: only 3 Up stores would be left');
    r.conditions = [cond('Ready', 'False', 'StoresNotUp', '2 of 3 TiKV stores Up'), cond('Progressing', 'False', 'UpToDate', 'x')];
    expect(waitingFor(r)).toBe('nothing in progress, but not Ready (StoresNotUp): 2 of 3 TiKV stores Up');
  });
});
