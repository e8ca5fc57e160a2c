// Labels and annotations shared by the charts and the controller. The label keys and
// values follow tidb-operator (tikv-operator flavour) so its docs and dashboards apply.

export type Component = 'pd' | 'tikv';

export const LABELS = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

export const APP_NAME = 'tikv-cluster';
export const MANAGED_BY = 'tikv-operator';

/**
 * The labels that identify one component's pods. StatefulSet and Service selectors use
 * exactly these; a StatefulSet selector is immutable, so they must never change.
 */
export function selectorLabels(cluster: string, component: Component): Record<string, string> {
  return {
    [LABELS.name]: APP_NAME,
    [LABELS.instance]: cluster,
    [LABELS.component]: component,
    [LABELS.managedBy]: MANAGED_BY,
  };
}

/**
 * On every PVC (through the volumeClaimTemplates): the claim is kept on purpose when its
 * TikvCluster is deleted or scaled in (retention policy Retain), so data survives a
 * mistaken delete; whoever finds it later reads why it is there and how to remove it.
 */
export const RETENTION_ANNOTATION = 'tikv.org/retention';
export const retentionNote = (cluster: string) =>
  `Retain: kept on purpose when TikvCluster ${cluster} is deleted or scaled in, so its data survives; delete the PVC yourself once the data is no longer needed (kubectl delete pvc -l ${LABELS.instance}=${cluster})`;

/** Pod-template annotation holding a hash of the rendered config: a config change rolls the pods. */
export const CONFIG_HASH_ANNOTATION = 'tikv.org/config-hash';

export const PROMETHEUS_ANNOTATIONS = {
  scrape: 'prometheus.io/scrape',
  port: 'prometheus.io/port',
  path: 'prometheus.io/path',
} as const;
