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

/** Pod-template annotation holding a hash of the rendered config: a config change rolls the pods. */
export const CONFIG_HASH_ANNOTATION = 'tikv.org/config-hash';

export const PROMETHEUS_ANNOTATIONS = {
  scrape: 'prometheus.io/scrape',
  port: 'prometheus.io/port',
  path: 'prometheus.io/path',
} as const;
