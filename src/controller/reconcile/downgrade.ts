// A spec.version lower than the one running is refused unless asked for. PD and TiKV do
// not support downgrades (data written by a newer version need not be readable by an
// older one; TiUP refuses them too, unless told to skip its version check), and a mistaken
// lower version would roll every pod, one after another, onto a binary that may not start
// on its data. Refusing keeps the cluster on what runs, with a condition and an Event that
// say why and how to proceed; the annotation tikv.org/allow-downgrade: "true" rolls back
// on purpose (e.g. right after a failed upgrade, before any data was written).
import { imageRef } from '../../charts/model.js';

export const ALLOW_DOWNGRADE_ANNOTATION = 'tikv.org/allow-downgrade';

type Triple = [number, number, number];

/** `v8.5.5`, `8.5.5`, `v8.5.5-rc.1` -> [8, 5, 5]; anything else (nightly, latest, a digest) -> undefined. */
export function parseVersion(v: string): Triple | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.-]*)?$/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

const compare = (a: Triple, b: Triple) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** The tag of an image reference (`pingcap/tikv:v8.5.5` -> `v8.5.5`), if it has one. */
export function imageTag(image: string | undefined): string | undefined {
  if (!image || image.includes('@')) return undefined;
  const last = image.slice(image.lastIndexOf('/') + 1);
  const i = last.lastIndexOf(':');
  return i >= 0 ? last.slice(i + 1) : undefined;
}

export interface DowngradeInput {
  specVersion: string;
  /** Per component: the image the chart would set for spec.version, and the one the live StatefulSet has. */
  components: Array<{ component: 'pd' | 'tikv'; image: string; liveImage?: string }>;
  annotations?: Record<string, string>;
}

export interface DowngradeRefusal {
  /** The version to keep running. */
  keep: string;
  reason: 'DowngradeRefused';
  message: string;
}

/** A refusal when spec.version is lower than a live component's version and no one asked for it; undefined otherwise. */
export function refuseDowngrade(input: DowngradeInput): DowngradeRefusal | undefined {
  if (input.annotations?.[ALLOW_DOWNGRADE_ANNOTATION] === 'true') return undefined;
  const wanted = parseVersion(input.specVersion);
  if (!wanted) return undefined;
  let highest: { tag: string; v: Triple; components: string[] } | undefined;
  for (const c of input.components) {
    // An image that names its own tag does not follow spec.version: nothing to compare.
    if (imageRef(c.image, input.specVersion) !== `${c.image}:${input.specVersion}`) continue;
    const tag = imageTag(c.liveImage);
    const v = tag ? parseVersion(tag) : undefined;
    if (!tag || !v || compare(v, wanted) <= 0) continue;
    if (!highest || compare(v, highest.v) > 0) highest = { tag, v, components: [c.component] };
    else if (compare(v, highest.v) === 0) highest.components.push(c.component);
  }
  if (!highest) return undefined;
  const what = highest.components.map((c) => (c === 'pd' ? 'PD' : 'TiKV')).join(' and ');
  return {
    keep: highest.tag,
    reason: 'DowngradeRefused',
    message:
      `spec.version ${input.specVersion} is lower than the running ${highest.tag} (${what}); PD and TiKV do not support downgrades, ` +
      `so the cluster stays on ${highest.tag}. Set spec.version back to ${highest.tag}, or annotate the TikvCluster ` +
      `${ALLOW_DOWNGRADE_ANNOTATION}=true to roll back anyway`,
  };
}
