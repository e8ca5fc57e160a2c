// How `npm run test:e2e [-- --kind|--node] [vitest args…]` becomes a vitest command line.
// vitest rejects options it does not know, so `--kind` is taken out here and passed on as
// E2E_BACKEND=kind; the kind run uses its own vitest config, without the test
// environment's globalSetup (a laptop with kind need not have built the test binaries).
// `--node` runs the vitest project `node` (test/e2e/node: the real-node backend, as root).

export const KIND_VITEST_CONFIG = 'test/e2e/vitest.kind.config.ts';

export interface E2EInvocation {
  backend: 'testenv' | 'kind' | 'node';
  args: string[];
  env: Record<string, string>;
}

export function e2eInvocation(argv: readonly string[], env: Record<string, string | undefined>): E2EInvocation {
  const kind = argv.includes('--kind') || env.E2E_BACKEND === 'kind';
  const node = argv.includes('--node') || env.E2E_BACKEND === 'node';
  const rest = argv.filter((a) => a !== '--kind' && a !== '--node');
  if (env.E2E_BACKEND && !['kind', 'testenv', 'node'].includes(env.E2E_BACKEND)) {
    throw new Error(`E2E_BACKEND must be "testenv", "kind" or "node", not "${env.E2E_BACKEND}"`);
  }
  if (kind && node) throw new Error('--kind and --node name two backends; pick one');
  if (node) return { backend: 'node', args: ['run', '--project', 'node', ...rest], env: { E2E_BACKEND: 'node' } };
  if (kind) return { backend: 'kind', args: ['run', '--config', KIND_VITEST_CONFIG, ...rest], env: { E2E_BACKEND: 'kind' } };
  return { backend: 'testenv', args: ['run', '--project', 'integration', 'test/e2e', ...rest], env: { E2E_BACKEND: 'testenv' } };
}
