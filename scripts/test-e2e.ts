// `npm run test:e2e` (test environment) and `npm run test:e2e -- --kind` (the kind-tikv
// cluster): runs vitest on test/e2e with the backend chosen by scripts/e2e-args.ts.
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { e2eInvocation } from './e2e-args.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function main(): Promise<number> {
  let inv: ReturnType<typeof e2eInvocation>;
  try {
    inv = e2eInvocation(process.argv.slice(2), process.env);
  } catch (e) {
    process.stderr.write(`test:e2e: ${(e as Error).message}\n`);
    return Promise.resolve(2);
  }
  process.stderr.write(`test:e2e: backend ${inv.backend}: vitest ${inv.args.join(' ')}\n`);
  const vitest = resolve(ROOT, 'node_modules/vitest/vitest.mjs');
  const child = spawn(process.execPath, [vitest, ...inv.args], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...inv.env } });
  // Ctrl-C reaches vitest through the terminal's process group; just wait for it.
  process.on('SIGINT', () => {});
  return new Promise((res) => child.on('close', (code, signal) => res(code ?? (signal ? 130 : 1))));
}

process.exitCode = await main();
