// The TikvCluster API (tikv.org/v1alpha1). This zod schema is the single source of
// truth: the TypeScript types, runtime validation + defaulting, and the CRD's OpenAPI
// schema (scripts/gen-crd.ts -> crds/tikv.org_tikvclusters.yaml) all derive from it.
//
// Conventions for the CRD generator (src/api/crd.ts):
//   - every field carries a description (`kubectl explain` shows it);
//   - `.meta({ 'x-kubernetes-int-or-string': true })` marks Kubernetes quantities;
//   - `.meta({ 'x-tikv-config': true })` marks the free-form TOML config (src/api/config-shape.ts);
//   - `withRules(schema, [...])` (src/api/rules.ts) adds a CEL rule checked at admission and
//     the same check in TypeScript;
//   - `.prefault({})` (not `.default({})`) so nested defaults are filled in code as the
//     apiserver fills them at admission.
import { z } from 'zod';
import { CONFIG_MAX_KEY_DEPTH } from './config-shape.js';
import { MAX_CLUSTER_NAME_LENGTH } from './limits.js';
import { ownedKeyRules } from './owned-config.js';
import { compareQuantities } from './quantity.js';
import {
  cel,
  celIsQuantity,
  celQuantity,
  celString,
  isDNS1123Label,
  isDNS1123Subdomain,
  isLabelValue,
  isQualifiedName,
  KINDS,
  type QuantityBounds,
  quantityOf,
  quantityRule,
  type Rule,
  withRules,
} from './rules.js';

export const GROUP = 'tikv.org';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'TikvCluster';
export const PLURAL = 'tikvclusters';
export const SINGULAR = 'tikvcluster';
export const SHORT_NAMES = ['tkc'];

export const DEFAULT_VERSION = 'v8.5.5';

// --- quantities ------------------------------------------------------------------------
// Checked by value, as the apiserver reads them (src/api/quantity.ts), within bounds that
// keep every derived value exact and sensible (the block cache is 30% of the memory limit,
// raftstore.capacity the volume size in MiB).

const CPU: QuantityBounds = {
  min: '0',
  minInclusive: false,
  max: '10k',
  intOrString: true,
  message: 'must be a CPU quantity more than 0 and at most 10k (cores), such as 500m or 2',
};
const MEMORY: QuantityBounds = {
  min: '1Mi',
  minInclusive: true,
  max: '1Pi',
  intOrString: true,
  message: 'must be a memory quantity from 1Mi to 1Pi, such as 512Mi or 2Gi (the suffix m means thousandths: 512m is 0.512 bytes)',
};
const STORAGE: QuantityBounds = {
  min: '1Mi',
  minInclusive: true,
  max: '1Ei',
  intOrString: false,
  message: 'must be a size from 1Mi to 1Ei, such as 10Gi',
};

const quantity = (bounds: QuantityBounds, description: string) =>
  withRules(z.union([z.string().max(64), z.number().int({ error: 'must be a whole number, or a quantity string such as "500m" or "0.5"' })]), [quantityRule(bounds)]).meta({
    'x-kubernetes-int-or-string': true,
    description,
  });

const ComputeResources = z
  .object({
    cpu: quantity(CPU, 'CPU, in cores or millicores (e.g. 500m), more than 0 and at most 10k.').optional(),
    memory: quantity(MEMORY, 'Memory, in bytes with an optional binary suffix (e.g. 512Mi, 2Gi), from 1Mi to 1Pi.').optional(),
  })
  .strict();

type ComputeResourcesOut = z.output<typeof ComputeResources>;
type ResourcesOut = { requests?: ComputeResourcesOut; limits?: ComputeResourcesOut };

