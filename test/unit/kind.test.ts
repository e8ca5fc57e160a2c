// The kind workflow (scripts/kind-lib.ts) with a scripted command runner: no Docker, no
// kind, no cluster. What is checked is what would be run, in which order, and which
// decisions the workflow takes from the commands' answers.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { DEPLOY_FILE } from '../../src/charts/operator-yaml.js';
import { e2eInvocation, KIND_VITEST_CONFIG } from '../../scripts/e2e-args.js';
import {
  type CommandRunner,
  clusterPlan,
  formatProgress,
  IMAGE_ID_ANNOTATION,
  KIND_CONTEXT,
  kindDown,
  kindUp,
  MissingToolsError,
  needsArchiveLoad,
  parseKindClusters,
  progressOf,
  type RunOptions,
  type RunResult,
  stampImageId,
  waitForClusterReady,
} from '../../scripts/kind-lib.js';

type Reply = Partial<RunResult> | ((args: string[]) => Partial<RunResult>);

/** A runner that records every command and answers from a table keyed by "cmd arg0 arg1". */
class ScriptedRunner implements CommandRunner {
  readonly calls: { line: string; input?: string; opts: RunOptions }[] = [];
  constructor(
    private readonly replies: Record<string, Reply>,
    private readonly tools = new Set(['docker', 'kind', 'kubectl']),
  ) {}

  onPath(tool: string): boolean {
    return this.tools.has(tool);
  }

  async run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const line = [cmd, ...args].join(' ');
    this.calls.push({ line, input: opts.input, opts });
    // Longest matching prefix wins, so "kind load docker-image" can differ from "kind load".
    const key = Object.keys(this.replies)
      .filter((k) => line.startsWith(k))
      .sort((a, b) => b.length - a.length)[0];
    const reply = key ? this.replies[key] : undefined;
    const r = { code: 0, stdout: '', stderr: '', ...(typeof reply === 'function' ? reply([...args]) : reply) };
    if (r.code !== 0 && !opts.allowFailure) throw new Error(`${line} failed: ${r.stderr}`);
    return r;
  }

  lines(): string[] {
    return this.calls.map((c) => c.line);
  }
}

const ready = (generation = 1) =>
  JSON.stringify({
    metadata: { generation },
    spec: { pd: { replicas: 3 }, tikv: { replicas: 3 } },
    status: {
      observedGeneration: generation,
      phase: 'Running',
      pd: { readyReplicas: 3 },
      tikv: { readyReplicas: 3 },
      conditions: [{ type: 'Ready', status: 'True', reason: 'ClusterReady', message: 'all good' }],
    },
  });

const baseReplies = (clusters: string): Record<string, Reply> => ({
  'docker info': { stdout: '27.3.1\n' },
  'kind get clusters': { stdout: clusters },
  'docker image inspect': { stdout: 'sha256:1111\n' },
  [`kubectl --context ${KIND_CONTEXT} -n default get tikvclusters/basic -o json`]: { stdout: ready() },
  [`kubectl --context ${KIND_CONTEXT} -n default get tikvclusters/basic --ignore-not-found`]: { stdout: '' },
});

const fakeClock = () => {
  let t = 0;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
    },
  };
};

const options = (runner: CommandRunner, log: string[] = []) => ({ runner, root: process.cwd(), log: (l: string) => void log.push(l), now: fakeClock().now });

