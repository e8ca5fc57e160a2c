// Names of every object derived from a TikvCluster, as tidb-operator names them so its
// docs apply. Kept here (not in charts) because the CRD's name-length rule is derived
// from them and the controller looks objects up by them.

/** The ports PD and TiKV listen on (the charts' containers and Services, and every URL below). */
export const PD_PORTS = { client: 2379, peer: 2380 } as const;
export const TIKV_PORTS = { server: 20160, status: 20180 } as const;

export const names = (cluster: string) => ({
  pdStatefulSet: `${cluster}-pd`,
  pdClientService: `${cluster}-pd`,
  pdPeerService: `${cluster}-pd-peer`,
  pdConfigMap: `${cluster}-pd`,
  tikvStatefulSet: `${cluster}-tikv`,
  tikvPeerService: `${cluster}-tikv-peer`,
  tikvConfigMap: `${cluster}-tikv`,
  /** volumeClaimTemplate names; PVCs are `<template>-<statefulset>-<ordinal>`. */
  pdVolume: 'pd',
  tikvVolume: 'tikv',
});

export const pdPodName = (cluster: string, ordinal: number) => `${cluster}-pd-${ordinal}`;
export const tikvPodName = (cluster: string, ordinal: number) => `${cluster}-tikv-${ordinal}`;
export const pdPvcName = (cluster: string, ordinal: number) => `pd-${cluster}-pd-${ordinal}`;
export const tikvPvcName = (cluster: string, ordinal: number) => `tikv-${cluster}-tikv-${ordinal}`;

/** Stable DNS name of a pod behind its headless Service. */
export const podFqdn = (pod: string, peerService: string, namespace: string) => `${pod}.${peerService}.${namespace}.svc`;

export const pdClientURL = (cluster: string, namespace: string, ordinal: number) =>
  `http://${podFqdn(pdPodName(cluster, ordinal), names(cluster).pdPeerService, namespace)}:${PD_PORTS.client}`;
export const pdPeerURL = (cluster: string, namespace: string, ordinal: number) =>
  `http://${podFqdn(pdPodName(cluster, ordinal), names(cluster).pdPeerService, namespace)}:${PD_PORTS.peer}`;
export const tikvAdvertiseAddr = (cluster: string, namespace: string, ordinal: number) =>
  `${podFqdn(tikvPodName(cluster, ordinal), names(cluster).tikvPeerService, namespace)}:${TIKV_PORTS.server}`;

/** URL of the PD client Service as seen from inside the namespace. */
export const pdServiceURL = (cluster: string) => `http://${names(cluster).pdClientService}:${PD_PORTS.client}`;

/**
 * The pod name a store address belongs to, if it is one of this cluster's TiKV pods
 * (`<cluster>-tikv-<n>.<cluster>-tikv-peer.<ns>.svc[...]:port`).
 */
export function podNameOfStoreAddress(cluster: string, namespace: string, address: string): string | undefined {
  const host = address.replace(/:\d+$/, '');
  const [pod, svc, ns] = host.split('.');
  if (!pod || svc !== names(cluster).tikvPeerService || ns !== namespace) return undefined;
  return new RegExp(`^${escapeRegExp(cluster)}-tikv-\\d+$`).test(pod) ? pod : undefined;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
