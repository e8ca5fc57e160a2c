// The kind workflow behind `npm run kind:up` / `kind:down` and the e2e suite's kind
// backend: create the cluster from kind-config.yaml, build the operator image and load it
// into the nodes, install the CRD and deploy/, and wait for a TikvCluster to be Ready.
//
// Every external command goes through a CommandRunner, so the decisions (which tools are
// missing, whether the cluster exists, when an image load needs the archive fallback,
// what "Ready" means and how progress reads) are unit-tested without Docker.
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments } from 'yaml';
import { CRD_NAME } from '../src/api/crd.js';
import { KIND, PLURAL } from '../src/api/v1alpha1.js';
import { OPERATOR_IMAGE, OPERATOR_NAME, OPERATOR_NAMESPACE } from '../src/charts/operator.js';
import { DEPLOY_FILE } from '../src/charts/operator-yaml.js';

export const KIND_CLUSTER = 'tikv';
export const KIND_CONTEXT = `kind-${KIND_CLUSTER}`;
export const KIND_CONFIG = 'kind-config.yaml';
export { OPERATOR_IMAGE };
/**
 * Pod-template annotation carrying the Docker image ID of the loaded `tikv-operator:dev`.
 * The tag never changes, so without it a rebuilt image would not roll the operator; with
 * it, re-running kind:up rolls the Deployment exactly when the image changed.
 */
export const IMAGE_ID_ANNOTATION = 'tikv.org/operator-image-id';

export type Tool = 'docker' | 'kind' | 'kubectl';
export const REQUIRED_TOOLS: readonly Tool[] = ['docker', 'kind', 'kubectl'];
const INSTALL_HINTS: Record<Tool, string> = {
  docker: 'https://docs.docker.com/get-docker/',
  kind: 'https://kind.sigs.k8s.io/docs/user/quick-start/#installation',
  kubectl: 'https://kubernetes.io/docs/tasks/tools/',
};

// --- running commands -----------------------------------------------------------------

export interface RunOptions {
  /** Copy the command's output to the terminal as it arrives (builds, cluster creation). */
  stream?: boolean;
  /** Resolve with the exit code instead of throwing when the command fails. */
  allowFailure?: boolean;
  /** Written to the command's stdin. */
  input?: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandRunner {
  run(cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Whether an executable named `tool` is on PATH. */
  onPath(tool: string): boolean;
}

export interface Command {
  cmd: string;
  args: string[];
  input?: string;
}

export const show = (c: Command) => [c.cmd, ...c.args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`))].join(' ');

export class MissingToolsError extends Error {
  constructor(readonly missing: string[]) {
    super(missingToolsMessage(missing));
    this.name = 'MissingToolsError';
  }
}

export class CommandFailedError extends Error {
  constructor(
    readonly command: Command,
    readonly result: RunResult,
  ) {
    const tail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-15).join('\n');
    super(`\`${show(command)}\` exited with ${result.code}${tail ? `:\n${tail}` : ''}`);
    this.name = 'CommandFailedError';
  }
}

