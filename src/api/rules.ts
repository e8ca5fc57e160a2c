// Validation rules that run twice from one definition: as CEL in the CRD
// (x-kubernetes-validations, checked by the apiserver at admission, with a message that
// names the field) and as the same check in TypeScript (synth, and the operator for an
// object that slipped past an older CRD). Each rule's CEL and TypeScript halves are kept
// next to each other; test/integration/admission.test.ts sends generated objects to the
// real apiserver and checks both halves agree.
import { z } from 'zod';
import { compareQuantities, isQuantity, parseQuantity, type Quantity } from './quantity.js';

export type RuleReason = 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';

export interface Rule<T> {
  /** CEL, evaluated by the apiserver with `self` (and `oldSelf` for transition rules). */
  rule: string;
  message: string;
  /** The field the message is about, relative to the node the rule sits on (e.g. `.requests.cpu`). */
  fieldPath?: string;
  reason?: RuleReason;
  /** The same check in TypeScript; transition rules (oldSelf) have none: only the apiserver sees the old object. */
  check?: (value: T) => boolean;
}

/** Turns `.a.b` into the zod issue path ['a', 'b']. */
const pathOf = (fieldPath: string | undefined) => (fieldPath ? fieldPath.split('.').filter(Boolean) : []);

const VALIDATIONS = 'x-kubernetes-validations';

/** Adds rules to a schema: zod refinements for the TypeScript half, CRD metadata for the CEL half. */
export function withRules<S extends z.ZodType>(schema: S, rules: Rule<z.output<S>>[]): S {
  const checked = rules.filter((r) => r.check);
  const refined = checked.length
    ? (schema.superRefine((value, ctx) => {
        for (const r of checked) {
          if (!r.check?.(value)) ctx.addIssue({ code: 'custom', message: r.message, path: pathOf(r.fieldPath) });
        }
      }) as S)
    : schema;
  const existing = (z.globalRegistry.get(schema)?.[VALIDATIONS] as unknown[] | undefined) ?? [];
  const cel = rules.map(({ check: _check, ...r }) => r);
  return refined.meta({ [VALIDATIONS]: [...existing, ...cel] }) as S;
}

/** A CEL raw string literal (no escape processing, so a regex reads as in JavaScript). */
export const celString = (s: string) => {
  if (s.includes("'")) throw new Error(`cannot quote ${s} as a CEL raw string`);
  return `r'${s}'`;
};

// --- Kubernetes names and labels (k8s.io/apimachinery/pkg/util/validation) ------------
// Written so that CEL (RE2) and JavaScript read the same regular expressions the same way:
// ASCII classes only, lengths as bounded repetitions or explicit size checks.

const DNS1123_LABEL_RE = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN_RE = `^${DNS1123_LABEL_RE}(\\.${DNS1123_LABEL_RE})*$`;
const LABEL_NAME_RE = '([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]';
/** A label key: an optional DNS-subdomain prefix and "/", then a name of at most 63 characters. */
const QUALIFIED_NAME_RE = `^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?${LABEL_NAME_RE}$`;
const LABEL_VALUE_RE = `^(${LABEL_NAME_RE})?$`;

const re = (s: string) => new RegExp(s);
const DNS1123_LABEL = re(`^${DNS1123_LABEL_RE}$`);
const DNS1123_SUBDOMAIN = re(DNS1123_SUBDOMAIN_RE);
const QUALIFIED_NAME = re(QUALIFIED_NAME_RE);
const LABEL_VALUE = re(LABEL_VALUE_RE);

export const isDNS1123Label = (s: string) => s.length <= 63 && DNS1123_LABEL.test(s);
export const isDNS1123Subdomain = (s: string) => s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
export const isQualifiedName = (s: string) => s.length <= 317 && QUALIFIED_NAME.test(s) && (!s.includes('/') || s.indexOf('/') <= 253);
export const isLabelValue = (s: string) => LABEL_VALUE.test(s);

