// What `tikv-operator status` shows, as data, and how it reads as text. Pure: the report
// is gathered in status.ts; here it only becomes lines a person reads at a glance.
import type { Condition } from '../api/v1alpha1.js';
import { formatAge } from '../controller/status/time.js';

export interface PodInfo {
  name: string;
  /** Pod phase plus readiness, e.g. `Running`, `Running (not ready)`, `Pending`, `Terminating`. */
  state: string;
  node?: string;
  /** kubernetes.io/arch of the node. */
  arch?: string;
}

export interface MemberRow {
  name: string;
  id: string;
  health: 'healthy' | 'unhealthy' | 'unknown';
  leader: boolean;
  version?: string;
  pod?: PodInfo;
}

export interface StoreRow {
  id: string;
  address: string;
  state: string;
  leaders?: number;
  regions?: number;
  capacity?: string;
  available?: string;
  version?: string;
  pod?: PodInfo;
}

export interface LeaseInfo {
  lease: string;
  /** `held`: an operator renews it; `expired`: nobody renewed it in time; `released`/`absent`: nobody holds it. */
  state: 'held' | 'expired' | 'released' | 'absent' | 'unreadable';
  holder?: string;
  renewedSecondsAgo?: number;
  error?: string;
}

export interface StatusReport {
  namespace: string;
  name: string;
  generation?: number;
  observedGeneration?: number;
  phase?: string;
  /** What runs (status.version): the spec's until the operator reported one. */
  version: string;
  /** spec.version, when it differs from what runs (a roll under way, or not started). */
  specVersion?: string;
  paused: boolean;
  conditions: Condition[];
  operator: LeaseInfo;
  pd: {
    /** How PD was reached, in words (the operator's own access). */
    access: string;
    /** Set when PD could not be asked; rows then come from the TikvCluster's status. */
    error?: string;
    /** Set when the stores could not be read (e.g. not bootstrapped yet). */
    storesError?: string;
    clusterID?: string;
    leader?: string;
    members: MemberRow[];
    podsWithoutMember: PodInfo[];
  };
  tikv: {
    desired?: number;
    stores: StoreRow[];
    podsWithoutStore: PodInfo[];
  };
  /** The time the report was taken (ages are relative to it). */
  now: string;
}

/** Left-aligned columns, two spaces apart; cells never wrap. */
export function table(header: string[], rows: string[][], indent = '  '): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    indent +
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

const dash = (v: string | number | undefined) => (v === undefined || v === '' ? '-' : String(v));
const ageOf = (iso: string | undefined, now: Date) => (iso ? formatAge((now.getTime() - new Date(iso).getTime()) / 1000) : '-');

/** One sentence on what the operator is doing for this cluster, or what it waits for. */
export function waitingFor(r: StatusReport): string {
  const cond = (type: string) => r.conditions.find((c) => c.type === type);
  if (r.operator.state !== 'held' && r.operator.state !== 'unreadable') {
    return `nothing: no operator holds the Lease ${r.operator.lease} (${leaseText(r.operator)}); unless one runs with --no-leader-elect, nobody reconciles this cluster and its status may be stale`;
  }
  if (r.generation !== undefined && (r.observedGeneration ?? 0) < r.generation) {
    return `the operator has not yet acted on generation ${r.generation} of the spec (status describes ${r.observedGeneration ?? 'none'})`;
  }
  if (r.paused) return 'nothing: spec.paused is true, so the operator leaves the objects alone (status keeps updating)';
  const progressing = cond('Progressing');
  if (progressing?.status === 'True') return `${progressing.reason}: ${progressing.message}`;
  const ready = cond('Ready');
  if (ready?.status === 'True') return 'nothing: the cluster is Ready and every StatefulSet is up to date';
  if (ready) return `nothing in progress, but not Ready (${ready.reason}): ${ready.message}`;
  return 'the operator has not reported on this cluster yet';
}