/** core/v1 refuses a request above its limit; so does admission, naming the request. */
const requestWithinLimit = (r: 'cpu' | 'memory'): Rule<ResourcesOut> => {
  const req = `self.requests.${r}`;
  const lim = `self.limits.${r}`;
  return {
    rule:
      `!has(self.requests) || !has(self.limits) || !has(${req}) || !has(${lim}) || !${celIsQuantity(req)} || !${celIsQuantity(lim)} || ` +
      `${celQuantity(req)}.compareTo(${celQuantity(lim)}) <= 0`,
    message: `must not be more than limits.${r}`,
    fieldPath: `.requests.${r}`,
    check: (v) => {
      const a = v.requests?.[r];
      const b = v.limits?.[r];
      const qa = a === undefined ? undefined : quantityOf(a);
      const qb = b === undefined ? undefined : quantityOf(b);
      return !qa || !qb || compareQuantities(qa, qb) <= 0;
    },
  };
};

const Resources = withRules(
  z
    .object({
      requests: ComputeResources.describe('Minimum CPU and memory the scheduler reserves for each pod.').optional(),
      limits: ComputeResources.describe(
        'Maximum CPU and memory for each pod. For TiKV the memory limit also sizes the block cache (30% of it).',
      ).optional(),
    })
    .strict(),
  [requestWithinLimit('cpu'), requestWithinLimit('memory')],
);

// --- storage ---------------------------------------------------------------------------

const storageSizeValid = (o: string) =>
  `(${celIsQuantity(`${o}.size`, false)} && ${celQuantity(`${o}.size`, false)}.compareTo(quantity('${STORAGE.min}')) >= 0 && ` +
  `${celQuantity(`${o}.size`, false)}.compareTo(quantity('${STORAGE.max}')) <= 0)`;
/**
 * Whether the old storage could have reached a StatefulSet. A StatefulSet's
 * volumeClaimTemplates never change, so size and class are immutable; but a value today's
 * rules refuse (say `0` from before they existed) never made a valid StatefulSet, and
 * correcting it is allowed rather than leaving the cluster stuck.
 */
const oldStorageValid = `(has(oldSelf.size) && ${storageSizeValid('oldSelf')} && (!has(oldSelf.storageClassName) || ${cel.dns1123Subdomain('oldSelf.storageClassName')}))`;

const Storage = (defaultSize: string, what: string) =>
  withRules(
    z
      .object({
        size: withRules(z.string().max(64), [quantityRule(STORAGE)])
          .default(defaultSize)
          .describe(
            `Size of each ${what} data volume (PersistentVolumeClaim), from 1Mi to 1Ei. Immutable after creation (unless invalid).`,
          ),
        storageClassName: withRules(z.string().min(1).max(253), [
          { rule: cel.dns1123Subdomain('self'), message: `must be ${KINDS.dns1123Subdomain}`, check: isDNS1123Subdomain },
        ])
          .optional()
          .describe(
            `StorageClass of the ${what} data volumes; the cluster's default StorageClass when unset. Immutable after creation (unless invalid).`,
          ),
      })
      .strict()
      .describe(`Persistent storage for each ${what} pod. Volumes are kept when the TikvCluster is deleted.`),
    [
      {
        // has(): the apiserver also checks the rules against the schema's default, `{}`.
        rule: `!has(self.size) || (has(oldSelf.size) && self.size == oldSelf.size) || !${oldStorageValid}`,
        message: 'cannot change after creation: the volumeClaimTemplates of a StatefulSet are immutable',
        fieldPath: '.size',
      },
      {
        rule:
          '(has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)) || ' +
          `!${oldStorageValid}`,
        message: 'cannot be set, changed or removed after creation: the volumeClaimTemplates of a StatefulSet are immutable',
        fieldPath: '.storageClassName',
      },
    ],
  );

// --- scheduling: what core/v1 checks in a pod template, checked at admission --------------

const labelKey = (description: string) =>
  withRules(z.string().max(317), [{ rule: cel.qualifiedName('self'), message: `must be ${KINDS.labelKey}`, check: isQualifiedName }]).describe(
    description,
  );
