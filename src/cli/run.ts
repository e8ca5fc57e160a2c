// `tikv-operator run`: the operator process. Loads the kubeconfig (in a pod: the service
// account; otherwise $KUBECONFIG or ~/.kube/config, never client-node's silent
// localhost:8080 fallback; runtime/kubeconfig.ts says why not client-node's KubeConfig), says in one line what it talks to, serves /healthz, /readyz
// and /metrics, logs JSON (readable lines on a terminal), holds the leader-election Lease
// by default, and stops gracefully on SIGTERM/SIGINT (workers drain, the Lease is released).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { PD_PORTS } from '../api/names.js';
import { LEASE_NAME, OPERATOR_NAMESPACE } from '../charts/operator.js';
import { KubeApiError, kubeJSON } from '../controller/kube/raw.js';
import { chooseLogFormat, createProcessLogger } from '../controller/logger.js';
import { createMetrics } from '../controller/metrics.js';
import { startOperator } from '../controller/operator.js';
import { choosePDAccess, PD_URL_TEMPLATE_ENV } from '../controller/pd/resolve.js';
import { OperatorKubeConfig } from '../controller/runtime/kubeconfig.js';
import { collapseRepeats, type Logger } from '../controller/runtime/log.js';

const USAGE = `Usage: tikv-operator run [options]

Options:
  --kubeconfig PATH                 kubeconfig to use (default: in-cluster, else $KUBECONFIG, else ~/.kube/config)
  --namespace NS                    watch only this namespace (default: all)
  --metrics-addr [HOST]:PORT        serve /healthz, /readyz, /metrics (default :8080; "0" disables)
  --leader-elect[=true|false]       hold the Lease ${LEASE_NAME} while reconciling (default true;
                                    --no-leader-elect or --leader-elect=false turns it off)
  --leader-election-namespace NS    namespace of the Lease (default: $POD_NAMESPACE in a pod, else
                                    ${OPERATOR_NAMESPACE}, so a checkout and the deployed operator share one)
  --log-level LEVEL                 trace, debug, info, warn, error (default: $LOG_LEVEL or info)
  --log-format auto|json|pretty     default $LOG_FORMAT or auto: readable lines on a terminal, JSON otherwise
  --workers N                       concurrent reconciles (default 2)

PD is reached through the client Service's DNS name in a pod, and through the API server's
service proxy outside one; ${PD_URL_TEMPLATE_ENV} (e.g. http://127.0.0.1:2379, or
http://{name}-pd.{namespace}:2379) overrides both.
`;

export function loadKubeConfig(path: string | undefined, env = process.env): OperatorKubeConfig {
  if (path) return OperatorKubeConfig.fromFile(path);
  if (inCluster(env)) return OperatorKubeConfig.inCluster(env);
  return OperatorKubeConfig.fromDefault(env);
}

const inCluster = (env: Record<string, string | undefined>) => !!env.KUBERNETES_SERVICE_HOST && !env.KUBECONFIG;

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/**
 * One Lease for every copy of the operator, wherever it runs: the pod's namespace in a
 * cluster (the deployed one runs in ${OPERATOR_NAMESPACE}), and the same namespace from a
 * checkout, so `npm start` next to the deployed operator stands by instead of doubling
 * every Event and PD call.
 */