export function missingToolsMessage(missing: readonly string[]): string {
  const lines = missing.map((t) => `  ${t}: ${INSTALL_HINTS[t as Tool] ?? 'install it and put it on PATH'}`);
  const which = missing.length === 1 ? `\`${missing[0]}\` is` : `${missing.map((t) => `\`${t}\``).join(', ')} are`;
  return `${which} not installed or not on PATH; the kind workflow needs docker, kind and kubectl.\n${lines.join('\n')}`;
}

/** The first executable `tool` on a PATH-style list of directories. */
export function findOnPath(tool: string, pathEnv: string | undefined, isExecutable: (file: string) => boolean): string | undefined {
  for (const dir of (pathEnv ?? '').split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, tool);
    if (isExecutable(file)) return file;
  }
  return undefined;
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Runs real commands in `cwd`; `stream` copies their output to this process's stderr. */
export function systemRunner(cwd: string, env: NodeJS.ProcessEnv = process.env): CommandRunner {
  return {
    onPath: (tool) => findOnPath(tool, env.PATH, isExecutableFile) !== undefined,
    run: (cmd, args, opts = {}) =>
      new Promise<RunResult>((resolve, reject) => {
        const child = spawn(cmd, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => {
          stdout += c.toString();
          if (opts.stream) process.stderr.write(c);
        });
        child.stderr.on('data', (c: Buffer) => {
          stderr += c.toString();
          if (opts.stream) process.stderr.write(c);
        });
        child.on('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? new MissingToolsError([cmd]) : e));
        child.on('close', (code, signal) => {
          const result = { code: code ?? (signal ? 128 : 1), stdout, stderr };
          if (result.code !== 0 && !opts.allowFailure) reject(new CommandFailedError({ cmd, args: [...args] }, result));
          else resolve(result);
        });
        child.stdin.end(opts.input ?? '');
      }),
  };
}

async function exec(runner: CommandRunner, c: Command, opts: RunOptions = {}): Promise<RunResult> {
  return runner.run(c.cmd, c.args, { ...opts, input: c.input ?? opts.input });
}

// --- tools ----------------------------------------------------------------------------

/** Fails with one message naming every missing tool, before anything is changed. */
export function requireTools(runner: CommandRunner, tools: readonly Tool[] = REQUIRED_TOOLS): void {
  const missing = tools.filter((t) => !runner.onPath(t));
  if (missing.length > 0) throw new MissingToolsError(missing);
}

/** docker on PATH is not enough: kind needs a daemon it can reach. */
export async function requireDockerDaemon(runner: CommandRunner): Promise<void> {
  const r = await runner.run('docker', ['info', '--format', '{{.ServerVersion}}'], { allowFailure: true });
  if (r.code !== 0) {
    const why = (r.stderr.trim() || r.stdout.trim()).split('\n')[0] ?? '';
    throw new Error(`docker is installed but its daemon is not reachable (is Docker running?): ${why}`);
  }
}

// --- plans ----------------------------------------------------------------------------

export const kubectl = (...args: string[]): Command => ({ cmd: 'kubectl', args: ['--context', KIND_CONTEXT, ...args] });

/** `kind get clusters` prints one name per line (and "No kind clusters found." on stderr). */
export function parseKindClusters(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^No kind clusters found/.test(l));
}

/**
 * Creating the cluster only when it is absent makes kind:up idempotent; for an existing
 * one, re-exporting its kubeconfig restores the `kind-tikv` context if it was removed.
 */
export function clusterPlan(existing: readonly string[]): { create: boolean; commands: Command[] } {
  if (existing.includes(KIND_CLUSTER)) {
    return { create: false, commands: [{ cmd: 'kind', args: ['export', 'kubeconfig', '--name', KIND_CLUSTER] }] };
  }
  return {
    create: true,
    commands: [{ cmd: 'kind', args: ['create', 'cluster', '--name', KIND_CLUSTER, '--config', KIND_CONFIG, '--wait', '120s'] }],
  };
}

export const buildImageCommand = (): Command => ({ cmd: 'docker', args: ['build', '-t', OPERATOR_IMAGE, '.'] });
export const loadImageCommand = (): Command => ({ cmd: 'kind', args: ['load', 'docker-image', OPERATOR_IMAGE, '--name', KIND_CLUSTER] });

/**
 * kind's `load docker-image` pipes `docker save` into `ctr import --all-platforms`, which
 * fails with "content digest … not found" when Docker uses the containerd image store
 * (kubernetes-sigs/kind#3795). kind's documented workaround: save one platform to an
 * archive and load that.
 */
export function needsArchiveLoad(result: RunResult): boolean {
  return result.code !== 0 && /content digest \S+ not found/i.test(`${result.stderr}\n${result.stdout}`);
}

export function archiveLoadCommands(platform: string, archive: string): Command[] {
  return [
    { cmd: 'docker', args: ['image', 'save', '--platform', platform, '-o', archive, OPERATOR_IMAGE] },
    { cmd: 'kind', args: ['load', 'image-archive', archive, '--name', KIND_CLUSTER] },
  ];
}

/** deploy/ with the image-ID annotation added to the Deployment's pod template. */
export function stampImageId(deployYaml: string, imageId: string): string {
  // YAML 1.1, as kubectl reads it: values like "yes" keep their quotes on output.
  const docs = parseAllDocuments(deployYaml, { version: '1.1' });
  let stamped = 0;
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${DEPLOY_FILE}: ${doc.errors[0]?.message}`);
    if (doc.get('kind') !== 'Deployment') continue;
    doc.setIn(['spec', 'template', 'metadata', 'annotations', IMAGE_ID_ANNOTATION], imageId);
    stamped++;
  }
  if (stamped !== 1) throw new Error(`${DEPLOY_FILE}: expected one Deployment, found ${stamped}`);
  return docs.map((d) => d.toString()).join('');
}

