// `tikv-operator synth`: TikvCluster YAML files in, Kubernetes manifests out. Everything
// is read, validated and rendered in memory first; nothing is written unless all input is
// good.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { API_VERSION, formatIssues, KIND, type TikvCluster, validateTikvCluster } from '../api/index.js';
import { type KubeObject, synthesize } from '../charts/index.js';
import { toYamlStream } from './yaml.js';

export interface SynthIO {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Directory relative paths are resolved against; defaults to process.cwd(). */
  cwd?: string;
}

export const DEFAULT_INPUT = 'examples/basic.yaml';
export const DEFAULT_OUTPUT_DIR = 'dist';

export const USAGE = `Usage: tikv-operator synth [-f FILE]... [-o DIR]

Validates TikvCluster documents and writes the Kubernetes manifests (ConfigMaps,
Services, StatefulSets) that run them. The CRD is not included: apply crds/ first.

Options:
  -f, --filename FILE  YAML file with one or more TikvCluster documents (repeatable).
                       Without -f: ${DEFAULT_INPUT}, written to ${DEFAULT_OUTPUT_DIR}/.
  -o, --output DIR     Write one file per cluster, DIR/<namespace>_<name>.yaml,
                       instead of printing a multi-document stream to stdout.
  -h, --help           Show this help.

Exit status 1 on any bad input; then nothing is written.
`;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

interface LoadedCluster {
  cluster: TikvCluster;
  source: string;
}

interface Rendered {
  cluster: TikvCluster;
  objects: KubeObject[];
}