/** A label map (nodeSelector, matchLabels): label keys to label values. */
const labelMap = (description: string, maxEntries: number) =>
  withRules(z.record(z.string().max(317), z.string().max(63)), [
    {
      rule: `self.all(k, ${cel.qualifiedName('k')})`,
      message: `each key must be ${KINDS.labelKey}`,
      check: (m) => Object.keys(m).every(isQualifiedName),
    },
    {
      rule: `self.all(k, ${cel.labelValue('self[k]')})`,
      message: `each value must be ${KINDS.labelValue}`,
      check: (m) => Object.values(m).every(isLabelValue),
    },
  ])
    .refine((m) => Object.keys(m).length <= maxEntries, `must have at most ${maxEntries} entries`)
    .describe(description)
    .meta({ maxProperties: maxEntries });

const Toleration = withRules(
  z
    .object({
      key: z.string().max(317).optional().describe('Taint key the toleration applies to; empty matches all keys (with operator Exists).'),
      operator: z.enum(['Exists', 'Equal']).optional().describe('Exists or Equal (default Equal).'),
      value: z.string().max(63).optional().describe('Taint value the toleration matches (with operator Equal).'),
      effect: z
        .enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'])
        .optional()
        .describe('Taint effect to match; empty matches all effects.'),
      tolerationSeconds: z
        .number()
        .int()
        .optional()
        .describe('For NoExecute: how long the pod stays bound after the taint appears.'),
    })
    .strict(),
  [
    {
      rule: `!has(self.key) || self.key == '' || ${cel.qualifiedName('self.key')}`,
      message: `must be ${KINDS.labelKey}`,
      fieldPath: '.key',
      check: (t) => !t.key || isQualifiedName(t.key),
    },
    {
      rule: "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
      message: 'must be Exists when key is empty (an empty key with Exists tolerates every taint)',
      fieldPath: '.operator',
      check: (t) => !!t.key || t.operator === 'Exists',
    },
    {
      rule: "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
      message: 'must be empty when operator is Exists',
      fieldPath: '.value',
      check: (t) => t.operator !== 'Exists' || !t.value,
    },
    {
      rule: `(has(self.operator) && self.operator == 'Exists') || !has(self.value) || ${cel.labelValue('self.value')}`,
      message: `must be ${KINDS.labelValue}`,
      fieldPath: '.value',
      check: (t) => t.operator === 'Exists' || t.value === undefined || isLabelValue(t.value),
    },
    {
      rule: "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
      message: 'must be NoExecute when tolerationSeconds is set',
      fieldPath: '.effect',
      check: (t) => t.tolerationSeconds === undefined || t.effect === 'NoExecute',
    },
  ],
);

// core/v1 Affinity, typed so admission checks what the StatefulSet's pod template validation
// would refuse later (operators, values, weights, topology keys).

const values = (max: number, description: string) => z.array(z.string().max(63)).max(max).optional().describe(description);

/** What core/v1 checks in both node and label selector requirements: values fit the operator. */
const requirementRules: Rule<{ operator: string; values?: string[] }>[] = [
    {
      rule: "!(self.operator in ['In', 'NotIn']) || (has(self.values) && size(self.values) > 0)",
      message: 'must be given when operator is In or NotIn',
      fieldPath: '.values',
      check: (r) => !['In', 'NotIn'].includes(r.operator) || (r.values?.length ?? 0) > 0,
    },
    {
      rule: "!(self.operator in ['Exists', 'DoesNotExist']) || !has(self.values) || size(self.values) == 0",
      message: 'must be empty when operator is Exists or DoesNotExist',
      fieldPath: '.values',
      check: (r) => !['Exists', 'DoesNotExist'].includes(r.operator) || (r.values?.length ?? 0) === 0,
    },
    {
      rule: `!has(self.values) || self.values.all(v, ${cel.labelValue('v')})`,
      message: `each value must be ${KINDS.labelValue}`,
      fieldPath: '.values',
      check: (r) => (r.values ?? []).every(isLabelValue),
    },
];