export function deployPlan(deployYaml: string, imageId: string): { say: string; command: Command; stream?: boolean }[] {
  return [
    { say: 'installing the TikvCluster CRD (crds/)', command: kubectl('apply', '--server-side', '--force-conflicts', '-f', 'crds/') },
    {
      say: `waiting for the CRD ${CRD_NAME} to be established`,
      command: kubectl('wait', '--for=condition=Established', `crd/${CRD_NAME}`, '--timeout=60s'),
    },
    {
      say: `applying deploy/ (namespace ${OPERATOR_NAMESPACE}, RBAC, Deployment ${OPERATOR_NAME})`,
      command: { ...kubectl('apply', '--server-side', '--force-conflicts', '-f', '-'), input: stampImageId(deployYaml, imageId) },
    },
    {
      say: `waiting for the operator rollout (deployment/${OPERATOR_NAME} in ${OPERATOR_NAMESPACE})`,
      command: kubectl('-n', OPERATOR_NAMESPACE, 'rollout', 'status', `deployment/${OPERATOR_NAME}`, '--timeout=180s'),
      stream: true,
    },
  ];
}

// --- progress -------------------------------------------------------------------------

interface ClusterObject {
  metadata?: { generation?: number };
  spec?: { pd?: { replicas?: number }; tikv?: { replicas?: number } };
  status?: {
    observedGeneration?: number;
    phase?: string;
    pd?: { readyReplicas?: number };
    tikv?: { readyReplicas?: number };
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

export interface ClusterProgress {
  phase: string;
  pd: { ready: number; desired: number };
  tikv: { ready: number; desired: number };
  /** `kubectl wait --for=condition=Ready`, for the current generation. */
  ready: boolean;
  /** The Ready condition's message while not ready. */
  why?: string;
}

/** Replica defaults of the CRD (3 + 3), for a cluster the apiserver has not defaulted yet. */
const DEFAULT_REPLICAS = 3;

export function progressOf(obj: ClusterObject): ClusterProgress {
  const st = obj.status ?? {};
  const cond = st.conditions?.find((c) => c.type === 'Ready');
  const current = st.observedGeneration !== undefined && st.observedGeneration === obj.metadata?.generation;
  const ready = cond?.status === 'True' && current;
  return {
    phase: st.phase ?? 'Pending',
    pd: { ready: st.pd?.readyReplicas ?? 0, desired: obj.spec?.pd?.replicas ?? DEFAULT_REPLICAS },
    tikv: { ready: st.tikv?.readyReplicas ?? 0, desired: obj.spec?.tikv?.replicas ?? DEFAULT_REPLICAS },
    ready,
    why: ready ? undefined : (cond?.message ?? (current ? undefined : 'the operator has not reported on this generation yet')),
  };
}

export function formatElapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export function formatProgress(p: ClusterProgress, elapsedMs: number): string {
  const base = `[${formatElapsed(elapsedMs).padStart(6)}] phase=${p.phase}  PD ${p.pd.ready}/${p.pd.desired}  TiKV ${p.tikv.ready}/${p.tikv.desired}`;
  return p.ready ? `${base}  Ready` : `${base}${p.why ? `  (${p.why})` : ''}`;
}

export interface WaitOptions {
  namespace: string;
  name: string;
  timeoutMs?: number;
  intervalMs?: number;
  log: (line: string) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<unknown>;
}

/** Polls the TikvCluster with kubectl and prints one progress line per poll until Ready. */
export async function waitForClusterReady(runner: CommandRunner, o: WaitOptions): Promise<ClusterProgress> {
  const now = o.now ?? Date.now;
  const pause = o.sleep ?? sleep;
  const timeoutMs = o.timeoutMs ?? 15 * 60_000;
  const start = now();
  let last: ClusterProgress | undefined;
  for (;;) {
    const r = await exec(runner, kubectl('-n', o.namespace, 'get', `${PLURAL}/${o.name}`, '-o', 'json'), { allowFailure: true });
    const elapsed = now() - start;
    if (r.code === 0) {
      last = progressOf(JSON.parse(r.stdout) as ClusterObject);
      o.log(formatProgress(last, elapsed));
      if (last.ready) return last;
    } else {
      o.log(`[${formatElapsed(elapsed).padStart(6)}] ${KIND} ${o.namespace}/${o.name} not readable yet: ${r.stderr.trim().split('\n')[0]}`);
    }
    if (elapsed >= timeoutMs) {
      throw new Error(
        `${KIND} ${o.namespace}/${o.name} not Ready after ${formatElapsed(elapsed)}` +
          `${last ? ` (last: ${formatProgress(last, elapsed)})` : ''}.\n` +
          `Look at: kubectl --context ${KIND_CONTEXT} -n ${o.namespace} get pods; ` +
          `kubectl --context ${KIND_CONTEXT} -n ${o.namespace} describe ${PLURAL}/${o.name}; ` +
          `kubectl --context ${KIND_CONTEXT} -n ${OPERATOR_NAMESPACE} logs deployment/${OPERATOR_NAME}`,
      );
    }
    await pause(o.intervalMs ?? 5000);
  }
}

// --- the workflow ---------------------------------------------------------------------

export interface KindOptions {
  runner: CommandRunner;
  /** Repository root (the Docker build context, where crds/, deploy/ and examples/ live). */
  root: string;
  log: (line: string) => void;
  now?: () => number;
}

const step = (o: KindOptions, what: string) => o.log(`==> ${what}`);

/** Timed step: prints what it waits for, then how long it took. */
async function timed<T>(o: KindOptions, what: string, fn: () => Promise<T>): Promise<T> {
  const now = o.now ?? Date.now;
  step(o, what);
  const t0 = now();
  const v = await fn();
  o.log(`    done in ${formatElapsed(now() - t0)}`);
  return v;
}

export async function checkPrerequisites(o: KindOptions, tools: readonly Tool[] = REQUIRED_TOOLS): Promise<void> {
  step(o, `checking for ${tools.join(', ')}`);
  requireTools(o.runner, tools);
  if (tools.includes('docker')) await requireDockerDaemon(o.runner);
}

export async function listClusters(runner: CommandRunner): Promise<string[]> {
  return parseKindClusters((await runner.run('kind', ['get', 'clusters'])).stdout);
}

/** Creates the kind cluster unless it exists. Returns whether it was created. */
export async function ensureCluster(o: KindOptions): Promise<boolean> {
  const plan = clusterPlan(await listClusters(o.runner));
  const what = plan.create
    ? `creating kind cluster "${KIND_CLUSTER}" from ${KIND_CONFIG} (1 control plane + 3 workers; the first time pulls kind's node image)`
    : `kind cluster "${KIND_CLUSTER}" exists; refreshing its kubeconfig context ${KIND_CONTEXT}`;
  await timed(o, what, async () => {
    for (const c of plan.commands) await exec(o.runner, c, { stream: plan.create });
  });
  return plan.create;
}

/** Builds tikv-operator:dev and loads it into every node; returns its Docker image ID. */
export async function buildAndLoadImage(o: KindOptions): Promise<string> {
  await timed(o, `building ${OPERATOR_IMAGE} (docker build, Dockerfile)`, () => exec(o.runner, buildImageCommand(), { stream: true }));
  await timed(o, `loading ${OPERATOR_IMAGE} into the kind nodes`, async () => {
    const r = await exec(o.runner, loadImageCommand(), { stream: true, allowFailure: true });
    if (r.code === 0) return;
    if (!needsArchiveLoad(r)) throw new CommandFailedError(loadImageCommand(), r);
    o.log('    kind load docker-image hit the containerd image store issue (kind#3795); loading a single-platform archive instead');
    const platform = (await o.runner.run('docker', ['version', '--format', '{{.Server.Os}}/{{.Server.Arch}}'])).stdout.trim();
    const archive = join(tmpdir(), `tikv-operator-dev-${process.pid}.tar`);
    try {
      for (const c of archiveLoadCommands(platform, archive)) await exec(o.runner, c, { stream: true });
    } finally {
      rmSync(archive, { force: true });
    }
  });
  return (await o.runner.run('docker', ['image', 'inspect', '--format', '{{.Id}}', OPERATOR_IMAGE])).stdout.trim();
}

export async function deployOperator(o: KindOptions, imageId: string): Promise<void> {
  const yaml = readFileSync(join(o.root, DEPLOY_FILE), 'utf8');
  for (const s of deployPlan(yaml, imageId)) await timed(o, s.say, () => exec(o.runner, s.command, { stream: s.stream }));
}

/** Everything up to a running operator: cluster, image, CRD, deploy/. */
export async function operatorUp(o: KindOptions): Promise<void> {
  await checkPrerequisites(o);
  await ensureCluster(o);
  const imageId = await buildAndLoadImage(o);
  await deployOperator(o, imageId);
}

export const EXAMPLE = 'examples/basic.yaml';

export async function kindUp(o: KindOptions & { namespace?: string; readyTimeoutMs?: number }): Promise<void> {
  const namespace = o.namespace ?? 'default';
  await operatorUp(o);
  // Created once: re-applying over a cluster the user has since scaled or edited would
  // undo their change (or fail on the field-manager conflict).
  const existing = await exec(o.runner, kubectl('-n', namespace, 'get', `${PLURAL}/basic`, '--ignore-not-found', '-o', 'name'));
  if (existing.stdout.trim()) {
    step(o, `TikvCluster ${namespace}/basic exists; leaving it as it is (not re-applying ${EXAMPLE})`);
  } else {
    await timed(o, `applying ${EXAMPLE} (TikvCluster ${namespace}/basic: 3 PD + 3 TiKV)`, () =>
      exec(o.runner, kubectl('-n', namespace, 'apply', '--server-side', '-f', EXAMPLE), { stream: true }),
    );
  }
  await timed(o, `waiting for TikvCluster ${namespace}/basic to be Ready (the first time, nodes pull pingcap/pd and pingcap/tikv)`, () =>
    waitForClusterReady(o.runner, { namespace, name: 'basic', log: o.log, now: o.now, timeoutMs: o.readyTimeoutMs }),
  );
  o.log('');
  o.log(`The cluster is Ready. Try:`);
  o.log(`  kubectl --context ${KIND_CONTEXT} get tikvclusters`);
  o.log(`  kubectl --context ${KIND_CONTEXT} get pods -l app.kubernetes.io/instance=basic`);
  o.log(`  kubectl --context ${KIND_CONTEXT} -n ${OPERATOR_NAMESPACE} logs deployment/${OPERATOR_NAME}`);
  o.log(`Delete everything with: npm run kind:down`);
}

export async function kindDown(o: KindOptions): Promise<boolean> {
  await checkPrerequisites(o, ['docker', 'kind']);
  const clusters = await listClusters(o.runner);
  if (!clusters.includes(KIND_CLUSTER)) {
    step(o, `no kind cluster "${KIND_CLUSTER}"; nothing to delete`);
    return false;
  }
  await timed(o, `deleting kind cluster "${KIND_CLUSTER}"`, () =>
    o.runner.run('kind', ['delete', 'cluster', '--name', KIND_CLUSTER], { stream: true }),
  );
  return true;
}
