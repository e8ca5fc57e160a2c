// What PD said about one cluster, in the words the rest of the operator uses: its members
// joined with their health and named after their pods, and this cluster's stores mapped
// to their pods. Derived once per reconcile; the plans and the status rules read these
// same two views, and the quorum rule is written here once.
import { podNameOfStoreAddress } from '../../api/names.js';
import type { PDMemberStatus, TiKVStoreStatus } from '../../api/v1alpha1.js';
import type { ClusterRef } from '../ref.js';
import { isPDError } from './json.js';
import { compareIds, type PDMemberHealth, type PDMembers, type PDStore } from './reads.js';

/** PD's members (status form, without transition times), or why PD could not be asked. */
export type MembersView =
  | { kind: 'Observed'; members: PDMemberStatus[]; leader?: string; clusterID?: string }
  | { kind: 'Unreachable'; error: string };

/** This cluster's stores as PD lists them (tombstones included), or why they are not known. */
export type StoresView =
  | { kind: 'Observed'; stores: TiKVStoreStatus[]; maxReplicas?: number }
  | { kind: 'NotBootstrapped' }
  | { kind: 'Unknown'; error: string };

/** Why the stores are not known. */
export type StoresUnread = Exclude<StoresView, { kind: 'Observed' }>;

/** etcd's quorum of n members. */
export const quorum = (n: number) => Math.floor(n / 2) + 1;

/**
 * PD can serve: a quorum of the members PD itself lists is healthy. Not of spec.pd.replicas:
 * etcd's quorum is over its actual members, so counting the desired number would call PD
 * unavailable during a big scale-out (or a spec raised before bootstrap) and available
 * during a scale-in that left too few healthy.
 */
export function hasQuorum(members: readonly PDMemberStatus[]): boolean {
  return members.length > 0 && members.filter((m) => m.health).length >= quorum(members.length);
}

export const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * A member that has not finished joining has no name; its peer URL still names the pod
 * (`http://<pod>.<peer-svc>.<ns>.svc:2380`). The key must be unique and non-empty.
 */
function memberName(name: string, peerURLs: readonly string[], id: string): string {
  if (name) return name;
  const host = peerURLs[0] ? safeHost(peerURLs[0]) : undefined;
  const pod = host?.split('.')[0];
  return pod && /^[a-z][-a-z0-9]*-pd-\d+$/.test(pod) ? pod : `unnamed-${id}`;
}

function safeHost(url: string): string | undefined {
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}

/**
 * Members from /health and /members, joined by id (names can be missing): /health lists
 * etcd's members, and one missing from /members is still a member. Sorted by name; `name`
 * is the CRD's list-map key, so twins get their id appended.
 */
export function membersView(health: readonly PDMemberHealth[], answer: PDMembers): MembersView {
  const healthById = new Map(health.map((h) => [h.id, h.health]));
  const seen = new Set<string>();
  const members: PDMemberStatus[] = [];
  const add = (id: string, name: string, clientURLs: readonly string[]) => {
    if (seen.has(id)) return;
    seen.add(id);
    members.push({ name, id, ...(clientURLs[0] ? { clientURL: clientURLs[0] } : {}), health: healthById.get(id) ?? false });
  };
  for (const m of answer.members) add(m.id, memberName(m.name, m.peerURLs, m.id), m.clientURLs);
  for (const h of health) add(h.id, memberName(h.name, [], h.id), h.clientURLs);
  const count = new Map<string, number>();
  for (const m of members) count.set(m.name, (count.get(m.name) ?? 0) + 1);
  for (const m of members) if ((count.get(m.name) ?? 0) > 1) m.name = `${m.name}-${m.id}`;
  members.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const leader = answer.leader ? memberName(answer.leader.name, answer.leader.peerURLs, answer.leader.id) : undefined;
  return { kind: 'Observed', members, ...(leader ? { leader } : {}), ...(answer.clusterID !== undefined ? { clusterID: answer.clusterID } : {}) };
}

/** This cluster's stores, recognized by their advertise address, sorted by numeric id. */
export function storesView(stores: readonly PDStore[], cluster: ClusterRef): StoresView & { kind: 'Observed' } {
  const ours: TiKVStoreStatus[] = [];
  for (const s of stores) {
    const podName = podNameOfStoreAddress(cluster.name, cluster.namespace, s.address);
    if (!podName) continue;
    ours.push({
      id: s.id,
      podName,
      address: s.address,
      state: s.stateName,
      leaderCount: s.leaderCount,
      regionCount: s.regionCount,
      ...(s.capacity ? { capacity: s.capacity } : {}),
      ...(s.available ? { available: s.available } : {}),
      ...(s.lastHeartbeatTS ? { lastHeartbeatTime: s.lastHeartbeatTS } : {}),
    });
  }
  ours.sort((a, b) => compareIds(a.id, b.id));
  return { kind: 'Observed', stores: ours };
}

/** A failed /stores call as a view: "not bootstrapped" is an answer, not an unknown. */
export function storesViewOfError(e: unknown): StoresUnread {
  if (isPDError(e) && e.notBootstrapped) return { kind: 'NotBootstrapped' };
  return { kind: 'Unknown', error: errorText(e) };
}