const NodeSelectorRequirement = withRules(
  z
    .object({
      key: labelKey('The node label key the requirement applies to.'),
      operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt']).describe('In, NotIn, Exists, DoesNotExist, Gt or Lt.'),
      values: values(16, 'Values for In/NotIn (at least one), or the single integer for Gt/Lt; none for Exists/DoesNotExist.'),
    })
    .strict(),
  [
    ...requirementRules,
    {
      rule: "!(self.operator in ['Gt', 'Lt']) || (has(self.values) && size(self.values) == 1 && self.values[0].matches(r'^-?[0-9]{1,18}$'))",
      message: 'must be exactly one integer when operator is Gt or Lt',
      fieldPath: '.values',
      check: (r) => !['Gt', 'Lt'].includes(r.operator) || (r.values?.length === 1 && /^-?[0-9]{1,18}$/.test(r.values[0] ?? '')),
    },
  ],
);

const NodeFieldSelectorRequirement = withRules(
  z
    .object({
      key: z.literal('metadata.name').describe('The only node field that can be selected: metadata.name.'),
      operator: z.enum(['In', 'NotIn']).describe('In or NotIn.'),
      values: z.array(z.string().max(253)).min(1).max(1).describe('Exactly one node name.'),
    })
    .strict(),
  [
    {
      rule: `self.values.all(v, ${cel.dns1123Subdomain('v')})`,
      message: `each value must be ${KINDS.dns1123Subdomain} naming a node`,
      fieldPath: '.values',
      check: (r) => r.values.every(isDNS1123Subdomain),
    },
  ],
);

const NodeSelectorTerm = z
  .object({
    matchExpressions: z.array(NodeSelectorRequirement).max(8).optional().describe('Requirements on node labels (all must hold).'),
    matchFields: z.array(NodeFieldSelectorRequirement).max(4).optional().describe('Requirements on node fields (all must hold).'),
  })
  .strict();

const NodeAffinity = z
  .object({
    requiredDuringSchedulingIgnoredDuringExecution: z
      .object({
        nodeSelectorTerms: z
          .array(NodeSelectorTerm.describe('Requirements that all must hold.'))
          .min(1)
          .max(8)
          .describe('Terms of which at least one must hold.'),
      })
      .strict()
      .optional()
      .describe('Nodes a pod may be scheduled to.'),
    preferredDuringSchedulingIgnoredDuringExecution: z
      .array(
        z
          .object({
            weight: z.number().int().min(1).max(100).describe('Weight of the preference, 1-100.'),
            preference: NodeSelectorTerm.describe('Requirements that all must hold.'),
          })
          .strict(),
      )
      .max(8)
      .optional()
      .describe('Nodes the scheduler prefers, by weight.'),
  })
  .strict();

const LabelSelectorRequirement = withRules(
  z
    .object({
      key: labelKey('The label key the requirement applies to.'),
      operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']).describe('In, NotIn, Exists or DoesNotExist.'),
      values: values(16, 'Values for In/NotIn (at least one); none for Exists/DoesNotExist.'),
    })
    .strict(),
  [
    ...requirementRules,
  ],
);

const LabelSelector = (description: string) =>
  z
    .object({
      matchLabels: labelMap('Labels the pods must have.', 16).optional(),
      matchExpressions: z.array(LabelSelectorRequirement).max(8).optional().describe('Requirements on pod labels (all must hold).'),
    })
    .strict()
    .describe(description);

type PodAffinityTermOut = {
  labelSelector?: { matchLabels?: Record<string, string>; matchExpressions?: Array<{ key: string }> };
  matchLabelKeys?: string[];
  mismatchLabelKeys?: string[];
};

const labelKeys = (description: string) => z.array(labelKey('A pod label key.')).max(8).optional().describe(description);

