import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { LABELS } from '../../src/charts/index.js';
import { runSynth } from '../../src/cli/synth.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const work = mkdtempSync(path.join(tmpdir(), 'synth-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let dir: string;
let caseNo = 0;
beforeEach(() => {
  dir = path.join(work, `case-${caseNo++}`);
  mkdirSync(dir);
});

async function synth(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runSynth(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), cwd: dir });
  return { code, stdout, stderr };
}

const write = (name: string, text: string) => {
  writeFileSync(path.join(dir, name), text);
  return name;
};

const clusterYaml = (name: string, extra = '', namespace?: string) =>
  `apiVersion: tikv.org/v1alpha1
kind: TikvCluster
metadata:
  name: ${name}
${namespace ? `  namespace: ${namespace}\n` : ''}spec:
  pd:
    replicas: 1
  tikv:
    replicas: 1
${extra}`;

/** Reads kubectl's way: YAML 1.1, so an unquoted `on` would come back as a boolean. */
const readAsKubectl = (text: string) => parseAllDocuments(text, { version: '1.1' }).map((d) => d.toJS());

describe('synth: good input', () => {
  it('prints the manifests of every document to stdout as one multi-document stream', async () => {
    const file = write('two.yaml', `${clusterYaml('alpha')}---\n${clusterYaml('beta', '', 'kv')}`);
    const { code, stdout, stderr } = await synth(['-f', file]);
    expect(code).toBe(0);
    const docs = readAsKubectl(stdout);
    expect(docs).toHaveLength(14);
    expect(docs.filter((d) => d.kind === 'StatefulSet').map((d) => `${d.metadata.namespace}/${d.metadata.name}`)).toEqual([
      'default/alpha-pd',
      'default/alpha-tikv',
      'kv/beta-pd',
      'kv/beta-tikv',
    ]);
    expect(docs.every((d) => !('ownerReferences' in d.metadata))).toBe(true);
    expect(stderr).toMatch(/^synth: 2 clusters, 14 objects -> stdout in \d+ ms\n$/);
  });

  it('writes one file per cluster, <namespace>_<name>.yaml, with -o; several -f files add up', async () => {
    const a = write('a.yaml', clusterYaml('alpha'));
    const b = write('b.yaml', clusterYaml('beta', '', 'kv'));
    const { code, stdout } = await synth(['-f', a, '--filename', b, '-o', 'out/manifests']);
    expect(code).toBe(0);
    expect(stdout).toBe('');
    const out = path.join(dir, 'out/manifests');
    expect(readdirSync(out).sort()).toEqual(['default_alpha.yaml', 'kv_beta.yaml']);
    const beta = readAsKubectl(readFileSync(path.join(out, 'kv_beta.yaml'), 'utf8'));
    expect(beta.map((d) => d.kind)).toEqual(['ConfigMap', 'ConfigMap', 'Service', 'Service', 'Service', 'StatefulSet', 'StatefulSet']);
    expect(new Set(beta.map((d) => d.metadata.labels[LABELS.instance]))).toEqual(new Set(['beta']));
  });

  it('keeps YAML 1.1 look-alikes strings for kubectl: a cluster named "on" in namespace "0755"', async () => {
    const names = ['on', 'y', 'n', 'no', 'off', 'yes'];
    const namespaces = ['0755', '1e3', 'null', 'true'];
    const docs = names.map((n, i) => clusterYaml(`"${n}"`, '', `"${namespaces[i % namespaces.length]}"`)).join('---\n');
    const { code, stdout, stderr } = await synth(['-f', write('tricky.yaml', docs)]);
    expect(stderr).not.toContain('error');
    expect(code).toBe(0);
    const parsed = readAsKubectl(stdout);
    const instances = new Set(parsed.map((d) => d.metadata.labels[LABELS.instance]));
    expect(instances).toEqual(new Set(names));
    for (const d of parsed) {
      expect(typeof d.metadata.namespace).toBe('string');
      for (const v of Object.values(d.metadata.labels)) expect(typeof v).toBe('string');
    }
    const onPd = parsed.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'on-pd');
    expect(onPd.metadata.namespace).toBe('0755');
    expect(onPd.data.bootstrapped).toBe('false');
    // The same stream read by a YAML 1.2 reader gives the same objects.
    expect(parseAllDocuments(stdout).map((d) => d.toJS())).toEqual(parsed);
  });

  it('renders config integers beyond 2^53 exactly and keeps every key, __proto__ included', async () => {
    const file = write(
      'exact.yaml',
      clusterYaml('exact', '    config:\n      raftstore: {region-split-size: 9007199254740993}\n      __proto__: {x: 1}\n'),
    );
    const { code, stdout } = await synth(['-f', file]);
    expect(code).toBe(0);
    const cm = readAsKubectl(stdout).find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'exact-tikv');
    const toml: string = cm.data['tikv.toml'];
    expect(toml).toContain('region-split-size = 9007199254740993\n');
    expect(toml).toContain('[__proto__]\nx = 1\n');
  });

  it('with no -f renders examples/basic.yaml into dist/', async () => {
    mkdirSync(path.join(dir, 'examples'));
    cpSync(path.join(repoRoot, 'examples/basic.yaml'), path.join(dir, 'examples/basic.yaml'));
    const { code, stderr } = await synth([]);
    expect(code).toBe(0);
    expect(readdirSync(path.join(dir, 'dist'))).toEqual(['default_basic.yaml']);
    expect(stderr).toMatch(/^synth: 1 cluster, 7 objects -> dist\/ in \d+ ms\n$/);
  });

  it('prints usage with --help and writes nothing', async () => {
    const { code, stdout } = await synth(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: tikv-operator synth');
    expect(stdout).toContain('-o, --output DIR');
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('synth: bad input writes nothing and names the file and field', () => {
  const good = () => write('good.yaml', clusterYaml('good'));

  async function expectRejected(argv: string[], ...messages: (string | RegExp)[]) {
    const { code, stdout, stderr } = await synth([...argv, '-o', 'out']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    for (const m of messages) expect(stderr).toMatch(m);
    expect(stderr).toContain('nothing written');
    expect(existsSync(path.join(dir, 'out'))).toBe(false);
    return stderr;
  }

  it('rejects a missing file', async () => {
    await expectRejected(['-f', good(), '-f', 'missing.yaml'], /^missing\.yaml: cannot read: .*ENOENT/m);
  });

  it('rejects a YAML syntax error with file:line:col', async () => {
    const file = write('broken.yaml', `${clusterYaml('ok')}---\napiVersion: tikv.org/v1alpha1\nkind: [TikvCluster\n`);
    await expectRejected(['-f', file], /^broken\.yaml:\d+:\d+: /m);
  });

  it('rejects a duplicate key as a syntax error at its line', async () => {
    const file = write('dup-key.yaml', 'apiVersion: tikv.org/v1alpha1\nkind: TikvCluster\nkind: TikvCluster\n');
    await expectRejected(['-f', file], /^dup-key\.yaml:3:1: Map keys must be unique/m);
  });

  it('rejects a document of another kind', async () => {
    const file = write('cm.yaml', `${clusterYaml('fine')}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n`);
    await expectRejected(['-f', file], 'cm.yaml (document 2, x): apiVersion/kind: expected tikv.org/v1alpha1 TikvCluster, got v1 ConfigMap');
  });

  it('rejects a schema violation with the document and the field path', async () => {
    const docs = `${clusterYaml('fine')}---\n${clusterYaml('basic').replace('replicas: 1', 'replicas: 0')}`;
    const stderr = await expectRejected(['-f', write('bad.yaml', docs)], /^bad\.yaml \(document 2, basic\): spec\.pd\.replicas: /m);
    expect(stderr).not.toContain('document 1');
  });

  it('reports every bad field of every file, not just the first', async () => {
    const one = write('one.yaml', clusterYaml('one', '    storage:\n      size: lots\n'));
    const two = write('two.yaml', clusterYaml('Two'));
    await expectRejected(['-f', one, '-f', two], /^one\.yaml \(document 1, one\): spec\.tikv\.storage\.size: /m, /^two\.yaml \(document 1, Two\): metadata\.name: /m);
  });

  it('rejects an unknown field and a value of the wrong type', async () => {
    const file = write('fields.yaml', clusterYaml('f', '  paused: maybe\n  colour: blue\n'));
    await expectRejected(['-f', file], /spec\.paused: /, /spec: unknown field\(s\) "colour"/);
  });

  it('reads input as kubectl does: an unquoted `on` label is a boolean, so it is rejected', async () => {
    const file = write('on.yaml', clusterYaml('x').replace('  name: x\n', '  name: x\n  labels:\n    enabled: on\n'));
    await expectRejected(['-f', file], /on\.yaml \(document 1, x\): metadata\.labels\.enabled: /);
  });

  it('rejects a quantity that looks numeric but is not one (1.2.3Gi)', async () => {
    const file = write('odd.yaml', clusterYaml('odd', '    storage:\n      size: 1.2.3Gi\n'));
    await expectRejected(['-f', file], 'odd.yaml (document 1, odd): spec.tikv.storage.size: must be a size from 1Mi to 1Ei, such as 10Gi');
  });

  it('refuses a YAML alias bomb with a clear error instead of a stack trace', async () => {
    const levels = ['      a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]'];
    for (let i = 1; i < 10; i++) levels.push(`      a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
    const file = write('bomb.yaml', clusterYaml('bomb', `    config:\n${levels.join('\n')}\n`));
    const stderr = await expectRejected(['-f', file], /^bomb\.yaml \(document 1\): too many alias expansions \(more than 100\)/m);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses YAML nested too deeply to parse, naming the file and place', async () => {
    const n = 5000;
    const file = write('deep.yaml', clusterYaml('deep', `    config: ${'{a: '.repeat(n)}1${'}'.repeat(n)}\n`));
    const stderr = await expectRejected(['-f', file], /^deep\.yaml:\d+:\d+: nested too deeply to read/m);
    expect(stderr).not.toContain('Maximum call stack');
  });

  it('refuses a config nested deeper than the CRD allows, with the field path', async () => {
    const file = write('nine.yaml', clusterYaml('nine', `    config: ${'{a: '.repeat(9)}1${'}'.repeat(9)}\n`));
    await expectRejected(['-f', file], 'nine.yaml (document 1, nine): spec.tikv.config.a.a.a.a.a.a.a.a: nested too deeply: config tables nest at most 8 keys deep');
  });

  it('refuses a memory limit whose derived block cache would not be a number (1e308)', async () => {
    const file = write('huge.yaml', clusterYaml('huge', '    resources:\n      limits:\n        memory: 1e308\n'));
    await expectRejected(['-f', file], 'huge.yaml (document 1, huge): spec.tikv.resources.limits.memory: must be a memory quantity from 1Mi to 1Pi');
  });

  it('refuses non-positive storage sizes (they would fail the StatefulSet and then be immutable)', async () => {
    for (const size of ['0', '0Gi', '-0', '-1Gi']) {
      const file = write(`size${size}.yaml`, clusterYaml('size', `    storage:\n      size: "${size}"\n`));
      await expectRejected(['-f', file], 'spec.tikv.storage.size: must be a size from 1Mi to 1Ei');
    }
  });

  it('rejects the same namespace/name defined twice, naming both places', async () => {
    const a = write('a.yaml', clusterYaml('same'));
    const b = write('b.yaml', clusterYaml('same', '', 'default'));
    await expectRejected(['-f', a, '-f', b], 'b.yaml (document 1, same): metadata.name: TikvCluster default/same is already defined by a.yaml (document 1, same)');
  });

  it('rejects a bad namespace and a file without clusters', async () => {
    await expectRejected(['-f', write('ns.yaml', clusterYaml('x', '', 'Bad_NS'))], /ns\.yaml \(document 1, x\): metadata\.namespace: /);
    await expectRejected(['-f', write('empty.yaml', '# nothing here\n')], 'empty.yaml: no TikvCluster document found');
  });

  it('rejects an unknown option with the usage', async () => {
    const { code, stdout, stderr } = await synth(['-f', good(), '--colour', '-o', 'out']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/Unknown option '--colour'[\s\S]*Usage: tikv-operator synth/);
    expect(existsSync(path.join(dir, 'out'))).toBe(false);
  });
});

describe('examples', () => {
  it('basic.yaml is a 3 PD + 3 TiKV cluster named basic, and minimal.yaml a 1 + 1 with max-replicas 1', async () => {
    const { code, stdout } = await synth(['-f', path.join(repoRoot, 'examples/basic.yaml'), '-f', path.join(repoRoot, 'examples/minimal.yaml')]);
    expect(code).toBe(0);
    const sts = readAsKubectl(stdout).filter((d) => d.kind === 'StatefulSet');
    expect(sts.map((d) => [d.metadata.name, d.spec.replicas])).toEqual([
      ['basic-pd', 3],
      ['basic-tikv', 3],
      ['minimal-pd', 1],
      ['minimal-tikv', 1],
    ]);
    const minimalPd = readAsKubectl(stdout).find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'minimal-pd');
    expect(parseToml(minimalPd.data['pd.toml'])).toEqual({ replication: { 'max-replicas': 1 } });
  });

  it('kind-config.yaml has one control-plane and three workers and pins no node image', () => {
    const config = parse(readFileSync(path.join(repoRoot, 'kind-config.yaml'), 'utf8'));
    expect(config.kind).toBe('Cluster');
    expect(config.nodes.map((n: { role: string }) => n.role)).toEqual(['control-plane', 'worker', 'worker', 'worker']);
    expect(JSON.stringify(config)).not.toContain('image');
  });
});

describe('synth as a process', () => {
  const execFileAsync = promisify(execFile);
  const tsx = path.join(repoRoot, 'node_modules/.bin/tsx');

  it('runs `tsx src/main.ts synth` end to end and reports its wall time', async () => {
    const out = path.join(dir, 'dist');
    const started = performance.now();
    const { stderr } = await execFileAsync(tsx, ['src/main.ts', 'synth', '-f', 'examples/basic.yaml', '-o', out], { cwd: repoRoot });
    const wallMs = Math.round(performance.now() - started);
    console.log(`synth subprocess wall time: ${wallMs} ms (${stderr.trim()})`);
    expect(readdirSync(out)).toEqual(['default_basic.yaml']);
    expect(readAsKubectl(readFileSync(path.join(out, 'default_basic.yaml'), 'utf8'))).toHaveLength(7);
  });

  it('exits 1 on bad input', async () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'apiVersion: v1\nkind: Pod\n');
    const run = execFileAsync(tsx, ['src/main.ts', 'synth', '-f', bad], { cwd: repoRoot });
    await expect(run).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('apiVersion/kind') });
  });
});
