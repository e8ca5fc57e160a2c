// `tikv-operator run`: the operator process. Loads the kubeconfig (in a pod: the service
// account; otherwise $KUBECONFIG or ~/.kube/config, never client-node's silent
// localhost:8080 fallback; runtime/kubeconfig.ts says why not client-node's KubeConfig),
// serves /healthz, /readyz and /metrics, logs JSON with pino,
// and stops gracefully on SIGTERM/SIGINT (workers drain, the Lease is released).
import http from 'node:http';
import os from 'node:os';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { LEASE_NAME } from '../charts/operator.js';
import { createMetrics } from './metrics.js';
import { startOperator } from './operator.js';
import { OperatorKubeConfig } from './runtime/kubeconfig.js';

const USAGE = `Usage: tikv-operator run [options]

Options:
  --kubeconfig PATH                 kubeconfig to use (default: in-cluster, else $KUBECONFIG, else ~/.kube/config)
  --namespace NS                    watch only this namespace (default: all)
  --metrics-addr [HOST]:PORT        serve /healthz, /readyz, /metrics (default :8080; "0" disables)
  --leader-elect                    hold a Lease while reconciling (for more than one replica)
  --leader-election-namespace NS    namespace of the Lease (default: $POD_NAMESPACE or "default")
  --log-level LEVEL                 trace, debug, info, warn, error (default: $LOG_LEVEL or info)
  --workers N                       concurrent reconciles (default 2)

PD is reached through the client Service's DNS name in a pod, and through the API server's
service proxy outside one; TIKV_OPERATOR_PD_URL_TEMPLATE (e.g. http://127.0.0.1:2379)
overrides both.
`;

export function loadKubeConfig(path: string | undefined, env = process.env): OperatorKubeConfig {
  if (path) return OperatorKubeConfig.fromFile(path);
  if (env.KUBERNETES_SERVICE_HOST && !env.KUBECONFIG) return OperatorKubeConfig.inCluster(env);
  return OperatorKubeConfig.fromDefault(env);
}

function listenAddress(addr: string): { host?: string; port: number } | undefined {
  if (addr === '0') return undefined;
  const i = addr.lastIndexOf(':');
  const port = Number(i >= 0 ? addr.slice(i + 1) : addr);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --metrics-addr "${addr}"`);
  const host = i > 0 ? addr.slice(0, i) : undefined;
  return { host, port };
}

export async function main(argv: string[]): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(argv).values;
  } catch (e) {
    process.stderr.write(`tikv-operator run: ${(e as Error).message}\n\n${USAGE}`);
    return 1;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = pino({ level: values['log-level'] ?? process.env.LOG_LEVEL ?? 'info', base: { app: 'tikv-operator' } });
  let kc: OperatorKubeConfig;
  try {
    kc = loadKubeConfig(values.kubeconfig);
  } catch (e) {
    log.error({ err: e }, 'cannot load kubeconfig');
    return 1;
  }
  const metrics = createMetrics();
  const identity = `${process.env.POD_NAME ?? os.hostname()}_${process.pid}`;
  const operator = startOperator({
    kc,
    log,
    namespace: values.namespace,
    metrics,
    workers: values.workers ? Number(values.workers) : undefined,
    leaderElection: values['leader-elect']
      ? { namespace: values['leader-election-namespace'] ?? process.env.POD_NAMESPACE ?? 'default', name: LEASE_NAME, identity }
      : undefined,
  });

  const addr = listenAddress(values['metrics-addr'] ?? ':8080');
  const server = addr
    ? http.createServer(async (req, res) => {
        const url = req.url ?? '/';
        if (url === '/healthz') return void res.writeHead(200).end('ok');
        if (url === '/readyz') return void res.writeHead(operator.ready() ? 200 : 503).end(operator.ready() ? 'ok' : 'caches not synced');
        if (url === '/metrics') {
          try {
            const body = await metrics.registry.metrics();
            return void res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(body);
          } catch (err) {
            log.error({ err }, 'collecting metrics failed');
            return void res.writeHead(500).end('collecting metrics failed');
          }
        }
        res.writeHead(404).end();
      })
    : undefined;
  if (server && addr) {
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(addr.port, addr.host, resolve));
    log.info({ addr: server.address() }, 'serving /healthz, /readyz, /metrics');
  }

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await operator.stop();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  log.info('stopped');
  return 0;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      'metrics-addr': { type: 'string' },
      'leader-elect': { type: 'boolean' },
      'leader-election-namespace': { type: 'string' },
      'log-level': { type: 'string' },
      workers: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
}
