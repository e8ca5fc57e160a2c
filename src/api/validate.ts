// Runtime validation + defaulting of TikvCluster objects, with errors that name the
// field path. Used by the synth CLI (bad files) and by the controller (an object that
// slipped past the CRD, e.g. one created before a CRD upgrade).
import { stringify as tomlStringify } from 'smol-toml';
import type { z } from 'zod';
import { configTreeIssues } from './config-shape.js';
import { type TikvCluster, TikvClusterSchema } from './v1alpha1.js';

export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `spec.pd.replicas` or `spec.tikv.tolerations[0].effect`. */
  path: string;
  message: string;
}

export type ValidationResult = { ok: true; value: TikvCluster } | { ok: false; issues: FieldIssue[] };

export class TikvClusterValidationError extends Error {
  constructor(
    readonly issues: FieldIssue[],
    readonly source?: string,
  ) {
    super(formatIssues(issues, source));
    this.name = 'TikvClusterValidationError';
  }
}

export function formatIssues(issues: FieldIssue[], source?: string): string {
  const where = source ? `${source}: ` : '';
  return issues.map((i) => `${where}${i.path || '(root)'}: ${i.message}`).join('\n');
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

function zodIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path), message: issueMessage(issue) }));
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  if (issue.code === 'invalid_union') {
    // Quantities are string-or-integer: report the reason of the branch the value's type took
    // (a branch that failed only on the type is not it; a fraction fails the integer check).
    const took = (e: z.core.$ZodIssue) => e.code !== 'invalid_type' || e.expected === 'int';
    const branch = issue.errors.find((errs) => errs.length > 0 && errs.every(took));
    if (branch?.[0]) return branch[0].message;
    return 'must be a Kubernetes quantity such as 500m, 1Gi or 2';
  }
  return issue.message;
}

/**
 * Checks that a free-form config tree can be written as TOML and has the allowed shape
 * (config-shape.ts, without recursion: a tree may be nested thousands of levels deep).
 */
function tomlIssues(config: Record<string, unknown> | undefined, path: string): FieldIssue[] {
  if (!config) return [];
  const issues = configTreeIssues(config, path, MAX_ISSUES + 1);
  if (issues.length === 0) {
    try {
      tomlStringify(config);
    } catch (e) {
      issues.push({ path, message: `cannot be rendered as TOML: ${(e as Error).message}` });
    }
  }
  return issues;
}

/** More than this many issues are summarized: a condition message has a size limit. */
const MAX_ISSUES = 20;

function capped(issues: FieldIssue[]): FieldIssue[] {
  if (issues.length <= MAX_ISSUES) return issues;
  return [...issues.slice(0, MAX_ISSUES), { path: '', message: `more problems not shown (the first ${MAX_ISSUES} are)` }];
}

export function validateTikvCluster(obj: unknown): ValidationResult {
  const parsed = TikvClusterSchema.safeParse(obj);
  if (!parsed.success) return { ok: false, issues: capped(zodIssues(parsed.error)) };
  const value = parsed.data;
  const issues = [
    ...tomlIssues(value.spec.pd.config, 'spec.pd.config'),
    ...tomlIssues(value.spec.tikv.config, 'spec.tikv.config'),
  ];
  return issues.length ? { ok: false, issues: capped(issues) } : { ok: true, value };
}

/** Like validateTikvCluster, but throws a TikvClusterValidationError naming `source`. */
export function parseTikvCluster(obj: unknown, source?: string): TikvCluster {
  const r = validateTikvCluster(obj);
  if (!r.ok) throw new TikvClusterValidationError(r.issues, source);
  return r.value;
}