function leaseText(l: LeaseInfo): string {
  switch (l.state) {
    case 'held':
      return `held by ${l.holder}, renewed ${formatAge(l.renewedSecondsAgo ?? 0)} ago`;
    case 'expired':
      return `last held by ${l.holder}, not renewed for ${formatAge(l.renewedSecondsAgo ?? 0)}`;
    case 'released':
      return 'released: no operator holds it';
    case 'absent':
      return 'it does not exist: no operator with leader election has run';
    case 'unreadable':
      return `could not be read: ${l.error}`;
  }
}

const podCells = (p: PodInfo | undefined) => [dash(p?.name), dash(p?.state), dash(p?.node), dash(p?.arch)];

export function renderStatus(r: StatusReport): string {
  const now = new Date(r.now);
  const out: string[] = [];
  const gen = r.generation === undefined ? '' : `  generation ${r.generation} (observed ${dash(r.observedGeneration)})`;
  out.push(`TikvCluster ${r.namespace}/${r.name}  phase ${dash(r.phase)}  version ${r.version}${r.specVersion ? ` (spec ${r.specVersion})` : ''}${r.paused ? '  PAUSED' : ''}${gen}`);
  out.push(`Operator:  ${leaseText(r.operator)} (Lease ${r.operator.lease})`);
  out.push(`Waiting:   ${waitingFor(r)}`);
  out.push('', 'Conditions:');
  if (r.conditions.length === 0) out.push('  (none yet)');
  else
    out.push(
      ...table(
        ['TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE'],
        r.conditions.map((c) => [c.type, c.status, c.reason, ageOf(c.lastTransitionTime, now), c.message]),
      ),
    );

  out.push('', `PD (${r.pd.access})${r.pd.clusterID ? `  cluster ID ${r.pd.clusterID}` : ''}${r.pd.leader ? `  leader ${r.pd.leader}` : ''}`);
  if (r.pd.error) out.push(`  PD did not answer: ${r.pd.error}`, '  (members below are from the TikvCluster status, as of the operator\'s last look)');
  const memberRows = r.pd.members.map((m) => [m.name || '(joining)', m.id, m.health, m.leader ? 'yes' : '', dash(m.version), ...podCells(m.pod)]);
  const pdPods = r.pd.podsWithoutMember.map((p) => ['-', '-', 'not a member', '', '-', ...podCells(p)]);
  if (memberRows.length + pdPods.length === 0) out.push('  (no members)');
  else out.push(...table(['MEMBER', 'ID', 'HEALTH', 'LEADER', 'VERSION', 'POD', 'POD STATE', 'NODE', 'ARCH'], [...memberRows, ...pdPods]));

  const up = r.tikv.stores.filter((s) => s.state === 'Up').length;
  const live = r.tikv.stores.filter((s) => s.state !== 'Tombstone').length;
  out.push('', `TiKV  ${up} of ${live} stores Up; spec.tikv.replicas ${dash(r.tikv.desired)}`);
  if (r.pd.storesError) out.push(`  stores: ${r.pd.storesError}`);
  const storeRows = r.tikv.stores.map((s) => [
    s.id,
    s.state,
    dash(s.leaders),
    dash(s.regions),
    dash(s.capacity),
    dash(s.available),
    dash(s.version),
    ...podCells(s.pod),
    s.pod ? '' : s.address,
  ]);
  const tikvPods = r.tikv.podsWithoutStore.map((p) => ['-', 'no store', '-', '-', '-', '-', '-', ...podCells(p), '']);
  if (storeRows.length + tikvPods.length === 0) out.push('  (no stores)');
  else
    out.push(
      ...table(['STORE', 'STATE', 'LEADERS', 'REGIONS', 'CAPACITY', 'AVAILABLE', 'VERSION', 'POD', 'POD STATE', 'NODE', 'ARCH', 'ADDRESS'], [
        ...storeRows,
        ...tikvPods,
      ]),
    );
  return `${out.join('\n')}\n`;
}