const PodAffinityTerm = withRules(
  z
    .object({
      labelSelector: LabelSelector('The pods this term is about.').optional(),
      namespaceSelector: LabelSelector('Namespaces of those pods, by namespace labels.').optional(),
      namespaces: z
        .array(
          withRules(z.string().max(63), [{ rule: cel.dns1123Label('self'), message: `must be ${KINDS.dns1123Label}`, check: isDNS1123Label }]).describe(
            'A namespace name.',
          ),
        )
        .max(8)
        .optional()
        .describe("Namespaces of those pods; the pod's own namespace when empty."),
      topologyKey: labelKey('Node label whose value defines "the same place" (e.g. kubernetes.io/hostname).'),
      matchLabelKeys: labelKeys("Pod label keys whose values (taken from the incoming pod) are added to labelSelector with In."),
      mismatchLabelKeys: labelKeys("Pod label keys whose values are added to labelSelector with NotIn."),
    })
    .strict(),
  [
    {
      rule: '!has(self.matchLabelKeys) || size(self.matchLabelKeys) == 0 || has(self.labelSelector)',
      message: 'must not be set without labelSelector',
      fieldPath: '.matchLabelKeys',
      check: (t: PodAffinityTermOut) => !t.matchLabelKeys?.length || !!t.labelSelector,
    },
    {
      rule: '!has(self.mismatchLabelKeys) || size(self.mismatchLabelKeys) == 0 || has(self.labelSelector)',
      message: 'must not be set without labelSelector',
      fieldPath: '.mismatchLabelKeys',
      check: (t: PodAffinityTermOut) => !t.mismatchLabelKeys?.length || !!t.labelSelector,
    },
    {
      rule: '!has(self.matchLabelKeys) || !has(self.mismatchLabelKeys) || self.matchLabelKeys.all(k, !(k in self.mismatchLabelKeys))',
      message: 'must not name a key that mismatchLabelKeys also names',
      fieldPath: '.matchLabelKeys',
      check: (t: PodAffinityTermOut) => !(t.matchLabelKeys ?? []).some((k) => (t.mismatchLabelKeys ?? []).includes(k)),
    },
    {
      rule:
        '!has(self.matchLabelKeys) || !has(self.labelSelector) || !has(self.labelSelector.matchLabels) || !has(self.labelSelector.matchExpressions) || ' +
        'self.matchLabelKeys.all(k, !(k in self.labelSelector.matchLabels && self.labelSelector.matchExpressions.exists(e, e.key == k)))',
      message: 'must not name a key that labelSelector uses in both matchLabels and matchExpressions',
      fieldPath: '.matchLabelKeys',
      check: (t: PodAffinityTermOut) =>
        !(t.matchLabelKeys ?? []).some(
          (k) => Object.hasOwn(t.labelSelector?.matchLabels ?? {}, k) && (t.labelSelector?.matchExpressions ?? []).some((e) => e.key === k),
        ),
    },
  ],
);

const podAffinity = (what: string) =>
  z
    .object({
      requiredDuringSchedulingIgnoredDuringExecution: z
        .array(PodAffinityTerm.describe(`Pods this pod must be ${what}.`))
        .max(8)
        .optional()
        .describe(`Terms that must all hold: the pod is scheduled only ${what} the pods they select.`),
      preferredDuringSchedulingIgnoredDuringExecution: z
        .array(
          z
            .object({
              weight: z.number().int().min(1).max(100).describe('Weight of the preference, 1-100.'),
              podAffinityTerm: PodAffinityTerm.describe(`Pods this pod should be ${what}.`),
            })
            .strict(),
        )
        .max(8)
        .optional()
        .describe(`Terms the scheduler prefers, by weight: ${what} the pods they select.`),
    })
    .strict();

const Affinity = z
  .object({
    nodeAffinity: NodeAffinity.optional().describe('Which nodes the pods may or should run on.'),
    podAffinity: podAffinity('near').optional().describe('Pods these pods should run near (same topology domain).'),
    podAntiAffinity: podAffinity('away from').optional().describe('Pods these pods should run away from (other topology domains).'),
  })
  .strict();

// --- free-form config ---------------------------------------------------------------------

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A TOML tree written as an object. Kept as the very object that was read (so every key,
 * `__proto__` included, and every exact integer reaches the rendered TOML); how deeply it
 * may nest is src/api/config-shape.ts, checked in validate.ts and, at admission, by the
 * schema crd.ts builds for the `x-tikv-config` marker.
 */
