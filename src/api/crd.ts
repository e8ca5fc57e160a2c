// Builds the TikvCluster CustomResourceDefinition from the zod schema, so the CRD that
// `kubectl apply -f crds/` installs can never disagree with the validation in code.
// scripts/gen-crd.ts writes it to crds/; test/unit/crd.test.ts fails when that file drifts.
import { stringify } from 'yaml';
import { z } from 'zod';
import { configSchema } from './config-shape.js';
import { ownedKeyRules } from './owned-config.js';
import { ClusterName, GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, TikvClusterSpec, TikvClusterStatus, VERSION } from './v1alpha1.js';

export const CRD_NAME = `${PLURAL}.${GROUP}`;
export const CRD_FILE = `crds/${GROUP}_${PLURAL}.yaml`;
/** The ValidatingAdmissionPolicy (and its binding) that refuses operator-owned config keys. */
export const CONFIG_POLICY_NAME = `${PLURAL}.${GROUP}-owned-config`;
export const CONFIG_POLICY_FILE = `crds/${GROUP}_${PLURAL}-owned-config.yaml`;

type Schema = Record<string, unknown>;

const JS_SAFE_INT_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

/**
 * Turns zod's OpenAPI 3.0 output into a structural CRD schema:
 * - zod's `.int()` bounds of ±2^53 are noise in a CRD;
 * - Kubernetes forbids `additionalProperties: false` (unknown fields are pruned instead);
 * - quantities become `x-kubernetes-int-or-string` with the exact anyOf the apiserver wants
 *   (their checks are CEL rules: a pattern's error would show the raw regex);
 * - the free-form TOML config becomes the depth-bounded schema of config-shape.ts.
 */
function toStructural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toStructural);
  if (!node || typeof node !== 'object') return node;
  const s = { ...(node as Schema) };
  if (s['x-kubernetes-int-or-string']) {
    const out: Schema = { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] };
    const str = (s.anyOf as Schema[] | undefined)?.find((b) => b.type === 'string');
    if (str?.maxLength !== undefined) out.maxLength = str.maxLength;
    if (s.description) out.description = s.description;
    if (s['x-kubernetes-validations']) out['x-kubernetes-validations'] = s['x-kubernetes-validations'];
    return out;
  }
  if (s['x-tikv-config']) return configSchema(String(s.description ?? ''));
  if (s.additionalProperties === false) delete s.additionalProperties;
  for (const k of ['maximum', 'minimum'] as const) {
    if (typeof s[k] === 'number' && JS_SAFE_INT_BOUNDS.has(s[k] as number)) delete s[k];
  }
  for (const [k, v] of Object.entries(s)) {
    if (k === 'default' || k === 'enum' || k === 'x-kubernetes-validations') continue;
    s[k] = toStructural(v);
  }
  if (s.properties) {
    s.properties = Object.fromEntries(Object.entries(s.properties as Schema).map(([k, v]) => [k, toStructural(v)]));
  }
  return s;
}

