// One TikvCluster, as the work queue names it (`namespace/name`) and as everything below
// the reconciler addresses it.

export interface ClusterRef {
  name: string;
  namespace: string;
}

/** The work-queue key `namespace/name` as a ClusterRef (a key without a namespace is in `default`). */
export function clusterRef(key: string): ClusterRef {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: 'default', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