const TomlConfig = (component: 'PD' | 'TiKV') => {
  const section = component === 'PD' ? 'pd' : 'tikv';
  const owned = ownedKeyRules(section);
  return z
    .unknown()
    .refine(isTable, 'must be an object (a TOML table)')
    .transform((v) => v as Record<string, unknown>)
    .superRefine((config, ctx) => {
      // The TypeScript twin of the owned-key policy (owned-config.ts); the issue path is the key's.
      for (const r of owned) {
        if (!r.check(config)) ctx.addIssue({ code: 'custom', message: r.problem, path: [...r.key] });
      }
    })
    .optional()
    .describe(
      `${component} configuration as a TOML tree written as an object (e.g. {log: {level: info}}); rendered into the ${component} config file. ` +
        `Tables nest at most ${CONFIG_MAX_KEY_DEPTH} keys deep; array items are scalars or tables/arrays of scalars. ` +
        `Keys the operator sets through flags are refused: ${owned.map((r) => r.key.join('.')).join(', ')}. ` +
        `A change to a running cluster is checked by ${component === 'PD' ? 'pd-server' : 'tikv-server'} --config-check first; a refused config does not reach the pods (Progressing=ConfigCheckFailed).`,
    )
    .meta({ 'x-tikv-config': true });
};

const IMAGE_RE = '^[A-Za-z0-9][A-Za-z0-9._/:@-]*$';

const componentFields = (component: 'PD' | 'TiKV', defaults: { image: string; storage: string; resources: object }) => ({
  replicas: z
    .number()
    .int()
    .min(1)
    .max(99)
    .default(3)
    .describe(`Number of ${component} ${component === 'PD' ? 'members' : 'stores'}.`),
  image: withRules(z.string().min(1).max(512), [
    {
      rule: `self.matches(${celString(IMAGE_RE)})`,
      message: 'must be an image reference such as pingcap/pd or registry.example.com:5000/pingcap/tikv (no spaces)',
      check: (s) => new RegExp(IMAGE_RE).test(s),
    },
  ])
    .default(defaults.image)
    .describe(
      `${component} image repository; the tag comes from spec.version. An image that already carries a tag or digest is used as-is.`,
    ),
  storage: Storage(defaults.storage, component).prefault({}),
  resources: Resources.default(defaults.resources as z.input<typeof Resources>).describe(
    `CPU and memory for each ${component} pod. Defaults are sized so 3 PD + 3 TiKV fit a laptop kind cluster.`,
  ),
  config: TomlConfig(component),
  nodeSelector: labelMap(`Node labels every ${component} pod's node must have.`, 64).optional(),
  tolerations: z.array(Toleration).max(32).optional().describe(`Tolerations of the ${component} pods.`),
  affinity: Affinity.optional().describe(
    `Affinity of the ${component} pods (a core/v1 Affinity). Replaces the default soft anti-affinity that spreads pods across nodes.`,
  ),
});

export const PDSpec = z
  .object(
    componentFields('PD', {
      image: 'pingcap/pd',
      storage: '1Gi',
      resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
    }),
  )
  .strict()
  .describe('The Placement Driver (PD) members: the cluster metadata and scheduling service.');

export const TiKVSpec = z
  .object(
    componentFields('TiKV', {
      image: 'pingcap/tikv',
      storage: '5Gi',
      resources: { requests: { cpu: '200m', memory: '512Mi' }, limits: { memory: '2Gi' } },
    }),
  )
  .strict()
  .describe('The TiKV stores: the distributed key-value storage nodes.');

const VERSION_RE = '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$';

