// `tikv-operator run` as processes, the way `npm start` and the deployed operator run:
// leader election is on without a flag, both take the same Lease, the standby says in
// its log who holds it, and it takes over when the leader stops.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OPERATOR_NAME, OPERATOR_NAMESPACE } from '../../src/charts/operator.js';
import { PD_URL_TEMPLATE_ENV } from '../../src/controller/pd/resolve.js';
import { REPO_ROOT } from '../env/binaries.js';
import { createServiceAccountKubeconfig, getEnv } from '../env/context.js';
import { TSX_LOADER } from '../env/playground.js';
import { freePort, type ManagedProcess, spawnLogged, waitFor } from '../env/process.js';
import { installOperatorPrerequisites } from './support/operator.js';

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}
const lines = (p: ManagedProcess): LogLine[] =>
  readFileSync(p.logPath, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

describe('tikv-operator run', () => {
  const procs: ManagedProcess[] = [];
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop(5000)));
  });

  async function start(name: string, kubeconfig: string): Promise<ManagedProcess> {
    const port = await freePort();
    const p = spawnLogged(name, process.execPath, ['--import', TSX_LOADER, join(REPO_ROOT, 'src/main.ts'), 'run', `--kubeconfig=${kubeconfig}`, `--metrics-addr=127.0.0.1:${port}`], {
      logDir: getEnv().dir,
      env: { ...process.env, TSX_TSCONFIG_PATH: join(REPO_ROOT, 'tsconfig.json'), [PD_URL_TEMPLATE_ENV]: getEnv().pdURLs[0], LOG_FORMAT: 'json', LOG_LEVEL: 'info' },
      ports: [port],
    });
    procs.push(p);
    await waitFor(`${name} to answer /readyz`, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, { timeoutMs: 90_000, proc: p });
    return p;
  }

  it('elects by default in one Lease namespace; the standby names the holder and takes over when it stops', async () => {
    await installOperatorPrerequisites();
    const sa = await createServiceAccountKubeconfig(OPERATOR_NAMESPACE, OPERATOR_NAME);
    const a = await start('run-a', sa.kubeconfigPath);
    await waitFor('a to lead', async () => lines(a).some((l) => l.msg === 'started leading'), { timeoutMs: 30_000, proc: a });
    const b = await start('run-b', sa.kubeconfigPath);

    const startupOf = (p: ManagedProcess) => lines(p).find((l) => l.msg.startsWith('tikv-operator starting:'));
    const aStart = startupOf(a);
    expect(aStart).toMatchObject({
      context: `${sa.username}@testenv`,
      namespace: '(all)',
      pdAccess: 'url-template',
      lease: `${OPERATOR_NAMESPACE}/tikv-operator-leader`,
    });
    expect(aStart?.msg).toContain(`Lease ${OPERATOR_NAMESPACE}/tikv-operator-leader as ${aStart?.identity}`);
    expect(startupOf(b)?.lease).toBe(aStart?.lease);

    const standby = await waitFor('b to say it stands by', async () => lines(b).find((l) => l.msg.startsWith('another operator holds the Lease')), {
      timeoutMs: 30_000,
      proc: b,
    });
    expect(standby.msg).toBe(
      `another operator holds the Lease ${OPERATOR_NAMESPACE}/tikv-operator-leader (holder ${aStart?.identity}): standing by, reconciling nothing until it is released or expires`,
    );
    expect(lines(b).some((l) => l.msg === 'started leading' || l.msg === 'reconciling TikvClusters')).toBe(false);

    await a.stop(20_000);
    expect(a.exitStatus()).toBe('exit code 0');
    await waitFor('b to take over', async () => lines(b).some((l) => l.msg === 'started leading'), { timeoutMs: 30_000, proc: b });
  });
});