describe('kind:up', () => {
  it('creates the cluster when absent, then builds, loads, deploys, applies the example and waits for Ready, in that order', async () => {
    const runner = new ScriptedRunner(baseReplies('other\n'));
    await kindUp(options(runner));
    const lines = runner.lines();
    const order = [
      'docker info',
      'kind get clusters',
      'kind create cluster --name tikv --config kind-config.yaml',
      'docker build -t tikv-operator:dev .',
      'kind load docker-image tikv-operator:dev --name tikv',
      'docker image inspect --format {{.Id}} tikv-operator:dev',
      `kubectl --context ${KIND_CONTEXT} apply --server-side --force-conflicts -f crds/`,
      `kubectl --context ${KIND_CONTEXT} wait --for=condition=Established crd/tikvclusters.tikv.org`,
      `kubectl --context ${KIND_CONTEXT} apply --server-side --force-conflicts -f -`,
      `kubectl --context ${KIND_CONTEXT} -n tikv-operator-system rollout status deployment/tikv-operator`,
      `kubectl --context ${KIND_CONTEXT} -n default get tikvclusters/basic --ignore-not-found -o name`,
      `kubectl --context ${KIND_CONTEXT} -n default apply --server-side -f examples/basic.yaml`,
      `kubectl --context ${KIND_CONTEXT} -n default get tikvclusters/basic -o json`,
    ];
    expect(lines).toHaveLength(order.length);
    for (const [i, prefix] of order.entries()) expect(lines[i]?.startsWith(prefix), `${lines[i]} starts with ${prefix}`).toBe(true);
    // Every kubectl call names the kind context: nothing lands in whatever cluster is current.
    for (const l of lines.filter((x) => x.startsWith('kubectl'))) expect(l).toContain(`--context ${KIND_CONTEXT}`);
  });

  it('is idempotent: with the cluster present it only refreshes the kubeconfig, never creates', async () => {
    const runner = new ScriptedRunner(baseReplies('tikv\n'));
    await kindUp(options(runner));
    await kindUp(options(runner));
    const lines = runner.lines();
    expect(lines.filter((l) => l.startsWith('kind create'))).toEqual([]);
    expect(lines.filter((l) => l.startsWith('kind export kubeconfig --name tikv'))).toHaveLength(2);
  });

  it('applies the example only when the TikvCluster does not exist yet, so a second run keeps what the user changed', async () => {
    const runner = new ScriptedRunner({
      ...baseReplies('tikv\n'),
      [`kubectl --context ${KIND_CONTEXT} -n default get tikvclusters/basic --ignore-not-found`]: { stdout: 'tikvcluster.tikv.org/basic\n' },
    });
    const log: string[] = [];
    await kindUp(options(runner, log));
    expect(runner.lines().filter((l) => l.includes('examples/basic.yaml'))).toEqual([]);
    expect(log.join('\n')).toContain('TikvCluster default/basic exists; leaving it as it is');
    // It still waits for Ready.
    expect(runner.lines().at(-1)).toBe(`kubectl --context ${KIND_CONTEXT} -n default get tikvclusters/basic -o json`);
  });

  it('applies deploy/ with the Deployment stamped with the loaded image ID, so a rebuilt image rolls the operator', async () => {
    const runner = new ScriptedRunner({ ...baseReplies(''), 'docker image inspect': { stdout: 'sha256:abcd\n' } });
    await kindUp(options(runner));
    const apply = runner.calls.find((c) => c.line.endsWith('apply --server-side --force-conflicts -f -'))!;
    const docs = parseAllDocuments(apply.input!).map((d) => d.toJS());
    const deployment = docs.find((d) => d.kind === 'Deployment');
    expect(deployment.spec.template.metadata.annotations[IMAGE_ID_ANNOTATION]).toBe('sha256:abcd');
    // Apart from the annotation, exactly deploy/.
    const committed = parseAllDocuments(readFileSync(DEPLOY_FILE, 'utf8'), { version: '1.1' }).map((d) => d.toJS());
    delete deployment.spec.template.metadata.annotations[IMAGE_ID_ANNOTATION];
    expect(docs).toEqual(committed);
  });

  it('names each missing tool and runs nothing', async () => {
    const runner = new ScriptedRunner({}, new Set(['docker']));
    const err = await kindUp(options(runner)).catch((e: Error) => e);
    expect(err).toBeInstanceOf(MissingToolsError);
    expect((err as MissingToolsError).missing).toEqual(['kind', 'kubectl']);
    expect((err as Error).message).toMatch(/`kind`, `kubectl` are not installed/);
    expect((err as Error).message).toContain('https://kind.sigs.k8s.io/');
    expect(runner.calls).toEqual([]);
  });

  it('says the Docker daemon is unreachable when docker is installed but not running', async () => {
    const runner = new ScriptedRunner({ 'docker info': { code: 1, stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\n' } });
    await expect(kindUp(options(runner))).rejects.toThrow(/daemon is not reachable.*Cannot connect to the Docker daemon/);
    expect(runner.lines()).toEqual(['docker info --format {{.ServerVersion}}']);
  });

  it('falls back to a single-platform archive when kind load hits the containerd image store bug', async () => {
    const runner = new ScriptedRunner({
      ...baseReplies('tikv\n'),
      'kind load docker-image': { code: 1, stderr: 'ERROR: failed to load image: ... ctr: content digest sha256:8201: not found\n' },
      'docker version': { stdout: 'linux/arm64\n' },
    });
    await kindUp(options(runner));
    const lines = runner.lines();
    const save = lines.findIndex((l) => l.startsWith('docker image save --platform linux/arm64 -o '));
    const load = lines.findIndex((l) => l.startsWith('kind load image-archive '));
    expect(save).toBeGreaterThan(lines.findIndex((l) => l.startsWith('kind load docker-image')));
    expect(load).toBe(save + 1);
    expect(lines[load]).toContain('--name tikv');
  });

  it('stops on any other image load failure', async () => {
    const runner = new ScriptedRunner({ ...baseReplies('tikv\n'), 'kind load docker-image': { code: 1, stderr: 'ERROR: no nodes found for cluster "tikv"\n' } });
    await expect(kindUp(options(runner))).rejects.toThrow(/kind load docker-image tikv-operator:dev --name tikv` exited with 1:\nERROR: no nodes found/);
    expect(runner.lines().some((l) => l.includes('image-archive') || l.includes('apply'))).toBe(false);
  });
});

describe('kind:down', () => {
  it('deletes the cluster when present and does nothing (successfully) when absent', async () => {
    const present = new ScriptedRunner({ 'docker info': {}, 'kind get clusters': { stdout: 'tikv\nkind\n' } });
    expect(await kindDown(options(present))).toBe(true);
    expect(present.lines()).toContain('kind delete cluster --name tikv');

    const absent = new ScriptedRunner({ 'docker info': {}, 'kind get clusters': { stdout: '', stderr: 'No kind clusters found.\n' } });
    const log: string[] = [];
    expect(await kindDown(options(absent, log))).toBe(false);
    expect(absent.lines().filter((l) => l.startsWith('kind delete'))).toEqual([]);
    expect(log.join('\n')).toContain('nothing to delete');
  });

  it('does not need kubectl', async () => {
    const runner = new ScriptedRunner({ 'kind get clusters': { stdout: '' } }, new Set(['docker', 'kind']));
    expect(await kindDown(options(runner))).toBe(false);
  });
});

describe('planning helpers', () => {
  it('parses kind get clusters', () => {
    expect(parseKindClusters('kind\ntikv\n')).toEqual(['kind', 'tikv']);
    expect(parseKindClusters('No kind clusters found.\n')).toEqual([]);
    expect(parseKindClusters('tikv-2\n')).toEqual(['tikv-2']);
  });

  it('creates only a cluster named exactly "tikv"', () => {
    expect(clusterPlan(['tikv-2', 'kind']).create).toBe(true);
    expect(clusterPlan(['tikv']).create).toBe(false);
  });

  it('recognizes only the content-digest failure as needing the archive load', () => {
    expect(needsArchiveLoad({ code: 1, stdout: '', stderr: 'ctr: content digest sha256:ab12: not found' })).toBe(true);
    expect(needsArchiveLoad({ code: 0, stdout: '', stderr: 'ctr: content digest sha256:ab12: not found' })).toBe(false);
    expect(needsArchiveLoad({ code: 1, stdout: '', stderr: 'image "tikv-operator:dev" not present locally' })).toBe(false);
  });

  it('refuses a deploy/ without exactly one Deployment', () => {
    expect(() => stampImageId('apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n', 'sha256:1')).toThrow(/expected one Deployment, found 0/);
  });
});

describe('waiting for Ready', () => {
  const cluster = (status: Record<string, unknown>, generation = 2, tikv = 4) =>
    ({ metadata: { generation }, spec: { pd: { replicas: 3 }, tikv: { replicas: tikv } }, status }) as never;

  it('is Ready only when the Ready condition is True for the current generation', () => {
    const cond = [{ type: 'Ready', status: 'True', message: 'ok' }];
    expect(progressOf(cluster({ observedGeneration: 2, conditions: cond })).ready).toBe(true);
    expect(progressOf(cluster({ observedGeneration: 1, conditions: cond })).ready).toBe(false);
    expect(progressOf(cluster({ observedGeneration: 2, conditions: [{ type: 'Ready', status: 'False', message: 'x' }] })).ready).toBe(false);
    expect(progressOf(cluster({})).phase).toBe('Pending');
  });

  it('prints phase, PD and TiKV ready/desired, elapsed time and what is missing', () => {
    const p = progressOf(
      cluster({
        observedGeneration: 2,
        phase: 'Bootstrapping',
        pd: { readyReplicas: 2 },
        tikv: { readyReplicas: 0 },
        conditions: [{ type: 'Ready', status: 'False', message: 'PD has 2 of 3 members healthy' }],
      }),
    );
    expect(formatProgress(p, 83_400)).toBe('[ 1m23s] phase=Bootstrapping  PD 2/3  TiKV 0/4  (PD has 2 of 3 members healthy)');
  });

  it('polls until Ready, one progress line per poll, and gives up with pointers after the timeout', async () => {
    const states = [
      { code: 1, stderr: 'Error from server (NotFound): tikvclusters.tikv.org "basic" not found' },
      { stdout: JSON.stringify(cluster({ observedGeneration: 2, phase: 'Bootstrapping', pd: { readyReplicas: 1 } })) },
      { stdout: ready(2) },
    ];
    let i = 0;
    const runner = new ScriptedRunner({ kubectl: () => states[Math.min(i++, states.length - 1)]! });
    const clock = fakeClock();
    const log: string[] = [];
    const p = await waitForClusterReady(runner, { namespace: 'default', name: 'basic', log: (l) => void log.push(l), ...clock, intervalMs: 5000 });
    expect(p.ready).toBe(true);
    expect(log).toHaveLength(3);
    expect(log[0]).toMatch(/^\[ {4}0s\] TikvCluster default\/basic not readable yet: Error from server \(NotFound\)/);
    expect(log[1]).toMatch(/^\[ {4}5s\] phase=Bootstrapping {2}PD 1\/3 {2}TiKV 0\/4/);
    expect(log[2]).toBe('[   10s] phase=Running  PD 3/3  TiKV 3/3  Ready');

    const stuck = new ScriptedRunner({ kubectl: { stdout: JSON.stringify(cluster({ observedGeneration: 2, phase: 'Bootstrapping' })) } });
    const err = await waitForClusterReady(stuck, { namespace: 'ns', name: 'basic', log: () => {}, ...fakeClock(), timeoutMs: 60_000, intervalMs: 5000 }).catch(
      (e: Error) => e,
    );
    expect((err as Error).message).toMatch(/TikvCluster ns\/basic not Ready after 1m00s/);
    expect((err as Error).message).toContain(`kubectl --context ${KIND_CONTEXT} -n ns get pods`);
    expect(stuck.calls).toHaveLength(13);
  });
});

describe('npm run test:e2e argument handling', () => {
  it('runs the integration project on test/e2e by default, passing other arguments through', () => {
    expect(e2eInvocation(['-t', 'scale'], {})).toEqual({
      backend: 'testenv',
      args: ['run', '--project', 'integration', 'test/e2e', '-t', 'scale'],
      env: { E2E_BACKEND: 'testenv' },
    });
  });

  it('turns --kind (or E2E_BACKEND=kind) into the kind config, never handing --kind to vitest', () => {
    for (const inv of [e2eInvocation(['--kind', '--reporter=verbose'], {}), e2eInvocation(['--reporter=verbose'], { E2E_BACKEND: 'kind' })]) {
      expect(inv.backend).toBe('kind');
      expect(inv.args).toEqual(['run', '--config', KIND_VITEST_CONFIG, '--reporter=verbose']);
      expect(inv.env.E2E_BACKEND).toBe('kind');
    }
    expect(() => e2eInvocation([], { E2E_BACKEND: 'kwok' })).toThrow(/must be "testenv", "kind" or "node"/);
  });

  it('turns --node (or E2E_BACKEND=node) into the node project, and refuses --kind with --node', () => {
    for (const inv of [e2eInvocation(['--node', '-t', 'roll'], {}), e2eInvocation(['-t', 'roll'], { E2E_BACKEND: 'node' })]) {
      expect(inv).toEqual({ backend: 'node', args: ['run', '--project', 'node', '-t', 'roll'], env: { E2E_BACKEND: 'node' } });
    }
    expect(() => e2eInvocation(['--kind', '--node'], {})).toThrow(/pick one/);
  });
});