export const TikvClusterSpec = z
  .object({
    version: withRules(z.string().max(128), [
      {
        rule: `self.matches(${celString(VERSION_RE)})`,
        message: 'must be an image tag such as v8.5.5: letters, digits, "_", "." and "-", not starting with "." or "-"',
        check: (s) => new RegExp(VERSION_RE).test(s),
      },
    ])
      .default(DEFAULT_VERSION)
      .describe('PD and TiKV version; the image tag of both components.'),
    paused: z
      .boolean()
      .default(false)
      .describe('Stop changing the cluster\'s objects; status keeps being updated from PD.'),
    imagePullPolicy: z
      .enum(['Always', 'IfNotPresent', 'Never'])
      .default('IfNotPresent')
      .describe('Image pull policy of the PD and TiKV containers.'),
    pd: PDSpec.prefault({}),
    tikv: TiKVSpec.prefault({}),
  })
  .strict()
  .describe('Desired state of the TiKV cluster.');

// --- status ---------------------------------------------------------------------------

const Time = (description: string) => z.string().describe(description).meta({ format: 'date-time' });

export const Condition = z
  .object({
    type: z.string().max(316).describe('Condition type in CamelCase, e.g. Ready, PDAvailable, TiKVAvailable, Progressing, Degraded.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('True, False or Unknown.'),
    observedGeneration: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('The .metadata.generation the condition was computed from.'),
    lastTransitionTime: Time('When the condition last changed status.'),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .describe('Machine-readable CamelCase reason for the last transition.'),
    message: z.string().max(32768).describe('Human-readable explanation: what is wrong and what to do.'),
  })
  .strict();

export const PDMemberStatus = z
  .object({
    name: z.string().describe('PD member name (the pod name).'),
    id: z.string().describe('PD member ID (a uint64, kept as a string).'),
    clientURL: z.string().optional().describe('Client URL the member advertises.'),
    health: z.boolean().describe('Whether PD reports the member healthy.'),
    lastTransitionTime: Time('When health last changed.').optional(),
  })
  .strict();

export const TiKVStoreStatus = z
  .object({
    id: z.string().describe('PD store ID.'),
    podName: z.string().optional().describe('Pod running the store, derived from its advertise address.'),
    address: z.string().describe('Address the store advertises to PD.'),
    state: z.string().describe('Store state from PD: Up, Disconnected, Down, Offline or Tombstone.'),
    leaderCount: z.number().int().optional().describe('Number of Raft leaders on the store.'),
    regionCount: z.number().int().optional().describe('Number of Region replicas on the store.'),
    capacity: z.string().optional().describe('Store capacity as PD reports it (e.g. 5GiB).'),
    available: z.string().optional().describe('Available space as PD reports it.'),
    lastHeartbeatTime: Time(
      "PD's last heartbeat from the store as of status.lastSyncTime, not live: status is written when something changes and otherwise every 5 minutes, so this is up to that old on a healthy cluster (a store that stopped keeps its time). `tikv-operator status NAME` asks PD now.",
    ).optional(),
    lastTransitionTime: Time('When state last changed.').optional(),
  })
  .strict();

export const TikvClusterStatus = z
  .object({
    observedGeneration: z.number().int().optional().describe('The .metadata.generation this status describes.'),
    lastSyncTime: Time(
      'When the operator last wrote this status: at every change and, while nothing changes, once this time is 5 minutes old (every cluster is reconciled at least every 5 minutes). Older than 10 minutes: no operator is watching this cluster, and the rest of status may be stale.',
    ).optional(),
    version: z
      .string()
      .optional()
      .describe(
        'The version that runs: the image tag of both StatefulSets once every pod runs their latest template (`v8.5.5`; `v8.5.6 (PD), v8.5.5 (TiKV)` when they differ); kept while a roll is under way.',
      ),
    phase: z
      .enum(['Pending', 'Bootstrapping', 'Running', 'Updating', 'Blocked', 'Degraded', 'Paused', 'Invalid'])
      .optional()
      .describe(
        'One-word summary: Pending, Bootstrapping, Running, Updating, Blocked (a scale-in waits for the user: Ready says how to unblock it), Degraded, Paused or Invalid.',
      ),
    conditions: z
      .array(Condition)
      .optional()
      .describe(
        'Standard conditions: Ready, PDAvailable, TiKVAvailable, Progressing, Degraded; and PodsHealthy: False names each PD or TiKV pod that cannot start or keeps crashing, with the reason (ErrImagePull, ImagePullBackOff, Unschedulable, CrashLoopBackOff, InitFailed, ...) and its last log lines.',
      )
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
    clusterID: z.string().optional().describe('PD cluster ID (a uint64, kept as a string).'),
    pd: z
      .object({
        replicas: z.number().int().optional().describe('PD pods that exist.'),
        readyReplicas: z.number().int().optional().describe('PD pods that are ready.'),
        bootstrapped: z
          .boolean()
          .optional()
          .describe('Whether the initial PD members formed the cluster; later members join it.'),
        leader: z.string().optional().describe('Name of the PD leader.'),
        members: z
          .array(PDMemberStatus)
          .optional()
          .describe('PD members as PD reports them.')
          .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] }),
      })
      .strict()
      .optional()
      .describe('PD status.'),
    tikv: z
      .object({
        replicas: z.number().int().optional().describe('TiKV pods that exist.'),
        readyReplicas: z.number().int().optional().describe('TiKV pods that are ready.'),
        upStores: z.number().int().optional().describe("This cluster's TiKV stores that PD reports Up (of status.tikv.stores)."),
        selector: z.string().optional().describe('Label selector of the TiKV pods (for the scale subresource).'),
        stores: z
          .array(TiKVStoreStatus)
          .optional()
          .describe('TiKV stores as PD reports them, including tombstones of this cluster.')
          .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['id'] }),
      })
      .strict()
      .optional()
      .describe('TiKV status.'),
  })
  .strict()
  .describe('Observed state of the TiKV cluster, kept true from PD by the operator.');

