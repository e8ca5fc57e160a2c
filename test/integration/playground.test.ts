// The kwok playground driven as a person drives it: `npm run testenv -- up` in one
// shell; in another, the commands it prints, run exactly as printed (with a kubectl on
// PATH): apply the CRD and the example, wait for Ready, and look at the cluster with the
// kubectl plugin. Then once more with --no-operator, running one's own operator with the
// command the playground prints. Ctrl-C stops everything.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findBinaries, isExecutable, REPO_ROOT } from '../env/binaries.js';
import { waitFor } from '../env/process.js';
import { startUp, stillRunning, type UpProcess } from './support/testenv-up.js';

/** The kubectl testenv/build.sh builds, else one on PATH; never none. */
function kubectlDir(): string {
  const built = join(findBinaries([]).binDir, 'kubectl');
  if (isExecutable(built)) return dirname(built);
  const onPath = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return dirname(onPath);
  throw new Error(`no kubectl: ${built} is missing (build it with \`bash testenv/build.sh kubectl\`) and none is on PATH`);
}

/** `export NAME=value` lines the playground printed, as an environment. */
function exported(out: string): Record<string, string> {
  return Object.fromEntries([...out.matchAll(/^ {2}export (\w+)=(\S+)/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
}

/** Runs one printed shell line in the repo, as a person pastes it; resolves with its exit code and output. */
function shell(line: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', line], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const KUBECTL_LINE = /^ {2}(kubectl apply -f crds\/ && kubectl apply -f examples\/basic\.yaml && kubectl wait --for=condition=Ready tikvcluster\/basic --timeout=\S+)$/m;

async function stopWithCtrlC(up: UpProcess): Promise<void> {
  const pids = up.componentPids();
  const dir = up.dir();
  process.kill(-up.pid, 'SIGINT');
  const exit = await up.exited;
  expect(exit.code, up.output()).toBe(0);
  await waitFor('the playground to leave nothing behind', async () => stillRunning(pids).length === 0 && !existsSync(dir), { timeoutMs: 30_000 });
}

describe('the kwok playground (npm run testenv -- up)', () => {
  let up: UpProcess | undefined;
  let own: ReturnType<typeof spawn> | undefined;
  afterEach(() => {
    if (own?.pid) {
      try {
        process.kill(-own.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    up?.kill();
    up = undefined;
    own = undefined;
  });

  it('gets examples/basic.yaml to Ready with the printed commands alone, and `kubectl tikv status` shows it', async () => {
    up = startUp([]);
    const out = (await up.waitForOutput(/Press Ctrl-C to stop\./, 180_000)).input;
    expect(out).toContain('Stand-ins:  nodes and pods: kwok');
    expect(out).toContain('TiKV: one store stand-in per Running TiKV pod');
    const vars = exported(out);
    expect(Object.keys(vars).sort()).toEqual(['KUBECONFIG', 'TIKV_OPERATOR_PD_URL_TEMPLATE']);
    const line = KUBECTL_LINE.exec(out)?.[1];
    if (!line) throw new Error(`no kubectl line in the output:\n${out}`);

    const env = { ...process.env, ...vars, PATH: [join(REPO_ROOT, 'bin'), kubectlDir(), process.env.PATH].join(delimiter) };
    const applied = await shell(line, env, 240_000);
    expect(applied.code, `${applied.out}\n--- playground ---\n${up.output()}`).toBe(0);
    expect(applied.out).toContain('tikvcluster.tikv.org/basic created');
    expect(applied.out).toContain('tikvcluster.tikv.org/basic condition met');
    expect(applied.out).not.toMatch(/Warning/);

    // The kubectl plugin (bin/kubectl-tikv on PATH), the way the README installs it.
    const st = await shell('kubectl tikv status basic', env, 60_000);
    expect(st.code, st.out).toBe(0);
    console.log(`[playground] kubectl tikv status basic:\n${st.out}`);
    expect(st.out).toMatch(/^TikvCluster default\/basic {2}phase Running/);
    expect(st.out).toContain('TiKV  3 of 3 stores Up; spec.tikv.replicas 3\n');
    expect(st.out).toMatch(/\n {2}Ready +True +ClusterReady /);

    await stopWithCtrlC(up);
  });

  it('with --no-operator prints one command that runs your own operator, and it works as printed', async () => {
    up = startUp(['--no-operator']);
    const out = (await up.waitForOutput(/Press Ctrl-C to stop\./, 180_000)).input;
    const runYourOwn = /Run your own, as printed:\n {2}(.+)$/m.exec(out)?.[1];
    if (!runYourOwn) throw new Error(`no operator command in the output:\n${out}`);
    expect(runYourOwn).toMatch(/^cd \S+ && KUBECONFIG=\S+ TIKV_OPERATOR_PD_URL_TEMPLATE=\S+ npm start -- --metrics-addr=127\.0\.0\.1:\d+$/);

    // A person's shell has neither variable set; the printed command carries what it needs.
    const { KUBECONFIG: _k, TIKV_OPERATOR_PD_URL_TEMPLATE: _t, ...clean } = process.env;
    let ownOut = '';
    own = spawn('sh', ['-c', runYourOwn], { cwd: '/', env: clean, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    own.stdout?.on('data', (c: Buffer) => {
      ownOut += c.toString();
    });
    own.stderr?.on('data', (c: Buffer) => {
      ownOut += c.toString();
    });
    const line = KUBECTL_LINE.exec(out)?.[1] ?? '';
    const env = { ...process.env, ...exported(out), PATH: [kubectlDir(), process.env.PATH].join(delimiter) };
    const applied = await shell(line, env, 240_000);
    expect(applied.code, `${applied.out}\n--- your operator ---\n${ownOut}`).toBe(0);
    expect(applied.out).toContain('tikvcluster.tikv.org/basic condition met');
    expect(ownOut).toContain('tikv-operator starting: context admin@testenv');
    expect(ownOut).toContain('Lease tikv-operator-system/tikv-operator-leader');

    const ownPid = own.pid ?? 0;
    process.kill(-ownPid, 'SIGTERM');
    await waitFor('your operator to stop', async () => own?.exitCode !== null || own?.signalCode !== null, { timeoutMs: 30_000 });
    await stopWithCtrlC(up);
  });
});