export function leaseNamespace(
  flag: string | undefined,
  env: Record<string, string | undefined>,
  readNamespaceFile: () => string | undefined = () => readOptional(SA_NAMESPACE_FILE),
): string {
  if (flag) return flag;
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  return (inCluster(env) ? readNamespaceFile() : undefined) ?? OPERATOR_NAMESPACE;
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** How this process reaches PD, in words (the resolver itself is built by startOperator). */
export function describePDAccess(env: Record<string, string | undefined>): { pdAccess: string; text: string } {
  const template = env[PD_URL_TEMPLATE_ENV]?.trim();
  if (template) return { pdAccess: 'url-template', text: `PD at ${template} (${PD_URL_TEMPLATE_ENV})` };
  return choosePDAccess(env) === 'dns'
    ? { pdAccess: 'dns', text: `PD through each cluster's client Service (<name>-pd.<namespace>.svc:${PD_PORTS.client})` }
    : { pdAccess: 'proxy', text: "PD through the API server's service proxy" };
}

export interface StartupLine {
  fields: Record<string, unknown>;
  message: string;
}

/** The start-up line: which cluster, which namespaces, how PD is reached, which Lease. */
export function startupLine(o: {
  kc: OperatorKubeConfig;
  inCluster: boolean;
  namespace?: string;
  env: Record<string, string | undefined>;
  lease?: { namespace: string; name: string; identity: string };
}): StartupLine {
  const server = o.kc.getCurrentCluster()?.server;
  const context = o.inCluster ? '(in-cluster service account)' : o.kc.getCurrentContext();
  const pd = describePDAccess(o.env);
  const lease = o.lease ? `${o.lease.namespace}/${o.lease.name}` : undefined;
  return {
    fields: { context, server, namespace: o.namespace ?? '(all)', pdAccess: pd.pdAccess, lease: lease ?? '(none)', identity: o.lease?.identity },
    message: [
      `tikv-operator starting: context ${context} (${server})`,
      o.namespace ? `namespace ${o.namespace}` : 'all namespaces',
      pd.text,
      lease ? `Lease ${lease} as ${o.lease?.identity}` : 'no leader election (reconciling unconditionally)',
    ].join('; '),
  };
}

/**
 * Out of a cluster the Lease namespace may not exist yet (only crds/ applied): create it
 * rather than never leading. Without permission to read namespaces, go on: the Lease
 * calls say what is wrong.
 */
async function ensureLeaseNamespace(kc: OperatorKubeConfig, namespace: string, log: Logger): Promise<void> {
  try {
    await kubeJSON(kc, { method: 'GET', path: `/api/v1/namespaces/${encodeURIComponent(namespace)}` });
    return;
  } catch (e) {
    if (!(e instanceof KubeApiError) || e.status !== 404) return;
  }
  try {
    await kubeJSON(kc, { method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } });
    log.info({ namespace }, `created namespace ${namespace} for the leader-election Lease`);
  } catch (e) {
    if (e instanceof KubeApiError && e.status === 409) return;
    log.error({ namespace, err: e }, `the Lease namespace ${namespace} does not exist and could not be created: create it (kubectl create namespace ${namespace}) or pass --leader-election-namespace`);
  }
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
  let format: ReturnType<typeof chooseLogFormat>;
  try {
    values = parse(argv).values;
    format = chooseLogFormat(values['log-format'], process.env, !!process.stdout.isTTY);
  } catch (e) {
    process.stderr.write(`tikv-operator run: ${(e as Error).message}\n\n${USAGE}`);
    return 1;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const root = await createProcessLogger({ level: values['log-level'] ?? process.env.LOG_LEVEL ?? 'info', format, colorize: !!process.stdout.isTTY });
  // A PD that stays unreachable warns every poll: one line per minute with a count instead.
  const log = collapseRepeats(root);
  let kc: OperatorKubeConfig;
  try {
    kc = loadKubeConfig(values.kubeconfig);
  } catch (e) {
    root.error({ err: e }, 'cannot load kubeconfig');
    return 1;
  }
  const metrics = createMetrics();
  const identity = `${process.env.POD_NAME ?? os.hostname()}_${process.pid}`;
  const leaderElection = values['no-leader-elect']
    ? undefined
    : { namespace: leaseNamespace(values['leader-election-namespace'], process.env), name: LEASE_NAME, identity };
  const start = startupLine({ kc, inCluster: inCluster(process.env) && !values.kubeconfig, namespace: values.namespace, env: process.env, lease: leaderElection });
  root.info(start.fields, start.message);
  if (leaderElection && !inCluster(process.env)) await ensureLeaseNamespace(kc, leaderElection.namespace, log);

  const operator = startOperator({
    kc,
    log,
    namespace: values.namespace,
    metrics,
    workers: values.workers ? Number(values.workers) : undefined,
    leaderElection,
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
    root.info({ addr: server.address() }, 'serving /healthz, /readyz, /metrics');
  }

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      root.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await operator.stop();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  log.flush();
  root.info('stopped');
  return 0;
}

/** `--leader-elect=false|true` and `--no-leader-elect` on top of what node:util parseArgs knows (Node 20 has no allowNegative). */
export function normalizeArgs(argv: string[]): string[] {
  return argv.map((a) => {
    const m = /^--leader-elect=(.*)$/.exec(a);
    if (!m) return a;
    if (m[1] === 'true') return '--leader-elect';
    if (m[1] === 'false') return '--no-leader-elect';
    throw new Error(`--leader-elect takes true or false, not "${m[1]}"`);
  });
}

function parse(argv: string[]) {
  return parseArgs({
    args: normalizeArgs(argv),
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      'metrics-addr': { type: 'string' },
      'leader-elect': { type: 'boolean' },
      'no-leader-elect': { type: 'boolean' },
      'leader-election-namespace': { type: 'string' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
      workers: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
}