const DNS1035_LABEL_RE = '^[a-z]([-a-z0-9]*[a-z0-9])?$';

/** metadata.name: the CRD carries these rules on metadata.name itself, so the apiserver's error names it. */
export const ClusterName = withRules(z.string(), [
  {
    rule: `self.size() <= ${MAX_CLUSTER_NAME_LENGTH}`,
    message: `must be at most ${MAX_CLUSTER_NAME_LENGTH} characters: the StatefulSet's controller-revision-hash label "<name>-tikv-<10-character hash>" must fit in 63`,
    check: (s) => s.length <= MAX_CLUSTER_NAME_LENGTH,
  },
  {
    rule: `self.matches(${celString(DNS1035_LABEL_RE)})`,
    message: 'must be a DNS-1035 label (lowercase letters, digits and "-", starting with a letter and ending with a letter or digit): Service names derive from it',
    check: (s) => new RegExp(DNS1035_LABEL_RE).test(s),
  },
]).describe(
  `Name of the cluster: a DNS-1035 label of at most ${MAX_CLUSTER_NAME_LENGTH} characters; the names of its StatefulSets, Services and ConfigMaps derive from it.`,
);

const ObjectMeta = z
  .object({
    name: ClusterName,
    namespace: z.string().optional(),
    uid: z.string().optional(),
    generation: z.number().int().optional(),
    resourceVersion: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .passthrough();

export const TikvClusterSchema = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(KIND),
  metadata: ObjectMeta,
  spec: TikvClusterSpec.prefault({}),
  status: TikvClusterStatus.optional(),
});

/** A validated TikvCluster with every default filled in. */
export type TikvCluster = z.output<typeof TikvClusterSchema>;
/** What a user may write (defaults optional). */
export type TikvClusterInput = z.input<typeof TikvClusterSchema>;
export type TikvClusterSpec = z.output<typeof TikvClusterSpec>;
export type TikvClusterStatus = z.output<typeof TikvClusterStatus>;
export type PDSpec = z.output<typeof PDSpec>;
export type TiKVSpec = z.output<typeof TiKVSpec>;
export type Condition = z.output<typeof Condition>;
export type PDMemberStatus = z.output<typeof PDMemberStatus>;
export type TiKVStoreStatus = z.output<typeof TiKVStoreStatus>;
export type ComponentSpec = PDSpec | TiKVSpec;
