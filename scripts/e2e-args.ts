// How `npm run test:e2e [-- --kind] [vitest args…]` becomes a vitest command line. vitest
// rejects options it does not know, so `--kind` is taken out here and passed on as
// E2E_BACKEND=kind; the kind run uses its own vitest config, without the test
// environment's globalSetup (a laptop with kind need not have built the test binaries).

export const KIND_VITEST_CONFIG = 'test/e2e/vitest.kind.config.ts';

export interface E2EInvocation {
  backend: 'testenv' | 'kind';
  args: string[];
  env: Record<string, string>;
}

export function e2eInvocation(argv: readonly string[], env: Record<string, string | undefined>): E2EInvocation {
  const kind = argv.includes('--kind') || env.E2E_BACKEND === 'kind';
  const rest = argv.filter((a) => a !== '--kind');
  if (env.E2E_BACKEND && env.E2E_BACKEND !== 'kind' && env.E2E_BACKEND !== 'testenv') {
    throw new Error(`E2E_BACKEND must be "testenv" or "kind", not "${env.E2E_BACKEND}"`);
  }
  if (kind) return { backend: 'kind', args: ['run', '--config', KIND_VITEST_CONFIG, ...rest], env: { E2E_BACKEND: 'kind' } };
  return { backend: 'testenv', args: ['run', '--project', 'integration', 'test/e2e', ...rest], env: { E2E_BACKEND: 'testenv' } };
}