/** CEL for the same checks, on the CEL expression `x` (a string). */
export const cel = {
  dns1123Label: (x: string) => `(${x}.size() <= 63 && ${x}.matches(${celString(`^${DNS1123_LABEL_RE}$`)}))`,
  dns1123Subdomain: (x: string) => `(${x}.size() <= 253 && ${x}.matches(${celString(DNS1123_SUBDOMAIN_RE)}))`,
  qualifiedName: (x: string) =>
    `(${x}.size() <= 317 && ${x}.matches(${celString(QUALIFIED_NAME_RE)}) && (!${x}.contains('/') || ${x}.indexOf('/') <= 253))`,
  labelValue: (x: string) => `${x}.matches(${celString(LABEL_VALUE_RE)})`,
};

/** What each kind of name is, for messages: `must be ${KINDS.labelKey}`. */
export const KINDS = {
  labelKey:
    'a label key (an optional DNS subdomain prefix and "/", then at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit)',
  labelValue: 'a label value (at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit, or empty)',
  dns1123Subdomain: 'a DNS subdomain (at most 253 lowercase letters, digits, "-" and ".", starting and ending with a letter or digit)',
  dns1123Label: 'a DNS label (at most 63 lowercase letters, digits and "-", starting and ending with a letter or digit)',
};

// --- quantities -------------------------------------------------------------------------

/**
 * apimachinery loops for a very long time on exponents near the int32 limit
 * ("1e2147483648"), so the CEL rules look at the string before parsing it: a quantity with
 * an exponent of four or more digits is refused without being parsed.
 */
const HUGE_EXPONENT_RE = '[eE][-+]?[0-9]{4}';
const HUGE_EXPONENT = re(HUGE_EXPONENT_RE);

/** A quantity as the CRD's int-or-string holds it: an integer or a string. */
export type QuantityValue = string | number;

/** The quantity of an int-or-string value, or undefined if the apiserver's rules would not parse it. */
export function quantityOf(v: QuantityValue): Quantity | undefined {
  const s = String(v);
  if (HUGE_EXPONENT.test(s) || !isQuantity(s)) return undefined;
  return parseQuantity(s);
}

/**
 * CEL: whether `x` is a quantity the rules may parse. An int-or-string is dynamic and needs
 * string(); a plain string must not get it (CEL's cost estimate then loses its maxLength).
 */
export const celIsQuantity = (x: string, intOrString = true) => {
  const s = intOrString ? `string(${x})` : x;
  return `(!${s}.matches(${celString(HUGE_EXPONENT_RE)}) && isQuantity(${s}))`;
};
export const celQuantity = (x: string, intOrString = true) => (intOrString ? `quantity(string(${x}))` : `quantity(${x})`);

export interface QuantityBounds {
  /** The smallest allowed value (exclusive unless `minInclusive`), and the largest (inclusive). */
  min: string;
  minInclusive: boolean;
  max: string;
  /** The field is an int-or-string (resources) rather than a string (storage size). */
  intOrString: boolean;
  message: string;
}

/**
 * One rule per quantity field: a quantity at all, within bounds. One rule, not three: CEL
 * prices every string operation on an int-or-string at the largest request the apiserver
 * takes, and the CRD's total budget has room for only so many.
 */
export function quantityRule(b: QuantityBounds): Rule<QuantityValue> {
  const min = parseQuantity(b.min);
  const max = parseQuantity(b.max);
  const q = celQuantity('self', b.intOrString);
  return {
    rule: `${celIsQuantity('self', b.intOrString)} && ${q}.compareTo(quantity('${b.min}')) ${b.minInclusive ? '>=' : '>'} 0 && ${q}.compareTo(quantity('${b.max}')) <= 0`,
    message: b.message,
    check: (v) => {
      const x = quantityOf(v);
      if (!x) return false;
      const c = compareQuantities(x, min);
      return (b.minInclusive ? c >= 0 : c > 0) && compareQuantities(x, max) <= 0;
    },
  };
}