function openAPISchema(schema: z.ZodType): Schema {
  return toStructural(z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw' })) as Schema;
}

const readyColumn = (name: string, path: string, description: string, priority = 0) => ({
  name,
  type: 'integer',
  jsonPath: path,
  description,
  ...(priority ? { priority } : {}),
});

const READY = '.status.conditions[?(@.type=="Ready")]';

/**
 * `kubectl get tkc`: what runs, from status (never the spec's wishes), and whether an operator
 * still watches (Synced); `-o wide` (priority 1) adds why it is not Ready and the pod counts.
 */
export const PRINTER_COLUMNS = [
  { name: 'Ready', type: 'string', jsonPath: `${READY}.status`, description: 'Whether the cluster is ready.' },
  { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'One-word summary of the cluster state.' },
  readyColumn('PD', '.status.pd.readyReplicas', 'Ready PD pods.'),
  readyColumn('PD-Desired', '.spec.pd.replicas', 'Desired PD members.'),
  readyColumn('Stores', '.status.tikv.upStores', 'TiKV stores PD reports Up.'),
  readyColumn('TiKV-Desired', '.spec.tikv.replicas', 'Desired TiKV stores.'),
  {
    name: 'Pods',
    type: 'string',
    jsonPath: '.status.conditions[?(@.type=="PodsHealthy")].reason',
    description: 'PodsRunning, or why a PD/TiKV pod fails (ImagePullBackOff, Unschedulable, CrashLoopBackOff, ...): see kubectl describe.',
  },
  { name: 'Version', type: 'string', jsonPath: '.status.version', description: 'The version that runs (status.version), not spec.version.' },
  {
    name: 'Synced',
    type: 'date',
    jsonPath: '.status.lastSyncTime',
    description: 'When the operator last wrote status (at least every 5 minutes while it watches): older than 10 minutes means no operator is watching.',
  },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  { name: 'Reason', type: 'string', jsonPath: `${READY}.reason`, description: 'Why the cluster is (not) Ready.', priority: 1 },
  readyColumn('TiKV-Pods', '.status.tikv.readyReplicas', 'Ready TiKV pods.', 1),
  { name: 'Message', type: 'string', jsonPath: `${READY}.message`, description: 'The Ready condition: what is wrong and what to do.', priority: 1 },
];

/** `group` only for tests that need a second copy of the CRD beside the real one. */
export function buildCRD(opts: { group?: string } = {}): Schema {
  const group = opts.group ?? GROUP;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${PLURAL}.${group}`,
      labels: { 'app.kubernetes.io/name': 'tikv-operator', 'app.kubernetes.io/part-of': 'tikv-operator' },
    },
    spec: {
      group,
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: SINGULAR, shortNames: SHORT_NAMES, categories: ['tikv'] },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: {
            status: {},
            scale: {
              specReplicasPath: '.spec.tikv.replicas',
              statusReplicasPath: '.status.tikv.replicas',
              labelSelectorPath: '.status.tikv.selector',
            },
          },
          additionalPrinterColumns: PRINTER_COLUMNS,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'TikvCluster is a TiKV cluster: PD members and TiKV stores, run by tikv-operator.',
              properties: {
                apiVersion: { type: 'string', description: 'APIVersion of this object: tikv.org/v1alpha1.' },
                kind: { type: 'string', description: 'Kind of this object: TikvCluster.' },
                // Only restrictions of name and generateName are allowed on metadata (kube-apiserver
                // refuses even a description): the name rules sit on metadata.name, so their
                // errors name that field.
                metadata: { type: 'object', properties: { name: openAPISchema(ClusterName) } },
                spec: { ...openAPISchema(TikvClusterSpec), default: {} },
                status: openAPISchema(TikvClusterStatus),
              },
            },
          },
        },
      ],
    },
  };
}

export function renderCRDYaml(): string {
  return `# Generated from src/api/v1alpha1.ts by \`npm run gen:crd\`. Do not edit by hand.\n${stringify(buildCRD(), { version: '1.1', lineWidth: 0 })}`;
}

/** A CEL string literal (single quotes; the messages hold no backslash). */
const celQuote = (s: string) => `'${s.replaceAll("'", "\\'")}'`;

/**
 * The admission half of the owned-key rules (src/api/owned-config.ts explains why a policy
 * and not a CRD rule): one validation per key, on creates and updates of the spec (status
 * and scale are subresources the policy does not match). `group` as in buildCRD.
 */
export function buildConfigPolicy(opts: { group?: string } = {}): Schema[] {
  const group = opts.group ?? GROUP;
  const name = `${PLURAL}.${group}-owned-config`;
  const labels = { 'app.kubernetes.io/name': 'tikv-operator', 'app.kubernetes.io/part-of': 'tikv-operator' };
  const rules = (['pd', 'tikv'] as const).flatMap((section) => ownedKeyRules(section).map((r) => ({ ...r, section })));
  const configOf = (c: 'pd' | 'tikv') =>
    `has(object.spec) && has(object.spec.${c}) && has(object.spec.${c}.config) ? object.spec.${c}.config : {}`;
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name, labels },
      spec: {
        failurePolicy: 'Fail',
        // matchConstraints is atomic for server-side apply: spelled out with the apiserver's
        // defaults, so a second field manager applying this file (a user's kubectl after the
        // test env's install, or the other way round) sets the same value, not a conflict.
        matchConstraints: {
          matchPolicy: 'Equivalent',
          namespaceSelector: {},
          objectSelector: {},
          resourceRules: [{ apiGroups: [group], apiVersions: [VERSION], operations: ['CREATE', 'UPDATE'], resources: [PLURAL], scope: '*' }],
        },
        variables: [
          { name: 'pd', expression: configOf('pd') },
          { name: 'tikv', expression: configOf('tikv') },
          // Every owned key that is set, as its message: one refusal names them all.
          {
            name: 'owned',
            expression: `[${rules.map((r) => `(${r.cel(`variables.${r.section}`)}) ? '' : ${celQuote(`${r.field}: ${r.problem}`)}`).join(', ')}].filter(m, m != '')`,
          },
        ],
        validations: [
          {
            expression: 'size(variables.owned) == 0',
            messageExpression: "variables.owned.join('; ')",
            message: 'spec.pd.config or spec.tikv.config sets a key the operator sets through flags; remove it',
            reason: 'Invalid',
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name, labels },
      spec: { policyName: name, validationActions: ['Deny'] },
    },
  ];
}

export function renderConfigPolicyYaml(): string {
  const docs = buildConfigPolicy().map((d) => stringify(d, { version: '1.1', lineWidth: 0 }));
  return `# Generated from src/api/owned-config.ts by \`npm run gen:crd\`. Do not edit by hand.\n${docs.join('---\n')}`;
}
