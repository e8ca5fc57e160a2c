// YAML output that kubectl (a YAML 1.1 reader) reads exactly as we meant it.
import { stringify } from 'yaml';
import type { KubeObject } from '../charts/index.js';

/**
 * YAML 1.1 rules quote strings such as `on`, `yes`, `n`, `1.0` or `0755` that a 1.1
 * reader would otherwise turn into booleans or numbers. No line folding (scripts stay
 * readable) and no anchors.
 */
export const toYamlDocument = (obj: unknown): string =>
  stringify(obj, { version: '1.1', lineWidth: 0, aliasDuplicateObjects: false });

/** Objects as one multi-document YAML stream. */
export const toYamlStream = (objects: KubeObject[]): string => objects.map(toYamlDocument).join('---\n');
