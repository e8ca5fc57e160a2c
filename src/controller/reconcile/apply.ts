// Step apply: server-side apply of each desired object of the components being synced
// (PD always, TiKV once PD can serve it), skipped where the cache shows the live object
// already holds it. A refused object does not stop the others; each gets its result, so
// act can tell what was applied (a lowered partition that was refused replaces no pod).
// The config check's writes come first (config-check.ts): a check pod is created before
// anything of the cluster changes.
import { type KubeObject, LABELS } from '../../charts/index.js';
import { type ApplyResult, difference } from '../kube/apply.js';
import type { OwnedKind } from '../kube/objects.js';
import { errorText } from '../pd/view.js';
import { writeConfigChecks } from './config-check.js';
import type { Roll } from './roll.js';
import type { Component, Scale } from './scale.js';
import type { Pass, Step } from './steps.js';

const step: Step = 'apply';

export type ApplyOutcome = { result: ApplyResult } | { error: string };

export interface Applied {
  /** By `Kind/name`, for every object this pass tried to apply. */
  outcomes: ReadonlyMap<string, ApplyOutcome>;
  /** What the apiserver refused, as `Kind/name: message`. */
  errors: string[];
}

const OWNED: readonly string[] = ['StatefulSet', 'ConfigMap', 'Service'] satisfies OwnedKind[];
const isOwnedKind = (kind: string): kind is OwnedKind => OWNED.includes(kind);

/** Whether this pass applied `Kind/name` (created, changed, or found it as desired). */
export const applied = (a: Applied, object: string) => {
  const outcome = a.outcomes.get(object);
  return outcome !== undefined && 'result' in outcome;
};

export async function apply(pass: Pass, rolled: Roll | undefined, scaled: Scale): Promise<Applied> {
  const outcomes = new Map<string, ApplyOutcome>();
  const errors: string[] = [];
  if (!rolled) return { outcomes, errors };
  errors.push(...(await writeConfigChecks(pass, rolled.configChecks)));
  const components: Component[] = scaled.tikv ? ['pd', 'tikv'] : ['pd'];
  for (const component of components) {
    for (const obj of rolled.desired.filter((o) => o.metadata.labels?.[LABELS.component] === component)) {
      const object = `${obj.kind}/${obj.metadata.name}`;
      const outcome = await applyOne(pass, obj, component, object);
      outcomes.set(object, outcome);
      if ('error' in outcome) errors.push(`${object}: ${outcome.error}`);
    }
  }
  return { outcomes, errors };
}

/** Applies one object; the apiserver's refusal comes back as its message. */
async function applyOne(pass: Pass, obj: KubeObject, component: Component, object: string): Promise<ApplyOutcome> {
  const live = isOwnedKind(obj.kind) ? pass.reads.cache.owned(obj.kind, pass.ref.namespace, obj.metadata.name) : undefined;
  let result: ApplyResult;
  try {
    result = await pass.writes.apply(obj, live);
  } catch (e) {
    pass.log.error({ step, component, object, err: errorText(e) }, 'apply failed');
    return { error: errorText(e) };
  }
  if (result !== 'unchanged') {
    // Why it wrote: the first field where the live object differed from the chart.
    const drift = live ? difference(live, { ...obj, apiVersion: undefined, kind: undefined }) : undefined;
    pass.log.info({ step, component, object, result, drift }, `${result} ${obj.kind}`);
  }
  return { result };
}
