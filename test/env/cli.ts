// `npm run testenv -- up [--nodes N] [--no-pd] [--node]`: run the test environment in the
// foreground until Ctrl-C / SIGTERM. `--node` adds a real node (kind-like playground; see
// test/env/node/playground.ts).  `npm run testenv -- build [component...]`: build
// the binaries (testenv/build.sh) only.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { BUILD_SCRIPT, REPO_ROOT } from './binaries.js';
import { startTestEnv } from './index.js';
import { playgroundText } from './node/playground.js';

const USAGE = `usage: npm run testenv -- up [--nodes N] [--no-pd] [--node]
       npm run testenv -- build [k8s|etcd|kwok|pd|node|coredns ...]`;

function build(args: string[]): number {
  const r = spawnSync('bash', [BUILD_SCRIPT, ...args], { stdio: 'inherit', cwd: REPO_ROOT });
  return r.status ?? 1;
}

async function up(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { nodes: { type: 'string' }, 'no-pd': { type: 'boolean' }, node: { type: 'boolean' } } });
  const nodes = values.nodes === undefined ? undefined : Number(values.nodes);
  if (nodes !== undefined && !(Number.isInteger(nodes) && nodes >= 0)) throw new Error(`--nodes must be a whole number, got ${values.nodes}`);
  const env = await startTestEnv({ nodes, pd: values.node ? false : !values['no-pd'], node: values.node });
  if (env.node) console.log(playgroundText(env));
  else console.log(`
kubeconfig: ${env.kubeconfigPath}
  export KUBECONFIG=${env.kubeconfigPath}
  kubectl get nodes,pods -A
apiserver:  ${env.server}
audit log:  ${env.auditLogPath}
PD:         ${env.pd ? env.pd.clientURLs.join(',') : '(not started)'}
Press Ctrl-C to stop.`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    process.once('SIGHUP', resolve);
  });
  console.log(`\n${signal}: stopping`);
  await env.stop();
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'build') return build(rest);
  if (cmd === 'up') return up(rest);
  console.error(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error((e as Error).message);
    process.exit(1);
  },
);
