// Step validate: the spec, by the same rules as the CRD (an object an older CRD let through
// gets the field path in status, never a crash). The spec only: status is ours, and a
// value an older operator wrote (say a phase the enum no longer has) must not lock the
// cluster out as "invalid spec".
import type { TikvCluster } from '../../api/v1alpha1.js';
import { formatIssues, validateTikvCluster } from '../../api/validate.js';
import type { Pass, Step } from './steps.js';

const step: Step = 'validate';

export type Validated = { ok: true; cluster: TikvCluster } | { ok: false; message: string };

export function validate(pass: Pass): Validated {
  const { raw, ref } = pass;
  const valid = validateTikvCluster({ ...raw, status: undefined, metadata: { ...raw.metadata, namespace: ref.namespace } });
  if (valid.ok) return { ok: true, cluster: valid.value };
  pass.log.warn({ step, issues: valid.issues }, 'invalid TikvCluster; waiting for a corrected spec');
  return { ok: false, message: `spec is invalid, fix it and re-apply: ${formatIssues(valid.issues)}` };
}