/** Where a document came from, as error messages name it: `file (document 2, basic)`. */
function describeSource(file: string, index: number, doc: unknown): string {
  const name = isRecord(doc) && isRecord(doc.metadata) && typeof doc.metadata.name === 'string' ? `, ${doc.metadata.name}` : '';
  return `${file} (document ${index}${name})`;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Alias expansions allowed per document (yaml's own default): more is an alias bomb. */
const MAX_ALIAS_COUNT = 100;

/** What went wrong, in words: the yaml library's resource limits speak in stack traces otherwise. */
function yamlProblem(message: string): string {
  if (/Maximum call stack size exceeded/.test(message)) return 'nested too deeply to read (no TikvCluster needs more than a few dozen levels)';
  if (/Excessive alias count/.test(message)) {
    return `too many alias expansions (more than ${MAX_ALIAS_COUNT}): the aliases multiply the document (a YAML "billion laughs" bomb)`;
  }
  return message;
}

function yamlErrorText(file: string, e: { message: string; linePos?: [{ line: number; col: number }, ...unknown[]] }): string {
  const where = e.linePos ? `${file}:${e.linePos[0].line}:${e.linePos[0].col}` : file;
  const message = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
  return `${where}: ${yamlProblem(message)}`;
}

/**
 * Integers are read as bigints (so 9007199254740993 in a config stays exact) and turned
 * back into numbers where that is exact. Iterative, and visiting each object once: aliases
 * may share or even cycle.
 */
function exactIntegers(root: unknown): unknown {
  const safe = (v: unknown) =>
    typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  const seen = new WeakSet<object>();
  const stack: unknown[] = [root];
  while (stack.length) {
    const node = stack.pop();
    if (typeof node !== 'object' || node === null || seen.has(node)) continue;
    seen.add(node);
    const entries = node as Record<string, unknown>;
    for (const k of Object.keys(entries)) {
      entries[k] = safe(entries[k]);
      stack.push(entries[k]);
    }
  }
  return safe(root);
}

/** The documents of a YAML text as plain values, or error messages naming the file and place. */
function readYaml(file: string, text: string): { values: unknown[]; errors: string[] } {
  let docs: ReturnType<typeof parseAllDocuments>;
  try {
    // Parsed as YAML 1.1, the way kubectl reads the same file: `on` is a boolean there.
    docs = parseAllDocuments(text, { version: '1.1', intAsBigInt: true });
  } catch (e) {
    return { values: [], errors: [`${file}: ${yamlProblem((e as Error).message)}`] };
  }
  const syntaxErrors = (Array.isArray(docs) ? docs : [docs]).flatMap((d) => d.errors.map((e) => yamlErrorText(file, e)));
  if (syntaxErrors.length || !Array.isArray(docs)) return { values: [], errors: syntaxErrors };
  const values: unknown[] = [];
  for (const [i, d] of docs.entries()) {
    try {
      values.push(exactIntegers(d.toJS({ maxAliasCount: MAX_ALIAS_COUNT })));
    } catch (e) {
      return { values: [], errors: [`${file} (document ${i + 1}): ${yamlProblem((e as Error).message)}`] };
    }
  }
  return { values, errors: [] };
}

/** Checks one parsed document and returns the defaulted cluster, or error messages. */
function loadDocument(doc: unknown, source: string): { cluster?: TikvCluster; errors: string[] } {
  if (!isRecord(doc)) return { errors: [`${source}: expected a TikvCluster object, got ${Array.isArray(doc) ? 'a list' : typeof doc}`] };
  if (doc.apiVersion !== API_VERSION || doc.kind !== KIND) {
    return {
      errors: [
        `${source}: apiVersion/kind: expected ${API_VERSION} ${KIND}, got ${String(doc.apiVersion ?? '(none)')} ${String(doc.kind ?? '(none)')}`,
      ],
    };
  }
  const result = validateTikvCluster(doc);
  if (!result.ok) return { errors: [formatIssues(result.issues, source)] };
  const ns = result.value.metadata.namespace;
  if (ns !== undefined && (ns.length > 63 || !DNS1123_LABEL.test(ns))) {
    return { errors: [`${source}: metadata.namespace: must be a DNS-1123 label (at most 63 lowercase letters, digits and "-")`] };
  }
  return { cluster: result.value, errors: [] };
}

async function loadFile(file: string, cwd: string): Promise<{ clusters: LoadedCluster[]; errors: string[] }> {
  let text: string;
  try {
    text = await readFile(path.resolve(cwd, file), 'utf8');
  } catch (e) {
    return { clusters: [], errors: [`${file}: cannot read: ${(e as Error).message}`] };
  }
  const read = readYaml(file, text);
  if (read.errors.length) return { clusters: [], errors: read.errors };

  const clusters: LoadedCluster[] = [];
  const errors: string[] = [];
  read.values.forEach((value, i) => {
    if (value === null || value === undefined) return;
    const source = describeSource(file, i + 1, value);
    const loaded = loadDocument(value, source);
    errors.push(...loaded.errors);
    if (loaded.cluster) clusters.push({ cluster: loaded.cluster, source });
  });
  if (!errors.length && !clusters.length) errors.push(`${file}: no TikvCluster document found`);
  return { clusters, errors };
}

const keyOf = (c: TikvCluster) => `${c.metadata.namespace ?? 'default'}/${c.metadata.name}`;

function duplicateErrors(clusters: LoadedCluster[]): string[] {
  const seen = new Map<string, string>();
  const errors: string[] = [];
  for (const { cluster, source } of clusters) {
    const key = keyOf(cluster);
    const first = seen.get(key);
    if (first) errors.push(`${source}: metadata.name: TikvCluster ${key} is already defined by ${first}`);
    else seen.set(key, source);
  }
  return errors;
}

function render(clusters: LoadedCluster[]): { rendered: Rendered[]; errors: string[] } {
  const rendered: Rendered[] = [];
  const errors: string[] = [];
  for (const { cluster, source } of clusters) {
    try {
      rendered.push({ cluster, objects: synthesize(cluster) });
    } catch (e) {
      errors.push(`${source}: ${(e as Error).message}`);
    }
  }
  return { rendered, errors };
}

const outputFileName = (c: TikvCluster) => `${c.metadata.namespace ?? 'default'}_${c.metadata.name}.yaml`;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export async function runSynth(argv: string[], io: SynthIO): Promise<number> {
  const started = performance.now();
  const cwd = io.cwd ?? process.cwd();
  let values: { filename?: string[]; output?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        output: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    io.stderr(`synth: ${(e as Error).message}\n\n${USAGE}`);
    return 1;
  }
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const files = values.filename ?? [DEFAULT_INPUT];
  const outDir = values.output ?? (values.filename ? undefined : DEFAULT_OUTPUT_DIR);

  const loaded = await Promise.all(files.map((f) => loadFile(f, cwd)));
  const clusters = loaded.flatMap((l) => l.clusters);
  const inputErrors = [...loaded.flatMap((l) => l.errors), ...duplicateErrors(clusters)];
  const { rendered, errors: renderErrors } = inputErrors.length ? { rendered: [], errors: [] } : render(clusters);
  const errors = [...inputErrors, ...renderErrors];
  if (errors.length) {
    io.stderr(`${errors.join('\n')}\nsynth: nothing written (${plural(errors.length, 'error')})\n`);
    return 1;
  }

  const objectCount = rendered.reduce((n, r) => n + r.objects.length, 0);
  if (outDir) {
    const dir = path.resolve(cwd, outDir);
    await mkdir(dir, { recursive: true });
    await Promise.all(rendered.map((r) => writeFile(path.join(dir, outputFileName(r.cluster)), toYamlStream(r.objects))));
  } else {
    io.stdout(toYamlStream(rendered.flatMap((r) => r.objects)));
  }
  const ms = Math.round(performance.now() - started);
  io.stderr(
    `synth: ${plural(rendered.length, 'cluster')}, ${plural(objectCount, 'object')} -> ${outDir ? `${outDir}/` : 'stdout'} in ${ms} ms\n`,
  );
  return 0;
}
