// The operator's own in-cluster deployment (deploy/tikv-operator.yaml): Namespace,
// ServiceAccount, least-privilege RBAC and a hardened Deployment. Pure, like the cluster
// charts; scripts/gen-deploy.ts writes it and a test fails when the file drifts.
//
// The RBAC rules are the single list of what the operator may do; the integration tests
// run the operator as this ServiceAccount with exactly these rules, so a missing
// permission fails a test instead of a user's cluster.
import { ApiObject, App, Chart } from 'cdk8s';
import { GROUP, PLURAL } from '../api/v1alpha1.js';
import type { KubeObject } from './types.js';

export const OPERATOR_NAMESPACE = 'tikv-operator-system';
export const OPERATOR_NAME = 'tikv-operator';
export const OPERATOR_IMAGE = 'tikv-operator:dev';
export const OPERATOR_PORT = 8080;
export const LEASE_NAME = 'tikv-operator-leader';

const labels = {
  'app.kubernetes.io/name': OPERATOR_NAME,
  'app.kubernetes.io/instance': OPERATOR_NAME,
  'app.kubernetes.io/component': 'controller',
  'app.kubernetes.io/managed-by': 'cdk8s',
};

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** Cluster-wide: TikvClusters live in any namespace, and so do the objects made for them. */
export const CLUSTER_RULES: PolicyRule[] = [
  { apiGroups: [GROUP], resources: [PLURAL], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [GROUP], resources: [`${PLURAL}/status`], verbs: ['get', 'patch'] },
  // Owner references with blockOwnerDeletion need this where the
  // OwnerReferencesPermissionEnforcement admission plugin is on (OpenShift, hardened clusters).
  { apiGroups: [GROUP], resources: [`${PLURAL}/finalizers`], verbs: ['update'] },
  { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get', 'list', 'watch', 'create', 'patch'] },
  { apiGroups: [''], resources: ['services', 'configmaps'], verbs: ['get', 'list', 'watch', 'create', 'patch'] },
  // patch: admitting a pod removes its scheduling gate (charts/admission.ts). delete: one
  // incarnation (uid precondition) of a pod that was admitted but never registered with
  // PD, so it cannot register while a scale-in removes its ordinal. create (and patch): the
  // one-off pod that runs --config-check on a changed config (reconcile/config-check.ts).
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
  // The one PVC delete: a retained PVC whose data PD says is dead (a tombstoned store or a
  // removed member), before a scale-out would start a new pod on it. Read by name only;
  // patch records what the operator knows about a PVC's data (annotations).
  { apiGroups: [''], resources: ['persistentvolumeclaims'], verbs: ['get', 'patch', 'delete'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  // Out of the cluster (`npm start`) PD is reached through the API server's service proxy,
  // where RBAC checks the proxied HTTP method: GET = get, POST = create, DELETE = delete
  // (PD's leader transfer, evict-leader and store/member removal calls).
  { apiGroups: [''], resources: ['services/proxy'], verbs: ['get', 'create', 'delete'] },
];

/** Only in the operator's namespace: its leader-election Lease. */
export const NAMESPACE_RULES: PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
];

export interface OperatorChartOptions {
  namespace?: string;
  image?: string;
  replicas?: number;
  logLevel?: string;
}

export function synthesizeOperator(opts: OperatorChartOptions = {}): KubeObject[] {
  const namespace = opts.namespace ?? OPERATOR_NAMESPACE;
  const app = new App({ recordConstructMetadata: false });
  const chart = new Chart(app, 'tikv-operator', { disableResourceNameHashes: true });
  const meta = (name: string, ns?: string) => ({ name, ...(ns ? { namespace: ns } : {}), labels });
  const subject = { kind: 'ServiceAccount', name: OPERATOR_NAME, namespace };

  new ApiObject(chart, 'namespace', { apiVersion: 'v1', kind: 'Namespace', metadata: meta(namespace) });
  new ApiObject(chart, 'service-account', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(OPERATOR_NAME, namespace) });
  new ApiObject(chart, 'cluster-role', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: meta(OPERATOR_NAME) });
  new ApiObject(chart, 'cluster-role-binding', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: meta(OPERATOR_NAME),
  });
  new ApiObject(chart, 'role', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(`${OPERATOR_NAME}-leader-election`, namespace) });
  new ApiObject(chart, 'role-binding', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta(`${OPERATOR_NAME}-leader-election`, namespace),
  });
  new ApiObject(chart, 'deployment', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta(OPERATOR_NAME, namespace) });
  new ApiObject(chart, 'metrics-service', { apiVersion: 'v1', kind: 'Service', metadata: meta(`${OPERATOR_NAME}-metrics`, namespace) });

  // ApiObject's props carry only apiVersion/kind/metadata; the bodies are added here so
  // they are emitted verbatim (no typed re-serialization dropping fields).
  const bodies: Record<string, Record<string, unknown>> = {
    ClusterRole: { rules: CLUSTER_RULES },
    ClusterRoleBinding: {
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: OPERATOR_NAME },
      subjects: [subject],
    },
    Role: { rules: NAMESPACE_RULES },
    RoleBinding: {
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${OPERATOR_NAME}-leader-election` },
      subjects: [subject],
    },
    Deployment: { spec: deploymentSpec(opts) },
    Service: {
      spec: {
        selector: labels,
        ports: [{ name: 'metrics', port: OPERATOR_PORT, targetPort: 'http' }],
      },
    },
  };
  return (chart.toJson() as KubeObject[]).map((o) => ({ ...o, ...(bodies[o.kind] ?? {}) }));
}

function deploymentSpec(opts: OperatorChartOptions) {
  return {
    replicas: opts.replicas ?? 1,
    selector: { matchLabels: labels },
    template: {
      metadata: {
        labels,
        annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(OPERATOR_PORT), 'prometheus.io/path': '/metrics' },
      },
      spec: {
        serviceAccountName: OPERATOR_NAME,
        securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
        terminationGracePeriodSeconds: 30,
        containers: [
          {
            name: 'operator',
            image: opts.image ?? OPERATOR_IMAGE,
            imagePullPolicy: 'IfNotPresent',
            args: ['run', `--metrics-addr=:${OPERATOR_PORT}`, '--leader-elect'],
            env: [
              { name: 'LOG_LEVEL', value: opts.logLevel ?? 'info' },
              // Keep V8's heap well inside the container's memory limit.
              { name: 'NODE_OPTIONS', value: '--max-old-space-size=384' },
              { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            ],
            ports: [{ name: 'http', containerPort: OPERATOR_PORT }],
            readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5 },
            livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, initialDelaySeconds: 10, periodSeconds: 10 },
            // Measured by `npm run bench`: ~140 MiB idle, ~300 MiB managing 100 clusters.
            resources: { requests: { cpu: '50m', memory: '192Mi' }, limits: { memory: '512Mi' } },
            securityContext: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'] },
            },
          },
        ],
      },
    },
  };
}
